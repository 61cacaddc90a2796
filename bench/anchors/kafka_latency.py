"""Anchor: Kafka produce -> consume latency alone (acks=all producer, a polling consumer)."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def produce_consume_latency(bootstrap: str, topic: str, samples: int) -> list[float]:
    """Milliseconds from send to receipt for ``samples`` records sent 20 ms apart."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    await consumer.seek_to_end()
    latencies: list[float] = []
    try:
        for n in range(samples):
            sent = time.perf_counter()
            await producer.send_and_wait(topic, str(n).encode(), key=str(n % 16).encode())
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                if any(r.value == str(n).encode() for rs in batches.values() for r in rs):
                    break
            latencies.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.02)
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies
