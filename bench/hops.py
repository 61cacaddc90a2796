"""Where a latency probe's time goes: the probe battery's records on the topics between the
services, watched as they are written. Each record's timestamp is its producer's clock when
it sent the record (Kafka's CreateTime, in milliseconds), and every process runs on this
machine's clock, so the gaps between them are the hops of the pipeline:

- gateway: POST sent -> the gateway sends the raw record (parsing, queueing behind uploads);
- decoder: raw record sent -> decoded record sent (Kafka's ack, the decoder's fetch and batch);
- projector: decoded record sent -> the reading answered by the query API (the projector's
  fetch and batch, its transaction, one poll of the query API).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from bench.kafka_tools import end_offsets


class ProbeWatch:
    """Follows one key on a few topics (one partition each: the key's)."""

    def __init__(self, bootstrap: str, topics: Mapping[str, str], key: bytes) -> None:
        self._bootstrap = bootstrap
        self._topics = dict(topics)  # label -> topic
        self._key = key
        self._seen: dict[str, list[float]] = {label: [] for label in self._topics}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None)
        await consumer.start()
        self._consumer = consumer
        described = await end_offsets(self._bootstrap, list(self._topics.values()))
        partitioner = DefaultPartitioner()
        labels: dict[TopicPartition, str] = {}
        for label, topic in self._topics.items():
            partitions = sorted(tp.partition for tp in described if tp.topic == topic)
            if not partitions:
                raise RuntimeError(f"topic {topic} has no partitions")
            partition = partitioner(self._key, partitions, partitions)
            labels[TopicPartition(topic, partition)] = label
        consumer.assign(list(labels))
        await consumer.seek_to_end(*labels)
        self._task = asyncio.create_task(self._follow(consumer, labels))

    async def _follow(self, consumer: AIOKafkaConsumer, labels: dict[TopicPartition, str]) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            for tp, records in batches.items():
                self._seen[labels[tp]].extend(
                    r.timestamp / 1000 for r in records if r.key == self._key
                )

    async def sent_after(self, since: float, timeout_s: float = 5.0) -> dict[str, float | None]:
        """Per topic, when the first record of the key at or after ``since`` (wall clock, s)
        was sent; None for a topic where none showed in ``timeout_s``. The timestamps have
        millisecond resolution, so ``since`` is compared a millisecond early."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = {
                label: next((t for t in times if t >= since - 0.001), None)
                for label, times in self._seen.items()
            }
            if all(v is not None for v in found.values()) or time.monotonic() > deadline:
                for times in self._seen.values():
                    times.clear()
                return found
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
