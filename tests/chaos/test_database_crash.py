"""PostgreSQL crashes mid-stream (immediate shutdown: no checkpoint, crash recovery on the
next start). Ingestion goes on (it needs only Kafka); the query API says 503, never a 500;
the notifier and the projector wait and then catch up without losing or doubling anything."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.chaos.checker import check
from tests.chaos.conftest import Scale
from tests.chaos.fleet import Fleet, until
from tests.chaos.test_consumer_faults import drain
from tests.hub import Hub
from tests.servers import Servers

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]


async def test_postgresql_crash_mid_stream(
    hub: Hub, servers: Servers, scale: Scale, record: dict[str, Any]
) -> None:
    batteries, per_battery = scale.fleet()
    fleet = await Fleet.register(hub, batteries, per_battery)
    headers = await hub.admin_headers()
    probe = fleet.batteries[0].battery_id
    traffic = fleet.traffic()
    stream = fleet.start(traffic, scale.readings_per_s, concurrency=batteries)
    await until(traffic, 0.3, stream)
    answers: Counter[int] = Counter()
    bad: list[str] = []
    await asyncio.to_thread(servers.crash_pg)
    crashed = time.monotonic()
    try:
        async with httpx.AsyncClient(base_url=hub.system.url("query-api"), timeout=10) as api:
            while time.monotonic() - crashed < scale.pg_outage_s:
                for path in (f"/batteries/{probe}/errors", "/notifications", "/batteries"):
                    answer = await api.get(path, headers=headers)
                    answers[answer.status_code] += 1
                    if answer.status_code != 503 or "Retry-After" not in answer.headers:
                        bad.append(f"{path}: {answer.status_code} {answer.text[:300]}")
                    elif "Traceback" in answer.text:
                        bad.append(f"{path}: a traceback in {answer.text[:300]}")
                await asyncio.sleep(0.5)
    finally:
        await asyncio.to_thread(servers.start_pg)
    restarted = time.monotonic()

    async def query_api_back() -> float:
        async with httpx.AsyncClient(base_url=hub.system.url("query-api"), timeout=10) as api:
            while (await api.get(f"/batteries/{probe}/errors", headers=headers)).status_code != 200:
                assert time.monotonic() - restarted < 60, "the query API did not come back"
                await asyncio.sleep(0.2)
        return time.monotonic() - restarted

    back_s = await query_api_back()
    await drain(hub, record, stream)
    verdict = await check(hub.system.database_url(driver="postgresql"), traffic)
    record.update(
        outage_s=round(restarted - crashed, 1),
        query_api_during_outage={str(k): v for k, v in sorted(answers.items())},
        query_api_back_after_s=round(back_s, 1),
        traffic=traffic.summary(),
        verdict=verdict.summary(),
    )
    assert not bad, bad[:5]
    assert answers[503] > 0
    assert not traffic.unexpected, traffic.unexpected[:5]
    assert verdict.passed(), str(verdict)
