"""A consumer that reconnects its Kafka client (what the stall watchdog does) goes on
consuming where its committed offsets say, against the real Kafka ``make test`` starts."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from batteryhub_contracts.events import (
    READING_RECEIVED,
    ReadingFields,
    ReadingReceived,
    encode,
)
from batteryhub_platform.consumer import ConsumerRunner, Incoming
from batteryhub_platform.kafka import EventPublisher, KafkaConnection, Outgoing

pytestmark = pytest.mark.integration

BOOTSTRAP = os.environ.get(
    "BATTERYHUB_TEST_KAFKA", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
)


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    name = f"consumer-restart-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        await admin.start()
    except KafkaConnectionError:
        pytest.fail(f"Kafka at {BOOTSTRAP} not reachable: start it with `make infra`")
    try:
        await admin.create_topics([NewTopic(name, 1, 1), NewTopic(name + ".dlq", 1, 1)])
        yield name
        await admin.delete_topics([name, name + ".dlq"])
    finally:
        await admin.close()


def reading(n: int) -> ReadingReceived:
    now = datetime.now(UTC)
    return ReadingReceived(
        event_id=uuid.uuid4(),
        occurred_at=now,
        reading=ReadingFields(
            battery_id=n,
            hub_id=1,
            battery_name=f"B{n}",
            measured_at=now,
            time_source="received",
            received_at=now,
            metrics={},
        ),
    )


async def test_a_reconnected_consumer_goes_on_where_it_left_off(topic: str) -> None:
    seen: list[int] = []

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        seen.extend(i.event.reading.battery_id for i in batch)
        return ()

    connection = KafkaConnection(BOOTSTRAP)
    publisher = EventPublisher(connection, "restart-test", timeout_s=10)
    await publisher.start()
    runner = ConsumerRunner(
        connection=connection,
        group_id=f"restart-test-{uuid.uuid4().hex[:6]}",
        codecs={topic: READING_RECEIVED},
        handler=handle,
        publisher=publisher,
        dead_letter_topic=topic + ".dlq",
    )
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    await runner.start()
    try:

        async def until_seen(count: int) -> None:
            for _ in range(300):
                if len(seen) >= count:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"saw {seen}")

        await producer.send_and_wait(topic, encode(reading(1)))
        await until_seen(1)
        await runner.restart("test")
        await producer.send_and_wait(topic, encode(reading(2)))
        await until_seen(2)
        assert seen == [1, 2]
    finally:
        await runner.stop()
        await producer.stop()
        await publisher.stop()
