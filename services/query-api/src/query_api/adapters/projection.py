"""The projector's writes: folds events into the query tables, idempotently.

Every write is keyed on a stable id (``ON CONFLICT``), so a redelivered or replayed event
changes nothing; a batch is one transaction (or, for a few readings alone, one statement),
committed before its offsets are.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import TextClause, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from batteryhub_contracts.events import (
    AnyRegistryEvent,
    NotificationRaised,
    NotificationRead,
    ReadingDecoded,
    each_reading,
    encode_data,
)
from batteryhub_contracts.fast import READING_DECODED_KEYED, encode_fast
from batteryhub_contracts.ids import (
    LEGACY_VERSION,
    TIME_ORDERED_VERSION,
    VERSION_AT,
    reading_id_version,
    reading_public_id_texts,
    twin_reading_id_text,
)
from query_api.adapters.native_rows import (
    COPY_HEADER,
    COPY_TRAILER,
    CopiedRows,
    as_us,
    codec,
    copied_rows,
)
from query_api.adapters.tables import batteries, notifications

RegistryEvent = AnyRegistryEvent
E = TypeVar("E")


def _first_of_each(events: Sequence[E], key: Callable[[E], Hashable]) -> list[E]:
    """The first event per key, in log order. ON CONFLICT keeps the row already stored, so
    within a batch the first copy must win too, or a replay (bigger batches) would keep a
    later copy of a re-sent reading than the live projection did."""
    first: dict[Hashable, E] = {}
    for event in events:
        first.setdefault(key(event), event)
    return list(first.values())


def reading_rows(events: Sequence[ReadingDecoded]) -> list[tuple[Any, ...]]:
    """The readings' rows, their values in ``READING_COLUMNS``' order and their JSON columns as
    text: the projector builds one per reading it stores, straight into what ``COPY``
    takes. The reading id goes as its text, which asyncpg writes in C (a ``UUID`` goes
    through its Python ``bytes`` property)."""
    rows = []
    for event, (reading_id, public_id) in zip(
        events, reading_public_id_texts([e.reading_id for e in events]), strict=True
    ):
        r = event.reading
        metric_columns, metrics_json = _metrics(r.metrics)
        rows.append(
            (
                reading_id,
                public_id,
                r.battery_id,
                r.hub_id,
                r.measured_at,
                r.received_at,
                r.time_source,
                r.device_time,
                r.clock_skewed,
                r.err,
                bool(event.errors),
                _decoded_errors_json(event.errors),
                *metric_columns,
                metrics_json,
            )
        )
    return rows


_COLUMN_METRICS = ("soc", "v", "i", "t", "p", "lat", "lon")
"""The metrics that have columns of their own, in ``READING_COLUMNS``' order."""
_COLUMN_METRICS_OF_STRUCT = operator.attrgetter(*_COLUMN_METRICS)


def _metrics(metrics: Any) -> tuple[tuple[Any, ...], str]:
    """The metrics' column values (None where absent) and their JSON: from the map, or from
    the struct of the gateway's keys that ``READING_DECODED_KEYED`` decodes them into (its
    absent keys are None, and are not written)."""
    if type(metrics) is dict:
        # orjson (through encode_data) writes JSON at a seventh of json.dumps' cost
        return tuple(map(metrics.get, _COLUMN_METRICS)), encode_data(metrics).decode()
    return _COLUMN_METRICS_OF_STRUCT(metrics), encode_fast(metrics).decode()


def _decoded_errors_json(errors: Sequence[Any]) -> str:
    if not errors:
        return "[]"  # most readings
    return encode_data(
        [
            {"code": e.code, "name": e.name, "description": e.description, "severity": e.severity}
            for e in errors
        ]
    ).decode()


