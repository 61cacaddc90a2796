"""The query-side projector process: a FastStream consumer plus /health, /ready, /metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from batteryhub_contracts.events import NOTIFICATION_EVENT, REGISTRY_EVENT
from batteryhub_contracts.topics import DEAD_LETTERS, NOTIFICATIONS, READINGS_DECODED, REGISTRY
from batteryhub_platform.consumer import ConsumerRunner, Incoming
from batteryhub_platform.db import FlushWitness, make_engine
from batteryhub_platform.kafka import Outgoing
from batteryhub_platform.logs import configure_logging
from batteryhub_platform.service import consumer_app
from query_api.config import Settings
from query_api.projector import project_events, readings_codec


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging("query-projector", settings.log_level)
    # Rows are visible once a batch's transaction commits, without waiting for the disk;
    # offsets are committed once the witness confirms them durable (docs/decisions.md).
    engine = make_engine(
        settings.database_dsn, settings.database_pool_size, synchronous_commit=False
    )
    # The projector publishes nothing but dead letters.
    publisher = settings.publisher(settings.projector_group_id)

    async def handle(batch: list[Incoming[Any]]) -> Sequence[Outgoing]:
        return await project_events(batch, engine)

    witness = FlushWitness(engine)
    runner = ConsumerRunner(
        connection=settings.kafka,
        group_id=settings.projector_group_id,
        codecs={
            settings.topic(READINGS_DECODED): readings_codec(native=settings.native_rows),
            settings.topic(REGISTRY): REGISTRY_EVENT,
            settings.topic(NOTIFICATIONS): NOTIFICATION_EVENT,
        },
        handler=handle,
        publisher=publisher,
        dead_letter_topic=settings.topic(DEAD_LETTERS),
        max_records=settings.max_records,
        durability=witness,
    )

    async def durability_ready() -> tuple[str, bool]:
        # Not ready while the role may not write the witness's WAL message: no offset is
        # committed then, and a rollout should stop here (docs/operations.md).
        return "durability", await witness.may_confirm()

    return consumer_app(
        title="battery-hub query projector",
        kafka=settings.kafka,
        publisher=publisher,
        runner=runner,
        engine=engine,
        readiness=[durability_ready],
    )
