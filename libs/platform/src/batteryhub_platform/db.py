"""The one way services reach PostgreSQL: an async SQLAlchemy engine on asyncpg, Alembic
migrations run as their own step, and a readiness probe."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from batteryhub_contracts.events import encode_data

log = logging.getLogger(__name__)


def make_engine(
    url: str,
    pool_size: int = 10,
    statement_timeout_ms: int = 10_000,
    synchronous_commit: bool = True,
) -> AsyncEngine:
    """``synchronous_commit=False``: a commit returns before its WAL is on disk (PostgreSQL's
    asynchronous commit). Only for a consumer whose offsets wait for a ``FlushWitness``."""
    durability = {} if synchronous_commit else {"synchronous_commit": "off"}
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
                **durability,
            },
        },
    )


_FLUSH = (
    "BEGIN; SET LOCAL synchronous_commit TO on;"
    " SELECT pg_logical_emit_message(true, 'battery-hub', 'flush'); COMMIT"
)
"""A transaction that commits synchronously, in one round trip. It must write WAL of its own:
a commit waits for the flush only then (a transaction id alone, ``txid_current()``, does not
make it wait). A transactional message is the least it can write, with no table, and any
role may (``EXECUTE`` is granted to ``PUBLIC``; any ``wal_level``)."""

FLUSH_FUNCTION = """coalesce(
    to_regprocedure('pg_catalog.pg_logical_emit_message(boolean, text, text, boolean)'),
    to_regprocedure('pg_catalog.pg_logical_emit_message(boolean, text, text)')
)"""
"""An SQL expression: the WAL message's function (``regprocedure``), whose signature has a
fourth argument, with a default, from PostgreSQL 17 on."""

# Built from this module's constant expression above: no input reaches the SQL text.
_MAY_FLUSH = f"""
SELECT has_function_privilege(f, 'EXECUTE'),
       format('GRANT EXECUTE ON FUNCTION %s TO %I', f::regprocedure, current_user)
FROM (SELECT {FLUSH_FUNCTION} AS f) AS found
"""  # noqa: S608
"""Whether this role may write the WAL message, and the statement that would let it."""
_ASK_TIMEOUT_S = 2.0


class FlushWitness:
    """Tells when transactions that committed asynchronously are durable: a consumer's
    ``Durability`` (``batteryhub_platform.consumer``), for a projector that does not wait for
    the disk before its rows are visible, and commits its offsets only once they are durable.

    ``confirm`` commits a transaction synchronously, on a connection held since ``watch``.
    A synchronous commit returns once the WAL is flushed up to its commit record, so past
    every commit before it. The held connection is the proof that none of those was lost
    in between: a server that crashed, or reset itself after a backend crashed, lost the WAL
    it had not written yet, and ended every connection, this one too, so ``confirm`` fails.

    Why: this machine's disk sometimes takes 100-500 ms to flush under load, and every
    synchronous commit behind that flush waited too (docs/decisions.md)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._held: AsyncConnection | None = None
        self.refused: str | None = None
        """Why no confirm can succeed, when the role may not write the WAL message: for
        the service's readiness, until a watch finds the grant."""

    async def watch(self) -> None:
        """Hold a new connection, known alive, and ask whether the role may write the WAL
        message. If no connection can be had, the next ``confirm`` fails."""
        await self.close()
        # After a server restart every idle pooled connection is dead: one try more than
        # there are, each one that fails dropped (a watch on it would fail its confirm, and
        # batches would be taken again for nothing).
        pool = self._engine.pool
        tries = pool.checkedin() + 1 if isinstance(pool, QueuePool) else 2
        for _ in range(tries):
            try:
                held = await self._engine.connect()
            except Exception as exc:  # the database is away: confirm says so when asked
                log.warning("no connection to confirm durability on", extra={"error": repr(exc)})
                return
            try:
                driver = (await held.get_raw_connection()).driver_connection
                assert driver is not None  # an open connection of the asyncpg dialect
                granted, grant = await driver.fetchrow(_MAY_FLUSH, timeout=_ASK_TIMEOUT_S)
            except asyncpg.PostgresError as exc:  # it answered: alive; confirm will tell
                log.warning("could not ask for the WAL message's grant", extra={"error": repr(exc)})
                self._held = held
                return
            except Exception as exc:
                await _discard(held)
                log.info("a pooled connection had ended", extra={"error": repr(exc)})
                continue
            self._held = held
            was_refused, self.refused = (
                self.refused,
                (
                    None
                    if granted
                    else (
                        "the database role may not write the WAL message that tells when the "
                        "projector's writes are durable, so it commits no offsets; run: "
                        + (grant or "(none in this database: PostgreSQL 9.6 or later has it)")
                    )
                ),
            )
            if self.refused and self.refused != was_refused:  # once, not at every redo
                log.error(self.refused)
            return

    async def may_confirm(self) -> bool:
        """For the service's readiness: false while the role may not write the WAL message.
        Asked of the database again at each call until it may, so a GRANT is seen without
        a restart (the privilege is checked when the message is written, on the held
        connection too)."""
        if self.refused is None:
            return True
        try:
            async with asyncio.timeout(_ASK_TIMEOUT_S), self._engine.connect() as c:
                granted = (await c.execute(text(_MAY_FLUSH))).one()[0]
        except Exception:  # the database is away: the database check says so
            return False
        if granted:
            self.refused = None
            log.info("the role may write the WAL message now: offsets are committed again")
        return bool(granted)

    async def confirm(self) -> None:
        """Return once every commit before it is durable, or raise ``ConnectionError``
        (``PermissionError`` when the role may not write the WAL message)."""
        if self._held is None:
            raise ConnectionError("no connection held since the effects: cannot tell")
        if self.refused:
            raise PermissionError(self.refused)
        try:
            driver = (await self._held.get_raw_connection()).driver_connection
            assert driver is not None  # an open connection of the asyncpg dialect
            await driver.execute(_FLUSH)
        except Exception as exc:
            # One meaning, whatever the driver's words for it: a server that ended the
            # connection is seen as ConnectionDoesNotExistError once the socket's end is
            # read, but as InternalClientError ("another operation is in progress") when
            # only the server's FATAL message has arrived.
            raise ConnectionError(f"the connection held since the effects failed: {exc!r}") from exc

    async def close(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            await _discard(held)


async def _discard(connection: AsyncConnection) -> None:
    """Close a connection, never back to the pool: it may be mid-transaction or ended."""
    try:
        await connection.invalidate()
        await connection.close()
    except Exception as exc:  # a connection the server ended may not close cleanly
        log.debug("closing a held connection failed", extra={"error": repr(exc)})


def _json_text(data: Any) -> str:
    return encode_data(data).decode()


def migrate(script_location: Path, url: str, revision: str = "head") -> None:
    """Upgrade the schema. Blocking: call it from a migration step, not from a request.

    Alembic is imported here, not with the module: the services that only read and write
    (the projector, the API, the notifier) would hold its ~13 MB for nothing."""
    from alembic import command
    from alembic.config import Config

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