_READING_TYPES = {
    "reading_id": "uuid",
    "public_id": "bigint",
    "battery_id": "bigint",
    "hub_id": "bigint",
    "measured_at": "timestamptz",
    "received_at": "timestamptz",
    "time_source": "text",
    "device_time": "timestamptz",
    "clock_skewed": "boolean",
    "err": "text",
    "has_errors": "boolean",
    "decoded_errors": "jsonb",
    "soc": "float8",
    "voltage": "float8",
    "current": "float8",
    "temperature": "float8",
    "power": "float8",
    "latitude": "float8",
    "longitude": "float8",
    "metrics": "json",
}
_STORED_READINGS = text(
    "SELECT reading_id, NULL AS legacy_until FROM query.readings "
    "WHERE reading_id = ANY(CAST(:ids AS uuid[])) "
    "UNION ALL SELECT NULL, legacy_until FROM query.legacy_reading_ids"
)
"""The ids among ``ids`` stored already, and one row with no id holding ``legacy_until``
(migration 0004): in one round trip, as before that table was there."""
_STORED_TWINS = text(
    "SELECT reading_id FROM query.readings "
    "WHERE reading_id = ANY(CAST(:ids AS uuid[])) AND NOT clock_skewed"
)
_RAISE_LEGACY_UNTIL = text(
    "UPDATE query.legacy_reading_ids "
    "SET legacy_until = GREATEST(legacy_until, CAST(:until AS timestamptz))"
)
READING_COLUMNS = list(_READING_TYPES)
"""The columns of ``reading_rows``' values, in order."""
_ROW_ID = operator.itemgetter(0)
"""A reading row's ``reading_id`` (its text)."""
_ROW_BATTERY, _ROW_DEVICE_TIME, _ROW_SKEWED = 2, 7, 8
_ARRAY_TYPE = {"jsonb": "text", "json": "text"}  # JSON travels as text and is cast per row


def _insert_arrays(table: str, types: dict[str, str], unless: str = "") -> TextClause:
    """One INSERT of a batch's rows as one array per column (``unnest``), skipping the rows
    already there: the same statement whatever the number of rows, so it is compiled and
    prepared once (a multi-row VALUES is a new statement for each length, and compiling it
    was a tenth of the projector's CPU). With ``unless``, a uuid array ``twin_id`` comes
    beside the rows, and a row is left out where ``unless`` holds for it (``t``)."""
    # Built from this module's constant column tables and conditions: no input reaches the
    # SQL text (hence the noqa on the string-built statement).
    extra = ", CAST(:twin_id AS uuid[])" if unless else ""
    return text(
        "INSERT INTO query.{table} ({columns}) SELECT {casts} FROM unnest({arrays}{extra}) "  # noqa: S608
        "AS t({columns}{extra_name}){where} ON CONFLICT DO NOTHING".format(
            table=table,
            columns=", ".join(types),
            casts=", ".join(f"{c}::{t}" if t in _ARRAY_TYPE else c for c, t in types.items()),
            arrays=", ".join(f"CAST(:{c} AS {_ARRAY_TYPE.get(t, t)}[])" for c, t in types.items()),
            extra=extra,
            extra_name=", twin_id" if unless else "",
            where=f" WHERE NOT ({unless})" if unless else "",
        )
    )


_INSERT_READINGS = _insert_arrays(
    "readings",
    _READING_TYPES,
    # a row whose twin is stored (``add_rows``)
    unless="t.twin_id IS NOT NULL AND EXISTS (SELECT FROM query.readings r "
    "WHERE r.reading_id = t.twin_id AND NOT r.clock_skewed)",
)
_NOTIFICATION_TYPES = {
    "id": "bigint",
    "hub_id": "bigint",
    "battery_id": "bigint",
    "code": "text",
    "reading_id": "uuid",
    "notification_type": "text",
    "title": "text",
    "message": "text",
    "severity": "text",
    "link_type": "text",
    "link_id": "bigint",
    "created_at": "timestamptz",
}
"""The columns of ``query.notifications`` a raised event fills (a read event sets the rest)."""
_INSERT_NOTIFICATIONS = _insert_arrays("notifications", _NOTIFICATION_TYPES)
_NOTIFICATION_FIELD = {"id": "notification_id"}
"""The event field of each column whose name differs."""
_NOTIFICATION_ID = operator.attrgetter("notification_id")


@dataclass(frozen=True, slots=True)
class ReadingRows:
    """A decoded-readings record reduced to its rows (``reading_rows``), as the projector's
    consumer reads it: its decoded objects are dropped before the next record is read, and
    the rows are built while the batch before is being written."""

    rows: list[tuple[Any, ...]]


def record_rows(event: Any) -> ReadingRows:
    """The rows of a decoded reading event: one reading's, or a batch record's."""
    return ReadingRows(reading_rows(each_reading(event)))


ROW_CODEC = codec(_READING_TYPES, _COLUMN_METRICS)
"""The compiled reader of ``READING_COLUMNS``' rows (``native_rows``)."""


