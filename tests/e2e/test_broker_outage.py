"""200 means durable: while Kafka is away the gateway says 503 + Retry-After in bounded
time, and once it is back the device's retry lands."""

from __future__ import annotations

import httpx
import pytest

from tests.hub import Hub, eventually
from tests.servers import Servers

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]


async def test_while_kafka_is_down_readings_get_503_and_land_after_it_returns(
    hub: Hub, servers: Servers
) -> None:
    battery_id, token = await hub.new_battery()
    await hub.settled()
    reading = {"id": battery_id, "err": "C", "d": "2026-03-04", "tm": "05:06:07"}
    servers.stop_kafka()
    try:
        # The client gives up after 10 s: an answer slower than that fails the test.
        async with httpx.AsyncClient(base_url=hub.system.url("webhook-gateway"), timeout=10) as c:
            answer = await c.post(
                "/webhook/live-data", json=reading, headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["Retry-After"]) > 0
            ready = await c.get("/ready")
            assert ready.status_code == 503
    finally:
        servers.start_kafka()

    async def retry_lands() -> dict[str, object]:
        return await hub.send_ok(token, reading)

    accepted = await eventually(retry_lands, timeout_s=90, interval_s=1)
    await hub.settled(timeout_s=120)
    history = (await hub.errors(battery_id)).json()
    assert [e["id"] for e in history["errors"]] == [accepted["data_id"]]
