"""A producer whose idempotence state the broker lost never sends again (aiokafka stops its
sender for good): the publisher answers BrokerUnavailable once and replaces it, so the next
attempt is stored. Against the real Kafka that ``make test`` starts."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import OutOfOrderSequenceNumber

from batteryhub_platform.kafka import (
    BrokerUnavailable,
    EventPublisher,
    KafkaConnection,
    RawOutgoing,
)

pytestmark = pytest.mark.integration


async def test_a_producer_that_lost_its_sequence_is_replaced(
    topic: str, bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = EventPublisher(KafkaConnection(bootstrap), "recovery-test", timeout_s=10)
    await publisher.start()
    try:
        broken = publisher._producer
        assert broken is not None

        async def lost_state(*args: Any, **kwargs: Any) -> Any:
            raise OutOfOrderSequenceNumber()

        monkeypatch.setattr(broken, "send", lost_state)
        letter = RawOutgoing(topic, b"k", b"stored after the replacement", [])
        with pytest.raises(BrokerUnavailable, match="OutOfOrderSequenceNumber"):
            await publisher.publish_many([letter])
        assert publisher._producer is not broken
        await publisher.publish_many([letter])
    finally:
        await publisher.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == b"stored after the replacement"
