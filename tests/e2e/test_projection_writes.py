"""The projector's ways of writing readings store the same rows: each reading once, the
first copy kept. New readings go in by COPY after a lookup of those stored before; when
another writer stores one in between, the COPY fails and the INSERT ... ON CONFLICT DO
NOTHING takes over; a batch of a few rows (``FEW_ROWS``) goes in by that INSERT at once.
Notifications go in by INSERT ... ON CONFLICT DO NOTHING, each once, the first copy kept.
The projector's batch of a few readings and nothing else is that INSERT alone, with no
transaction around it. Against the running system's PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import NotificationRaised, ReadingDecoded, ReadingFields
from batteryhub_contracts.ids import legacy_reading_id_text, reading_id_text, reading_public_id
from batteryhub_platform.consumer import Incoming
from batteryhub_platform.db import make_engine
from query_api.adapters import projection
from query_api.adapters.projection import add_notifications, add_readings
from query_api.projector import project_events
from tests.hub import Hub

pytestmark = pytest.mark.e2e

AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def battery_id(engine: AsyncEngine) -> AsyncIterator[int]:
    """A battery id no device has; its rows are removed after the test, so the projection
    (which the replay test compares with its rebuild from Kafka) holds only what came
    through Kafka."""
    battery_id = random.randint(10**9, 2 * 10**9)
    yield battery_id
    async with engine.begin() as c:
        await c.execute(text("DELETE FROM query.readings WHERE battery_id = :b"), {"b": battery_id})
        await c.execute(
            text("DELETE FROM query.notifications WHERE battery_id = :b"), {"b": battery_id}
        )


def readings(battery_id: int, count: int, soc: float, err: str = "") -> list[ReadingDecoded]:
    return [
        ReadingDecoded(
            event_id=uuid.uuid4(),
            occurred_at=AT,
            reading_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{battery_id}:{n}"),
            reading=ReadingFields(
                battery_id=battery_id,
                hub_id=1,
                battery_name="B",
                measured_at=AT + timedelta(minutes=n),
                time_source="rtc",
                received_at=AT,
                metrics={"soc": soc, "v": 12.5, "nc": 3},
                err=err,
            ),
            errors=decode_error_string(err),
        )
        for n in range(count)
    ]


async def write(engine: AsyncEngine, batch: list[ReadingDecoded]) -> None:
    async with engine.begin() as c:
        await add_readings(c, batch)


async def stored(engine: AsyncEngine, battery_id: int) -> list[tuple[object, ...]]:
    async with engine.connect() as c:
        rows = await c.execute(
            text(
                "SELECT reading_id, public_id, soc, err, has_errors, metrics, decoded_errors "
                "FROM query.readings WHERE battery_id = :b ORDER BY measured_at"
            ),
            {"b": battery_id},
        )
        return [tuple(r) for r in rows]


MANY, FEW = 300, projection.FEW_ROWS
"""Batch sizes that take the COPY and the INSERT."""


@pytest.mark.parametrize("count", [MANY, FEW, 1])
async def test_new_readings_are_stored_whole(
    engine: AsyncEngine, battery_id: int, count: int
) -> None:
    batch = readings(battery_id, count, soc=50.0, err="TZ")
    await write(engine, batch)
    rows = await stored(engine, battery_id)
    assert [r[0] for r in rows] == [b.reading_id for b in batch]
    first = rows[0]
    assert first[1] == reading_public_id(batch[0].reading_id)
    assert first[2:5] == (50.0, "TZ", True)
    assert first[5] == {"soc": 50.0, "v": 12.5, "nc": 3}
    assert [e["code"] for e in first[6]] == ["T", "Z"]


@pytest.mark.parametrize(("before", "count"), [(100, 250), (FEW // 2, FEW)])
async def test_a_batch_meeting_stored_readings_adds_only_the_new_and_keeps_the_first(
    engine: AsyncEngine, battery_id: int, before: int, count: int
) -> None:
    await write(engine, readings(battery_id, before, soc=10.0))
    again = readings(battery_id, count, soc=99.0)  # ``before`` stored before, the rest new
    await write(engine, again)
    rows = await stored(engine, battery_id)
    assert len(rows) == count
    assert len({r[0] for r in rows}) == count
    assert [r[2] for r in rows] == [10.0] * before + [99.0] * (count - before)


@pytest.mark.parametrize("count", [MANY, 1])
async def test_a_reading_twice_in_one_batch_is_stored_once_as_first_sent(
    engine: AsyncEngine, battery_id: int, count: int
) -> None:
    first, second = readings(battery_id, count, soc=1.0), readings(battery_id, count, soc=2.0)
    await write(engine, first + second)
    assert [r[2] for r in await stored(engine, battery_id)] == [1.0] * count


async def test_when_the_lookup_misses_a_stored_reading_the_insert_takes_over(
    engine: AsyncEngine, battery_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when another writer stores a reading between the lookup and the COPY."""
    await write(engine, readings(battery_id, 100, soc=10.0))
    blind = text("SELECT reading_id FROM query.readings WHERE false AND reading_id = ANY(:ids)")
    monkeypatch.setattr(projection, "_STORED_READINGS", blind)
    await write(engine, readings(battery_id, 250, soc=99.0))
    rows = await stored(engine, battery_id)
    assert len({r[0] for r in rows}) == len(rows) == 250
    assert [r[2] for r in rows] == [10.0] * 100 + [99.0] * 150


