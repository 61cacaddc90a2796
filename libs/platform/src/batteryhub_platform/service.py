"""The one shape of a consumer process: its ``ConsumerRunner`` started in the lifespan of a
small FastAPI app that serves /health, /ready and /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from batteryhub_platform.consumer import ConsumerRunner
from batteryhub_platform.heap import freeze_startup_heap
from batteryhub_platform.http import NO_OPENTELEMETRY, ReadinessCheck, install_edges
from batteryhub_platform.kafka import EventPublisher, KafkaConnection, broker_reachable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def consumer_app(
    *,
    title: str,
    kafka: KafkaConnection,
    publisher: EventPublisher,
    runner: ConsumerRunner,
    engine: AsyncEngine | None = None,
    readiness: Sequence[ReadinessCheck] = (),
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        try:
            await runner.start()
            freeze_startup_heap()
            yield
        finally:
            await runner.stop()
            await publisher.stop()
            if engine is not None:
                await engine.dispose()

    app = FastAPI(title=title, version="1.0.0", lifespan=lifespan, telemetry=NO_OPENTELEMETRY)
    app.state.runner = runner

    async def kafka_ready() -> tuple[str, bool]:
        return "kafka", await broker_reachable(kafka)

    checks: list[ReadinessCheck] = [kafka_ready]
    if engine is not None:
        from batteryhub_platform.db import database_reachable

        db = engine

        async def database_ready() -> tuple[str, bool]:
            return "database", await database_reachable(db)

        checks.append(database_ready)
    checks.extend(readiness)
    install_edges(app, max_body_bytes=4096, readiness=checks)
    return app
