"""The checker sees what it must: a clean run passes, and a lost reading, a stored duplicate
and a phantom notification each count (the rows are put back afterwards)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from tests.chaos.checker import check
from tests.chaos.fleet import Fleet
from tests.hub import Hub

pytestmark = pytest.mark.e2e


async def test_the_checker_counts_lost_duplicate_and_phantom(hub: Hub) -> None:
    fleet = await Fleet.register(hub, batteries=2, readings_per_battery=100)
    traffic = fleet.traffic()
    await fleet.stream(traffic, readings_per_s=1000)
    await hub.settled()
    dsn = hub.system.database_url(driver="postgresql")
    clean = await check(dsn, traffic)
    assert clean.passed(), str(clean)
    assert (clean.acknowledged, clean.stored) == (200, 200)

    battery_id = fleet.batteries[0].battery_id
    db = await asyncpg.connect(dsn)
    try:
        async with db.transaction():
            victim: dict[str, Any] = dict(
                await db.fetchrow(
                    "DELETE FROM query.readings WHERE reading_id = (SELECT reading_id FROM"
                    " query.readings WHERE battery_id = $1 LIMIT 1) RETURNING *",
                    battery_id,
                )
            )
            columns = ", ".join(victim)
            places = ", ".join(f"${n}" for n in range(1, len(victim) + 1))
            kept = await db.fetchrow(
                "SELECT * FROM query.readings WHERE battery_id = $1 LIMIT 1", battery_id
            )
            double = {**dict(kept), "reading_id": uuid.uuid4()}
            await db.execute(
                f"INSERT INTO query.readings ({columns}) VALUES ({places})", *double.values()
            )
            ghost = await db.fetchrow(
                "INSERT INTO notifier.notifications (id, battery_id, hub_id, code, reading_id,"
                " created_at, event) SELECT id + 1, battery_id, hub_id, 'Q', $1, created_at,"
                " event FROM notifier.notifications WHERE battery_id = ANY($2::bigint[])"
                " LIMIT 1 RETURNING id",
                uuid.uuid4(),
                list(traffic.accepted),
            )
        tampered = await check(dsn, traffic)
    finally:
        async with db.transaction():
            await db.execute(
                "DELETE FROM query.readings WHERE reading_id = $1", double["reading_id"]
            )
            await db.execute(
                f"INSERT INTO query.readings ({columns}) VALUES ({places})", *victim.values()
            )
            if ghost is not None:
                await db.execute("DELETE FROM notifier.notifications WHERE id = $1", ghost["id"])
        await db.close()
    assert tampered.lost == 1
    assert tampered.duplicate_readings == 2  # the same data_id twice, the same device time twice
    assert ghost is not None and tampered.phantom_notifications == 1
    assert not tampered.passed()
    assert (await check(dsn, traffic)).passed()
