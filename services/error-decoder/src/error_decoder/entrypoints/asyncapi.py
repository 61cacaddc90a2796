"""The error decoder's messages as an AsyncAPI document, for ``make asyncapi``:
``faststream docs gen error_decoder.entrypoints.asyncapi:create_spec --factory``.

Documentation only: a broker that is never started, with the topics and event types the
consumer in ``app.py`` reads and writes (the runner itself decodes raw bytes, so its own
subscriber would document no payload)."""

from __future__ import annotations

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from batteryhub_contracts.events import (
    ReadingDecoded,
    ReadingReceived,
    ReadingsDecoded,
    ReadingsReceived,
)
from batteryhub_contracts.topics import DEAD_LETTERS, READINGS_DECODED, READINGS_RAW
from error_decoder.config import Settings

KEYED = "Key: the battery id as decimal text. Headers: event-type, correlation-id."


def create_spec() -> FastStream:
    settings = Settings(kafka_bootstrap_servers="localhost:9092")
    broker = KafkaBroker(settings.kafka_bootstrap_servers)

    async def decode_readings(batch: list[ReadingReceived | ReadingsReceived]) -> None:
        """Documentation stub: the real handler is ``error_decoder.handlers``."""

    broker.subscriber(
        settings.topic(READINGS_RAW),
        group_id=settings.group_id,
        batch=True,
        title=f"{READINGS_RAW}:Receive",
        description=f"Readings accepted by the gateway, decoded in batches. {KEYED}",
    )(decode_readings)
    broker.publisher(
        settings.topic(READINGS_DECODED),
        schema=ReadingDecoded | ReadingsDecoded,
        title=f"{READINGS_DECODED}:Send",
        description=f"One decoded reading for every reading received. {KEYED}",
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
            title="battery-hub error-decoder",
            version="1.0.0",
            description=f"Consumer group `{settings.group_id}`: decodes fault codes.",
        ),
    )