class RowsCodec:
    """The decoded-readings topic's codec for the projector: each record as its rows, read
    by the compiled path (``CopiedRows``) when ``native``, and it takes the record, else by
    ``python`` (``ReadingRows``), which also refuses what the models refuse."""

    def __init__(self, python: Any, *, native: bool) -> None:
        self._python = python
        self._native = native

    def decode(self, raw: bytes) -> ReadingRows | CopiedRows:
        if self._native and (copied := copied_rows(ROW_CODEC, raw)) is not None:
            return copied
        rows: ReadingRows = self._python.decode(raw)
        return rows


FEW_ROWS = 32
"""Up to this many rows, a batch's readings go in by INSERT ... ON CONFLICT (``add_rows``):
a transaction of new rows took a median 0.75-1.47 ms that way against 1.33-2.17 by the
lookup and ``COPY`` for one row, 1.42-2.26 against 1.67-3.68 for 32 (idle PostgreSQL, three
rounds of 150; docs/decisions.md). Past ~85 rows, ``COPY``'s lower cost a row wins."""


async def add_readings(c: AsyncConnection, events: Sequence[ReadingDecoded]) -> None:
    """The readings of ``events``, inside the caller's transaction, each once (``add_rows``)."""
    await add_rows(c, reading_rows(events))


