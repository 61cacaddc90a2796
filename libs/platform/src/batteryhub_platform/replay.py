"""Replay: move a stopped consumer group back to the earliest offset of its topics.

``python -m batteryhub_platform.replay GROUP TOPIC [TOPIC ...]`` (topic names without the
prefix; the connection and ``BATTERYHUB_TOPIC_PREFIX`` come from the environment, as for
every service). Kafka refuses the reset while the group has live members, so stop the
group's processes first. ``docs/operations.md`` has the whole rebuild procedure.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from batteryhub_contracts.topics import full_name
from batteryhub_platform.kafka import KafkaConnection
from batteryhub_platform.settings import ServiceSettings


async def reset_to_earliest(
    connection: KafkaConnection, group: str, topics: list[str]
) -> dict[str, int]:
    """Commit each partition's earliest offset for ``group``; return the records to replay
    per topic. Raises a Kafka error when the group still has members."""
    admin = AIOKafkaAdminClient(**connection.client_kwargs())
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
    ]
    missing = set(topics) - {tp.topic for tp in partitions}
    if missing:
        raise ValueError(f"no such topics: {sorted(missing)}")
    consumer = AIOKafkaConsumer(
        group_id=group, enable_auto_commit=False, **connection.client_kwargs()
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        earliest = await consumer.beginning_offsets(partitions)
        latest = await consumer.end_offsets(partitions)
        await consumer.commit({tp: OffsetAndMetadata(earliest[tp], "replay") for tp in partitions})
    finally:
        await consumer.stop()
    replayed: dict[str, int] = {}
    for tp in partitions:
        replayed[tp.topic] = replayed.get(tp.topic, 0) + latest[tp] - earliest[tp]
    return replayed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("group", help="consumer group id, e.g. query-projector")
    parser.add_argument("topics", nargs="+", help="topics without the prefix, e.g. registry")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    topics = [full_name(t, settings.topic_prefix) for t in args.topics]
    replayed = asyncio.run(reset_to_earliest(settings.kafka, args.group, topics))
    print(json.dumps({"group": args.group, "records_to_replay": replayed}))


if __name__ == "__main__":
    main()
