"""The consumer watchdog, against the real Kafka that ``make test`` starts: a consumer that
has records to take and takes none is restarted, and goes on from its committed offsets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY

from batteryhub_platform.consumer import Incoming
from batteryhub_platform.kafka import Outgoing
from libs.platform.tests.support import consuming, lag_is_zero, reading, until

pytestmark = pytest.mark.integration


async def test_a_consumer_that_takes_nothing_while_it_lags_is_restarted(
    topic: str, bootstrap: str
) -> None:
    """The first batch hangs for good (as a consume loop stuck in its Kafka client would):
    the watchdog restarts the consumer, which gets the same record again and goes on."""
    group = f"watchdog-test-{uuid.uuid4().hex[:6]}"
    attempts: list[int] = []
    done: list[int] = []

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        ids = [i.event.reading.battery_id for i in batch]
        attempts.extend(ids)
        if len(attempts) == len(ids):  # the very first batch never returns
            await asyncio.Event().wait()
        done.extend(ids)
        return ()

    async with consuming(bootstrap, topic, group, handle, stall_after_s=3) as (runner, producer):
        await producer.send_and_wait(topic, reading(1), key=b"1")
        await until(lambda: attempts, "the first batch arrives")
        await until(lambda: done == [1], "the record is done after a restart")
        assert restarts(group) == 1
        # and the restarted consumer goes on with new records
        await producer.send_and_wait(topic, reading(2), key=b"2")
        await until(lambda: done == [1, 2], "a later record is done")
        await lag_is_zero(runner)


def restarts(group: str) -> float:
    return REGISTRY.get_sample_value("consumer_restarts_total", {"group": group}) or 0.0


async def test_a_consumer_that_keeps_up_is_never_restarted(topic: str, bootstrap: str) -> None:
    group = f"watchdog-test-{uuid.uuid4().hex[:6]}"
    done: list[int] = []

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        done.extend(i.event.reading.battery_id for i in batch)
        return ()

    async with consuming(bootstrap, topic, group, handle, stall_after_s=2) as (runner, producer):
        for n in range(1, 41):
            await producer.send_and_wait(topic, reading(n), key=str(n).encode())
            await asyncio.sleep(0.1)
        await until(lambda: sorted(done) == list(range(1, 41)), "every record is done")
        await asyncio.sleep(3)  # idle with nothing to take: not a stall either
        assert restarts(group) == 0
        await lag_is_zero(runner)
