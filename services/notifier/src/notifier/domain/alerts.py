"""The anti-flooding rule (WIRE-FACTS §7) as pure functions over (state, event).

- At most one unread notification per (battery, code).
- A code arriving again while its notification is unread creates nothing.
- Once read, the next reading that still carries the code notifies again.

The state is the set of open (unread) alerts of one battery. Redelivery is handled by the
caller telling which codes of this very reading were already notified: those are not new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from batteryhub_contracts.error_codes import DecodedError
from batteryhub_contracts.events import NotificationRaised, NotificationRead, ReadingDecoded
from batteryhub_contracts.ids import derived_id, notification_id_for


@dataclass(frozen=True)
class OpenAlerts:
    """Unread notifications of one battery: code -> notification id."""

    battery_id: int
    unread: Mapping[str, int] = field(default_factory=dict)

    def with_raised(self, raised: Iterable[NotificationRaised]) -> OpenAlerts:
        unread = dict(self.unread)
        unread.update({n.code: n.notification_id for n in raised})
        return OpenAlerts(self.battery_id, unread)


@dataclass(frozen=True)
class Decision:
    raised: tuple[NotificationRaised, ...] = ()
    suppressed: tuple[str, ...] = ()
    already_notified: tuple[str, ...] = ()


def battery_label(reading: ReadingDecoded) -> str:
    name = reading.reading.battery_name.strip()
    return name if name else f"#{reading.reading.battery_id}"


def notification_for(reading: ReadingDecoded, error: DecodedError) -> NotificationRaised:
    fields = reading.reading
    label = battery_label(reading)
    notification_id = notification_id_for(reading.reading_id, error.code)
    return NotificationRaised(
        event_id=derived_id(reading.reading_id, f"notification:{error.code}"),
        # Times come from the reading, not the clock: a replay raises identical events.
        occurred_at=fields.received_at,
        notification_id=notification_id,
        battery_id=fields.battery_id,
        hub_id=fields.hub_id,
        reading_id=reading.reading_id,
        code=error.code,
        notification_type=f"battery_error_{error.code}",
        title=f"Battery {label}: {error.description}",
        message=(
            f"Battery {label} reported: {error.description} (code {error.code}, "
            f"{error.severity}) at {fields.measured_at:%Y-%m-%d %H:%M:%S} UTC."
        ),
        severity=error.severity,
        link_id=fields.battery_id,
        created_at=fields.received_at,
    )


def apply_reading(
    state: OpenAlerts, reading: ReadingDecoded, already_notified: frozenset[str] = frozenset()
) -> tuple[OpenAlerts, Decision]:
    """Decide which codes of ``reading`` raise a notification."""
    raised: list[NotificationRaised] = []
    suppressed: list[str] = []
    repeated: list[str] = []
    for error in reading.errors:
        if error.code in already_notified:
            repeated.append(error.code)
        elif error.code in state.unread:
            suppressed.append(error.code)
        else:
            raised.append(notification_for(reading, error))
    decision = Decision(tuple(raised), tuple(suppressed), tuple(repeated))
    return state.with_raised(raised), decision


def apply_read(state: OpenAlerts, event: NotificationRead) -> OpenAlerts:
    """A read notification closes its alert, so the code may notify again."""
    if state.unread.get(event.code) != event.notification_id:
        return state
    return OpenAlerts(state.battery_id, {c: n for c, n in state.unread.items() if c != event.code})
