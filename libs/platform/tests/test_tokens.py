from datetime import UTC, datetime, timedelta

import jwt
import pytest

from batteryhub_platform.tokens import (
    InvalidToken,
    UserPrincipal,
    VerifiedTokens,
    bearer_token,
    issue_battery_token,
    issue_user_token,
    signing_key,
    verify_battery_token,
    verify_battery_token_once,
    verify_user_token,
    verify_user_token_once,
)

BATTERY_KEY = "b" * 40
USER_KEY = "u" * 40
NOW = datetime.now(UTC)
HOUR = timedelta(hours=1)
ALICE = UserPrincipal(7, "alice", "admin", 3, frozenset())


def test_a_battery_token_verifies_with_its_key_and_names_the_battery():
    principal = verify_battery_token(
        issue_battery_token(BATTERY_KEY, 42, 3, NOW, HOUR), BATTERY_KEY
    )
    assert (principal.battery_id, principal.revision) == (42, 3)


def test_a_user_token_carries_role_and_hubs():
    assert verify_user_token(issue_user_token(USER_KEY, ALICE, NOW, HOUR), USER_KEY) == ALICE


def test_a_remembered_user_token_is_trusted_only_until_its_expiry():
    verified = VerifiedTokens()
    token = issue_user_token(USER_KEY, ALICE, NOW, HOUR)
    now = NOW.timestamp()
    assert verify_user_token_once(token, USER_KEY, verified, now) == ALICE
    # Remembered: the same answer even for a key that would now refuse it ...
    assert verify_user_token_once(token, "x" * 40, verified, now + 60) == ALICE
    # ... but not from its expiry on: then the signature is checked again (and refused).
    with pytest.raises(InvalidToken):
        verify_user_token_once(token, "x" * 40, verified, (NOW + HOUR).timestamp() + 1)


def test_a_refused_user_token_is_not_remembered():
    verified = VerifiedTokens()
    forged = issue_user_token("x" * 40, ALICE, NOW, HOUR)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verify_user_token_once(forged, USER_KEY, verified, NOW.timestamp())
    assert verified.get(forged, NOW.timestamp()) is None


def test_a_cache_shared_by_both_kinds_never_answers_one_kind_for_the_other():
    verified = VerifiedTokens()
    battery = issue_battery_token(BATTERY_KEY, 42, 1, NOW, HOUR)
    now = NOW.timestamp()
    assert verify_battery_token_once(battery, BATTERY_KEY, verified, now).battery_id == 42
    with pytest.raises(InvalidToken):
        verify_user_token_once(battery, BATTERY_KEY, verified, now)


def test_each_kind_of_token_is_refused_where_the_other_is_expected():
    battery = issue_battery_token(BATTERY_KEY, 42, 1, NOW, HOUR)
    user = issue_user_token(USER_KEY, ALICE, NOW, HOUR)
    with pytest.raises(InvalidToken):
        verify_user_token(battery, USER_KEY)
    with pytest.raises(InvalidToken):
        verify_battery_token(user, BATTERY_KEY)
    # Even signed with the right key, the issuer and audience tell them apart.
    with pytest.raises(InvalidToken):
        verify_user_token(issue_battery_token(USER_KEY, 42, 1, NOW, HOUR), USER_KEY)


def test_an_expired_token_is_refused():
    token = issue_battery_token(BATTERY_KEY, 1, 1, NOW - 3 * HOUR, HOUR)
    with pytest.raises(InvalidToken):
        verify_battery_token(token, BATTERY_KEY)


def test_a_token_not_yet_valid_is_refused():
    token = issue_battery_token(BATTERY_KEY, 1, 1, NOW + 2 * HOUR, HOUR)
    with pytest.raises(InvalidToken):
        verify_battery_token(token, BATTERY_KEY)


def test_a_token_without_exp_is_refused():
    token = jwt.encode(
        {
            "iss": "battery-hub/gateway",
            "aud": "battery-hub/devices",
            "sub": "battery:1",
            "bid": 1,
            "rev": 1,
            "scope": "webhook_write",
            "iat": 0,
            "nbf": 0,
        },
        BATTERY_KEY,
        algorithm="HS256",
    )
    with pytest.raises(InvalidToken):
        verify_battery_token(token, BATTERY_KEY)


def test_a_token_signed_with_another_key_or_algorithm_is_refused():
    claims = {
        "iss": "battery-hub/gateway",
        "aud": "battery-hub/devices",
        "sub": "battery:1",
        "bid": 1,
        "rev": 1,
        "scope": "webhook_write",
        "iat": 0,
        "nbf": 0,
        "exp": int((NOW + HOUR).timestamp()),
    }
    for token in (
        jwt.encode(claims, "x" * 40, algorithm="HS256"),
        jwt.encode(claims, BATTERY_KEY, algorithm="HS512"),
        jwt.encode(claims, None, algorithm="none"),
    ):
        with pytest.raises(InvalidToken):
            verify_battery_token(token, BATTERY_KEY)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer   "])
def test_only_a_bearer_header_yields_a_token(header):
    with pytest.raises(InvalidToken):
        bearer_token(header)


def test_keys_outside_the_local_profile_must_be_real():
    assert signing_key("local", None, "dev-default", "K") == "dev-default"
    with pytest.raises(ValueError, match="K must be set"):
        signing_key("production", None, "dev-default", "K")
    with pytest.raises(ValueError):
        signing_key("production", "short", "dev-default", "K")
    assert signing_key("production", "r" * 32, "dev-default", "K") == "r" * 32


def test_hub_access_by_role():
    data_admin = UserPrincipal(1, "d", "data_admin", None, frozenset({2, 3}))
    assert data_admin.can_access_hub(3) and not data_admin.can_access_hub(4)
    assert not data_admin.can_administer_hub(3)
    assert ALICE.can_administer_hub(3) and not ALICE.can_administer_hub(4)
