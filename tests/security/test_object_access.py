"""Object-level access: every route that takes an object id (or a hub in its body), for every
role, on an object of the caller's own hub and of another hub. Nothing of the other hub can be
read or changed, and from outside it looks exactly like an object that does not exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.hub import Hub, new_battery_id, new_hub_id

pytestmark = pytest.mark.e2e

ROLES = ("user", "admin", "data_admin", "superadmin")
SIDES = ("own", "other")
ALL_CODES = "RCUTBGSLD"


@dataclass
class Side:
    hub_id: int
    battery_id: int
    secret: str
    notifications: list[int] = field(default_factory=list)


@dataclass
class World:
    hub: Hub
    sides: dict[str, Side]
    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module")
async def world(hub: Hub) -> World:
    sides: dict[str, Side] = {}
    for side in SIDES:
        hub_id = new_hub_id()
        battery_id, secret = await hub.register(hub_id=hub_id)
        await hub.send_ok(
            await hub.battery_token(battery_id, secret), {"id": battery_id, "err": ALL_CODES}
        )
        sides[side] = Side(hub_id, battery_id, secret)
    await hub.settled()
    for made in sides.values():
        notes = await hub.notifications_of(made.battery_id)
        assert len(notes) == len(ALL_CODES)
        made.notifications = [n["id"] for n in notes]
    own = sides["own"].hub_id
    tokens = {
        "user": await hub.create_user("user", own),
        "admin": await hub.create_user("admin", own),
        "data_admin": await hub.create_user("data_admin", None, accessible=[own]),
        "superadmin": await hub.admin_token(),
    }
    return World(hub, sides, tokens)


def _sees(role: str, side: str) -> bool:
    return role == "superadmin" or side == "own"


def _administers(role: str, side: str) -> bool:
    return role == "superadmin" or (role == "admin" and side == "own")


@pytest.mark.parametrize("suffix", ["", "/errors"])
@pytest.mark.parametrize("role", ROLES)
async def test_a_battery_is_readable_only_within_the_callers_hubs(
    world: World, role: str, suffix: str
) -> None:
    for side in SIDES:
        battery_id = world.sides[side].battery_id
        answer = await world.hub.query.get(
            f"/batteries/{battery_id}{suffix}", headers=world.headers(role)
        )
        if _sees(role, side):
            assert answer.status_code == 200, (side, answer.text)
            assert answer.json()["battery_id"] == battery_id
        else:
            nowhere = new_battery_id()
            missing = await world.hub.query.get(
                f"/batteries/{nowhere}{suffix}", headers=world.headers(role)
            )
            assert answer.status_code == missing.status_code == 404
            assert answer.json()["detail"] == missing.json()["detail"].replace(
                str(nowhere), str(battery_id)
            )


@pytest.mark.parametrize("role", ["user", "admin", "data_admin"])
async def test_lists_never_show_anything_of_another_hub(world: World, role: str) -> None:
    headers = world.headers(role)
    listed = (
        await world.hub.query.get("/batteries", params={"limit": 1000}, headers=headers)
    ).json()
    assert {b["hub_id"] for b in listed} == {world.sides["own"].hub_id}
    notes = (
        await world.hub.query.get("/notifications", params={"limit": 1000}, headers=headers)
    ).json()
    assert {n["hub_id"] for n in notes} == {world.sides["own"].hub_id}


async def test_a_notification_can_be_marked_read_only_within_the_callers_hubs(world: World) -> None:
    for index, role in enumerate(ROLES):
        for side in SIDES:
            notification_id = world.sides[side].notifications[index]
            answer = await world.hub.query.put(
                f"/notifications/{notification_id}/read", headers=world.headers(role)
            )
            if _sees(role, side):
                assert answer.status_code == 200, (role, side, answer.text)
                assert answer.json()["is_read"] is True
            else:
                assert answer.status_code == 404, (role, side, answer.text)
    other = world.sides["other"]
    still = {n["id"]: n["is_read"] for n in await world.hub.notifications_of(other.battery_id)}
    read_by_outsiders = [
        still[other.notifications[i]] for i, role in enumerate(ROLES) if role != "superadmin"
    ]
    assert read_by_outsiders == [False, False, False]


async def _registry_call(world: World, role: str, kind: str, side: Side) -> int:
    headers = world.headers(role)
    if kind == "register":
        body: dict[str, Any] = {
            "battery_id": new_battery_id(),
            "hub_id": side.hub_id,
            "name": "x",
            "secret": "long-enough",
        }
        return (
            await world.hub.gateway.post("/admin/batteries", json=body, headers=headers)
        ).status_code
    if kind == "rotate":
        answer = await world.hub.gateway.post(
            f"/admin/batteries/{side.battery_id}/secret",
            json={"secret": side.secret},
            headers=headers,
        )
        return answer.status_code
    target, secret = await world.hub.register(hub_id=side.hub_id)
    answer = await world.hub.gateway.delete(f"/admin/batteries/{target}", headers=headers)
    if answer.status_code != 204:
        await world.hub.battery_token(target, secret)  # a refused revocation revoked nothing
    return answer.status_code


@pytest.mark.parametrize("kind", ["register", "rotate", "revoke"])
@pytest.mark.parametrize("role", ROLES)
async def test_registry_changes_are_allowed_only_in_hubs_the_caller_administers(
    world: World, role: str, kind: str
) -> None:
    done = {"register": 201, "rotate": 200, "revoke": 204}[kind]
    for side in SIDES:
        status = await _registry_call(world, role, kind, world.sides[side])
        if _administers(role, side):
            assert status == done, (side, status)
        elif role != "admin":
            assert status == 403, (side, status)  # the role may not change the registry at all
        else:
            # An admin of another hub: a battery there does not exist; a hub there is forbidden.
            assert status == (403 if kind == "register" else 404), (side, status)


async def test_the_other_hubs_battery_still_logs_in_with_its_secret(world: World) -> None:
    other = world.sides["other"]
    await world.hub.battery_token(other.battery_id, other.secret)
    answer = await world.hub.gateway.post(
        "/auth/battery-login",
        json={"battery_id": other.battery_id, "battery_secret": "x" + uuid.uuid4().hex},
    )
    assert answer.status_code == 401
