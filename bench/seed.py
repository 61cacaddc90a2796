"""Fills the query tables with many readings quickly (server-side generate_series), for the
query-latency figures. Shape as the projector writes it: ~3 % of readings carry faults, and
each id begins with its reading's time, as ``reading_id_text``'s do (the rest is a hash of
battery and reading number, not the gateway's)."""

from __future__ import annotations

import asyncpg

SEED_SQL = """
INSERT INTO query.readings (reading_id, public_id, battery_id, hub_id, measured_at, received_at,
    time_source, device_time, clock_skewed, err, has_errors, decoded_errors, soc, voltage,
    current, temperature, power, latitude, longitude, metrics)
SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7'
            || substr(h, 14, 3) || '8' || substr(h, 18, 15))::uuid,
       ((b::bigint * 1000003 + n) % 9007199254740991),
       b, 1, at, at, 'rtc', at, false,
       CASE WHEN n % 33 = 0 THEN 'TG' ELSE '' END,
       n % 33 = 0,
       CASE WHEN n % 33 = 0 THEN '[{"code":"T","name":"tempSensorError","description":"Temperature sensor error","severity":"warning"},{"code":"G","name":"gpsError","description":"GPS error","severity":"warning"}]'::jsonb ELSE '[]'::jsonb END,
       50 + (n % 50), 13.1, -0.4, 24.5, -5.2, 55.622, -3.527,
       '{"soc": 50.0, "v": 13.1, "i": -0.4, "t": 24.5, "p": -5.2}'::json
FROM generate_series($1::int, $2::int) AS b, generate_series($3::int, $4::int) AS n,
     LATERAL (SELECT date_trunc('second', now()) - make_interval(secs => n * 60 + b) AS at,
                     md5(b::text || ':' || n::text) AS h) AS r
ON CONFLICT DO NOTHING
"""


async def seed_batteries(dsn: str, batteries: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            """INSERT INTO query.batteries (battery_id, hub_id, name, device_id, revoked, revision,
                   registered_at, updated_at)
               SELECT b, 1, 'SEED' || b, NULL, false, 1, now(), now()
               FROM generate_series(1, $1::int) AS b ON CONFLICT DO NOTHING""",
            batteries,
        )
    finally:
        await connection.close()


async def seed_readings(dsn: str, batteries: int, first: int, last: int) -> None:
    """Readings ``first``..``last`` (minutes back in time) for batteries 1..``batteries``."""
    connection = await asyncpg.connect(dsn, command_timeout=3600)
    try:
        step = 100
        for low in range(1, batteries + 1, step):
            await connection.execute(SEED_SQL, low, min(low + step - 1, batteries), first, last)
        # Settled as a database holding these readings would be, not as one just loaded in
        # bulk: without this, the insert-triggered autovacuum of the whole table and the
        # checkpoint flushing the load ran during the measurement (seen at 13.5M readings:
        # p99 31.6 ms, max 597 ms, an autovacuum scanning block 487,959 as the round ended).
        await connection.execute("VACUUM (ANALYZE) query.readings")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def clear_readings(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("TRUNCATE query.readings")
    finally:
        await connection.close()


async def count_readings(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM query.readings"))
    finally:
        await connection.close()


async def primary_key_latencies(dsn: str, samples: int) -> list[float]:
    """Milliseconds of a primary-key lookup on the same table, from the client side."""
    import time

    connection = await asyncpg.connect(dsn)
    try:
        # Rows drawn each with the same chance, about twice as many as asked for (from the
        # row count the seed's ANALYZE left). A sample of 0.1 % of the table's blocks drew
        # none at all from a small table.
        rows = await connection.fetchval(
            "SELECT reltuples FROM pg_class WHERE oid = 'query.readings'::regclass"
        )
        percent = min(100.0, 200.0 * samples / max(float(rows), 1.0))
        ids = [
            r[0]
            for r in await connection.fetch(
                "SELECT reading_id FROM query.readings TABLESAMPLE BERNOULLI ($2) LIMIT $1",
                samples,
                percent,
            )
        ]
        statement = await connection.prepare("SELECT * FROM query.readings WHERE reading_id = $1")
        latencies = []
        for reading_id in ids:
            started = time.perf_counter()
            await statement.fetchrow(reading_id)
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies
    finally:
        await connection.close()
