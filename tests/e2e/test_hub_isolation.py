"""A user sees only the hubs they may access (WIRE-FACTS §6)."""

from __future__ import annotations

import pytest

from tests.hub import Hub, new_hub_id

pytestmark = pytest.mark.e2e


async def test_a_hub_2_user_sees_nothing_of_hub_1(hub: Hub) -> None:
    hub_1, hub_2 = new_hub_id(), new_hub_id()
    battery_id, token = await hub.new_battery(hub_id=hub_1)
    await hub.send_ok(token, {"id": battery_id, "err": "TG"})
    await hub.settled()
    owner = await hub.create_user("user", hub_1)
    outsider = await hub.create_user("admin", hub_2)
    own_notes = await hub.notifications_of(battery_id, owner)
    assert len(own_notes) == 2

    h = {"Authorization": f"Bearer {outsider}"}
    assert [
        b
        for b in (await hub.query.get("/batteries", headers=h)).json()
        if b["battery_id"] == battery_id
    ] == []
    assert (await hub.query.get(f"/batteries/{battery_id}", headers=h)).status_code == 404
    assert (await hub.errors(battery_id, outsider)).status_code == 404
    assert await hub.notifications_of(battery_id, outsider) == []
    assert (await hub.query.get("/notifications/unread-count", headers=h)).json() == {
        "unread_count": 0
    }
    read = await hub.query.put(f"/notifications/{own_notes[0]['id']}/read", headers=h)
    assert read.status_code == 404
    assert (await hub.query.put("/notifications/mark-all-read", headers=h)).json() == {
        "marked_read": 0
    }
    assert all(not n["is_read"] for n in await hub.notifications_of(battery_id, owner))
    revoke = await hub.gateway.delete(f"/admin/batteries/{battery_id}", headers=h)
    assert revoke.status_code == 404


async def test_a_data_admin_sees_the_hubs_in_its_list(hub: Hub) -> None:
    hub_a, hub_b, hub_c = new_hub_id(), new_hub_id(), new_hub_id()
    in_a, token_a = await hub.new_battery(hub_id=hub_a)
    in_c, token_c = await hub.new_battery(hub_id=hub_c)
    await hub.send_ok(token_a, {"id": in_a, "err": "L"})
    await hub.send_ok(token_c, {"id": in_c, "err": "L"})
    await hub.settled()
    analyst = await hub.create_user("data_admin", None, accessible=[hub_a, hub_b])
    assert (await hub.errors(in_a, analyst)).status_code == 200
    assert (await hub.errors(in_c, analyst)).status_code == 404
    assert len(await hub.notifications_of(in_a, analyst)) == 1
    assert await hub.notifications_of(in_c, analyst) == []
