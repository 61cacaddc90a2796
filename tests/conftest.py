"""Session fixtures: the real servers, and one running copy of battery-hub for the e2e tests
(its own topic prefix, database and ports, so it never touches what `make up` runs)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from deploy.local.run import SERVICES, LocalSystem
from tests.hub import Hub, free_port
from tests.servers import Servers, test_servers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that stop a server run last, so the others never see the outage."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    try:
        with test_servers() as found:
            yield found
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def system(servers: Servers) -> Iterator[LocalSystem]:
    run = uuid.uuid4().hex[:8]
    system = LocalSystem(
        name=f"test-{run}",
        topic_prefix=f"test-{run}.",
        database=f"bh_test_{run}",
        kafka=servers.kafka,
        pg_host=servers.pg_host,
        pg_port=servers.pg_port,
        pg_password=servers.pg_password,
        ports={service: free_port() for service in SERVICES},
    )
    try:
        system.up()
    except Exception:
        system.down()
        raise
    yield system
    system.down()
    asyncio.run(_clean_up(system))


async def _clean_up(system: LocalSystem) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=system.kafka)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(system.topic_prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
    connection = await asyncpg.connect(system.database_url("postgres", "postgresql"))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{system.database}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def hub(system: LocalSystem) -> AsyncIterator[Hub]:
    client = Hub(system)
    yield client
    await client.close()
