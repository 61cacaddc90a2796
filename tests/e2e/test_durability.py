"""200 means durable, and a consumer crash loses and doubles nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.hub import Hub, eventually, new_hub_id

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


async def test_killing_each_consumer_mid_stream_loses_and_duplicates_nothing(hub: Hub) -> None:
    batteries = [await hub.new_battery(hub_id=new_hub_id()) for _ in range(10)]
    per_battery = 60
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    plan = [
        (battery_id, token, start + timedelta(seconds=n))
        for n in range(per_battery)
        for battery_id, token in batteries
    ]
    accepted: dict[int, set[int]] = {battery_id: set() for battery_id, _ in batteries}
    sent = 0

    async def send_all() -> None:
        nonlocal sent
        queue = list(plan)

        async def worker() -> None:
            nonlocal sent
            while queue:
                battery_id, token, at = queue.pop(0)
                body = {
                    "id": battery_id,
                    "err": "L",
                    "soc": 50,
                    "d": at.strftime("%Y-%m-%d"),
                    "tm": at.strftime("%H:%M:%S"),
                }
                answer = await hub.send_ok(token, body)
                accepted[battery_id].add(answer["data_id"])
                sent += 1
                await asyncio.sleep(0.002)

        await asyncio.gather(*(worker() for _ in range(6)))

    sender = asyncio.create_task(send_all())
    for service, fraction in (("error-decoder", 0.2), ("notifier", 0.4), ("query-projector", 0.6)):
        while sent < len(plan) * fraction and not sender.done():
            await asyncio.sleep(0.01)
        hub.system.kill(service)
        hub.system.start(service)
        await asyncio.to_thread(hub.system.wait_ready, [service])
    await sender
    await hub.settled(timeout_s=120)

    for battery_id, _ in batteries:
        history = (await hub.errors(battery_id)).json()
        stored = [e["id"] for e in history["errors"]]
        assert history["total_errors"] == per_battery, "lost or duplicated readings"
        assert sorted(stored) == sorted(accepted[battery_id])
        notifications = await hub.notifications_of(battery_id)
        assert len(notifications) == 1, "the anti-flooding rule or redelivery failed"
