from datetime import UTC, datetime

import pytest

from webhook_gateway.domain.registry import BatteryConflict, BatteryNotFound, BatteryRegistry

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def registered(registry: BatteryRegistry, battery_id: int = 1, device_id: str | None = None):
    event = registry.register(
        battery_id=battery_id, hub_id=1, name="B", device_id=device_id, secret_hash="h1", now=NOW
    )
    registry.apply(event)
    return event


def test_a_registered_battery_is_active_and_found_by_its_relay_device():
    registry = BatteryRegistry()
    registered(registry, 1, "dev-1")
    assert registry.active(1) is not None
    assert registry.battery_for_device("dev-1").battery_id == 1


def test_registering_twice_is_a_conflict():
    registry = BatteryRegistry()
    registered(registry)
    with pytest.raises(BatteryConflict):
        registered(registry)


def test_a_device_id_belongs_to_one_battery():
    registry = BatteryRegistry()
    registered(registry, 1, "dev-1")
    with pytest.raises(BatteryConflict):
        registered(registry, 2, "dev-1")


def test_revoking_hides_the_battery_and_its_device():
    registry = BatteryRegistry()
    registered(registry, 1, "dev-1")
    registry.apply(registry.revoke(1, NOW))
    assert registry.active(1) is None
    assert registry.battery_for_device("dev-1") is None
    with pytest.raises(BatteryNotFound):
        registry.revoke(1, NOW)


def test_a_revoked_battery_may_be_registered_again_with_a_higher_revision():
    registry = BatteryRegistry()
    registered(registry)
    registry.apply(registry.revoke(1, NOW))
    again = registered(registry)
    assert again.battery.revision == 3


def test_rotation_bumps_the_revision_and_replaces_the_hash():
    registry = BatteryRegistry()
    registered(registry)
    event = registry.rotate_secret(1, "h2", NOW)
    registry.apply(event)
    assert (registry.active(1).secret_hash, registry.active(1).revision) == ("h2", 2)


def test_older_events_replayed_after_newer_ones_change_nothing():
    registry = BatteryRegistry()
    first = registered(registry)
    rotated = registry.rotate_secret(1, "h2", NOW)
    registry.apply(rotated)
    registry.apply(first)
    assert registry.active(1).secret_hash == "h2"


def test_rotating_an_unknown_battery_is_not_found():
    with pytest.raises(BatteryNotFound):
        BatteryRegistry().rotate_secret(9, "h", NOW)


def test_a_rehash_keeps_the_tokens_issued_since_the_secret_was_set():
    registry = BatteryRegistry()
    registered(registry)  # revision 1
    registry.apply(registry.rehash(1, "h1-stronger", NOW))  # revision 2, same secret
    record = registry.active(1)
    assert (record.secret_hash, record.revision, record.secret_since_revision) == (
        "h1-stronger",
        2,
        1,
    )
    assert record.accepts_token_revision(1) and record.accepts_token_revision(2)
    registry.apply(registry.rotate_secret(1, "h3", NOW))  # a new secret: old tokens end
    record = registry.active(1)
    assert [record.accepts_token_revision(r) for r in (1, 2, 3, 4)] == [False, False, True, False]


def test_records_from_before_secret_since_revision_accept_only_their_own_revision():
    event = registered(BatteryRegistry())
    legacy = event.battery.model_copy(update={"secret_since_revision": None})
    assert [legacy.accepts_token_revision(r) for r in (0, 1, 2)] == [False, True, False]
    registry = BatteryRegistry()
    registry.apply(event.model_copy(update={"battery": legacy}))
    registry.apply(registry.rehash(1, "h1-stronger", NOW))
    assert registry.active(1).secret_since_revision == 1
    assert registry.active(1).accepts_token_revision(1)
