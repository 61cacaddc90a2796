"""When the consumer commits: after a batch's effects, without holding up the next batch,
one commit at a time and in order, and all of it by the time ``stop`` returns; a failed
batch is delivered again, and nothing past it is committed until it is done. With a
``Durability`` (the projector's asynchronous commits), only once it confirms the effects
durable; when it cannot, every batch since the last commit is done again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from batteryhub_platform.consumer import Incoming, pause_after_unconfirmed
from batteryhub_platform.kafka import BrokerUnavailable, Outgoing
from bench.kafka_tools import group_lag
from libs.platform.tests.support import consuming, lag_is_zero, reading, until
from libs.platform.tests.test_consumer_fetch import record, runner


class SlowCommits:
    """A Kafka client whose commits are answered only when ``answer`` is set."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, dict[TopicPartition, int]]] = []
        self.answer = asyncio.Event()
        self.fail = fail

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.calls.append(("sent", offsets))
        await self.answer.wait()
        self.calls.append(("answered", offsets))
        if self.fail:
            raise CommitFailedError("the group rebalanced")


async def test_a_commit_does_not_hold_up_the_next_batch_and_commits_go_in_order() -> None:
    consumer = runner()
    client = SlowCommits()
    consumer._commit_after(client, [record("t", 0, 4), record("t", 0, 5)])
    first = {TopicPartition("t", 0): 6}
    await asyncio.sleep(0.05)
    assert client.calls == [("sent", first)]
    # Batches done while that commit has no answer are not held up; their offsets wait for
    # the answer and go in the next commit together, so it can never land first.
    consumer._commit_after(client, [record("t", 1, 3), record("t", 0, 9)])
    consumer._commit_after(client, [record("t", 1, 4)])
    await asyncio.sleep(0.05)
    assert client.calls == [("sent", first)]
    client.answer.set()
    await consumer._committed()
    second = {TopicPartition("t", 0): 10, TopicPartition("t", 1): 5}
    assert client.calls == [
        ("sent", first),
        ("answered", first),
        ("sent", second),
        ("answered", second),
    ]


async def test_a_failed_commit_is_left_to_the_next_one() -> None:
    consumer = runner()
    client = SlowCommits(fail=True)
    client.answer.set()
    consumer._commit_after(client, [record("t", 0, 4)])
    await consumer._committed()  # its failure is no error
    consumer._commit_after(client, [record("t", 0, 5)])
    await consumer._committed()
    assert [offsets for step, offsets in client.calls if step == "sent"] == [
        {TopicPartition("t", 0): 5},
        {TopicPartition("t", 0): 6},
    ]


async def test_a_commit_that_never_ends_is_abandoned_and_the_next_one_begins() -> None:
    """A stopped Kafka consumer's commit may retry forever; the watchdog's restart cancels
    it, so that the new consumer's commits are not held behind it."""
    consumer = runner()
    stuck = SlowCommits()  # never answered
    consumer._commit_after(stuck, [record("t", 0, 4)])
    await asyncio.sleep(0.05)
    await asyncio.wait_for(consumer._abandon_commit(), 5)
    client = SlowCommits()
    client.answer.set()
    consumer._commit_after(client, [record("t", 0, 9)])
    await asyncio.wait_for(consumer._committed(), 5)
    assert client.calls == [
        ("sent", {TopicPartition("t", 0): 10}),
        ("answered", {TopicPartition("t", 0): 10}),
    ]


class Witness:
    """A ``Durability`` whose confirms are answered as told: what the runner does with them."""

    def __init__(self) -> None:
        self.watches = 0
        self.confirms = 0
        self.fail_next = False
        self.failed = asyncio.Event()

    async def watch(self) -> None:
        self.watches += 1

    async def confirm(self) -> None:
        self.confirms += 1
        if self.fail_next:
            self.fail_next = False
            self.failed.set()
            raise ConnectionError("the database restarted")

    async def close(self) -> None:
        pass


async def test_offsets_wait_for_the_effects_to_be_confirmed_durable() -> None:
    witness = Witness()
    consumer = runner(durability=witness)
    client = SlowCommits()
    client.answer.set()
    consumer._commit_after(client, [record("t", 0, 4)])
    await consumer._committed()
    assert witness.confirms == 1
    done = {TopicPartition("t", 0): 5}
    assert client.calls == [("sent", done), ("answered", done)]
    # Not confirmed: not committed, and neither is anything done after, until the batches
    # since the last commit are taken again.
    witness.fail_next = True
    consumer._commit_after(client, [record("t", 0, 5)])
    await consumer._committed()
    consumer._commit_after(client, [record("t", 0, 6)])
    await consumer._committed()
    assert len(client.calls) == 2
    assert witness.confirms == 2


