"""The notification store: the notifier's state, read and written in one transaction per
batch, so the offsets committed after it never run ahead of what is stored."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from batteryhub_contracts.events import NotificationRaised
from notifier.adapters.tables import decided_readings, notifications
from notifier.domain.alerts import OpenAlerts


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
        rows = await self._c.execute(
            insert(decided_readings)
            .values([{"reading_id": i} for i in ids])
            .on_conflict_do_nothing()
            .returning(decided_readings.c.reading_id)
        )
        return {row[0] for row in rows}

    async def open_alerts(self, battery_ids: Iterable[int]) -> dict[int, OpenAlerts]:
        ids = sorted(set(battery_ids))
        unread: dict[int, dict[str, int]] = defaultdict(dict)
        if ids:
            rows = await self._c.execute(
                select(notifications.c.battery_id, notifications.c.code, notifications.c.id).where(
                    notifications.c.battery_id.in_(ids), notifications.c.is_read.is_(False)
                )
            )
            for battery_id, code, notification_id in rows:
                unread[battery_id][code] = notification_id
        return {b: OpenAlerts(b, unread.get(b, {})) for b in ids}

    async def already_notified(
        self, reading_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, NotificationRaised]]:
        ids = list(set(reading_ids))
        found: dict[uuid.UUID, dict[str, NotificationRaised]] = defaultdict(dict)
        if ids:
            rows = await self._c.execute(
                select(
                    notifications.c.reading_id, notifications.c.code, notifications.c.event
                ).where(notifications.c.reading_id.in_(ids))
            )
            for reading_id, code, event in rows:
                found[reading_id][code] = NotificationRaised.model_validate(event)
        return found

    async def add(self, raised: Iterable[NotificationRaised]) -> list[NotificationRaised]:
        """Insert; return those actually stored (a concurrent duplicate is skipped)."""
        events = list(raised)
        if not events:
            return []
        rows = await self._c.execute(
            insert(notifications)
            .values(
                [
                    {
                        "id": n.notification_id,
                        "battery_id": n.battery_id,
                        "hub_id": n.hub_id,
                        "code": n.code,
                        "reading_id": n.reading_id,
                        "created_at": n.created_at,
                        "event": n.model_dump(mode="json"),
                    }
                    for n in events
                ]
            )
            .on_conflict_do_nothing()
            .returning(notifications.c.id)
        )
        stored = {row[0] for row in rows}
        return [n for n in events if n.notification_id in stored]

    async def mark_read(self, notification_id: int, read_at: datetime) -> None:
        await self._c.execute(
            update(notifications)
            .where(notifications.c.id == notification_id, notifications.c.is_read.is_(False))
            .values(is_read=True, read_at=read_at)
        )
