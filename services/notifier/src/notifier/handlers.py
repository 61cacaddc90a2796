"""The notifier's handler: decoded readings and read events in, notifications out."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_contracts.events import NotificationRaised, NotificationRead, ReadingDecoded
from batteryhub_contracts.topics import battery_key
from batteryhub_platform.consumer import Incoming
from batteryhub_platform.kafka import Outgoing
from notifier import metrics
from notifier.adapters.store import NotificationStore
from notifier.domain.alerts import apply_read, apply_reading


async def apply_events_to_alerts(
    batch: list[Incoming[Any]], engine: AsyncEngine, notifications_topic: str
) -> list[Outgoing]:
    """Fold a batch into the notification store in one transaction and return the
    notification-raised events to publish.

    Events from the two input topics are taken in time order, so a notification read just
    before a reading arrived counts as read. Raised events of other services on the
    notifications topic are ignored: only read events concern the rule.
    """
    relevant = [
        i
        for i in batch
        if isinstance(i.event, NotificationRead)
        or (isinstance(i.event, ReadingDecoded) and i.event.errors)
    ]
    if not relevant:
        return []
    relevant.sort(key=lambda i: i.event.occurred_at)
    readings = [i.event for i in relevant if isinstance(i.event, ReadingDecoded)]
    battery_ids = {
        i.event.battery_id if isinstance(i.event, NotificationRead) else i.event.reading.battery_id
        for i in relevant
    }

    outgoing: list[Outgoing] = []
    async with engine.begin() as connection:
        store = NotificationStore(connection)
        states = await store.open_alerts(battery_ids)
        notified = await store.already_notified(r.reading_id for r in readings)
        for item in relevant:
            event = item.event
            if isinstance(event, NotificationRead):
                states[event.battery_id] = apply_read(states[event.battery_id], event)
                await store.mark_read(event.notification_id, event.occurred_at)
                continue
            battery_id = event.reading.battery_id
            earlier = notified.get(event.reading_id, {})
            states[battery_id], decision = apply_reading(
                states[battery_id], event, frozenset(earlier)
            )
            stored = await store.add(decision.raised)
            republished = [earlier[code] for code in decision.already_notified]
            metrics.SUPPRESSED.inc(len(decision.suppressed))
            metrics.REPUBLISHED.inc(len(republished))
            for n in stored:
                metrics.RAISED.labels(n.severity).inc()
            outgoing.extend(_out(n, notifications_topic, item) for n in [*stored, *republished])
    return outgoing


def _out(event: NotificationRaised, topic: str, item: Incoming[Any]) -> Outgoing:
    return Outgoing(topic, battery_key(event.battery_id), event, item.correlation_id)
