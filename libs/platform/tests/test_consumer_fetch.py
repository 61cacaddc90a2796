"""How the consumer takes records from its Kafka client: fetch limits that fit the producers'
record batches, polls that do not sleep, and batches handed straight to the runner. Pure: a
stand-in client, no broker (the consuming itself is exercised against the real Kafka by
every e2e and chaos test)."""

from __future__ import annotations

from typing import Any, cast

import anyio
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from batteryhub_contracts.events import READING_RECEIVED
from batteryhub_platform.consumer import (
    BATCH_BYTES,
    FETCH_BYTES,
    POLL_TIMEOUT_MS,
    ConsumerRunner,
    Durability,
    Incoming,
)
from batteryhub_platform.kafka import PRODUCER_BATCH_BYTES, EventPublisher, KafkaConnection
from libs.platform.tests.support import reading


def record(
    topic: str, partition: int, offset: int, value: bytes = b"v"
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", value, None, 1, len(value), [])


class Client:
    """An AIOKafkaConsumer's ``getmany``, ``seek`` and ``commit`` as the runner calls them."""

    def __init__(self, answers: list[dict[TopicPartition, list[Any]]] | None = None) -> None:
        self.answers = answers or []
        self.calls: list[dict[str, Any]] = []
        self.sought: list[tuple[TopicPartition, int]] = []
        self.committed: list[dict[TopicPartition, int]] = []

    async def getmany(self, **kwargs: Any) -> dict[TopicPartition, list[Any]]:
        self.calls.append(kwargs)
        return self.answers.pop(0)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought.append((tp, offset))

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.append(offsets)


async def handle_nothing(_: list[Incoming[Any]]) -> tuple[()]:
    return ()


def runner(
    max_records: int = 500,
    durability: Durability | None = None,
    handler: Any = handle_nothing,
) -> ConsumerRunner:
    connection = KafkaConnection("127.0.0.1:1")  # never connected: nothing is started
    return ConsumerRunner(
        connection=connection,
        group_id="fetch-test",
        codecs={"t": READING_RECEIVED},
        handler=handler,
        publisher=EventPublisher(connection, "fetch-test", timeout_s=1),
        dead_letter_topic="t.dlq",
        max_records=max_records,
        durability=durability,
    )


def test_a_fetch_takes_a_whole_producer_batch_from_any_partition() -> None:
    """The broker hands over a record batch bigger than a partition's fetch limit only from
    the first partition of its answer; from any other it sends nothing usable, and with
    nothing else to send it holds the fetch for fetch_max_wait_ms. So the limit must hold
    the biggest batch a producer here builds."""
    # What FastStream hands to the AIOKafkaConsumer it builds: it keeps these options only in
    # this private attribute, and reading them is the one check that they reach the client.
    fetch = runner().subscriber._connection_args  # type: ignore[attr-defined]
    assert fetch["max_partition_fetch_bytes"] >= PRODUCER_BATCH_BYTES
    assert fetch["fetch_max_bytes"] == fetch["max_partition_fetch_bytes"] == FETCH_BYTES


async def test_an_empty_poll_returns_at_once_and_the_next_takes_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_sleep(*_: Any) -> None:
        raise AssertionError("the subscriber slept after an empty poll")

    monkeypatch.setattr(anyio, "sleep", no_sleep)
    tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    client = cast(
        AIOKafkaConsumer,
        Client([{}, {tp0: [record("t", 0, 5), record("t", 0, 6)], tp1: [record("t", 1, 9)]}]),
    )
    subscriber = runner(max_records=321).subscriber

    assert await subscriber.get_msg(client) == ()
    taken = await subscriber.get_msg(client)

    assert [(r.partition, r.offset) for r in taken] == [(0, 5), (0, 6), (1, 9)]
    assert [c["timeout_ms"] for c in cast(Client, client).calls] == [POLL_TIMEOUT_MS] * 2


async def test_a_batch_holds_about_batch_bytes_of_values_however_kafka_compressed_them() -> None:
    """A fetch's limit counts the bytes Kafka holds, compressed; the handler's batch is
    bounded by the records' own size: as many as BATCH_BYTES holds of the largest seen
    lately, and full batches again soon after the big records stop."""
    tp = TopicPartition("t", 0)
    upload, single = b"u" * 130_000, b"s" * 700
    answers = [{tp: [record("t", 0, n, upload) for n in range(3)]}]
    answers += [{tp: [record("t", 0, n, single)]} for n in range(3, 60)]
    client = Client(answers)
    take = runner(max_records=500).subscriber.get_msg

    for _ in range(len(answers)):
        await take(cast(AIOKafkaConsumer, client))

    limits = [c["max_records"] for c in client.calls]
    assert limits[0] == BATCH_BYTES // (128 * 1024) == 32  # nothing seen yet: upload records
    assert limits[1] == BATCH_BYTES // 130_000 == 32  # after uploads: ~4 MiB of them
    assert limits[1:12] == sorted(limits[1:12])  # then growing back, a tenth a batch
    assert limits[-1] == 500  # single readings: the configured maximum


async def test_the_consume_loop_hands_a_batch_to_the_runner_without_faststreams_pipeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FastStream's own step would put each batch through its message pipeline only for the
    handler to take the records back out; the loop's step hands them over as they came, and
    the batch is handled and committed as before."""
    handled: list[list[int]] = []

    async def handle(batch: list[Incoming[Any]]) -> tuple[()]:
        handled.append([i.event.reading.battery_id for i in batch])
        return ()

    the_runner = runner(handler=handle)
    subscriber = the_runner.subscriber

    async def no_pipeline(*_: Any) -> None:
        raise AssertionError("the batch went through FastStream's message pipeline")

    monkeypatch.setattr(subscriber, "process_message", no_pipeline)
    client = Client()
    subscriber.consumer = cast(AIOKafkaConsumer, client)

    await subscriber.consume_one((record("t", 0, 5, reading(7)), record("t", 1, 9, reading(8))))
    await the_runner._settled()
    await the_runner._committed()

    assert handled == [[7, 8]]
    assert client.committed == [{TopicPartition("t", 0): 6, TopicPartition("t", 1): 10}]
    assert client.sought == []


async def test_a_batch_whose_handling_fails_outside_its_effects_is_taken_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever escaped the runner's step would end the consume loop (FastStream's step
    logged it and dropped the batch, so the next commit passed it): the loop goes on, and
    each partition is sought back to the batch's first record there."""
    the_runner = runner()
    client = Client()
    the_runner.subscriber.consumer = cast(AIOKafkaConsumer, client)

    async def broken(*_: Any) -> None:
        raise RuntimeError("a fault outside the batch's effects")

    monkeypatch.setattr(the_runner, "_take", broken)
    monkeypatch.setattr("batteryhub_platform.consumer.asyncio.sleep", _no_wait)

    await the_runner.subscriber.consume_one(
        (record("t", 0, 5), record("t", 0, 6), record("t", 1, 9))
    )

    assert sorted(client.sought) == [(TopicPartition("t", 0), 5), (TopicPartition("t", 1), 9)]
    assert client.committed == []


async def _no_wait(_: float) -> None:
    return None
