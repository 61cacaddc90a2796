"""The notifier process: a FastStream consumer plus /health, /ready and /metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from batteryhub_contracts.events import NOTIFICATION_EVENT
from batteryhub_contracts.topics import DEAD_LETTERS, NOTIFICATIONS, READINGS_DECODED
from batteryhub_platform.consumer import ConsumerRunner, Incoming
from batteryhub_platform.db import make_engine
from batteryhub_platform.kafka import Outgoing
from batteryhub_platform.logs import configure_logging
from batteryhub_platform.service import consumer_app
from notifier.config import Settings
from notifier.handlers import FaultsOfDecoded, apply_events_to_alerts


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging("notifier", settings.log_level)
    engine = make_engine(settings.database_dsn, settings.database_pool_size)
    publisher = settings.publisher(settings.group_id)
    notifications_topic = settings.topic(NOTIFICATIONS)

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        return await apply_events_to_alerts(batch, engine, notifications_topic)

    runner = ConsumerRunner(
        connection=settings.kafka,
        group_id=settings.group_id,
        codecs={
            settings.topic(READINGS_DECODED): FaultsOfDecoded(native=settings.native_faults),
            notifications_topic: NOTIFICATION_EVENT,
        },
        handler=handle,
        publisher=publisher,
        dead_letter_topic=settings.topic(DEAD_LETTERS),
        max_records=settings.max_records,
    )

    return consumer_app(
        title="battery-hub notifier",
        kafka=settings.kafka,
        publisher=publisher,
        runner=runner,
        engine=engine,
    )
