"""A running consumer against the real Kafka, for the platform's integration tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from batteryhub_contracts.events import (
    READING_RECEIVED,
    Codec,
    ReadingFields,
    ReadingReceived,
    encode,
)
from batteryhub_platform.consumer import ConsumerRunner, Durability, Incoming
from batteryhub_platform.kafka import EventPublisher, KafkaConnection, Outgoing


def reading(battery_id: int) -> bytes:
    now = datetime.now(UTC)
    return encode(
        ReadingReceived(
            event_id=uuid.uuid4(),
            occurred_at=now,
            reading=ReadingFields(
                battery_id=battery_id,
                hub_id=1,
                battery_name=f"B{battery_id}",
                measured_at=now,
                time_source="received",
                received_at=now,
                metrics={},
            ),
        )
    )


async def until(condition: Any, what: str, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} within {timeout_s:g} s")


@asynccontextmanager
async def consuming(
    bootstrap: str,
    topic: str,
    group: str,
    handle: Callable[[list[Incoming[Any]]], Awaitable[Sequence[Outgoing]]],
    stall_after_s: float = 30.0,
    codec: Codec = READING_RECEIVED,
    durability: Durability | None = None,
) -> AsyncIterator[tuple[ConsumerRunner, AIOKafkaProducer]]:
    """A running consumer of ``topic`` whose watchdog looks every 0.5 s, and a producer."""
    connection = KafkaConnection(bootstrap)
    publisher = EventPublisher(connection, "platform-test", timeout_s=10)
    runner = ConsumerRunner(
        connection=connection,
        group_id=group,
        codecs={topic: codec},
        handler=handle,
        publisher=publisher,
        dead_letter_topic=topic + ".dlq",
        stall_after_s=stall_after_s,
        watch_every_s=0.5,
        durability=durability,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await publisher.start()
    await producer.start()
    await runner.start()
    try:
        yield runner, producer
    finally:
        await runner.stop()
        await producer.stop()
        await publisher.stop()


async def lag_is_zero(runner: ConsumerRunner) -> None:
    for _ in range(100):
        if await runner.update_lag() == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the group did not commit everything within 20 s")
