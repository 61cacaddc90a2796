import uuid
from datetime import UTC, datetime

import pytest

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    READING_DECODED,
    REGISTRY_EVENT,
    BatteryRecord,
    BatteryRevoked,
    EventDecodeError,
    ReadingDecoded,
    ReadingFields,
    encode,
)
from batteryhub_contracts.ids import notification_id_for, public_id, reading_id_for

AT = datetime(2025, 12, 11, 14, 15, tzinfo=UTC)


def test_same_battery_and_device_time_is_the_same_reading():
    assert reading_id_for(1, AT) == reading_id_for(1, AT)
    assert reading_id_for(1, AT) != reading_id_for(2, AT)


def test_public_ids_fit_a_javascript_number_and_are_stable():
    ids = {public_id("x", n) for n in range(10_000)}
    assert len(ids) == 10_000
    assert all(0 < i < 2**53 for i in ids)
    assert notification_id_for(uuid.UUID(int=1), "T") == notification_id_for(uuid.UUID(int=1), "T")


def test_events_round_trip_through_their_codec():
    event = ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        reading_id=uuid.uuid4(),
        reading=ReadingFields(
            battery_id=1,
            hub_id=1,
            battery_name="BAT001",
            measured_at=AT,
            time_source="rtc",
            received_at=AT,
            metrics={"soc": 85.5},
            err="TG",
        ),
        errors=decode_error_string("TG"),
    )
    assert READING_DECODED.decode(encode(event)) == event


def test_registry_topic_codec_tells_the_event_kinds_apart():
    record = BatteryRecord(
        battery_id=1,
        hub_id=1,
        name="BAT001",
        secret_hash="h",
        revision=2,
        revoked=True,
        registered_at=AT,
    )
    event = BatteryRevoked(event_id=uuid.uuid4(), occurred_at=AT, battery=record)
    assert isinstance(REGISTRY_EVENT.decode(encode(event)), BatteryRevoked)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"type": "reading_decoded"}'])
def test_bytes_that_are_not_an_event_raise_a_decode_error(raw):
    with pytest.raises(EventDecodeError):
        READING_DECODED.decode(raw)


def test_events_are_immutable():
    record = BatteryRecord(
        battery_id=1, hub_id=1, name="B", secret_hash="h", revision=1, registered_at=AT
    )
    with pytest.raises(ValueError):
        record.hub_id = 2  # type: ignore[misc]
