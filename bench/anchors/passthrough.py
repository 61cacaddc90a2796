"""Anchor: consume a topic and produce every record to another, committing after the
produce is acknowledged, with no logic at all. The decoder does the same plus decoding.
Like the services' consumers, it takes and sends the next batch while the last one's
acknowledgements are awaited. Its producer compresses as the services' producers do, so its copy of a topic holds the
record batches the gateway writes, which the decoder's drain of it then reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


async def passthrough(
    bootstrap: str,
    sink: str,
    expected: int,
    group: str,
    compression: str | None,
    start: Mapping[TopicPartition, int],
) -> float:
    """Records per second to move ``expected`` records to ``sink`` from the partitions of
    ``start``, each from its offset there."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        compression_type=compression,
    )
    await consumer.start()
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    await producer.start()
    moved = 0
    started = None
    in_flight: tuple[list[asyncio.Future[Any]], dict[TopicPartition, int]] | None = None
    try:
        while moved < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            if started is None and batches:
                started = time.perf_counter()
            futures = [
                await producer.send(sink, record.value, key=record.key)
                for records in batches.values()
                for record in records
            ]
            # As the services' consumers do, the next batch is taken and sent while this
            # one's acknowledgements are awaited; its offsets are committed after them.
            if in_flight is not None:
                await _acknowledged(consumer, *in_flight)
            offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
            in_flight = (futures, offsets)
            moved += len(futures)
        if in_flight is not None:
            await _acknowledged(consumer, *in_flight)
    finally:
        await consumer.stop()
        await producer.stop()
    assert started is not None
    return moved / (time.perf_counter() - started)


async def _acknowledged(
    consumer: AIOKafkaConsumer,
    futures: list[asyncio.Future[Any]],
    offsets: dict[TopicPartition, int],
) -> None:
    await asyncio.gather(*futures)
    if offsets:
        await consumer.commit(offsets)
