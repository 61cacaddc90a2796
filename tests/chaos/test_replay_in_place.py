"""Replay in place: stop every consumer, reset every consumer group to the earliest offset,
empty the query projections, start again. Every answer of the query API, and every row of
the projections, is identical before and after, and the notifier decides nothing twice (a
suppressed reading whose notification has since been read must not notify on replay)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import asyncpg
import httpx
import pytest

from batteryhub_platform.kafka import KafkaConnection
from batteryhub_platform.replay import reset_to_earliest
from tests.chaos.checker import check
from tests.chaos.conftest import Scale
from tests.chaos.fleet import Fleet
from tests.chaos.test_consumer_faults import CONSUMERS, drain
from tests.hub import GROUP_TOPICS, Hub

pytestmark = pytest.mark.e2e

PROJECTIONS = ("query.batteries", "query.readings", "query.notifications")


async def _pages(api: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[Any]:
    found: list[Any] = []
    while True:
        answer = await api.get(path, params={"limit": 1000, "offset": len(found)}, headers=headers)
        assert answer.status_code == 200, answer.text
        found += answer.json()
        if len(answer.json()) < 1000:
            return found


async def snapshot(hub: Hub, batteries: list[int], keep: str) -> dict[str, str]:
    """SHA-256 of what the apps see (kept in the run folder as replay-``keep``.json), and an
    MD5 of every projection row."""
    headers = await hub.admin_headers()
    seen: dict[str, Any] = {
        "batteries": await _pages(hub.query, "/batteries", headers),
        "notifications": await _pages(hub.query, "/notifications", headers),
        "unread": (await hub.query.get("/notifications/unread-count", headers=headers)).json(),
    }
    for battery_id in batteries:
        history = await hub.errors(battery_id)
        assert history.status_code == 200, history.text
        # everything but the window, which is relative to the moment of the request
        seen[f"errors/{battery_id}"] = {
            k: v for k, v in history.json().items() if k != "time_range"
        }
    text = json.dumps(seen, sort_keys=True, indent=1)
    (hub.system.run_dir / f"replay-{keep}.json").write_text(text)
    digests = {"api": hashlib.sha256(text.encode()).hexdigest()}
    connection = await asyncpg.connect(hub.system.database_url(driver="postgresql"))
    try:
        for table in PROJECTIONS:
            digests[table] = await connection.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                f" || ':' || count(*) FROM {table} t"
            )
    finally:
        await connection.close()
    return digests


async def test_reset_every_group_and_rebuild_the_projections(
    hub: Hub, scale: Scale, record: dict[str, Any]
) -> None:
    batteries, per_battery = scale.fleet()
    fleet = await Fleet.register(hub, batteries, per_battery)
    traffic = fleet.traffic()
    await drain(hub, record, fleet.start(traffic, scale.readings_per_s))
    # Read every notification: a replay that decided again would now notify for readings
    # that were suppressed the first time.
    for battery in fleet.batteries[: len(fleet.batteries) // 2]:
        for n in await hub.notifications_of(battery.battery_id):
            answer = await hub.query.put(
                f"/notifications/{n['id']}/read", headers=await hub.admin_headers()
            )
            assert answer.status_code == 200, answer.text
    await hub.settled()
    ids = [b.battery_id for b in fleet.batteries]
    before = await snapshot(hub, ids, "before")

    system = hub.system
    for service in CONSUMERS:
        system.stop(service)
    replayed: dict[str, dict[str, int]] = {}
    try:
        connection = KafkaConnection(system.kafka)
        for group, topics in GROUP_TOPICS.items():
            replayed[group] = await reset_to_earliest(
                connection, system.topic_prefix + group, [system.topic_prefix + t for t in topics]
            )
        database = await asyncpg.connect(system.database_url(driver="postgresql"))
        try:
            await database.execute(f"TRUNCATE {', '.join(PROJECTIONS)}")
        finally:
            await database.close()
    finally:  # whatever happened, the tests after this one need the consumers
        began = time.monotonic()
        for service in CONSUMERS:
            system.start(service)
        await asyncio.to_thread(system.wait_ready, list(CONSUMERS))
    await hub.settled(timeout_s=1800)
    record["replay_s"] = round(time.monotonic() - began, 1)
    after = await snapshot(hub, ids, "after")
    verdict = await check(system.database_url(driver="postgresql"), traffic)
    record.update(
        records_replayed=replayed,
        digests_before=before,
        digests_after=after,
        traffic=traffic.summary(),
        verdict=verdict.summary(),
    )
    assert after == before
    assert verdict.passed(), str(verdict)
