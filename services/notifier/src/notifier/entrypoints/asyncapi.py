"""The notifier's messages as an AsyncAPI document, for ``make asyncapi``:
``faststream docs gen notifier.entrypoints.asyncapi:create_spec --factory``.

Documentation only: a broker that is never started, with the topics and event types the
consumer in ``app.py`` reads and writes (the runner itself decodes raw bytes, so its own
subscriber would document no payload)."""

from __future__ import annotations

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from batteryhub_contracts.events import (
    NotificationRaised,
    NotificationRead,
    ReadingDecoded,
    ReadingsDecoded,
)
from batteryhub_contracts.topics import DEAD_LETTERS, NOTIFICATIONS, READINGS_DECODED
from notifier.config import Settings

KEYED = "Key: the battery id as decimal text. Headers: event-type, correlation-id."


def create_spec() -> FastStream:
    settings = Settings(
        kafka_bootstrap_servers="localhost:9092",
        database_url="postgresql+asyncpg://docs@localhost/docs",
    )
    broker = KafkaBroker(settings.kafka_bootstrap_servers)

    async def apply_readings(batch: list[ReadingDecoded | ReadingsDecoded]) -> None:
        """Documentation stub: the real handler is ``notifier.handlers``."""

    async def apply_notification_events(
        batch: list[NotificationRaised | NotificationRead],
    ) -> None:
        """Documentation stub: the real handler is ``notifier.handlers``."""

    broker.subscriber(
        settings.topic(READINGS_DECODED),
        group_id=settings.group_id,
        batch=True,
        title=f"{READINGS_DECODED}:Receive",
        description=f"Decoded readings; each fault code may raise a notification. {KEYED}",
    )(apply_readings)
    broker.subscriber(
        settings.topic(NOTIFICATIONS),
        group_id=settings.group_id,
        batch=True,
        title=f"{NOTIFICATIONS}:Receive",
        description=(
            "Read events (from the query API) re-arm a code; the notifier's own raised "
            f"events are skipped. {KEYED}"
        ),
    )(apply_notification_events)
    broker.publisher(
        settings.topic(NOTIFICATIONS),
        schema=NotificationRaised,
        title=f"{NOTIFICATIONS}:Send",
        description=f"A notification raised by the anti-flooding rule. {KEYED}",
    )
    broker.publisher(
        settings.topic(DEAD_LETTERS),
        schema=bytes,
        title=f"{DEAD_LETTERS}:Send",
        description=(
            "A record that could not be decoded or processed, kept as it came, with headers "
            "dlq-original-topic, dlq-original-partition, dlq-original-offset, dlq-reason, "
            "dlq-consumer."
        ),
    )
    return FastStream(
        broker,
        specification=AsyncAPI(
            title="battery-hub notifier",
            version="1.0.0",
            description=f"Consumer group `{settings.group_id}`: raises notifications.",
        ),
    )
