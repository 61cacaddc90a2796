"""The notifier's handler: decoded readings and read events in, notifications out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_contracts.events import (
    EventCodec,
    EventDecodeError,
    NotificationRaised,
    NotificationRead,
    ReadingDecoded,
    each_reading,
)
from batteryhub_contracts.fast import READING_DECODED_KEYED, as_model, decoded_record_contract
from batteryhub_contracts.ids import twin_reading_id_text
from batteryhub_contracts.payload import METRIC_FIELDS
from batteryhub_contracts.topics import battery_key
from batteryhub_native import FaultScan
from batteryhub_platform.consumer import Incoming, ReducingCodec
from batteryhub_platform.kafka import Outgoing
from notifier import metrics
from notifier.adapters.store import NotificationStore
from notifier.domain.alerts import Decision, apply_read, apply_reading


@dataclass(frozen=True, slots=True)
class Faults:
    """A decoded record as the rule needs it: its readings that carry fault codes, in order
    (most records have none)."""

    readings: tuple[ReadingDecoded, ...]


def faults(event: Any) -> Faults:
    """A decoded record's readings with fault codes, as ``ReadingDecoded`` models."""
    return Faults(tuple(as_model(r, ReadingDecoded) for r in each_reading(event) if r.errors))


class FaultsOfDecoded(ReducingCodec[Faults]):
    """The decoded topic's codec for the notifier: each record validated in full, as every
    consumer of the topic validates it (``READING_DECODED_KEYED``), and reduced at once to
    its readings with faults. No record is known that validates and then fails: what the
    twin takes, the model takes.

    With ``native``, a record in the shape the decoder writes is checked by the compiled
    scan (``batteryhub_native.FaultScan``, the projector's reader of the same records),
    which tells where its readings with faults sit; only those are decoded, by the model.
    Most readings have none, and decoding all of them was most of the notifier's CPU. Any
    other record, and any the scan declines, takes the path above, which decides."""

    def __init__(self, *, native: bool = True) -> None:
        super().__init__(READING_DECODED_KEYED, faults)
        self._scan = (
            FaultScan(metric_keys=list(METRIC_FIELDS), contract=decoded_record_contract())
            if native
            else None
        )

    def decode(self, raw: bytes) -> Faults:
        spans = self._scan.faults(raw) if self._scan is not None else None
        if spans is None:
            return super().decode(raw)
        try:
            return Faults(tuple(_READING_DECODED.decode(raw[s:e]) for s, e in spans))
        except EventDecodeError:  # none is known: what the scan takes, the model takes
            return super().decode(raw)


_READING_DECODED: EventCodec[ReadingDecoded] = EventCodec(ReadingDecoded)


async def apply_events_to_alerts(
    batch: list[Incoming[Any]], engine: AsyncEngine, notifications_topic: str
) -> list[Outgoing]:
    """Fold a batch into the notification store in one transaction and return the
    notification-raised events to publish.

    Events from the two input topics are taken in time order, so a notification read just
    before a reading arrived counts as read. Raised events of other services on the
    notifications topic are ignored: only read events concern the rule. A reading decided
    before (see ``decided_readings``) is not decided again.
    """
    relevant = _relevant(batch)
    if not relevant:
        return []
    outgoing: list[Outgoing] = []
    async with engine.begin() as connection:
        store = NotificationStore(connection)
        claimed = await store.claim(
            i.event.reading_id for i in relevant if isinstance(i.event, ReadingDecoded)
        )
        fresh = await _without_twins(
            store,
            [
                i
                for i in relevant
                if isinstance(i.event, NotificationRead) or i.event.reading_id in claimed
            ],
        )
        seen = [
            i
            for i in relevant
            if isinstance(i.event, ReadingDecoded) and i.event.reading_id not in claimed
        ]
        # Decided before (a redelivery, a group reset, a re-emission upstream): what it raised
        # may not have been published, so publish that again; decide nothing.
        for item, n in await _raised_by(store, seen):
            metrics.REPUBLISHED.inc()
            outgoing.append(_out(n, notifications_topic, item))
        outgoing.extend(await _decide(store, fresh, notifications_topic))
    return outgoing


def twin_id(reading: ReadingDecoded) -> uuid.UUID | None:
    """The reading's other id: a reading with a device time had the UUID-5 of battery and
    time as its id until readings' ids began with their time, its time-ordered id since
    (``batteryhub_contracts.ids``). None for a reading that has no other (no device time,
    its clock over 10 minutes ahead, or an id of neither kind)."""
    fields = reading.reading
    if fields.device_time is None or fields.clock_skewed:
        return None
    twin = twin_reading_id_text(str(reading.reading_id), fields.battery_id, fields.device_time)
    return None if twin is None else uuid.UUID(twin)


