"""Replay: move a stopped consumer group back to the earliest offset of its topics.

``python -m batteryhub_platform.replay GROUP TOPIC [TOPIC ...]``: GROUP as Kafka knows it
(a service's group is its name under the topic prefix unless its settings name it), topic
names without the prefix; the connection and ``BATTERYHUB_TOPIC_PREFIX`` come from the
environment, as for every service. Kafka refuses the reset while the group has live members,
so stop the group's processes first. A group that has committed nothing on those topics is
refused too: it is a misspelt or unprefixed name, and resetting it would leave the real group
where it was while the projections it feeds are emptied. ``docs/operations.md`` has the
whole rebuild procedure.
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
    per topic. Raises a Kafka error when the group still has members, and ``ValueError``
    when a topic is missing or the group has committed nothing on the topics."""
    admin = AIOKafkaAdminClient(**connection.client_kwargs())
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
    ]
    missing = set(topics) - {tp.topic for tp in partitions}
    if missing:
        raise ValueError(f"no such topics: {sorted(missing)}")
    if not set(partitions) & set(committed):
        raise ValueError(
            f"consumer group {group!r} has committed no offset on {sorted(topics)}: not the group "
            "that consumes them (a service's group is its name under the topic prefix, "
            "e.g. 'prod.query-projector', unless its settings name it)"
        )
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
    parser.add_argument(
        "group",
        help="consumer group id as Kafka knows it, e.g. query-projector or prod.query-projector",
    )
    parser.add_argument("topics", nargs="+", help="topics without the prefix, e.g. registry")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    topics = [full_name(t, settings.topic_prefix) for t in args.topics]
    try:
        replayed = asyncio.run(reset_to_earliest(settings.kafka, args.group, topics))
    except ValueError as refused:
        parser.exit(2, f"replay: {refused}\n")
    print(json.dumps({"group": args.group, "records_to_replay": replayed}))


if __name__ == "__main__":
    main()
