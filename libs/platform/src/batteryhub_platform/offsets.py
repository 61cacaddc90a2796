"""Where a consumer group stands on its topics: one reading of committed and end offsets,
shared by the consumer watchdog, the tests' "caught up" check and the benchmark."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

Positions = dict[TopicPartition, tuple[int, int]]
"""(committed, end) offset of each partition; ``end - committed`` is its lag."""


async def group_positions(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topics: Iterable[str]
) -> Positions:
    """Every partition of ``topics`` with ``group``'s committed offset (0 where it never
    committed: consumers start from the earliest record) and the end offset. ``consumer``
    only asks for end offsets: it needs no topics and no group of its own."""
    described = await admin.describe_topics(list(topics))
    partitions = [
        TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
    ]
    if not partitions:
        return {}
    committed = await admin.list_consumer_group_offsets(group)
    ends = await consumer.end_offsets(partitions)
    positions: Positions = {}
    for tp in partitions:
        found = committed.get(tp)
        done = found.offset if found is not None and found.offset >= 0 else 0
        positions[tp] = (min(done, ends[tp]), ends[tp])
    return positions
