"""The one way services reach PostgreSQL: an async SQLAlchemy engine on asyncpg, Alembic
migrations run as their own step, and a readiness probe."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from batteryhub_contracts.events import encode_data

log = logging.getLogger(__name__)


def make_engine(url: str, pool_size: int = 10, statement_timeout_ms: int = 10_000) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping per checkout (a round trip on every request): after a database restart
        # the first failed statement invalidates the whole pool, answered as a 503.
        pool_pre_ping=False,
        pool_timeout=5,
        # JSON columns read and written with orjson: the stdlib's json was a tenth of the
        # error history's CPU when it still parsed the stored decoded errors.
        json_deserializer=orjson.loads,
        json_serializer=_json_text,
        connect_args={
            "timeout": 5,
            "command_timeout": statement_timeout_ms / 1000,
            "server_settings": {
                "statement_timeout": str(statement_timeout_ms),
                "application_name": "battery-hub",
            },
        },
    )


def _json_text(data: Any) -> str:
    return encode_data(data).decode()


def migrate(script_location: Path, url: str, revision: str = "head") -> None:
    """Upgrade the schema. Blocking: call it from a migration step, not from a request."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


async def database_reachable(engine: AsyncEngine, timeout_s: float = 3.0) -> bool:
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not reachable" for a probe
        log.warning("database not reachable", exc_info=True)
        return False


def run_migrations_online(schema: str, metadata: MetaData) -> None:
    """The body of every service's Alembic ``env.py``: its own schema and version table."""
    from alembic import context

    def run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table="alembic_version",
            version_table_schema=schema,
            include_schemas=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError(
                "no database URL: run migrations through batteryhub_platform.db.migrate"
            )
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(main())
