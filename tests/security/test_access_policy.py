"""Function-level access: every route of both apps, as listed by their own OpenAPI, is
declared here with who may call it, and each caller gets exactly that. A route missing from
the table fails the test, so a new route cannot ship without a policy."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.hub import Hub, new_battery_id, new_hub_id

pytestmark = pytest.mark.e2e

CALLERS = ("anonymous", "user", "admin", "data_admin", "superadmin", "battery")
EVERYONE = frozenset(CALLERS)
READERS = frozenset({"user", "admin", "data_admin", "superadmin"})
REGISTRARS = frozenset({"admin", "superadmin"})
SUBMITTERS = frozenset({"battery", "superadmin"})

POLICY: dict[tuple[str, str, str], frozenset[str]] = {
    ("gateway", "GET", "/health"): EVERYONE,
    ("gateway", "GET", "/ready"): EVERYONE,
    ("gateway", "GET", "/metrics"): EVERYONE,
    ("gateway", "POST", "/auth/battery-login"): EVERYONE,
    ("gateway", "POST", "/auth/battery-refresh"): frozenset({"battery"}),
    ("gateway", "POST", "/webhook/live-data"): SUBMITTERS,
    ("gateway", "POST", "/webhook/live-data/batch"): SUBMITTERS,
    ("gateway", "POST", "/admin/batteries"): REGISTRARS,
    ("gateway", "POST", "/admin/batteries/{battery_id}/secret"): REGISTRARS,
    ("gateway", "DELETE", "/admin/batteries/{battery_id}"): REGISTRARS,
    ("query", "GET", "/health"): EVERYONE,
    ("query", "GET", "/ready"): EVERYONE,
    ("query", "GET", "/metrics"): EVERYONE,
    ("query", "POST", "/auth/token"): EVERYONE,
    ("query", "POST", "/admin/users"): frozenset({"superadmin"}),
    ("query", "GET", "/batteries"): READERS,
    ("query", "GET", "/batteries/{battery_id}"): READERS,
    ("query", "GET", "/batteries/{battery_id}/errors"): READERS,
    ("query", "GET", "/notifications"): READERS,
    ("query", "GET", "/notifications/unread-count"): READERS,
    ("query", "PUT", "/notifications/mark-all-read"): READERS,
    ("query", "PUT", "/notifications/{notification_id}/read"): READERS,
}


@dataclass
class Fleet:
    """Hub A, its people and batteries; every allowed call is made within hub A."""

    hub: Hub
    hub_id: int
    tokens: dict[str, str]
    battery_id: int
    battery_secret: str
    rotated_id: int
    username: str
    password: str

    async def fresh_battery(self) -> int:
        battery_id, _ = await self.hub.register(hub_id=self.hub_id)
        return battery_id


Request = Callable[[Fleet], Awaitable[dict[str, Any]]]


async def _plain(_: Fleet) -> dict[str, Any]:
    return {}


async def _battery_login(f: Fleet) -> dict[str, Any]:
    return {"json": {"battery_id": f.battery_id, "battery_secret": f.battery_secret}}


async def _user_login(f: Fleet) -> dict[str, Any]:
    return {"json": {"username": f.username, "password": f.password}}


async def _reading(f: Fleet) -> dict[str, Any]:
    return {"json": {"id": f.battery_id, "soc": 50}}


async def _batch(f: Fleet) -> dict[str, Any]:
    return {"json": [{"id": f.battery_id, "soc": 50}]}


async def _register(f: Fleet) -> dict[str, Any]:
    body = {
        "battery_id": new_battery_id(),
        "hub_id": f.hub_id,
        "name": "p",
        "secret": "long-enough",
    }
    return {"json": body}


async def _rotate(f: Fleet) -> dict[str, Any]:
    return {"path": {"battery_id": f.rotated_id}, "json": {"secret": "long-enough-too"}}


async def _revoke(f: Fleet) -> dict[str, Any]:
    return {"path": {"battery_id": await f.fresh_battery()}}


async def _new_user(_: Fleet) -> dict[str, Any]:
    name = f"policy-{uuid.uuid4().hex[:10]}"
    return {"json": {"username": name, "password": "long-enough", "role": "user", "hub_id": 1}}


async def _own_battery(f: Fleet) -> dict[str, Any]:
    return {"path": {"battery_id": f.battery_id}}


async def _some_notification(_: Fleet) -> dict[str, Any]:
    return {"path": {"notification_id": 1}}


REQUESTS: dict[tuple[str, str, str], Request] = {
    ("gateway", "POST", "/auth/battery-login"): _battery_login,
    ("gateway", "POST", "/webhook/live-data"): _reading,
    ("gateway", "POST", "/webhook/live-data/batch"): _batch,
    ("gateway", "POST", "/admin/batteries"): _register,
    ("gateway", "POST", "/admin/batteries/{battery_id}/secret"): _rotate,
    ("gateway", "DELETE", "/admin/batteries/{battery_id}"): _revoke,
    ("query", "POST", "/auth/token"): _user_login,
    ("query", "POST", "/admin/users"): _new_user,
    ("query", "GET", "/batteries/{battery_id}"): _own_battery,
    ("query", "GET", "/batteries/{battery_id}/errors"): _own_battery,
    ("query", "PUT", "/notifications/{notification_id}/read"): _some_notification,
}


async def _operations(client: httpx.AsyncClient, app: str) -> set[tuple[str, str, str]]:
    spec = (await client.get("/openapi.json")).json()
    return {(app, method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


@pytest.fixture(scope="module")
async def fleet(hub: Hub) -> Fleet:
    hub_id = new_hub_id()
    battery_id, secret = await hub.register(hub_id=hub_id)
    rotated_id, _ = await hub.register(hub_id=hub_id)
    username, password = f"policy-{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
    created = await hub.query.post(
        "/admin/users",
        json={"username": username, "password": password, "role": "user", "hub_id": hub_id},
        headers=await hub.admin_headers(),
    )
    assert created.status_code == 201, created.text
    tokens = {
        "user": await hub.create_user("user", hub_id),
        "admin": await hub.create_user("admin", hub_id),
        "data_admin": await hub.create_user("data_admin", None, accessible=[hub_id]),
        "superadmin": await hub.admin_token(),
        "battery": await hub.battery_token(battery_id, secret),
    }
    return Fleet(hub, hub_id, tokens, battery_id, secret, rotated_id, username, password)


async def test_every_route_of_both_apps_has_a_declared_policy(hub: Hub) -> None:
    served = await _operations(hub.gateway, "gateway") | await _operations(hub.query, "query")
    assert sorted(served - POLICY.keys()) == [], "routes without a policy"
    assert sorted(POLICY.keys() - served) == [], "policies of routes that are gone"


@pytest.mark.parametrize("route", sorted(POLICY), ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
async def test_each_caller_gets_exactly_what_the_policy_grants(
    fleet: Fleet, route: tuple[str, str, str]
) -> None:
    app, method, template = route
    client = fleet.hub.gateway if app == "gateway" else fleet.hub.query
    wrong: list[str] = []
    for caller in CALLERS:
        request = await REQUESTS.get(route, _plain)(fleet)
        path = template.format(**request.get("path", {}))
        headers = (
            {"Authorization": f"Bearer {fleet.tokens[caller]}"} if caller != "anonymous" else {}
        )
        answer = await client.request(method, path, json=request.get("json"), headers=headers)
        allowed = caller in POLICY[route]
        refused = answer.status_code in (401, 403)
        if allowed == refused or (caller == "anonymous" and refused and answer.status_code != 401):
            wrong.append(f"{caller}: {answer.status_code} {answer.text[:120]}")
    assert wrong == [], f"{method} {template}"
