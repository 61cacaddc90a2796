import uuid
from datetime import UTC, datetime

import pytest

from batteryhub_contracts.events import ReadingFields, ReadingReceived
from error_decoder.domain.decode import decode_reading

AT = datetime(2025, 12, 11, 14, 15, tzinfo=UTC)


def raw(err: str | None) -> ReadingReceived:
    return ReadingReceived(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        reading=ReadingFields(
            battery_id=1,
            hub_id=1,
            battery_name="BAT001",
            measured_at=AT,
            time_source="rtc",
            received_at=AT,
            metrics={"soc": 80.0},
            err=err,
        ),
    )


@pytest.mark.parametrize(
    ("err", "codes"),
    [("TG", "TG"), ("L", "L"), ("CBL", "CBL"), ("X", "X"), ("TXYZ", "TXYZ"), ("", ""), (None, "")],
)
def test_every_reading_is_decoded_with_its_codes_in_order(err, codes):
    decoded = decode_reading(raw(err))
    assert "".join(e.code for e in decoded.errors) == codes


def test_decoded_reading_keeps_the_reading_and_points_at_it():
    reading = raw("TG")
    decoded = decode_reading(reading)
    assert decoded.reading == reading.reading
    assert decoded.reading_id == reading.event_id


def test_decoding_twice_gives_the_same_event():
    reading = raw("T")
    assert decode_reading(reading) == decode_reading(reading)
