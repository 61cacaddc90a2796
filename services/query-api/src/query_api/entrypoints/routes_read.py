"""Batteries, error history and notifications, scoped to the hubs the user may see."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.engine import Row

from batteryhub_contracts.events import NotificationRead
from batteryhub_contracts.isotime import naive_utc
from batteryhub_contracts.topics import NOTIFICATIONS, battery_key
from batteryhub_platform.http import ApiError
from batteryhub_platform.kafka import BrokerUnavailable, Outgoing
from query_api.adapters import queries
from query_api.domain.access import visible_hubs
from query_api.domain.periods import TimePeriod, period_range
from query_api.entrypoints.deps import (
    ConnectionDep,
    CurrentUser,
    PublisherDep,
    ReadConnectionDep,
    SettingsDep,
)
from query_api.entrypoints.schemas import (
    BatteryPublic,
    ErrorAnswer,
    ErrorHistory,
    LatestReading,
    MarkedRead,
    NotificationPublic,
    UnreadCount,
)

router = APIRouter()
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorAnswer} for c in (401, 404, 422, 503)}
MAX_ID = 2**53 - 1
BatteryId = Annotated[int, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
MARK_ALL_CHUNK = 1000


def _not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def _battery(row: Row[Any]) -> BatteryPublic:
    latest = None
    if row.latest_measured_at is not None:
        latest = LatestReading(
            timestamp=row.latest_measured_at,
            received_at=row.latest_received_at,
            soc=row.latest_soc,
            voltage=row.latest_voltage,
            current=row.latest_current,
            temperature=row.latest_temperature,
            power=row.latest_power,
            latitude=row.latest_latitude,
            longitude=row.latest_longitude,
            error_codes=row.latest_err,
        )
    return BatteryPublic(
        battery_id=row.battery_id,
        hub_id=row.hub_id,
        name=row.name,
        device_id=row.device_id,
        status="revoked" if row.revoked else "active",
        registered_at=row.registered_at,
        last_seen=row.latest_received_at,
        latest=latest,
    )


@router.get("/batteries", tags=["batteries"], response_model=list[BatteryPublic], responses=_ERRORS)
async def list_batteries(
    user: CurrentUser, c: ReadConnectionDep, limit: Limit = 100, offset: Offset = 0
) -> list[BatteryPublic]:
    rows = await queries.list_batteries(c, visible_hubs(user), limit, offset)
    return [_battery(r) for r in rows]


@router.get(
    "/batteries/{battery_id}", tags=["batteries"], response_model=BatteryPublic, responses=_ERRORS
)
async def get_battery(battery_id: int, user: CurrentUser, c: ReadConnectionDep) -> BatteryPublic:
    row = (
        await queries.battery(c, battery_id, visible_hubs(user))
        if 0 < battery_id <= MAX_ID
        else None
    )
    if row is None:
        raise _not_found(f"battery {battery_id}")
    return _battery(row)


@router.get(
    "/batteries/{battery_id}/errors",
    tags=["batteries"],
    response_model=ErrorHistory,
    responses=_ERRORS,
)
async def error_history(
    battery_id: int,
    user: CurrentUser,
    c: ReadConnectionDep,
    time_period: TimePeriod = TimePeriod.last_24_hours,
    limit: Limit = 50,
) -> Response:
    start, end = period_range(time_period, datetime.now(UTC))
    page = (
        await queries.error_history(c, battery_id, visible_hubs(user), start, end, limit)
        if 0 < battery_id <= MAX_ID
        else None
    )
    if page is None:
        raise _not_found(f"battery {battery_id}")
    # Built as plain data and written with orjson: the app's most frequent call skips
    # re-validating ~200 nested models per answer, and the decoded errors go out as the
    # stored JSON (DecodedErrorPublic's four fields, as PostgreSQL prints jsonb). The shape
    # is ErrorHistory's (tests/e2e/test_wire_scenarios.py compares the two).
    errors = [
        {
            "id": public_id,
            "timestamp": naive_utc(measured_at),
            "error_codes": err,
            "decoded_errors": orjson.Fragment(decoded_errors),
            "other_metrics": {
                "soc": soc,
                "voltage": voltage,
                "current": current,
                "temperature": temperature,
                "power": power,
                "latitude": latitude,
                "longitude": longitude,
            },
        }
        for (
            public_id,
            measured_at,
            err,
            decoded_errors,
            soc,
            voltage,
            current,
            temperature,
            power,
            latitude,
            longitude,
        ) in page.rows
    ]
    body = {
        "battery_id": battery_id,
        "battery_name": page.battery_name,
        "errors": errors,
        "total_errors": page.total,
        "time_period": time_period.value,
        "time_range": {"start": naive_utc(start), "end": naive_utc(end)},
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _notification(row: Row[Any]) -> NotificationPublic:
    return NotificationPublic.model_validate(row._mapping)


@router.get(
    "/notifications",
    tags=["notifications"],
    response_model=list[NotificationPublic],
    responses=_ERRORS,
)
async def list_notifications(
    user: CurrentUser,
    c: ReadConnectionDep,
    unread_only: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[NotificationPublic]:
    rows = await queries.list_notifications(c, visible_hubs(user), unread_only, limit, offset)
    return [_notification(r) for r in rows]


@router.get(
    "/notifications/unread-count",
    tags=["notifications"],
    response_model=UnreadCount,
    responses=_ERRORS,
)
async def unread_count(user: CurrentUser, c: ReadConnectionDep) -> UnreadCount:
    return UnreadCount(unread_count=await queries.unread_count(c, visible_hubs(user)))


def _read_events(rows: list[Row[Any]], user: str, at: datetime, topic: str) -> list[Outgoing]:
    return [
        Outgoing(
            topic,
            battery_key(r.battery_id),
            NotificationRead(
                event_id=uuid.uuid4(),
                occurred_at=at,
                notification_id=r.id,
                battery_id=r.battery_id,
                hub_id=r.hub_id,
                code=r.code,
                read_by=user,
            ),
        )
        for r in rows
    ]


async def _mark(
    rows: list[Row[Any]],
    user: CurrentUser,
    c: ConnectionDep,
    publisher: PublisherDep,
    settings: SettingsDep,
) -> datetime:
    """Publish the read events first (the log is the truth), then show them read at once."""
    at = datetime.now(UTC)
    try:
        await publisher.publish_many(
            _read_events(rows, user.username, at, settings.topic(NOTIFICATIONS))
        )
    except BrokerUnavailable as exc:
        raise ApiError(503, f"not saved, try again: {exc}", {"Retry-After": "5"}) from None
    await queries.set_read(c, [r.id for r in rows], at, user.username)
    await c.commit()
    return at


@router.put(
    "/notifications/mark-all-read",
    tags=["notifications"],
    response_model=MarkedRead,
    responses=_ERRORS,
)
async def mark_all_read(
    user: CurrentUser, c: ConnectionDep, publisher: PublisherDep, settings: SettingsDep
) -> MarkedRead:
    marked = 0
    while rows := list(await queries.unread_notifications(c, visible_hubs(user), MARK_ALL_CHUNK)):
        await _mark(rows, user, c, publisher, settings)
        marked += len(rows)
    return MarkedRead(marked_read=marked)


@router.put(
    "/notifications/{notification_id}/read",
    tags=["notifications"],
    response_model=NotificationPublic,
    responses=_ERRORS,
)
async def mark_read(
    notification_id: int,
    user: CurrentUser,
    c: ConnectionDep,
    publisher: PublisherDep,
    settings: SettingsDep,
) -> NotificationPublic:
    hubs = visible_hubs(user)
    row = (
        await queries.notification(c, notification_id, hubs)
        if 0 < notification_id <= MAX_ID
        else None
    )
    if row is None:
        raise _not_found(f"notification {notification_id}")
    if not row.is_read:
        await _mark([row], user, c, publisher, settings)
        row = await queries.notification(c, notification_id, hubs)
        assert row is not None
    return _notification(row)
