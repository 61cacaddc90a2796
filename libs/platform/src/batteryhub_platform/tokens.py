"""Bearer tokens of the two kinds: battery tokens (signed by the gateway) and user tokens
(signed by the query API). Separate keys, issuers and audiences: each kind is refused where
the other is expected, and so is any token not signed with HS256 by the expected key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

import jwt

ALGORITHM = "HS256"
BATTERY_ISSUER = "battery-hub/gateway"
BATTERY_AUDIENCE = "battery-hub/devices"
USER_ISSUER = "battery-hub/query-api"
USER_AUDIENCE = "battery-hub/users"
BATTERY_SCOPE = "webhook_write"
LEEWAY_S = 30

Role = Literal["superadmin", "data_admin", "admin", "user"]
ROLES: tuple[Role, ...] = ("superadmin", "data_admin", "admin", "user")


class InvalidToken(Exception):
    """Any token problem. The message is for logs; clients get one generic 401."""


@dataclass(frozen=True)
class BatteryPrincipal:
    battery_id: int
    revision: int
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class UserPrincipal:
    user_id: int
    username: str
    role: Role
    hub_id: int | None
    accessible_hub_ids: frozenset[int]

    @property
    def is_superadmin(self) -> bool:
        return self.role == "superadmin"

    def can_access_hub(self, hub_id: int) -> bool:
        if self.role == "superadmin":
            return True
        if self.role == "data_admin":
            return hub_id in self.accessible_hub_ids or hub_id == self.hub_id
        return hub_id == self.hub_id

    def can_administer_hub(self, hub_id: int) -> bool:
        return self.role == "superadmin" or (self.role == "admin" and hub_id == self.hub_id)


def issue_battery_token(
    key: str, battery_id: int, revision: int, now: datetime, ttl: timedelta
) -> str:
    claims = {
        "iss": BATTERY_ISSUER,
        "aud": BATTERY_AUDIENCE,
        "sub": f"battery:{battery_id}",
        "bid": battery_id,
        "rev": revision,
        "scope": BATTERY_SCOPE,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def issue_user_token(key: str, user: UserPrincipal, now: datetime, ttl: timedelta) -> str:
    claims = {
        "iss": USER_ISSUER,
        "aud": USER_AUDIENCE,
        "sub": user.username,
        "uid": user.user_id,
        "role": user.role,
        "hub": user.hub_id,
        "hubs": sorted(user.accessible_hub_ids),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def _decode(token: str, key: str, issuer: str, audience: str) -> dict[str, object]:
    if not token or len(token) > 4096:
        raise InvalidToken("missing or oversized token")
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
    return claims


def verify_battery_token(token: str, key: str) -> BatteryPrincipal:
    claims = _decode(token, key, BATTERY_ISSUER, BATTERY_AUDIENCE)
    battery_id, revision = claims.get("bid"), claims.get("rev")
    if claims.get("scope") != BATTERY_SCOPE:
        raise InvalidToken("wrong scope")
    if not isinstance(battery_id, int) or not isinstance(revision, int):
        raise InvalidToken("malformed battery claims")
    return BatteryPrincipal(
        battery_id=battery_id,
        revision=revision,
        issued_at=datetime.fromtimestamp(_number(claims["iat"])).astimezone(),
        expires_at=datetime.fromtimestamp(_number(claims["exp"])).astimezone(),
    )


def verify_user_token(token: str, key: str) -> UserPrincipal:
    return _user_principal(_decode(token, key, USER_ISSUER, USER_AUDIENCE))


def verify_battery_token_once(
    token: str, key: str, verified: VerifiedTokens, now: float
) -> BatteryPrincipal:
    """``verify_battery_token``, remembered in ``verified`` until the token's expiry."""
    return verified.principal(token, key, now, BatteryPrincipal, _battery_until_expiry)


