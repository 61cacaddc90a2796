"""Read-side queries. Every query takes the caller's visible hubs (``None`` = all), so hub
isolation is applied in SQL, never after the fact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, true, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from query_api.adapters.tables import batteries, notifications, readings

Hubs = frozenset[int] | None


def _in_hubs(column: Any, hubs: Hubs) -> Any:
    return true() if hubs is None else column.in_(sorted(hubs))


async def battery(c: AsyncConnection, battery_id: int, hubs: Hubs) -> Row[Any] | None:
    query = _batteries_query(hubs).where(batteries.c.battery_id == battery_id)
    row: Row[Any] | None = (await c.execute(query)).first()
    return row


async def list_batteries(
    c: AsyncConnection, hubs: Hubs, limit: int, offset: int
) -> Sequence[Row[Any]]:
    query = _batteries_query(hubs).order_by(batteries.c.battery_id).limit(limit).offset(offset)
    rows: Sequence[Row[Any]] = (await c.execute(query)).all()
    return rows


def _batteries_query(hubs: Hubs) -> Select[Any]:
    latest = (
        select(
            readings.c.measured_at,
            readings.c.received_at,
            readings.c.soc,
            readings.c.voltage,
            readings.c.current,
            readings.c.temperature,
            readings.c.power,
            readings.c.latitude,
            readings.c.longitude,
            readings.c.err,
        )
        .where(readings.c.battery_id == batteries.c.battery_id)
        # A full tie-break: readings of one batch share a receive time, and a replay must
        # pick the same "latest" reading as the live projection did.
        .order_by(
            readings.c.measured_at.desc(),
            readings.c.received_at.desc(),
            readings.c.public_id.desc(),
        )
        .limit(1)
        .lateral("latest")
    )
    return (
        select(batteries, *[c.label(f"latest_{c.name}") for c in latest.c])
        .select_from(batteries.outerjoin(latest, true()))
        .where(_in_hubs(batteries.c.hub_id, hubs))
    )


# The error history is the app's most frequent call, so it is one statement in one round
# trip, plain SQL sent as it is (exec_driver_sql: SQLAlchemy builds and compiles nothing, but
# still turns a lost connection into a DBAPIError, answered 503, and drops it from the pool).
# The battery row gates the rest: a battery outside the caller's hubs (or unknown) gives no
# row at all; a visible one gives at least one, its readings joined on (none: one row of
# NULLs). "has_errors" alone (not "IS true") so the planner uses the partial index WHERE
# has_errors. The total is a scalar subquery counted from that index alone (an index-only
# scan); a window count would fetch every matching row from the table, not only the page
# shown. decoded_errors comes back as JSON text, to go into the answer without being parsed
# and rebuilt: the projector stores exactly DecodedErrorPublic's four fields. The SQL text
# is put together from these constants only (every value is a bound parameter, $1..$6),
# which is all the S608 warning below asks.
_ERRORS_WHERE = "battery_id = $1 AND has_errors AND measured_at >= $2 AND measured_at <= $3"
_ERROR_HISTORY = (
    "SELECT b.name, e.public_id, e.measured_at, e.err, e.decoded_errors::text, e.soc, "  # noqa: S608
    "e.voltage, e.current, e.temperature, e.power, e.latitude, e.longitude, "
    f"(SELECT count(*) FROM query.readings WHERE {_ERRORS_WHERE}) "
    "FROM query.batteries b LEFT JOIN LATERAL ("
    "SELECT public_id, measured_at, err, decoded_errors, soc, voltage, current, temperature, "
    f"power, latitude, longitude FROM query.readings WHERE {_ERRORS_WHERE} "
    "ORDER BY measured_at DESC, public_id DESC LIMIT $4) e ON true "
    "WHERE b.battery_id = $1 AND ($5 OR b.hub_id = ANY($6::bigint[])) "
    "ORDER BY e.measured_at DESC, e.public_id DESC"
)


@dataclass(frozen=True)
class ErrorPage:
    battery_name: str
    total: int
    rows: list[tuple[Any, ...]]
    """(public_id, measured_at, err, decoded_errors JSON text, soc, voltage, current,
    temperature, power, latitude, longitude), newest first."""


async def error_history(
    c: AsyncConnection, battery_id: int, hubs: Hubs, start: datetime, end: datetime, limit: int
) -> ErrorPage | None:
    """A page of the battery's readings with faults and their total, or None when the
    battery is unknown or outside ``hubs``."""
    records: Sequence[Any] = (
        await c.exec_driver_sql(
            _ERROR_HISTORY,
            (battery_id, start, end, limit, hubs is None, sorted(hubs or ())),
        )
    ).all()
    if not records:
        return None
    rows = [tuple(r)[1:-1] for r in records if r[1] is not None]
    return ErrorPage(str(records[0][0]), int(records[0][-1]), rows)


async def list_notifications(
    c: AsyncConnection, hubs: Hubs, unread_only: bool, limit: int, offset: int
) -> Sequence[Row[Any]]:
    query = select(notifications).where(_in_hubs(notifications.c.hub_id, hubs))
    if unread_only:
        query = query.where(notifications.c.is_read.is_(False))
    query = query.order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
    return (await c.execute(query.limit(limit).offset(offset))).all()


async def unread_count(c: AsyncConnection, hubs: Hubs) -> int:
    query = (
        select(func.count())
        .select_from(notifications)
        .where(_in_hubs(notifications.c.hub_id, hubs), notifications.c.is_read.is_(False))
    )
    return int((await c.execute(query)).scalar_one())


async def notification(c: AsyncConnection, notification_id: int, hubs: Hubs) -> Row[Any] | None:
    query = select(notifications).where(
        notifications.c.id == notification_id, _in_hubs(notifications.c.hub_id, hubs)
    )
    return (await c.execute(query)).first()


async def unread_notifications(c: AsyncConnection, hubs: Hubs, limit: int) -> Sequence[Row[Any]]:
    query = (
        select(notifications)
        .where(_in_hubs(notifications.c.hub_id, hubs), notifications.c.is_read.is_(False))
        .order_by(notifications.c.id)
        .limit(limit)
    )
    return (await c.execute(query)).all()


async def set_read(c: AsyncConnection, ids: Sequence[int], read_at: datetime, read_by: str) -> None:
    """The same write the projector makes from the read event (so replay gives the same row);
    done here too so the user who marked it sees it read at once. The rows are locked in id
    order first, as the projector takes them: the read events are published before this
    write, and a projector that applied them meanwhile in another order deadlocked with it
    (a 500 in a CI run)."""
    await c.execute(
        select(notifications.c.id)
        .where(notifications.c.id.in_(sorted(ids)))
        .order_by(notifications.c.id)
        .with_for_update()
    )
    await c.execute(
        update(notifications)
        .where(notifications.c.id.in_(list(ids)), notifications.c.is_read.is_(False))
        .values(is_read=True, read_at=read_at, read_by=read_by)
    )
