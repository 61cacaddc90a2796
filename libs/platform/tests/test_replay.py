"""The replay command: it moves a group that consumed the topics back to their start, and
refuses a group that never committed on them (a misspelt or unprefixed name), which would
otherwise be "reset" while the real group stays where it was."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from batteryhub_platform.replay import main


async def _commit_to_end(bootstrap: str, topic: str, group: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(6):
            await producer.send_and_wait(topic, b"x", key=str(n).encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (0, 1)]
        consumer.assign(partitions)
        await consumer.commit(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, topic: str, group: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return sum([await consumer.committed(TopicPartition(topic, p)) or 0 for p in (0, 1)])
    finally:
        await consumer.stop()


async def test_replay_resets_the_group_that_consumed_and_refuses_one_that_did_not(
    bootstrap: str, topic: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = "platform-"  # the topic fixture's names begin so: read as a deployment's prefix
    assert topic.startswith(prefix)
    name = topic.removeprefix(prefix)
    group = f"{prefix}projector-{uuid.uuid4().hex[:6]}"
    await _commit_to_end(bootstrap, topic, group)
    assert await _committed(bootstrap, topic, group) == 6
    monkeypatch.setenv("BATTERYHUB_KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.setenv("BATTERYHUB_TOPIC_PREFIX", prefix)

    unprefixed = group.removeprefix(prefix)
    with pytest.raises(SystemExit) as refused:
        await asyncio.to_thread(main, [unprefixed, name])
    assert refused.value.code == 2
    assert f"consumer group {unprefixed!r} has committed no offset" in capsys.readouterr().err
    assert await _committed(bootstrap, topic, group) == 6  # the real group is untouched

    await asyncio.to_thread(main, [group, name])  # main runs its own loop
    assert f'"records_to_replay": {{"{topic}": 6}}' in capsys.readouterr().out
    assert await _committed(bootstrap, topic, group) == 0
