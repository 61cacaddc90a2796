"""The gateway's messages as an AsyncAPI document, for ``make asyncapi``:
``faststream docs gen webhook_gateway.entrypoints.asyncapi:create_spec --factory``.

Documentation only: the gateway produces and follows the registry with aiokafka directly,
so its topics are declared here on a broker that is never started."""

from __future__ import annotations

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from batteryhub_contracts.events import (
    AnyRegistryEvent,
    ReadingReceived,
    ReadingsReceived,
)
from batteryhub_contracts.topics import READINGS_RAW, REGISTRY
from webhook_gateway.config import Settings

KEYED = "Key: the battery id as decimal text. Headers: event-type, correlation-id."


def create_spec() -> FastStream:
    settings = Settings(kafka_bootstrap_servers="localhost:9092", profile="local")
    broker = KafkaBroker(settings.kafka_bootstrap_servers)

    async def follow_registry(
        batch: list[AnyRegistryEvent],
    ) -> None:
        """Documentation stub: the real follower is ``adapters.registry_follower``."""

    broker.subscriber(
        settings.topic(REGISTRY),
        batch=True,
        title=f"{REGISTRY}:Receive",
        description=(
            "Every replica reads the whole compacted registry from the beginning, without a "
            "consumer group, and is ready once it has caught up."
        ),
    )(follow_registry)
    broker.publisher(
        settings.topic(READINGS_RAW),
        schema=ReadingReceived | ReadingsReceived,
        title=f"{READINGS_RAW}:Send",
        description=(
            "A reading accepted over HTTP, or the readings of one battery from a batch "
            "upload (up to 200 per record); the 200 answer is sent only after Kafka "
            f"acknowledged them (acks=all, idempotent producer). {KEYED}"
        ),
    )
    broker.publisher(
        settings.topic(REGISTRY),
        schema=AnyRegistryEvent,
        title=f"{REGISTRY}:Send",
        description=(
            "Device registry changes, each carrying the whole battery record (secrets only "
            f"as argon2id hashes). Compacted topic. {KEYED}"
        ),
    )
    return FastStream(
        broker,
        specification=AsyncAPI(
            title="battery-hub webhook-gateway",
            version="1.0.0",
            description="Accepts readings over HTTP and keeps the device registry.",
        ),
    )
