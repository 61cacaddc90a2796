"""The projector commits without waiting for the disk and commits its Kafka offsets only once
a ``FlushWitness`` confirms its transactions durable. Against the running system's
PostgreSQL: a confirm flushes the WAL past every commit before it, and it is refused once the
server has ended the connection held since the watch (a crash or a reset ends them all),
until a new watch."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from batteryhub_platform.db import FLUSH_FUNCTION, FlushWitness, make_engine
from batteryhub_platform.offsets import group_positions
from deploy.local.run import LocalSystem
from tests.hub import GROUP_TOPICS, Hub, eventually, free_port, migrate_query_tables, new_hub_id

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
            pid = await _backend_pid(witness._held)
            async with engine.connect() as c:
                await c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(ConnectionError):
                await witness.confirm()
            await witness.watch()
            await witness.confirm()
    finally:
        await witness.close()
        await engine.dispose()


async def test_a_watch_after_the_server_ended_the_pooled_connections_holds_a_live_one(
    hub: Hub,
) -> None:
    """After a PostgreSQL restart every pooled connection is dead: a watch that held one
    would fail its confirm, and the projector would write its batches again for nothing."""
    engine = make_engine(hub.system.database_url(), pool_size=2, synchronous_commit=False)
    witness = FlushWitness(engine)
    try:
        async with engine.connect() as a, engine.connect() as b:  # two back in the pool after
            pids = [await _backend_pid(c) for c in (a, b)]
        admin = await asyncpg.connect(hub.system.database_url(driver="postgresql"))
        try:
            for pid in pids:
                assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        finally:
            await admin.close()
        await witness.watch()
        await witness.confirm()
        assert witness.refused is None
    finally:
        await witness.close()
        await engine.dispose()


async def test_a_projector_whose_role_may_not_write_the_wal_message_is_not_ready_until_granted(
    hub: Hub,
) -> None:
    """A database hardened to revoke ``pg_logical_emit_message`` from ``PUBLIC``: the
    projector says why in its log, with the GRANT to run, commits no offset and is not
    ready (so a rollout stops); once that GRANT is run, it is ready without a restart and
    commits its offsets."""
    system = hub.system
    run = uuid.uuid4().hex[:8]
    database, role, password = f"{system.database}_w{run}", f"bh_witness_{run}", f"pw-{run}"
    group, port = f"witness-{run}", free_port()
    env = {
        "BATTERYHUB_DATABASE_URL": system.database_url(database),
        "BATTERYHUB_PROJECTOR_GROUP_ID": group,
    }
    admin = await asyncpg.connect(system.database_url("postgres", "postgresql"))
    await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await migrate_query_tables(system, env)
        owner = await asyncpg.connect(system.database_url(database, "postgresql"))
        try:
            function = await owner.fetchval(f"SELECT ({FLUSH_FUNCTION})::text")
            await owner.execute(
                f"GRANT USAGE ON SCHEMA query TO {role};"
                f" GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA query TO {role};"
                f" REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC"
            )
            restricted = system.database_url(database).replace(
                f"postgres:{system.pg_password}@", f"{role}:{password}@"
            )
            system.start(
                "query-projector",
                instance=f"-{group}",
                port=port,
                extra_env={**env, "BATTERYHUB_DATABASE_URL": restricted},
            )
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
                await _refused_until_granted(hub, c, owner, group, role, function)
        finally:
            system.stop(f"query-projector-{group}")
            await owner.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def _refused_until_granted(
    hub: Hub,
    c: httpx.AsyncClient,
    owner: asyncpg.Connection,
    group: str,
    role: str,
    function: str,
) -> None:
    async def refused() -> None:
        try:
            answer = await c.get("/ready")
        except httpx.TransportError as exc:
            raise AssertionError("not answering yet") from exc
        assert answer.status_code == 503
        assert answer.json()["checks"] == {"kafka": True, "database": True, "durability": False}

    await eventually(refused, timeout_s=60, interval_s=0.3)
    grant = f"GRANT EXECUTE ON FUNCTION {function} TO {role}"
    log = hub.system.log_file(f"query-projector-{group}").read_text()
    assert f"commits no offsets; run: {grant}" in log

    # A record for it to take, whatever ran before (a battery registered): taken, its
    # confirm failing, and nothing committed.
    await hub.new_battery(hub_id=new_hub_id())

    async def confirms_failed() -> None:
        metrics = (await c.get("/metrics")).text
        failed = [
            line
            for line in metrics.splitlines()
            if line.startswith("consumer_retries_total{") and 'kind="not_durable"' in line
        ]
        assert failed and float(failed[0].split()[-1]) >= 1, failed

    await eventually(confirms_failed, timeout_s=60, interval_s=0.3)
    assert not any(done for done, _ in (await _positions(hub.system, group)).values())

    await owner.execute(grant)  # the statement its log gave

    async def ready() -> None:
        assert (await c.get("/ready")).status_code == 200

    await eventually(ready, timeout_s=30, interval_s=0.3)
    # Its next batch takes again what it took while refused, and commits it. (With no
    # record coming, the watchdog's restart would, within 30 s: not waited for here.)
    await hub.new_battery(hub_id=new_hub_id())

    async def caught_up() -> None:
        positions = await _positions(hub.system, group)
        assert positions and all(done == end for done, end in positions.values())

    await eventually(caught_up, timeout_s=120, interval_s=0.5)


async def _positions(system: LocalSystem, group: str) -> dict[object, tuple[int, int]]:
    """The projector's partitions with ``group``'s committed offset and the end offset."""
    admin = AIOKafkaAdminClient(bootstrap_servers=system.kafka)
    consumer = AIOKafkaConsumer(bootstrap_servers=system.kafka)
    await admin.start()
    await consumer.start()
    try:
        topics = {system.topic_prefix + t for t in GROUP_TOPICS["query-projector"]}
        return dict(await group_positions(admin, consumer, group, topics))
    finally:
        await consumer.stop()
        await admin.close()


async def _backend_pid(connection: AsyncConnection) -> int:
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # an open connection of the asyncpg dialect
    return int(driver.get_server_pid())