def test_batches_are_taken_again_at_once_after_one_failed_confirm_then_ever_more_slowly() -> None:
    """One failed confirm is a database that restarted: its batches are taken again at once.
    Confirms that keep failing (a grant missing) are not a tight loop of rewrites."""
    assert [pause_after_unconfirmed(n) for n in range(1, 9)] == [
        0.0,
        0.2,
        0.4,
        0.8,
        1.6,
        3.2,
        5.0,
        5.0,
    ]


@pytest.mark.integration
@pytest.mark.parametrize("more_records", [True, False], ids=["next-batch", "idle"])
async def test_effects_not_confirmed_durable_are_done_again_from_the_last_commit(
    topic: str, bootstrap: str, more_records: bool
) -> None:
    """The projector commits asynchronously: when its witness cannot confirm that the
    effects since the last commit are durable (the database restarted, maybe losing them),
    the consumer takes every record since that commit again, with the next batch or, when
    none comes, once the watchdog sees the group's lag stand still."""
    group = f"commit-test-{uuid.uuid4().hex[:6]}"
    witness = Witness()
    done: list[int] = []

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        done.extend(i.event.reading.battery_id for i in batch)
        return ()

    async with consuming(bootstrap, topic, group, handle, stall_after_s=2, durability=witness) as (
        consumer,
        producer,
    ):
        assert witness.watches == 1  # before the first batch
        for n in range(1, 101):
            await producer.send(topic, reading(n), key=str(n).encode())
        await producer.flush()
        await until(lambda: len(done) >= 100, "the first records are done")
        await lag_is_zero(consumer)

        witness.fail_next = True
        await producer.send_and_wait(topic, reading(101), key=b"101")
        await asyncio.wait_for(witness.failed.wait(), 60)
        assert done[100:] == [101]  # done, and its confirm failed
        if more_records:
            await producer.send_and_wait(topic, reading(102), key=b"102")
        await until(lambda: done.count(101) == 2, "the record is done again")
        await lag_is_zero(consumer)
    assert all(done.count(n) == 1 for n in range(1, 101))  # committed before: not again
    assert sorted(set(done)) == list(range(1, 102 + more_records))
    assert witness.watches == 2  # a new watch before it was taken again


@pytest.mark.integration
async def test_stop_returns_with_every_handled_batch_committed(topic: str, bootstrap: str) -> None:
    """A rolling restart stops a consumer right after a batch, its commit maybe still in
    flight: the next consumer of the group does not take those records again."""
    group = f"commit-test-{uuid.uuid4().hex[:6]}"
    done: list[int] = []
    all_done = asyncio.Event()

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        done.extend(i.event.reading.battery_id for i in batch)
        if len(done) >= 300:
            all_done.set()
        return ()

    async with consuming(bootstrap, topic, group, handle) as (_, producer):
        for n in range(1, 301):
            await producer.send(topic, reading(n), key=str(n).encode())
        await producer.flush()
        await asyncio.wait_for(all_done.wait(), 60)
    assert sorted(done) == list(range(1, 301))
    assert await group_lag(bootstrap, group, [topic]) == 0  # every partition committed to its end

    again: list[int] = []

    async def handle_again(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        again.extend(i.event.reading.battery_id for i in batch)
        return ()

    async with consuming(bootstrap, topic, group, handle_again) as (_, producer):
        await producer.send_and_wait(topic, reading(301), key=b"301")
        await until(lambda: again, "the new record arrives")
    assert again == [301]  # and none of the 300 before it


@pytest.mark.integration
async def test_a_failed_batch_is_delivered_again_and_nothing_past_it_is_committed(
    topic: str, bootstrap: str
) -> None:
    group = f"commit-test-{uuid.uuid4().hex[:6]}"
    attempts: list[int] = []
    done: list[int] = []
    kafka_away = True

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        ids = [i.event.reading.battery_id for i in batch]
        attempts.extend(ids)
        if kafka_away:
            raise BrokerUnavailable("Kafka is away")
        done.extend(ids)
        return ()

    async with consuming(bootstrap, topic, group, handle) as (runner, producer):
        await producer.send_and_wait(topic, reading(1), key=b"1")
        await until(lambda: attempts.count(1) >= 3, "the record is delivered again")
        assert await runner.update_lag() == 1  # not committed while it fails
        kafka_away = False
        await until(lambda: done == [1], "the record is done once the failure is over")
        await lag_is_zero(runner)
