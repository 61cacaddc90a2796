"""The notification store: the notifier's state, read and written in one transaction per
batch, so the offsets committed after it never run ahead of what is stored."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, DateTime, Text, any_, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from batteryhub_contracts.events import NotificationRaised
from notifier.adapters.tables import decided_readings, notifications
from notifier.domain.alerts import OpenAlerts

_CLAIM = (
    text(
        "INSERT INTO notifier.decided_readings (reading_id) "
        "SELECT unnest(CAST(:ids AS uuid[])) ON CONFLICT DO NOTHING RETURNING reading_id"
    )
    .bindparams(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))
    .columns(decided_readings.c.reading_id)
)
_DECIDED = (
    text("SELECT reading_id FROM notifier.decided_readings WHERE reading_id = ANY(:ids)")
    .bindparams(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))
    .columns(decided_readings.c.reading_id)
)
_ADD = (
    text(
        "INSERT INTO notifier.notifications "
        "(id, battery_id, hub_id, code, reading_id, created_at, event) "
        "SELECT id, battery_id, hub_id, code, reading_id, created_at, event::jsonb FROM unnest("
        "CAST(:ids AS bigint[]), CAST(:battery_ids AS bigint[]), CAST(:hub_ids AS bigint[]), "
        "CAST(:codes AS text[]), CAST(:reading_ids AS uuid[]), "
        "CAST(:created_ats AS timestamptz[]), CAST(:events AS text[])"
        ") AS t(id, battery_id, hub_id, code, reading_id, created_at, event) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    .bindparams(
        bindparam("ids", type_=ARRAY(BigInteger)),
        bindparam("battery_ids", type_=ARRAY(BigInteger)),
        bindparam("hub_ids", type_=ARRAY(BigInteger)),
        bindparam("codes", type_=ARRAY(Text)),
        bindparam("reading_ids", type_=ARRAY(UUID(as_uuid=True))),
        bindparam("created_ats", type_=ARRAY(DateTime(timezone=True))),
        bindparam("events", type_=ARRAY(Text)),
    )
    .columns(notifications.c.id)
)
_OPEN = select(notifications.c.battery_id, notifications.c.code, notifications.c.id).where(
    notifications.c.battery_id == any_(bindparam("ids", type_=ARRAY(BigInteger))),
    notifications.c.is_read.is_(False),
)
_NOTIFIED = select(notifications.c.reading_id, notifications.c.code, notifications.c.event).where(
    notifications.c.reading_id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))
)
"""Each statement is one whatever the number of rows (an array, not an ``IN`` list), so one
prepared statement serves every batch: a multi-row VALUES or an ``IN`` list is a new
statement for each length, and compiling the VALUES was a tenth of the notifier's CPU."""


class NotificationStore:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def claim(self, reading_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Record ``reading_ids`` as decided by this transaction; return those that were not
        decided before. Another transaction claiming the same reading (two instances handed
        the same records in a rebalance) waits for this one and then gets nothing."""
        ids = sorted(set(reading_ids))
        if not ids:
            return set()
        rows = await self._c.execute(_CLAIM, {"ids": ids})
        return {row[0] for row in rows}

    async def decided(self, reading_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``reading_ids`` decided before (claimed by this transaction included)."""
        ids = sorted(set(reading_ids))
        if not ids:
            return set()
        return set((await self._c.execute(_DECIDED, {"ids": ids})).scalars())

    async def open_alerts(self, battery_ids: Iterable[int]) -> dict[int, OpenAlerts]:
        ids = sorted(set(battery_ids))
        unread: dict[int, dict[str, int]] = defaultdict(dict)
        if ids:
            rows = await self._c.execute(_OPEN, {"ids": ids})
            for battery_id, code, notification_id in rows:
                unread[battery_id][code] = notification_id
        return {b: OpenAlerts(b, unread.get(b, {})) for b in ids}

    async def already_notified(
        self, reading_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, NotificationRaised]]:
        ids = list(set(reading_ids))
        found: dict[uuid.UUID, dict[str, NotificationRaised]] = defaultdict(dict)
        if ids:
            rows = await self._c.execute(_NOTIFIED, {"ids": ids})
            for reading_id, code, event in rows:
                found[reading_id][code] = NotificationRaised.model_validate(event)
        return found

    async def add(self, raised: Iterable[NotificationRaised]) -> list[NotificationRaised]:
        """Insert; return those actually stored (a concurrent duplicate is skipped)."""
        events = list(raised)
        if not events:
            return []
        rows = await self._c.execute(
            _ADD,
            {
                "ids": [n.notification_id for n in events],
                "battery_ids": [n.battery_id for n in events],
                "hub_ids": [n.hub_id for n in events],
                "codes": [n.code for n in events],
                "reading_ids": [n.reading_id for n in events],
                "created_ats": [n.created_at for n in events],
                "events": [n.model_dump_json() for n in events],
            },
        )
        stored = {row[0] for row in rows}
        return [n for n in events if n.notification_id in stored]

    async def mark_read(self, notification_id: int, read_at: datetime) -> None:
        await self._c.execute(
            update(notifications)
            .where(notifications.c.id == notification_id, notifications.c.is_read.is_(False))
            .values(is_read=True, read_at=read_at)
        )
