"""200 means durable, and a consumer crash loses and doubles nothing."""

from __future__ import annotations

import time

import pytest

from tests.hub import Hub, eventually

pytestmark = pytest.mark.e2e


async def test_a_200_reading_is_visible_in_the_query_api_within_seconds(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    await hub.settled()  # the battery itself is projected
    answer = await hub.send_ok(token, {"id": battery_id, "err": "S", "soc": 40})
    started = time.monotonic()

    async def visible() -> None:
        result = await hub.errors(battery_id)
        assert result.status_code == 200, result.text
        assert [e["id"] for e in result.json()["errors"]] == [answer["data_id"]]

    await eventually(visible, timeout_s=5, interval_s=0.05)
    assert time.monotonic() - started < 5


async def test_the_same_reading_sent_twice_is_stored_once(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    reading = {"id": battery_id, "err": "D", "d": "2026-01-02", "tm": "03:04:05"}
    first = await hub.send_ok(token, reading)
    again = await hub.send_ok(token, reading)
    assert first["data_id"] == again["data_id"]
    await hub.settled()
    history = (await hub.errors(battery_id)).json()
    assert history["total_errors"] == 1
