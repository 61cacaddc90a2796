"""The consumer's two stages: the next batch is fetched and decoded while this one's effects
run, effects run one batch at a time in log order, and a batch taken past a failed one is
taken again with it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from batteryhub_contracts.events import READING_RECEIVED
from batteryhub_platform.consumer import Incoming
from batteryhub_platform.kafka import BrokerUnavailable, Outgoing
from libs.platform.tests.support import consuming, lag_is_zero, reading, until
from libs.platform.tests.test_consumer_fetch import record, runner


class Recording:
    """The readings codec, writing down each battery id it decodes into ``steps``."""

    def __init__(self, steps: list[tuple[str, Any]]) -> None:
        self.steps = steps

    def decode(self, raw: bytes) -> Any:
        event = READING_RECEIVED.decode(raw)
        self.steps.append(("decoded", event.reading.battery_id))
        return event


def ids(batch: list[Incoming[Any]]) -> list[int]:
    return [i.event.reading.battery_id for i in batch]


async def consume_all(
    bootstrap: str,
    topic: str,
    handle: Callable[[list[Incoming[Any]]], Awaitable[Sequence[Outgoing]]],
    steps: list[tuple[str, Any]],
    readings: dict[int, range],
    done: list[int],
) -> None:
    """Write ``readings`` (battery ids by partition) first, then consume them with
    ``handle`` in a fresh group until all are ``done`` and committed."""
    group = f"stages-test-{uuid.uuid4().hex[:6]}"
    async with consuming(bootstrap, topic, group, handle, codec=Recording(steps)) as (
        runner,
        producer,
    ):
        for partition, numbers in readings.items():
            for n in numbers:
                await producer.send(topic, reading(n), partition=partition)
        await producer.flush()
        total = sum(map(len, readings.values()))
        await until(lambda: len(done) >= total, "every record is handled")
        await lag_is_zero(runner)


@pytest.mark.integration
async def test_the_next_batch_is_decoded_while_effects_run_one_batch_at_a_time_in_log_order(
    topic: str, bootstrap: str
) -> None:
    steps: list[tuple[str, Any]] = []
    done: list[int] = []
    running = 0
    most_at_once = 0

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        steps.append(("effects begin", ids(batch)))
        await asyncio.sleep(0.05)  # a database's or a broker's answer
        steps.append(("effects end", ids(batch)))
        done.extend(ids(batch))
        running -= 1
        return ()

    await consume_all(bootstrap, topic, handle, steps, {0: range(1, 201)}, done)

    assert done == list(range(1, 201))  # each once, in log order
    assert most_at_once == 1  # one batch's effects at a time
    in_effects = False
    decoded_meanwhile = []
    for step, value in steps:
        if step == "effects begin":
            in_effects = True
        elif step == "effects end":
            in_effects = False
        elif in_effects:
            decoded_meanwhile.append(value)
    # The records of a later batch were decoded while an earlier one's effects ran.
    assert decoded_meanwhile, steps[:20]
    first_batch = next(value for step, value in steps if step == "effects begin")
    assert min(decoded_meanwhile) > max(first_batch)


@pytest.mark.integration
async def test_a_batch_taken_past_a_failed_one_is_taken_again_and_none_is_skipped(
    topic: str, bootstrap: str
) -> None:
    """The batch after a failed one has been fetched and decoded by the time the failure is
    known: it is not handled, and both partitions are sought back, so the failed records
    and the ones taken past them all come again, in log order."""
    steps: list[tuple[str, Any]] = []
    done: list[int] = []
    failed: list[list[int]] = []

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        if not failed:
            failed.append(ids(batch))
            await asyncio.sleep(0.05)  # long enough for the next batch to be decoded
            raise BrokerUnavailable("Kafka is away")
        done.extend(ids(batch))
        return ()

    await consume_all(
        bootstrap, topic, handle, steps, {0: range(1, 101), 1: range(1001, 1101)}, done
    )

    assert sorted(done) == [*range(1, 101), *range(1001, 1101)]  # each once, none skipped
    assert [n for n in done if n < 1000] == list(range(1, 101))  # each partition in log order
    assert [n for n in done if n > 1000] == list(range(1001, 1101))
    decoded = [value for step, value in steps if step == "decoded"]
    taken_past = {n for n in decoded if decoded.count(n) > 1} - set(failed[0])
    assert taken_past, "no batch was taken past the failed one: the test did not test that"


async def test_a_batch_handed_over_once_stop_has_begun_is_not_begun() -> None:
    """Its outgoing records would be written and its offsets not committed (the consumer is
    stopping), so the group's next consumer would write them a second time."""
    consumer = runner()
    consumer._stopping = True
    await consumer._take((record("t", 0, 0, reading(1)),), consumer=None)
    assert consumer._effects_task is None  # nothing begun: no handler, no outgoing record
