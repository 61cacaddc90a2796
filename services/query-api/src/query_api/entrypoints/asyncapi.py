"""The query API's and the projector's messages as AsyncAPI documents, for
``make asyncapi``: ``faststream docs gen query_api.entrypoints.asyncapi:create_api_spec
--factory`` and ``...:create_projector_spec --factory``.

Documentation only: brokers that are never started. The API publishes with aiokafka
directly; the projector's runner decodes raw bytes, so its own subscriber would document
no payload."""

from __future__ import annotations

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from batteryhub_contracts.events import (
    AnyRegistryEvent,
    NotificationRaised,
    NotificationRead,
    ReadingDecoded,
    ReadingsDecoded,
)
from batteryhub_contracts.topics import DEAD_LETTERS, NOTIFICATIONS, READINGS_DECODED, REGISTRY
from query_api.config import Settings

KEYED = "Key: the battery id as decimal text. Headers: event-type, correlation-id."


def _settings() -> Settings:
    return Settings(
        kafka_bootstrap_servers="localhost:9092",
        database_url="postgresql+asyncpg://docs@localhost/docs",
        profile="local",
    )


def create_api_spec() -> FastStream:
    settings = _settings()
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    broker.publisher(
        settings.topic(NOTIFICATIONS),
        schema=NotificationRead,
        title=f"{NOTIFICATIONS}:Send",
        description=(
            "A user marked a notification read (PUT /notifications/{id}/read or "
            f"mark-all-read); acknowledged before the answer. {KEYED}"
        ),
    )
    return FastStream(
        broker,
        specification=AsyncAPI(
            title="battery-hub query-api",
            version="1.0.0",
            description="Serves history and notifications over HTTP; publishes read events.",
        ),
    )


def create_projector_spec() -> FastStream:
    settings = _settings()
    broker = KafkaBroker(settings.kafka_bootstrap_servers)

    async def project_readings(batch: list[ReadingDecoded | ReadingsDecoded]) -> None:
        """Documentation stub: the real handler is ``query_api.projector``."""

    async def project_registry(
        batch: list[AnyRegistryEvent],
    ) -> None:
        """Documentation stub: the real handler is ``query_api.projector``."""

    async def project_notifications(batch: list[NotificationRaised | NotificationRead]) -> None:
        """Documentation stub: the real handler is ``query_api.projector``."""

    group = settings.projector_group_id
    for topic, handler, what in (
        (READINGS_DECODED, project_readings, "Decoded readings: latest state and error history."),
        (REGISTRY, project_registry, "Registry changes: the batteries users may see."),
        (NOTIFICATIONS, project_notifications, "Raised and read notifications."),
    ):
        broker.subscriber(
            settings.topic(topic),
            group_id=group,
            batch=True,
            title=f"{topic}:Receive",
            description=f"{what} {KEYED}",
        )(handler)
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
            title="battery-hub query-projector",
            version="1.0.0",
            description=f"Consumer group `{group}`: folds the topics into schema `query`.",
        ),
    )
