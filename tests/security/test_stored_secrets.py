"""Secrets rest only as argon2id hashes of at least OWASP's strength (19 MiB, t=2): user
passwords in the query schema, battery secrets on the registry topic, and a password or a
battery secret hashed with weaker parameters is upgraded at its next login."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from argon2 import PasswordHasher

from batteryhub_contracts.events import (
    REGISTRY_EVENT,
    AnyRegistryEvent,
    BatteryRecord,
    BatteryRegistered,
    encode,
)
from batteryhub_contracts.topics import READINGS_RAW, REGISTRY, battery_key, full_name
from tests.hub import Hub, eventually, new_battery_id, read_topic
from tests.security.forge import BATTERY_KEY, battery_claims, hs256

pytestmark = pytest.mark.e2e

MIN_MEMORY_KIB = 19 * 1024
MIN_TIME_COST = 2
ARGON2 = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")


def _assert_strong(stored: str, owner: str) -> None:
    match = ARGON2.match(stored)
    assert match, f"{owner}: not an argon2id hash: {stored[:20]}..."
    memory, time_cost, _ = map(int, match.groups())
    assert memory >= MIN_MEMORY_KIB, f"{owner}: m={memory}"
    assert time_cost >= MIN_TIME_COST, f"{owner}: t={time_cost}"


@pytest.fixture
async def database(hub: Hub) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(hub.system.database_url(driver="postgresql"))
    yield connection
    await connection.close()


async def _topic(hub: Hub, name: str) -> list[bytes]:
    return [r.value for r in await read_topic(hub, name) if r.value is not None]


async def test_every_user_password_is_stored_as_a_strong_argon2id_hash(
    hub: Hub, database: asyncpg.Connection
) -> None:
    await hub.create_user("user", 1)
    rows = await database.fetch("SELECT username, password_hash FROM query.users")
    assert len(rows) >= 2
    for row in rows:
        _assert_strong(row["password_hash"], row["username"])


async def test_every_battery_secret_on_the_registry_topic_is_a_strong_argon2id_hash(
    hub: Hub,
) -> None:
    battery_id, secret = await hub.register()
    await hub.send_ok(await hub.battery_token(battery_id, secret), {"id": battery_id, "soc": 1})
    raw = await _topic(hub, REGISTRY)
    events = [REGISTRY_EVENT.decode(value) for value in raw]
    assert battery_id in {e.battery.battery_id for e in events}
    for event in events:
        _assert_strong(event.battery.secret_hash, f"battery {event.battery.battery_id}")
    for name in (REGISTRY, READINGS_RAW):
        assert not [v for v in await _topic(hub, name) if secret.encode() in v], name


async def test_a_weaker_password_hash_is_upgraded_when_its_user_logs_in(
    hub: Hub, database: asyncpg.Connection
) -> None:
    username, password = f"legacy-{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(password)
    await database.execute(
        "INSERT INTO query.users (username, password_hash, role, hub_id) VALUES ($1, $2, $3, $4)",
        username,
        weak,
        "user",
        1,
    )
    await hub.login(username, password)
    stored = await database.fetchval(
        "SELECT password_hash FROM query.users WHERE username = $1", username
    )
    assert stored != weak
    _assert_strong(stored, username)
    assert PasswordHasher().verify(stored, password)
    await hub.login(username, password)
    unchanged = await database.fetchval(
        "SELECT password_hash FROM query.users WHERE username = $1", username
    )
    assert unchanged == stored, "a hash of current strength is not rewritten"


async def test_a_weaker_battery_secret_hash_is_upgraded_at_login_and_tokens_survive(
    hub: Hub,
) -> None:
    """A battery registered under weaker argon2 parameters (as an older release did) gets a
    stronger hash of the same secret at its next login, on the registry topic. Tokens issued
    before the upgrade keep working; a second login changes nothing."""
    battery_id, secret = new_battery_id(), "secret-" + uuid.uuid4().hex
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(secret)
    now = datetime.now(UTC)
    legacy = BatteryRecord(
        battery_id=battery_id,
        hub_id=1,
        name=f"LEGACY{battery_id}",
        secret_hash=weak,
        revision=1,
        registered_at=now,
    )  # written before secret_since_revision existed
    producer = AIOKafkaProducer(bootstrap_servers=hub.system.kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            full_name(REGISTRY, hub.system.topic_prefix),
            encode(BatteryRegistered(event_id=uuid.uuid4(), occurred_at=now, battery=legacy)),
            key=battery_key(battery_id),
        )
    finally:
        await producer.stop()
    earlier = hs256(battery_claims(battery_id, revision=1), BATTERY_KEY)
    reading = {"id": battery_id, "err": "S", "d": "2026-01-02", "tm": "03:04:05"}

    async def followed() -> None:
        assert (await hub.send(earlier, reading)).status_code == 200

    await eventually(followed, timeout_s=30)

    token = await hub.battery_token(battery_id, secret)
    upgrades = [e for e in await _registry_events(hub, battery_id) if e.battery.revision > 1]
    assert [e.type for e in upgrades] == ["battery_secret_rehashed"]
    upgraded = upgrades[0].battery
    _assert_strong(upgraded.secret_hash, f"battery {battery_id}")
    assert PasswordHasher().verify(upgraded.secret_hash, secret)
    assert (upgraded.revision, upgraded.secret_since_revision) == (2, 1)
    for still_good in (earlier, token):
        assert (await hub.send(still_good, reading)).status_code == 200

    await hub.battery_token(battery_id, secret)
    assert len(await _registry_events(hub, battery_id)) == 2, "a strong hash is not redone"


async def _registry_events(hub: Hub, battery_id: int) -> list[AnyRegistryEvent]:
    return [
        e
        for e in (REGISTRY_EVENT.decode(v) for v in await _topic(hub, REGISTRY))
        if e.battery.battery_id == battery_id
    ]
