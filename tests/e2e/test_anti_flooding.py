"""The anti-flooding story of WIRE-FACTS §7, end to end."""

from __future__ import annotations

import pytest

from tests.hub import Hub

pytestmark = pytest.mark.e2e


async def test_TG_twice_then_read_both_then_TG_makes_four_notifications_in_all(hub: Hub) -> None:
    battery_id, token = await hub.new_battery(hub_id=1)
    admin = await hub.admin_headers()

    await hub.send_ok(token, {"id": battery_id, "err": "TG"})
    await hub.send_ok(token, {"id": battery_id, "err": "TG"})
    await hub.settled()
    first = await hub.notifications_of(battery_id)
    assert sorted(n["notification_type"] for n in first) == ["battery_error_G", "battery_error_T"]

    for n in first:
        answer = await hub.query.put(f"/notifications/{n['id']}/read", headers=admin)
        assert answer.status_code == 200, answer.text
        assert answer.json()["is_read"] is True
    await hub.settled()  # the notifier has seen the read events

    await hub.send_ok(token, {"id": battery_id, "err": "TG"})
    await hub.settled()
    everything = await hub.notifications_of(battery_id)
    assert len(everything) == 4
    unread = [n for n in everything if not n["is_read"]]
    assert sorted(n["notification_type"] for n in unread) == ["battery_error_G", "battery_error_T"]


async def test_a_code_that_keeps_arriving_while_unread_notifies_once(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    for _ in range(5):
        await hub.send_ok(token, {"id": battery_id, "err": "L"})
    await hub.settled()
    assert len(await hub.notifications_of(battery_id)) == 1


async def test_mark_all_read_reads_everything_in_scope_and_the_count_drops_to_zero(
    hub: Hub,
) -> None:
    hub_id = 424242
    battery_id, token = await hub.new_battery(hub_id=hub_id)
    user = await hub.create_user("admin", hub_id)
    headers = {"Authorization": f"Bearer {user}"}
    await hub.send_ok(token, {"id": battery_id, "err": "CBL"})
    await hub.settled()
    count = await hub.query.get("/notifications/unread-count", headers=headers)
    assert count.json() == {"unread_count": 3}

    marked = await hub.query.put("/notifications/mark-all-read", headers=headers)
    assert marked.status_code == 200 and marked.json() == {"marked_read": 3}
    count = await hub.query.get("/notifications/unread-count", headers=headers)
    assert count.json() == {"unread_count": 0}
    await hub.settled()
    await hub.send_ok(token, {"id": battery_id, "err": "C"})
    await hub.settled()
    assert (await hub.query.get("/notifications/unread-count", headers=headers)).json() == {
        "unread_count": 1
    }