async def _without_twins(
    store: NotificationStore, items: list[Incoming[Any]]
) -> list[Incoming[Any]]:
    """``items`` without the readings decided before under their other id (an upload taken
    before readings' ids began with their time and re-sent after, or the other way round
    during the upgrade), nor the later of two twins in ``items``: each reading is decided
    once, whichever id it came with first. Only readings with faults come here, so hashing
    their twins costs little."""
    twins = {
        i.event.reading_id: twin
        for i in items
        if isinstance(i.event, ReadingDecoded) and (twin := twin_id(i.event)) is not None
    }
    if not twins:
        return items
    seen: set[uuid.UUID] = set()
    kept = []
    for i in items:  # in log order: the first of two twins in the batch is kept
        if isinstance(i.event, ReadingDecoded):
            if twins.get(i.event.reading_id) in seen:
                continue
            seen.add(i.event.reading_id)
        kept.append(i)
    # Those of this batch are claimed by now: their twins in it were dealt with above.
    in_batch = {i.event.reading_id for i in items if isinstance(i.event, ReadingDecoded)}
    decided_before = await store.decided(
        twin for reading_id, twin in twins.items() if reading_id in seen and twin not in in_batch
    )
    return [
        i
        for i in kept
        if not isinstance(i.event, ReadingDecoded)
        or twins.get(i.event.reading_id) not in decided_before
    ]


async def _decide(
    store: NotificationStore, items: list[Incoming[Any]], notifications_topic: str
) -> list[Outgoing]:
    """The rule over ``items`` in time order. The notifications raised go in by one insert
    for the run of readings before each read event (nearly always the whole batch: reads are
    people's clicks), not one per reading: a burst of faults (a fleet reconnecting, the
    first readings of a new fleet) raised one round trip per faulty reading. A read event
    waits for the inserts before it, so it finds a notification raised earlier in the batch
    (a replay), as it did reading by reading."""
    items = sorted(items, key=lambda i: i.event.occurred_at)
    readings = [i.event for i in items if isinstance(i.event, ReadingDecoded)]
    battery_ids = {
        i.event.battery_id if isinstance(i.event, NotificationRead) else i.event.reading.battery_id
        for i in items
    }
    outgoing: list[Outgoing] = []
    pending: list[tuple[Incoming[Any], Decision, list[NotificationRaised]]] = []
    states = await store.open_alerts(battery_ids)
    notified = await store.already_notified(r.reading_id for r in readings)
    for item in items:
        event = item.event
        if isinstance(event, NotificationRead):
            outgoing.extend(await _raise(store, pending, notifications_topic))
            states[event.battery_id] = apply_read(states[event.battery_id], event)
            await store.mark_read(event.notification_id, event.occurred_at)
            continue
        battery_id = event.reading.battery_id
        earlier = notified.get(event.reading_id, {})
        states[battery_id], decision = apply_reading(states[battery_id], event, frozenset(earlier))
        pending.append((item, decision, [earlier[code] for code in decision.already_notified]))
    outgoing.extend(await _raise(store, pending, notifications_topic))
    return outgoing


async def _raise(
    store: NotificationStore,
    pending: list[tuple[Incoming[Any], Decision, list[NotificationRaised]]],
    notifications_topic: str,
) -> list[Outgoing]:
    """Store the notifications ``pending`` decisions raised, in one insert, and return what
    to publish for each reading in turn: those it stored, then those raised before (a
    redelivery). Empties ``pending``."""
    stored = {
        n.notification_id
        for n in await store.add(n for _, decision, _ in pending for n in decision.raised)
    }
    outgoing: list[Outgoing] = []
    for item, decision, republished in pending:
        # Each id is published once, by the reading that raised it first.
        raised = [n for n in decision.raised if n.notification_id in stored]
        stored.difference_update(n.notification_id for n in raised)
        metrics.SUPPRESSED.inc(len(decision.suppressed))
        metrics.REPUBLISHED.inc(len(republished))
        for n in raised:
            metrics.RAISED.labels(n.severity).inc()
        outgoing.extend(_out(n, notifications_topic, item) for n in [*raised, *republished])
    pending.clear()
    return outgoing


async def _raised_by(
    store: NotificationStore, items: list[Incoming[Any]]
) -> list[tuple[Incoming[Any], NotificationRaised]]:
    readings = [i for i in items if isinstance(i.event, ReadingDecoded)]
    if not readings:
        return []
    notified = await store.already_notified(i.event.reading_id for i in readings)
    return [(i, n) for i in readings for n in notified.get(i.event.reading_id, {}).values()]


def _relevant(batch: list[Incoming[Any]]) -> list[Incoming[Any]]:
    """The read events and the readings with faults: all the rule looks at. A decoded
    record stands for its faulty readings (``Faults``), each at the record's place in the
    log."""
    relevant = []
    for i in batch:
        event = i.event
        if isinstance(event, NotificationRead):
            relevant.append(i)
        elif isinstance(event, Faults):
            relevant.extend(replace(i, event=r) for r in event.readings)
    return relevant


def _out(event: NotificationRaised, topic: str, item: Incoming[Any]) -> Outgoing:
    return Outgoing(topic, battery_key(event.battery_id), event, item.correlation_id)
