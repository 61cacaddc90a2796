"""The error-decoder process: a FastStream consumer plus /health, /ready and /metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from batteryhub_contracts.topics import DEAD_LETTERS, READINGS_DECODED, READINGS_RAW
from batteryhub_platform.consumer import ConsumerRunner, Incoming
from batteryhub_platform.kafka import EventPublisher, Outgoing, RawOutgoing
from batteryhub_platform.logs import configure_logging
from batteryhub_platform.service import consumer_app
from error_decoder.config import Settings
from error_decoder.handlers import RawToDecoded, decode_readings


def build_runner(settings: Settings, publisher: EventPublisher) -> ConsumerRunner:
    decoded_topic = settings.topic(READINGS_DECODED)

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing | RawOutgoing]:
        return decode_readings(batch, decoded_topic)

    return ConsumerRunner(
        connection=settings.kafka,
        group_id=settings.group_id,
        codecs={settings.topic(READINGS_RAW): RawToDecoded()},
        handler=handle,
        publisher=publisher,
        dead_letter_topic=settings.topic(DEAD_LETTERS),
        max_records=settings.max_records,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging("error-decoder", settings.log_level)
    publisher = settings.publisher(settings.group_id)
    runner = build_runner(settings, publisher)

    return consumer_app(
        title="battery-hub error decoder",
        kafka=settings.kafka,
        publisher=publisher,
        runner=runner,
    )
