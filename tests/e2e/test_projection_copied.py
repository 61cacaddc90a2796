"""The projector's compiled path (``native_rows``: rows already in ``COPY``'s binary form)
stores what the Python path stores: every column as PostgreSQL reads it back, each reading
once, the first copy kept, a reading stored meanwhile by another writer or under its other
id left as it is. Against the running system's PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import ReadingDecoded, ReadingFields, ReadingsDecoded, encode
from batteryhub_contracts.ids import legacy_reading_id_text, reading_id_text
from query_api.adapters import projection
from query_api.adapters.native_rows import CopiedRows
from query_api.adapters.projection import READING_COLUMNS
from query_api.projector import readings_codec
from tests.e2e.test_projection_writes import MANY, battery_id, stored

pytestmark = pytest.mark.e2e
__all__ = ["battery_id"]  # the fixture

LATER = datetime(2034, 1, 1, tzinfo=UTC)
"""Device times past what any test stores under a legacy id (``legacy_until``), so that
the compiled path's rows go in by its own ``COPY``."""


def timed(battery_id: int, count: int, soc: float, start: datetime = LATER) -> list[ReadingDecoded]:
    batch = []
    for n in range(count):
        at = start + timedelta(minutes=n)
        err = ["", "TZ", "Y", None][n % 4]
        batch.append(
            ReadingDecoded(
                event_id=uuid.uuid4(),
                occurred_at=at,
                reading_id=uuid.UUID(reading_id_text(battery_id, at)),
                reading=ReadingFields(
                    battery_id=battery_id,
                    hub_id=1,
                    battery_name="Bätt",
                    measured_at=at,
                    time_source="rtc",
                    device_time=at,
                    clock_skewed=n % 5 == 0,
                    received_at=at + timedelta(microseconds=123_456),
                    metrics={"soc": soc, "v": 12.5, "nc": n, "lat": round(n * 0.1 - 90, 1)}
                    if n % 3
                    else {},
                    err=err,
                ),
                errors=decode_error_string(err),
            )
        )
    return batch


def copied(events: list[ReadingDecoded]) -> list[CopiedRows]:
    """The events as the projector's consumer reads them by the compiled path, in records of
    at most 200 readings, as the decoder writes them."""
    records = []
    for at in range(0, len(events), 200):
        record = ReadingsDecoded(
            event_id=uuid.uuid4(), occurred_at=LATER, readings=tuple(events[at : at + 200])
        )
        rows = readings_codec(native=True).decode(encode(record))
        assert isinstance(rows, CopiedRows)
        records.append(rows)
    return records


async def write(engine: AsyncEngine, events: list[ReadingDecoded]) -> None:
    async with engine.begin() as c:
        await projection.add_records(c, copied(events))


@pytest.fixture
def copy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python path's writer fails: what is stored went by the compiled path's COPY."""

    async def refused(*_: Any) -> None:
        raise AssertionError("the Python path's rows were written")

    monkeypatch.setattr(projection, "add_rows", refused)


async def test_every_column_is_stored_as_the_python_path_gives_it(
    engine: AsyncEngine, battery_id: int, copy_only: None
) -> None:
    events = timed(battery_id, MANY, soc=50.5)
    await write(engine, events)
    async with engine.connect() as c:
        rows = (
            await c.execute(
                text(
                    f"SELECT {', '.join(READING_COLUMNS)} FROM query.readings "
                    "WHERE battery_id = :b ORDER BY measured_at"
                ),
                {"b": battery_id},
            )
        ).all()
    expected = projection.reading_rows(events)
    errors, metrics = READING_COLUMNS.index("decoded_errors"), READING_COLUMNS.index("metrics")
    assert len(rows) == MANY
    for got, want in zip(rows, expected, strict=True):
        # the reading id as its text, the JSON columns as the driver reads them (parsed)
        assert [str(got[0]), *got[1:]] == [
            *want[:errors],
            json.loads(want[errors]),
            *want[errors + 1 : metrics],
            json.loads(want[metrics]),
        ]


async def test_a_batch_meeting_stored_readings_adds_only_the_new_and_keeps_the_first(
    engine: AsyncEngine, battery_id: int, copy_only: None
) -> None:
    # twice in one batch: the first copy is kept
    await write(engine, timed(battery_id, 100, soc=10.0) + timed(battery_id, 100, soc=11.0))
    await write(engine, timed(battery_id, 250, soc=99.0))  # a redelivery, and more
    rows = await stored(engine, battery_id)
    assert len({r[0] for r in rows}) == len(rows) == 250
    assert [r[2] for r in rows] == socs(10.0, 100) + socs(99.0, 250)[100:]


def socs(soc: float, count: int) -> list[float | None]:
    """The ``soc`` column of ``timed``'s readings (every third has no metrics)."""
    return [soc if n % 3 else None for n in range(count)]


async def test_when_the_lookup_misses_a_stored_reading_the_insert_takes_over(
    engine: AsyncEngine, battery_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when another writer stores a reading between the lookup and the COPY."""
    await write(engine, timed(battery_id, 100, soc=10.0))
    blind = text(
        "SELECT reading_id, NULL AS legacy_until FROM query.readings "
        "WHERE false AND reading_id = ANY(CAST(:ids AS uuid[]))"
    )
    monkeypatch.setattr(projection, "_STORED_READINGS", blind)
    await write(engine, timed(battery_id, 250, soc=99.0))
    rows = await stored(engine, battery_id)
    assert len({r[0] for r in rows}) == len(rows) == 250
    assert [r[2] for r in rows] == socs(10.0, 100) + socs(99.0, 250)[100:]


async def test_a_reading_stored_under_its_legacy_id_is_not_stored_again(
    engine: AsyncEngine, battery_id: int
) -> None:
    """Where a legacy id may be stored (``legacy_until``), the compiled path's records go the
    Python path's way, which looks their twins up."""
    start = datetime(2031, 6, 1, tzinfo=UTC)
    legacy = [
        e.model_copy(
            update={
                "reading_id": uuid.UUID(legacy_reading_id_text(battery_id, e.reading.device_time))
            }
        )
        for e in timed(battery_id, MANY, soc=1.0, start=start)
    ]
    async with engine.begin() as c:
        await projection.add_readings(c, legacy)
    await write(engine, timed(battery_id, MANY, soc=2.0, start=start))
    rows = await stored(engine, battery_id)
    skewed = {n for n in range(MANY) if n % 5 == 0}  # no twin: stored under both ids
    assert len(rows) == MANY + len(skewed)
