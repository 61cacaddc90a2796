"""Keeps the in-memory registry in step with the compacted registry topic.

No consumer group: every replica reads every partition from the beginning, so any replica
can authenticate any battery. Ready once it has read up to the end offsets seen at start.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from batteryhub_contracts.events import REGISTRY_EVENT, EventDecodeError
from batteryhub_platform.kafka import KafkaConnection
from webhook_gateway.domain.registry import BatteryRegistry

log = logging.getLogger(__name__)


class RegistryFollower:
    def __init__(self, connection: KafkaConnection, topic: str, registry: BatteryRegistry) -> None:
        self._connection = connection
        self._topic = topic
        self._registry = registry
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()

    async def start(self, catch_up_timeout_s: float) -> None:
        # Without a group id aiokafka assigns every partition of the topic to this consumer.
        consumer = AIOKafkaConsumer(
            self._topic,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._connection.client_kwargs(),
        )
        await consumer.start()
        self._consumer = consumer
        assigned = await self._assignment(consumer, catch_up_timeout_s)
        await consumer.seek_to_beginning(*assigned)
        targets = await consumer.end_offsets(assigned)
        self._task = asyncio.create_task(self._follow(targets), name="registry-follower")
        try:
            await asyncio.wait_for(self.caught_up.wait(), catch_up_timeout_s)
        except TimeoutError:
            raise RuntimeError("could not read the registry topic to its end in time") from None
        log.info("registry loaded", extra={"batteries": len(self._registry)})

    async def _assignment(
        self, consumer: AIOKafkaConsumer, timeout_s: float
    ) -> list[TopicPartition]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not consumer.assignment():
            if loop.time() > deadline:
                raise RuntimeError(
                    f"registry topic {self._topic!r} has no partitions; create topics first"
                )
            await asyncio.sleep(0.05)
        return sorted(consumer.assignment())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self, targets: dict[TopicPartition, int]) -> None:
        consumer = self._consumer
        assert consumer is not None
        pending = {tp: end for tp, end in targets.items() if end > 0}
        if not pending:
            self.caught_up.set()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for tp, records in batches.items():
                for record in records:
                    self._apply(record.value, record.offset)
                position = records[-1].offset + 1 if records else 0
                if tp in pending and position >= pending[tp]:
                    del pending[tp]
            if not pending and not self.caught_up.is_set():
                self.caught_up.set()

    def _apply(self, value: bytes | None, offset: int) -> None:
        if value is None:  # a tombstone: nothing to fold
            return
        try:
            self._registry.apply(REGISTRY_EVENT.decode(value))
        except EventDecodeError as exc:
            # The registry topic is written only by gateways; a bad record is logged, not fatal.
            log.error("undecodable registry event", extra={"offset": offset, "reason": str(exc)})
