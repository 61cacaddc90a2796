"""The projector commits without waiting for the disk and commits its Kafka offsets only once
a ``FlushWitness`` confirms its transactions durable. Against the running system's
PostgreSQL: a confirm flushes the WAL past every commit before it, and it is refused once the
server has ended the connection held since the watch (a crash or a reset ends them all),
until a new watch."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from batteryhub_platform.db import FlushWitness, make_engine
from tests.hub import Hub

pytestmark = pytest.mark.e2e

_WAL_INSERTED = text("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
_WAL_FLUSHED = text("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn")


async def test_a_confirm_flushes_past_every_commit_before_it_while_its_connection_lives(
    hub: Hub,
) -> None:
    engine = make_engine(hub.system.database_url(), pool_size=2, synchronous_commit=False)
    witness = FlushWitness(engine)
    try:
        with pytest.raises(ConnectionError):
            await witness.confirm()  # no watch: nothing to tell by
        await witness.watch()
        async with engine.begin() as c:
            assert await c.scalar(text("SHOW synchronous_commit")) == "off"
            await c.execute(text("CREATE TEMP TABLE witnessed (n int)"))
            await c.execute(text("INSERT INTO witnessed SELECT generate_series(1, 1000)"))
        async with engine.connect() as c:
            committed_before = int(await c.scalar(_WAL_INSERTED))
        await witness.confirm()
        async with engine.connect() as c:
            assert int(await c.scalar(_WAL_FLUSHED)) >= committed_before

        # What a crash or a reset of the server does to every connection, to the held one.
        # Not waiting for the backend to end, and several times: the driver sees the end as
        # the server's FATAL message alone or as a closed socket, and every way must fail.
        for _ in range(10):
            assert witness._held is not None
            held = (await witness._held.get_raw_connection()).driver_connection
            assert held is not None
            async with engine.connect() as c:
                await c.execute(
                    text("SELECT pg_terminate_backend(:pid)"),
                    {"pid": held.get_server_pid()},
                )
            with pytest.raises(ConnectionError):
                await witness.confirm()
            await witness.watch()
            await witness.confirm()
    finally:
        await witness.close()
        await engine.dispose()
