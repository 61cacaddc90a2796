"""The notifier's handler over whole batches, against the running system's PostgreSQL: the
notifications a batch raises go in by one insert, and what it publishes is what the rule
decides reading by reading, read events in the batch included."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import NotificationRead, ReadingDecoded, ReadingFields, encode
from batteryhub_contracts.ids import legacy_reading_id_text, notification_id_for, reading_id_text
from batteryhub_platform.consumer import Incoming
from notifier.handlers import FaultsOfDecoded, apply_events_to_alerts

pytestmark = pytest.mark.e2e

AT = datetime(2026, 2, 1, tzinfo=UTC)
TOPIC = "notifications-under-test"


READINGS: list[uuid.UUID] = []
"""The ids of the readings these tests made, for the clean-up."""


@pytest.fixture
async def batteries(engine: AsyncEngine) -> AsyncIterator[list[int]]:
    """Battery ids no device has; the notifier's rows of them are removed after the test."""
    first = random.randint(10**9, 2 * 10**9)
    ids = list(range(first, first + 50))
    yield ids
    async with engine.begin() as c:
        await c.execute(
            text("DELETE FROM notifier.notifications WHERE battery_id = ANY(:b)"), {"b": ids}
        )
        await c.execute(
            text("DELETE FROM notifier.decided_readings WHERE reading_id = ANY(:r)"),
            {"r": READINGS},
        )
    READINGS.clear()


def reading(
    battery_id: int, err: str, n: int, device_time: datetime | None = None, legacy: bool = False
) -> Incoming[Any]:
    """A faulty reading at ``n`` seconds; with a ``device_time``, under its time-ordered id
    or its ``legacy`` one, received ``n`` seconds on."""
    if device_time is None:
        reading_id = uuid.uuid4()
    else:
        make_id = legacy_reading_id_text if legacy else reading_id_text
        reading_id = uuid.UUID(make_id(battery_id, device_time))
    event = ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=AT + timedelta(seconds=n),
        reading_id=reading_id,
        reading=ReadingFields(
            battery_id=battery_id,
            hub_id=1,
            battery_name="B",
            measured_at=device_time or AT + timedelta(seconds=n),
            time_source="rtc",
            device_time=device_time,
            received_at=AT + timedelta(seconds=n),
            metrics={"soc": 50.0},
            err=err,
        ),
        errors=decode_error_string(err),
    )
    READINGS.append(event.reading_id)
    # as the notifier reads it: the record's bytes through its codec
    return Incoming(FaultsOfDecoded().decode(encode(event)), "readings.decoded", 0, n, None)


def read(item: Incoming[Any], code: str, n: int) -> Incoming[Any]:
    (faulty,) = item.event.readings
    fields = faulty.reading
    event = NotificationRead(
        event_id=uuid.uuid4(),
        occurred_at=AT + timedelta(seconds=n),
        notification_id=notification_id_for(faulty.reading_id, code),
        battery_id=fields.battery_id,
        hub_id=fields.hub_id,
        code=code,
        read_by="alice",
    )
    return Incoming(event, TOPIC, 0, n, None)


def raised(outgoing: list[Any]) -> list[tuple[int, str]]:
    return [(o.event.battery_id, o.event.code) for o in outgoing]


async def inserts_during(engine: AsyncEngine, batch: list[Incoming[Any]]) -> tuple[list[Any], int]:
    """What the handler returns for ``batch``, and how many inserts of notifications it ran."""
    count = 0

    def counted(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        nonlocal count
        count += statement.startswith("INSERT INTO notifier.notifications")

    event.listen(engine.sync_engine, "before_cursor_execute", counted)
    try:
        return await apply_events_to_alerts(batch, engine, TOPIC), count
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", counted)


async def test_a_burst_of_faults_is_stored_by_one_insert(
    engine: AsyncEngine, batteries: list[int]
) -> None:
    batch = [reading(b, "TG", n) for n, b in enumerate(batteries)]
    batch += [reading(b, "TG", 100 + n) for n, b in enumerate(batteries)]  # still unread
    outgoing, inserts = await inserts_during(engine, batch)
    assert raised(outgoing) == [(b, code) for b in batteries for code in ("T", "G")]
    assert inserts == 1
    async with engine.connect() as c:
        stored = await c.scalar(
            text("SELECT count(*) FROM notifier.notifications WHERE battery_id = ANY(:b)"),
            {"b": batteries},
        )
    assert stored == 2 * len(batteries)


async def test_a_read_in_the_batch_counts_for_the_readings_after_it(
    engine: AsyncEngine, batteries: list[int]
) -> None:
    battery = batteries[0]
    first = reading(battery, "TG", 0)
    batch = [first, read(first, "T", 1), reading(battery, "TG", 2), reading(battery, "TG", 3)]
    outgoing, inserts = await inserts_during(engine, batch)
    # T raised, read, raised again; G raised once and suppressed after
    assert raised(outgoing) == [(battery, "T"), (battery, "G"), (battery, "T")]
    assert inserts == 2  # the one before the read, the one after it
    async with engine.connect() as c:
        rows = await c.execute(
            text(
                "SELECT code, is_read FROM notifier.notifications WHERE battery_id = :b "
                "ORDER BY created_at, code"
            ),
            {"b": battery},
        )
        assert sorted(tuple(r) for r in rows) == [("G", False), ("T", False), ("T", True)]


async def test_the_same_reading_twice_in_a_batch_is_published_once(
    engine: AsyncEngine, batteries: list[int]
) -> None:
    item = reading(batteries[0], "L", 0)
    outgoing, _ = await inserts_during(engine, [item, item])
    assert raised(outgoing) == [(batteries[0], "L")]
    again, inserts = await inserts_during(engine, [item])  # a redelivery: published again
    assert raised(again) == [(batteries[0], "L")] and inserts == 0


@pytest.mark.parametrize("legacy_first", [True, False])
async def test_a_reading_decided_under_one_of_its_ids_is_not_decided_again_under_the_other(
    engine: AsyncEngine, batteries: list[int], legacy_first: bool
) -> None:
    """An upload taken before readings' ids began with their time and re-sent after it (or
    the other way round during the upgrade), its notification read in between: without
    the twin, the re-sent reading would notify again."""
    battery = batteries[0]
    taken = AT - timedelta(hours=1)
    first = reading(battery, "T", 0, device_time=taken, legacy=legacy_first)
    assert raised(await apply_events_to_alerts([first], engine, TOPIC)) == [(battery, "T")]
    assert raised(await apply_events_to_alerts([read(first, "T", 1)], engine, TOPIC)) == []
    again = reading(battery, "T", 2, device_time=taken, legacy=not legacy_first)
    assert raised(await apply_events_to_alerts([again], engine, TOPIC)) == []
    newer = reading(battery, "T", 3, device_time=taken + timedelta(seconds=1))
    assert raised(await apply_events_to_alerts([newer], engine, TOPIC)) == [(battery, "T")]


async def test_a_reading_under_both_its_ids_in_one_batch_is_decided_once(
    engine: AsyncEngine, batteries: list[int]
) -> None:
    battery = batteries[0]
    taken = AT - timedelta(hours=1)
    legacy = reading(battery, "T", 0, device_time=taken, legacy=True)
    outgoing = await apply_events_to_alerts(
        [
            legacy,
            read(legacy, "T", 1),
            reading(battery, "T", 2, device_time=taken, legacy=False),
        ],
        engine,
        TOPIC,
    )
    assert [(o.event.reading_id, o.event.code) for o in outgoing] == [
        (legacy.event.readings[0].reading_id, "T")
    ]