def verify_user_token_once(
    token: str, key: str, verified: VerifiedTokens, now: float
) -> UserPrincipal:
    """``verify_user_token``, remembered in ``verified`` until the token's expiry."""
    return verified.principal(token, key, now, UserPrincipal, _user_until_expiry)


def _battery_until_expiry(token: str, key: str) -> tuple[BatteryPrincipal, float]:
    principal = verify_battery_token(token, key)
    return principal, principal.expires_at.timestamp()


def _user_until_expiry(token: str, key: str) -> tuple[UserPrincipal, float]:
    claims = _decode(token, key, USER_ISSUER, USER_AUDIENCE)
    return _user_principal(claims), _number(claims["exp"])


def _user_principal(claims: dict[str, object]) -> UserPrincipal:
    uid, role, hub, hubs, sub = (
        claims.get("uid"),
        claims.get("role"),
        claims.get("hub"),
        claims.get("hubs"),
        claims.get("sub"),
    )
    if (
        not isinstance(uid, int)
        or role not in ROLES
        or not (hub is None or isinstance(hub, int))
        or not isinstance(hubs, list)
        or not all(isinstance(h, int) for h in hubs)
        or not isinstance(sub, str)
    ):
        raise InvalidToken("malformed user claims")
    return UserPrincipal(
        user_id=uid,
        username=sub,
        role=role,
        hub_id=hub,
        accessible_hub_ids=frozenset(hubs),
    )


def _number(value: object) -> float:
    if not isinstance(value, int | float):
        raise InvalidToken("malformed time claim")
    return float(value)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header, or ``InvalidToken``."""
    if not authorization:
        raise InvalidToken("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("not a bearer token")
    return token.strip()


# Keys of the clearly named local profile only; every other profile must set real ones.
DEV_BATTERY_TOKEN_KEY = "dev-only-battery-token-key-change-me-0000000000"
DEV_USER_TOKEN_KEY = "dev-only-user-token-key-change-me-00000000000000"
_PLACEHOLDERS = {"", "change-me", "changeme", "secret", DEV_BATTERY_TOKEN_KEY, DEV_USER_TOKEN_KEY}
MIN_KEY_LENGTH = 32


def signing_key(profile: str, configured: str | None, dev_default: str, env_name: str) -> str:
    """The key to use, refusing placeholders and short keys outside the local profile."""
    if profile == "local" and not configured:
        return dev_default
    key = configured or ""
    if profile != "local" and (key in _PLACEHOLDERS or len(key) < MIN_KEY_LENGTH):
        raise ValueError(
            f"{env_name} must be set to a random secret of at least {MIN_KEY_LENGTH} "
            "characters outside the local profile"
        )
    return key


Principal = TypeVar("Principal", BatteryPrincipal, UserPrincipal)


class VerifiedTokens:
    """Remembers tokens already verified, so a device posting every minute with the same
    token (or an app polling with its user's) costs one HMAC check per process instead of
    one per request. Entries are trusted only until the token's own expiry; the caller
    still checks revocation each time."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, BatteryPrincipal | UserPrincipal]] = {}

    def principal(
        self,
        token: str,
        key: str,
        now: float,
        kind: type[Principal],
        verify: Callable[[str, str], tuple[Principal, float]],
    ) -> Principal:
        """The ``kind`` of principal remembered for ``token``, else ``verify``'s (which
        raises ``InvalidToken``, never remembered), kept until the expiry it gives."""
        cached = self.get(token, now)
        if isinstance(cached, kind):
            return cached
        principal, expires = verify(token, key)
        self.put(token, expires, principal)
        return principal

    def get(self, token: str, now: float) -> BatteryPrincipal | UserPrincipal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        expires, principal = entry
        if now >= expires:
            del self._entries[token]
            return None
        return principal

    def put(self, token: str, expires: float, principal: BatteryPrincipal | UserPrincipal) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # crude but bounded; a refill costs one verification each
        self._entries[token] = (expires, principal)
