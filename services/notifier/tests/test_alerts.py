"""The anti-flooding rule, as the accepted behaviour of the old system states it."""

import uuid
from datetime import UTC, datetime

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import NotificationRead, ReadingDecoded, ReadingFields
from notifier.domain.alerts import OpenAlerts, apply_read, apply_reading

AT = datetime(2025, 12, 11, 14, 15, tzinfo=UTC)


def reading(err: str, battery_id: int = 1, name: str = "BAT001") -> ReadingDecoded:
    rid = uuid.uuid4()
    return ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        reading_id=rid,
        reading=ReadingFields(
            battery_id=battery_id,
            hub_id=7,
            battery_name=name,
            measured_at=AT,
            time_source="rtc",
            received_at=AT,
            metrics={},
            err=err,
        ),
        errors=decode_error_string(err),
    )


def read(state: OpenAlerts, code: str) -> OpenAlerts:
    return apply_read(
        state,
        NotificationRead(
            event_id=uuid.uuid4(),
            occurred_at=AT,
            notification_id=state.unread[code],
            battery_id=state.battery_id,
            hub_id=7,
            code=code,
            read_by="alice",
        ),
    )


def test_TG_raises_one_notification_per_code():
    _, decision = apply_reading(OpenAlerts(1), reading("TG"))
    assert [n.code for n in decision.raised] == ["T", "G"]


def test_second_TG_while_unread_creates_nothing():
    state, _ = apply_reading(OpenAlerts(1), reading("TG"))
    _, decision = apply_reading(state, reading("TG"))
    assert decision.raised == ()
    assert decision.suppressed == ("T", "G")


def test_after_reading_both_the_next_TG_notifies_again():
    state, first = apply_reading(OpenAlerts(1), reading("TG"))
    state, second = apply_reading(state, reading("TG"))
    state = read(read(state, "T"), "G")
    _, third = apply_reading(state, reading("TG"))
    assert len(first.raised) + len(second.raised) + len(third.raised) == 4


def test_reading_one_code_reopens_only_that_code():
    state, _ = apply_reading(OpenAlerts(1), reading("TG"))
    state = read(state, "T")
    _, decision = apply_reading(state, reading("TG"))
    assert [n.code for n in decision.raised] == ["T"]
    assert decision.suppressed == ("G",)


def test_a_reading_without_errors_notifies_nobody():
    _, decision = apply_reading(OpenAlerts(1), reading(""))
    assert decision == type(decision)()


def test_a_redelivered_reading_is_not_notified_twice():
    first_reading = reading("L")
    state, first = apply_reading(OpenAlerts(1), first_reading)
    _, again = apply_reading(state, first_reading, already_notified=frozenset({"L"}))
    assert again.raised == ()
    assert again.already_notified == ("L",)
    assert len(first.raised) == 1


def test_notification_carries_title_type_severity_and_link():
    (n,) = apply_reading(OpenAlerts(1), reading("T"))[1].raised
    assert n.title == "Battery BAT001: Temperature sensor error"
    assert n.notification_type == "battery_error_T"
    assert (n.severity, n.link_type, n.link_id, n.hub_id) == ("warning", "battery", 1, 7)


def test_unnamed_battery_is_called_by_its_number():
    (n,) = apply_reading(OpenAlerts(1), reading("L", name=""))[1].raised
    assert n.title == "Battery #1: LTE connection error"


def test_unknown_codes_are_notified_with_their_description():
    decision = apply_reading(OpenAlerts(1), reading("TXYZ"))[1]
    assert [n.title for n in decision.raised][1:] == [
        "Battery BAT001: Unknown error code: X",
        "Battery BAT001: Unknown error code: Y",
        "Battery BAT001: Unknown error code: Z",
    ]


def test_replaying_the_same_reading_raises_identical_events():
    r = reading("CBL")
    assert apply_reading(OpenAlerts(1), r)[1] == apply_reading(OpenAlerts(1), r)[1]


def test_a_stale_read_event_does_not_close_a_newer_alert():
    state, _ = apply_reading(OpenAlerts(1), reading("T"))
    stale = NotificationRead(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        notification_id=12345,
        battery_id=1,
        hub_id=7,
        code="T",
        read_by="bob",
    )
    assert apply_read(state, stale) == state
