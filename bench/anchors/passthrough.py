"""Anchor: consume a topic and produce every record to another, committing after the
produce is acknowledged, with no logic at all. The decoder does the same plus decoding.
Its producer compresses as the services' producers do, so its copy of a topic holds the
record batches the gateway writes, which the decoder's drain of it then reads."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def passthrough(
    bootstrap: str, source: str, sink: str, expected: int, group: str, compression: str | None
) -> float:
    """Records per second to move ``expected`` records from ``source`` to ``sink``."""
    consumer = AIOKafkaConsumer(
        source,
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
    await producer.start()
    moved = 0
    started = None
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
            await asyncio.gather(*futures)
            await consumer.commit()
            moved += len(futures)
    finally:
        await consumer.stop()
        await producer.stop()
    assert started is not None
    return moved / (time.perf_counter() - started)