def notification(battery_id: int, notification_id: int, title: str) -> NotificationRaised:
    return NotificationRaised(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        notification_id=notification_id,
        battery_id=battery_id,
        hub_id=7,
        reading_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{battery_id}:{notification_id}"),
        code="T",
        notification_type="error",
        title=title,
        message="Temperature sensor error",
        severity="warning",
        link_id=battery_id,
        created_at=AT + timedelta(seconds=notification_id % 1000),
    )


async def test_notifications_are_stored_once_each_as_first_sent(
    engine: AsyncEngine, battery_id: int
) -> None:
    ids = random.sample(range(1, 2**53), 3)
    first = [notification(battery_id, n, "first") for n in ids]
    first.append(notification(battery_id, ids[0], "a later copy"))
    again = [notification(battery_id, n, "sent again") for n in ids]  # changes nothing
    for batch in (first, again):
        async with engine.begin() as c:
            await add_notifications(c, batch)
    async with engine.connect() as c:
        rows = (
            await c.execute(
                text(
                    "SELECT id, hub_id, battery_id, code, reading_id, notification_type, title, "
                    "message, severity, is_read, read_at, read_by, link_type, link_id, "
                    "created_at FROM query.notifications WHERE battery_id = :b ORDER BY id"
                ),
                {"b": battery_id},
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (
            n,
            7,
            battery_id,
            "T",
            uuid.uuid5(uuid.NAMESPACE_URL, f"{battery_id}:{n}"),
            "error",
            "first",
            "Temperature sensor error",
            "warning",
            False,
            None,
            None,
            "battery",
            battery_id,
            AT + timedelta(seconds=n % 1000),
        )
        for n in sorted(ids)
    ]


def as_batch(events: list[object]) -> list[Incoming[object]]:
    """Events as the projector's handler gets them: readings reduced to their rows."""
    return [
        Incoming(projection.record_rows(e) if isinstance(e, ReadingDecoded) else e, "t", 0, n, None)
        for n, e in enumerate(events)
    ]


@pytest.mark.parametrize(
    ("count", "beside"),
    [(1, False), (FEW, False), (FEW + 1, False), (1, True)],
    ids=["one reading", "a few readings", "more than a few", "a reading and a notification"],
)
async def test_a_projector_batch_stores_each_reading_once_and_leaves_its_connection_transactional(
    hub: Hub, battery_id: int, count: int, beside: bool
) -> None:
    """A few readings alone go in by one statement outside a transaction; the connection
    goes back to the pool as it came, so the next batch's transaction still rolls back whole
    (one pooled connection, so the next batch gets the same one)."""
    engine = make_engine(hub.system.database_url(), pool_size=1, synchronous_commit=False)
    try:
        first, again = readings(battery_id, count, soc=1.0), readings(battery_id, count, soc=2.0)
        raised = notification(battery_id, random.randint(1, 2**53), "first")
        others: list[object] = [raised] if beside else []
        await project_events(as_batch([*first, *others]), engine)
        await project_events(as_batch([*again, *others]), engine)  # a redelivery, changed
        rows = await stored(engine, battery_id)
        assert [r[0] for r in rows] == [e.reading_id for e in first]
        assert [r[2] for r in rows] == [1.0] * count

        failing = readings(battery_id, count + 1, soc=3.0)[-1:]  # a new reading
        with pytest.raises(RuntimeError, match="after its insert"):
            async with engine.begin() as c:
                await add_readings(c, failing)
                raise RuntimeError("the batch fails after its insert")
        assert len(await stored(engine, battery_id)) == count
    finally:
        await engine.dispose()


def timed(
    battery_id: int, count: int, soc: float, legacy: bool, start: datetime = AT
) -> list[ReadingDecoded]:
    """Readings with device times, under their time-ordered ids or, as stored before
    readings' ids began with their time, their legacy ids."""
    make_id = legacy_reading_id_text if legacy else reading_id_text
    batch = []
    for n in range(count):
        at = start + timedelta(minutes=n)
        batch.append(
            ReadingDecoded(
                event_id=uuid.uuid4(),
                occurred_at=AT,
                reading_id=uuid.UUID(make_id(battery_id, at)),
                reading=ReadingFields(
                    battery_id=battery_id,
                    hub_id=1,
                    battery_name="B",
                    measured_at=at,
                    time_source="rtc",
                    device_time=at,
                    received_at=AT + timedelta(days=1),
                    metrics={"soc": soc},
                    err="",
                ),
                errors=(),
            )
        )
    return batch


@pytest.mark.parametrize(
    ("first_legacy", "count"), [(True, MANY), (True, FEW), (False, MANY), (False, FEW)]
)
async def test_a_reading_stored_under_one_of_its_ids_is_not_stored_again_under_the_other(
    engine: AsyncEngine, battery_id: int, first_legacy: bool, count: int
) -> None:
    """An upload taken before readings' ids began with their time and re-sent after (or the
    other way round, old and new gateways side by side during the upgrade)."""
    first = timed(battery_id, count, soc=10.0, legacy=first_legacy)
    await write(engine, first)
    await write(engine, timed(battery_id, count, soc=99.0, legacy=not first_legacy))
    rows = await stored(engine, battery_id)
    assert [r[0] for r in rows] == [b.reading_id for b in first]
    assert [r[2] for r in rows] == [10.0] * count


@pytest.mark.parametrize("count", [MANY, 1])
async def test_a_reading_under_both_its_ids_in_one_batch_is_stored_once_as_first_sent(
    engine: AsyncEngine, battery_id: int, count: int
) -> None:
    legacy, new = (
        timed(battery_id, count, soc=1.0, legacy=True),
        timed(battery_id, count, soc=2.0, legacy=False),
    )
    await write(engine, new + legacy)
    rows = await stored(engine, battery_id)
    assert [r[0] for r in rows] == [b.reading_id for b in new]
    await write(engine, legacy + new)
    assert [r[0] for r in await stored(engine, battery_id)] == [b.reading_id for b in new]


async def test_storing_a_legacy_id_raises_how_far_new_ids_are_checked(
    engine: AsyncEngine, battery_id: int
) -> None:
    """As when events written before the change are replayed into a fresh projection."""
    later = datetime(2030, 1, 1, tzinfo=UTC)  # past what any other test stores
    await write(engine, timed(battery_id, MANY, soc=1.0, legacy=True, start=later))
    async with engine.connect() as c:
        until = (
            await c.execute(text("SELECT legacy_until FROM query.legacy_reading_ids"))
        ).scalar_one()
    assert until >= later + timedelta(minutes=MANY - 1)
    await write(engine, timed(battery_id, MANY, soc=2.0, legacy=False, start=later))
    assert [r[2] for r in await stored(engine, battery_id)] == [1.0] * MANY