async def add_rows(c: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Readings' rows (``reading_rows``), inside the batch's transaction, each once.

    The readings already stored (a redelivery, a retried upload, a replica catching up) are
    looked up first and left as they are; the others go in by ``COPY`` under a savepoint, at
    about half the cost of an INSERT ... ON CONFLICT (PostgreSQL's speculative insertion,
    row by row, is what costs). Should another writer store one of them in between, the
    ``COPY`` fails on the primary key, rolls back to the savepoint, and the rows go in by
    one INSERT of arrays (``unnest``) with ON CONFLICT DO NOTHING instead.

    A few rows (``FEW_ROWS``: single readings, a small upload) go in by that INSERT at once:
    one statement where the lookup, the savepoint, the ``COPY`` and the release are four
    round trips, which cost them more than the insertion does.

    A reading with a device time has had two ids: the UUID-5 of battery and time until
    readings' ids began with their time (``legacy_reading_id_text``), its time-ordered id
    since (``reading_id_text``). An upload taken by the gateway before the change (or by
    an old gateway during the upgrade) and re-sent after it comes with the other id: its
    *twin*. So a row is also looked up by its twin and left out when that is stored, and in
    a batch holding both the first is kept. Only a row that could have one is looked up so:
    a legacy id's row always (they are few: events written before the change), a
    time-ordered one when its device time is at most ``legacy_until``
    (``query.legacy_reading_ids``, migration 0004: at least the latest device time stored
    under a legacy id, raised in the transaction that stores one). Readings whose device
    clock was over 10 minutes ahead have no twin: their device time says nothing of when
    they were taken, so neither they nor a stored one of them count."""
    if not rows:
        return
    candidates = _first_of_each(rows, _ROW_ID)
    if len(candidates) <= FEW_ROWS:
        await _insert_new(c, candidates)
        return
    stored, until = await _stored(c, [_ROW_ID(row) for row in candidates])
    rows = [row for row in candidates if _ROW_ID(row) not in stored]
    legacy = LEGACY_VERSION in {_ROW_ID(row)[VERSION_AT] for row in rows}
    if legacy or until is not None:  # else no row can have a twin stored (nearly always)
        rows = _first_of_twins(rows) if legacy else rows
        twins = {
            twin_id: row
            for row, twin_id in zip(rows, _twin_ids(rows, until), strict=True)
            if twin_id is not None
        }
        if twins:
            found = (await c.execute(_STORED_TWINS, {"ids": list(twins)})).scalars()
            left_out = {id(twins[str(twin_id)]) for twin_id in found}
            rows = [row for row in rows if id(row) not in left_out]
        if legacy:
            await _raise_legacy_until(c, rows)
    if not rows:
        return
    if not await _copy(c, records=rows):  # one was stored meanwhile
        await _insert_new(c, candidates)


async def _insert_new(c: AsyncConnection, candidates: list[tuple[Any, ...]]) -> None:
    """``candidates`` (each id once) by the INSERT that leaves what is stored, under either
    id: where the lookup is not worth it, or another writer stored some meanwhile."""
    candidates = _first_of_twins(candidates)
    await _insert_rows(c, candidates, _twin_ids(candidates, until=_ANY_TIME))


async def add_records(c: AsyncConnection, records: Sequence[ReadingRows | CopiedRows]) -> None:
    """The readings of records as the projector's consumer read them (``RowsCodec``), inside
    the batch's transaction, each once: by ``add_copied`` when the compiled path read them
    all, else by ``add_rows``."""
    copied = [r for r in records if isinstance(r, CopiedRows)]
    if len(copied) == len(records):
        await add_copied(c, copied)
    else:
        await add_rows(c, all_python_rows(records))


async def add_copied(c: AsyncConnection, records: Sequence[CopiedRows]) -> None:
    """``add_rows`` for records read by the compiled path (``native_rows``), whose rows come
    in ``COPY``'s binary form: the same lookup, the same ``COPY`` under a savepoint. Those
    records hold no legacy id (the compiled path leaves them to Python), so a row can have
    a twin stored only at a device time at most ``legacy_until``; a batch with such a
    row, a few rows, or a ``COPY`` that meets a row stored meanwhile, goes through
    ``add_rows`` with the records' rows as Python builds them."""
    if not records:
        return
    first: dict[str, bytes] = {}
    for record in records:
        for reading_id, row in zip(record.ids, record.rows, strict=True):
            first.setdefault(reading_id, row)
    if len(first) <= FEW_ROWS:
        await add_rows(c, all_python_rows(records))
        return
    stored, until = await _stored(c, list(first))
    if until is not None:
        until_us = as_us(until)
        if any(r.earliest_twin_us is not None and r.earliest_twin_us <= until_us for r in records):
            await add_rows(c, all_python_rows(records))
            return
    new = [row for reading_id, row in first.items() if reading_id not in stored]
    if new and not await _copy(c, binary=new):  # one was stored meanwhile
        await _insert_new(c, _first_of_each(all_python_rows(records), _ROW_ID))


def python_rows(record: ReadingRows | CopiedRows) -> list[tuple[Any, ...]]:
    """A record's rows as tuples (``reading_rows``), however the consumer read it."""
    if isinstance(record, ReadingRows):
        return record.rows
    return reading_rows(each_reading(READING_DECODED_KEYED.decode(record.raw)))


def all_python_rows(records: Sequence[ReadingRows | CopiedRows]) -> list[tuple[Any, ...]]:
    return [row for record in records for row in python_rows(record)]


async def _stored(c: AsyncConnection, ids: list[str]) -> tuple[set[str], Any]:
    """Which of ``ids`` are stored, and ``legacy_until`` (None while no legacy id is)."""
    stored: set[str] = set()
    until = None
    for reading_id, legacy_until in await c.execute(_STORED_READINGS, {"ids": ids}):
        if reading_id is None:
            until = legacy_until
        else:
            stored.add(str(reading_id))
    return stored, until


async def _copy(
    c: AsyncConnection,
    *,
    records: Sequence[tuple[Any, ...]] = (),
    binary: Sequence[bytes] = (),
) -> bool:
    """New rows by one ``COPY`` under a savepoint: ``records`` as tuples, or ``binary`` rows
    already encoded (``native_rows``). False, and nothing written, when one of them was
    stored meanwhile by another writer."""
    try:
        async with c.begin_nested():
            driver = (await c.get_raw_connection()).driver_connection
            assert driver is not None  # an open connection of the asyncpg dialect
            if binary:
                # A memoryview: asyncpg reads bytes as a file's path.
                data = memoryview(b"".join((COPY_HEADER, *binary, COPY_TRAILER)))
                await driver.copy_to_table(
                    "readings",
                    schema_name="query",
                    columns=READING_COLUMNS,
                    source=data,
                    format="binary",
                )
            else:
                await driver.copy_records_to_table(
                    "readings", schema_name="query", columns=READING_COLUMNS, records=records
                )
        return True
    except UniqueViolationError:
        return False


_ANY_TIME = object()
"""``_twin_ids``' ``until`` when any device time may have a twin stored (the statement then
finds out, ``_INSERT_READINGS``)."""


def _has_twin(row: tuple[Any, ...]) -> bool:
    return row[_ROW_DEVICE_TIME] is not None and not row[_ROW_SKEWED]


def _twin_id(row: tuple[Any, ...]) -> str | None:
    """The row's other id (``add_rows``), or None for a row that has none."""
    if not _has_twin(row):
        return None
    return twin_reading_id_text(_ROW_ID(row), row[_ROW_BATTERY], row[_ROW_DEVICE_TIME])


def _twin_ids(rows: Sequence[tuple[Any, ...]], until: Any) -> list[str | None]:
    """Each row's twin id where it may be stored: always for a legacy id, for a time-ordered
    one when its device time is at most ``until`` (never when that is None)."""
    return [
        _twin_id(row)
        if reading_id_version(_ROW_ID(row)) != TIME_ORDERED_VERSION
        or until is _ANY_TIME
        or (until is not None and _has_twin(row) and row[_ROW_DEVICE_TIME] <= until)
        else None
        for row in rows
    ]


def _first_of_twins(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``rows`` without the later of two twins (a reading under both its ids in one batch:
    only where a legacy id is, so only those are hashed)."""
    at = {_ROW_ID(row): index for index, row in enumerate(rows)}
    later = set()
    for index, row in enumerate(rows):
        if reading_id_version(_ROW_ID(row)) == LEGACY_VERSION:
            twin = at.get(_twin_id(row))
            if twin is not None:
                later.add(max(index, twin))
    return [row for index, row in enumerate(rows) if index not in later] if later else rows


async def _raise_legacy_until(c: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """``legacy_until`` up to the latest device time of ``rows`` stored under a legacy id,
    before they are stored."""
    times = [
        row[_ROW_DEVICE_TIME]
        for row in rows
        if reading_id_version(_ROW_ID(row)) == LEGACY_VERSION and _has_twin(row)
    ]
    if times:
        await c.execute(_RAISE_LEGACY_UNTIL, {"until": max(times)})


async def _insert_rows(
    c: AsyncConnection, rows: Sequence[tuple[Any, ...]], twin_ids: list[str | None]
) -> None:
    """Rows not stored yet, by one INSERT ... ON CONFLICT DO NOTHING (the others are left),
    leaving out those whose twin is stored (``add_rows``)."""
    await _raise_legacy_until(c, rows)
    columns = [list(values) for values in zip(*rows, strict=True)]
    await c.execute(
        _INSERT_READINGS,
        {**dict(zip(READING_COLUMNS, columns, strict=True)), "twin_id": twin_ids},
    )


async def apply_registry(c: AsyncConnection, events: Sequence[RegistryEvent]) -> None:
    latest: dict[int, RegistryEvent] = {}
    for e in events:
        held = latest.get(e.battery.battery_id)
        if held is None or held.battery.revision < e.battery.revision:
            latest[e.battery.battery_id] = e
    for e in latest.values():
        b = e.battery
        values = {
            "battery_id": b.battery_id,
            "hub_id": b.hub_id,
            "name": b.name,
            "device_id": b.device_id,
            "revoked": b.revoked,
            "revision": b.revision,
            "registered_at": b.registered_at,
            "updated_at": e.occurred_at,
        }
        stmt = insert(batteries).values(values)
        await c.execute(
            stmt.on_conflict_do_update(
                index_elements=["battery_id"],
                set_={k: stmt.excluded[k] for k in values if k != "battery_id"},
                where=batteries.c.revision < stmt.excluded.revision,
            )
        )


async def add_notifications(c: AsyncConnection, events: Sequence[NotificationRaised]) -> None:
    """The notifications of ``events``, each once: the first copy in the batch, unless one is
    stored already."""
    if not events:
        return
    first = _first_of_each(events, _NOTIFICATION_ID)
    await c.execute(
        _INSERT_NOTIFICATIONS,
        {
            column: [getattr(e, _NOTIFICATION_FIELD.get(column, column)) for e in first]
            for column in _NOTIFICATION_TYPES
        },
    )


async def mark_read(c: AsyncConnection, events: Sequence[NotificationRead]) -> None:
    """In notification id order (log order within one id: the first read wins), the order in
    which the query API locks the rows it marks, so the two never wait on each other."""
    for e in sorted(events, key=lambda e: e.notification_id):
        await c.execute(
            update(notifications)
            .where(notifications.c.id == e.notification_id, notifications.c.is_read.is_(False))
            .values(is_read=True, read_at=e.occurred_at, read_by=e.read_by)
        )
