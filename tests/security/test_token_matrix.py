"""Every defective token is refused with the same 401 everywhere: unsigned, wrongly keyed,
RS256 or HS256-with-a-public-key, expired, not yet valid, without ``exp``, or the wrong kind
of token for the service. Each row has a control: the same claims, properly signed, work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.hub import Hub
from tests.security.forge import (
    BATTERY_KEY,
    GENERIC_401,
    USER_KEY,
    battery_claims,
    defective,
    hs256,
    user_claims,
)

pytestmark = pytest.mark.e2e

PUBLIC = {"/health", "/ready", "/metrics", "/auth/token", "/auth/battery-login"}
DEVICE_ROUTES = {"/webhook/live-data", "/webhook/live-data/batch", "/auth/battery-refresh"}


async def _operations(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    spec = (await client.get("/openapi.json")).json()
    return [
        (method.upper(), path.replace("{battery_id}", "1").replace("{notification_id}", "1"))
        for path, methods in spec["paths"].items()
        for method in methods
        if path not in PUBLIC
    ]


def _body_for(path: str, battery_id: int) -> Any:
    if path == "/webhook/live-data":
        return {"id": battery_id, "soc": 50}
    if path == "/webhook/live-data/batch":
        return [{"id": battery_id, "soc": 50}]
    if path == "/admin/batteries":
        return {"battery_id": battery_id, "hub_id": 1, "name": "x", "secret": "long-enough"}
    if path.endswith("/secret"):
        return {"secret": "long-enough"}
    if path == "/admin/users":
        return {"username": "nobody", "password": "long-enough", "role": "user", "hub_id": 1}
    return None


async def _call(
    client: httpx.AsyncClient, method: str, path: str, token: str, battery_id: int = 1
) -> httpx.Response:
    return await client.request(
        method,
        path,
        json=_body_for(path, battery_id),
        headers={"Authorization": f"Bearer {token}"},
    )


def _assert_generic_401(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 401, (what, answer.status_code, answer.text)
    assert answer.json() == GENERIC_401, (what, answer.text)
    assert answer.headers.get("www-authenticate") == "Bearer", what


def _defective_user_tokens() -> Iterator[tuple[str, str]]:
    yield from defective(user_claims("superadmin"), USER_KEY).items()
    yield "user claims signed with the battery key", hs256(user_claims(), BATTERY_KEY)
    yield "user token for another audience", hs256(user_claims(aud="battery-hub/devices"), USER_KEY)
    yield "user token of an unknown role", hs256(user_claims(role="root"), USER_KEY)


async def test_a_properly_signed_superadmin_token_is_accepted_by_both_apps(hub: Hub) -> None:
    token = hs256(user_claims("superadmin"), USER_KEY)
    assert (await hub.query.get("/notifications/unread-count", headers=_bearer(token))).is_success
    battery_id, _ = await hub.register()
    assert (await hub.send(token, {"id": battery_id, "soc": 1})).status_code == 200


async def test_defective_user_tokens_get_the_generic_401_on_every_query_api_route(
    hub: Hub,
) -> None:
    operations = await _operations(hub.query)
    assert len(operations) >= 7
    for what, token in _defective_user_tokens():
        for method, path in operations:
            _assert_generic_401(await _call(hub.query, method, path, token), f"{what}: {path}")


async def test_defective_user_tokens_get_the_generic_401_on_every_gateway_route(
    hub: Hub,
) -> None:
    battery_id, _ = await hub.register()
    for what, token in _defective_user_tokens():
        for method, path in await _operations(hub.gateway):
            answer = await _call(hub.gateway, method, path, token, battery_id)
            _assert_generic_401(answer, f"{what}: {method} {path}")


async def test_a_battery_token_is_refused_on_every_query_api_route(hub: Hub) -> None:
    _, token = await hub.new_battery()
    for method, path in await _operations(hub.query):
        _assert_generic_401(await _call(hub.query, method, path, token), path)


async def test_a_battery_token_is_refused_on_the_registry_routes(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    for method, path in await _operations(hub.gateway):
        if path not in DEVICE_ROUTES:
            answer = await _call(hub.gateway, method, path, token, battery_id)
            _assert_generic_401(answer, path)


async def test_defective_battery_tokens_get_the_generic_401_on_the_device_routes(
    hub: Hub,
) -> None:
    battery_id, _ = await hub.register()
    claims = battery_claims(battery_id)
    assert (await hub.send(hs256(claims, BATTERY_KEY), {"id": battery_id})).status_code == 200
    tokens = {
        **defective(claims, BATTERY_KEY),
        "battery claims signed with the user key": hs256(claims, USER_KEY),
        "another scope": hs256(battery_claims(battery_id, scope="admin"), BATTERY_KEY),
        "an old revision": hs256(battery_claims(battery_id, revision=0), BATTERY_KEY),
    }
    for what, token in tokens.items():
        for path in sorted(DEVICE_ROUTES):
            answer = await _call(hub.gateway, "POST", path, token, battery_id)
            _assert_generic_401(answer, f"{what}: {path}")


@pytest.mark.parametrize("role", ["admin", "data_admin", "user"])
async def test_a_user_token_below_superadmin_is_refused_on_every_device_route(
    hub: Hub, role: str
) -> None:
    battery_id, _ = await hub.register(hub_id=1)
    token = await hub.create_user(role, 1, accessible=[1])
    for path in sorted(DEVICE_ROUTES):
        _assert_generic_401(await _call(hub.gateway, "POST", path, token, battery_id), path)


async def test_a_superadmin_token_cannot_refresh_as_a_battery(hub: Hub) -> None:
    answer = await _call(hub.gateway, "POST", "/auth/battery-refresh", await hub.admin_token())
    _assert_generic_401(answer, "refresh")


async def test_a_revoked_battery_token_is_refused_on_every_device_route(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    revoke = await hub.gateway.delete(
        f"/admin/batteries/{battery_id}", headers=await hub.admin_headers()
    )
    assert revoke.status_code == 204
    for path in sorted(DEVICE_ROUTES):
        _assert_generic_401(await _call(hub.gateway, "POST", path, token, battery_id), path)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
