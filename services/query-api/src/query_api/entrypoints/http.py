"""The query API's FastAPI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout

from batteryhub_platform.db import database_reachable, make_engine
from batteryhub_platform.errors import default_is_transient
from batteryhub_platform.heap import freeze_startup_heap
from batteryhub_platform.http import NO_OPENTELEMETRY, install_edges
from batteryhub_platform.http import unexpected_error as _unexpected
from batteryhub_platform.kafka import broker_reachable
from batteryhub_platform.logs import configure_logging
from batteryhub_platform.tokens import VerifiedTokens
from query_api.adapters.users import UserStore
from query_api.config import Settings
from query_api.entrypoints import routes_auth, routes_read
from query_api.entrypoints.deps import DatabaseUnavailable

log = logging.getLogger(__name__)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, DatabaseUnavailable) and not default_is_transient(exc):
        return await _unexpected(request, exc)
    log.warning("database unavailable", extra={"error": repr(exc)[:300]})
    return JSONResponse(
        {"detail": "the database is not reachable; try again shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging("query-api", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_dsn, settings.database_pool_size)
        publisher = settings.publisher("query-api")
        users = UserStore(engine)
        app.state.settings, app.state.engine = settings, engine
        app.state.publisher, app.state.users = publisher, users
        app.state.verified_tokens = VerifiedTokens(max_entries=10_000)  # users are few
        try:
            await publisher.start()
            if settings.admin_user and settings.admin_password:
                await users.ensure_superadmin(
                    settings.admin_user, settings.admin_password.get_secret_value()
                )
                log.info("superadmin ensured", extra={"username": settings.admin_user})
            freeze_startup_heap()
            yield
        finally:
            await publisher.stop()
            await engine.dispose()

    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="battery-hub query API",
        version="1.0.0",
        lifespan=lifespan,
        description="History and notifications for the single-page apps, scoped by hub.",
    )

    async def kafka_ready() -> tuple[str, bool]:
        return "kafka", await broker_reachable(settings.kafka)

    async def database_ready() -> tuple[str, bool]:
        return "database", await database_reachable(app.state.engine)

    if settings.cors_origins:
        # Added before the shared edge so the edge stays outermost: preflight answers get
        # the correlation id and security headers too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "PUT", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Correlation-ID"],
            max_age=600,
        )
    install_edges(
        app, max_body_bytes=settings.max_body_bytes, readiness=[kafka_ready, database_ready]
    )
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(SQLAlchemyTimeout, _database_unavailable)
    app.include_router(routes_auth.router)
    app.include_router(routes_read.router)
    return app
