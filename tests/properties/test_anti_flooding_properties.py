"""The anti-flooding rule holds whatever the interleaving of readings, read events and
redeliveries for one battery: never two unread notifications for one code, and a code
notifies again exactly when its previous notification was read."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    NotificationRaised,
    NotificationRead,
    ReadingDecoded,
    ReadingFields,
)
from notifier.domain.alerts import OpenAlerts, apply_read, apply_reading

BATTERY = 42
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CODES = "TGLx"  # three known codes and an unknown one


def decoded(err: str) -> ReadingDecoded:
    fields = ReadingFields(
        battery_id=BATTERY,
        hub_id=1,
        battery_name="BAT042",
        measured_at=AT,
        time_source="rtc",
        received_at=AT,
        metrics={},
        err=err,
    )
    return ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        reading_id=uuid.uuid4(),
        reading=fields,
        errors=decode_error_string(err),
    )


def read_event(notification: NotificationRaised) -> NotificationRead:
    return NotificationRead(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        notification_id=notification.notification_id,
        battery_id=BATTERY,
        hub_id=1,
        code=notification.code,
        read_by="someone",
    )


@dataclass
class World:
    """What really happened: every notification raised and which of them were read."""

    state: OpenAlerts = field(default_factory=lambda: OpenAlerts(BATTERY))
    raised: list[NotificationRaised] = field(default_factory=list)
    read: set[int] = field(default_factory=set)
    readings: list[tuple[ReadingDecoded, set[str]]] = field(default_factory=list)

    def unread(self) -> list[NotificationRaised]:
        return [n for n in self.raised if n.notification_id not in self.read]

    def receive(self, reading: ReadingDecoded, notified_before: set[str]) -> set[str]:
        open_codes = {n.code for n in self.unread()}
        self.state, decision = apply_reading(self.state, reading, frozenset(notified_before))
        raised = {n.code for n in decision.raised}
        carried = {e.code for e in reading.errors}
        assert raised == carried - notified_before - open_codes
        assert len(decision.raised) == len(raised)
        self.raised.extend(decision.raised)
        return raised

    def check(self) -> None:
        unread = self.unread()
        assert max(Counter(n.code for n in unread).values(), default=0) <= 1
        assert dict(self.state.unread) == {n.code: n.notification_id for n in unread}


steps = st.lists(
    st.one_of(
        st.tuples(st.just("reading"), st.text(alphabet=CODES, max_size=4)),
        st.tuples(st.just("read"), st.integers(min_value=0)),
        st.tuples(st.just("redeliver"), st.integers(min_value=0)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_no_interleaving_leaves_two_unread_notifications_for_one_code(
    events: list[tuple[str, object]],
) -> None:
    world = World()
    for kind, arg in events:
        if kind == "reading":
            assert isinstance(arg, str)
            reading = decoded(arg)
            world.readings.append((reading, world.receive(reading, set())))
        elif kind == "read" and world.raised:
            assert isinstance(arg, int)
            # Any notification ever raised, so stale and repeated reads are covered too.
            notification = world.raised[arg % len(world.raised)]
            world.state = apply_read(world.state, read_event(notification))
            world.read.add(notification.notification_id)
        elif kind == "redeliver" and world.readings:
            assert isinstance(arg, int)
            reading, notified = world.readings[arg % len(world.readings)]
            notified |= world.receive(reading, set(notified))
        world.check()


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=CODES, min_size=1, max_size=4), st.integers(min_value=1, max_value=5))
def test_a_code_notifies_again_only_after_its_notification_was_read(err: str, repeats: int) -> None:
    world = World()
    first = world.receive(decoded(err), set())
    for _ in range(repeats):
        assert world.receive(decoded(err), set()) == set()
    for notification in list(world.raised):
        world.state = apply_read(world.state, read_event(notification))
        world.read.add(notification.notification_id)
    assert world.receive(decoded(err), set()) == first
    world.check()
