"""Batch uploads of buffered readings (issue: ingest at fleet scale)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.hub import Hub

pytestmark = pytest.mark.e2e


def at(minutes_ago: int) -> dict[str, str]:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return {"d": moment.strftime("%Y-%m-%d"), "tm": moment.strftime("%H:%M:%S")}


async def post_batch(hub: Hub, token: str, items: object) -> tuple[int, dict[str, Any]]:
    answer = await hub.gateway.post(
        "/webhook/live-data/batch", json=items, headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code, answer.json()


async def test_each_item_is_accepted_or_rejected_with_a_reason(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    items = [
        {"id": battery_id, "err": "T", "soc": 80, **at(30)},
        {"id": battery_id, "err": "G", "soc": "abc", **at(20)},
        {"id": battery_id + 1, "err": "L", **at(10)},
        "not an object",
        {"id": battery_id, "err": "T" * 300, **at(5)},
        {"soc": 1},
    ]
    code, answer = await post_batch(hub, token, items)
    assert code == 200
    assert (answer["status"], answer["accepted"], answer["rejected"]) == ("partial", 2, 4)
    results = answer["results"]
    assert [r["status"] for r in results] == [
        "accepted",
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert results[1]["skipped_fields"] == {"soc": 'not a number: "abc"'}
    assert "only for battery" in results[2]["reason"]
    assert "255" in results[4]["reason"]
    assert "missing battery id" in results[5]["reason"]


async def test_a_retried_batch_does_not_double_readings_and_history_follows_device_time(
    hub: Hub,
) -> None:
    battery_id, token = await hub.new_battery()
    items = [{"id": battery_id, "err": "S", "soc": n, **at(60 - n)} for n in range(50)]
    first = await post_batch(hub, token, items)
    again = await post_batch(hub, token, items)
    assert first[0] == again[0] == 200
    ids = [r["data_id"] for r in first[1]["results"]]
    assert ids == [r["data_id"] for r in again[1]["results"]]
    await hub.settled()
    history = (await hub.errors(battery_id)).json()
    assert history["total_errors"] == 50
    socs = [e["other_metrics"]["soc"] for e in history["errors"]]
    assert socs == sorted(socs, reverse=True)  # newest device time first


async def test_a_device_clock_in_the_future_is_flagged_and_stored_at_receive_time(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    code, answer = await post_batch(
        hub, token, [{"id": battery_id, "err": "R", **at(-60 * 24 * 400)}]
    )
    assert code == 200
    (item,) = answer["results"]
    assert item["clock_skewed"] is True
    await hub.settled()
    history = (await hub.errors(battery_id, time_period="last_24_hours")).json()
    assert [e["id"] for e in history["errors"]] == [item["data_id"]]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"id": 1}, 400), ([], 422), ([{"id": 1}] * 501, 413)],
)
async def test_a_batch_that_is_not_a_list_of_at_most_500_is_refused(
    hub: Hub, body: object, status: int
) -> None:
    _, token = await hub.new_battery()
    code, _ = await post_batch(hub, token, body)
    assert code == status


async def test_a_batch_of_500_is_accepted_whole(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    items = [{"id": battery_id, "soc": 50, "v": 13.1, "i": -0.5, **at(600 - n)} for n in range(500)]
    code, answer = await post_batch(hub, token, items)
    assert code == 200
    assert answer["accepted"] == 500 and answer["status"] == "success"
