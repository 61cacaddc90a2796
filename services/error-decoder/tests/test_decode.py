import uuid
from datetime import UTC, datetime

import pytest

from batteryhub_contracts.events import (
    READING_DECODED,
    ReadingFields,
    ReadingReceived,
    ReadingsReceived,
    encode,
)
from error_decoder.domain.decode import decode_batch, decode_reading

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


def test_a_batch_record_decodes_to_one_record_in_the_same_order():
    readings = (raw("TG"), raw(None), raw("Z"))
    batch = ReadingsReceived(event_id=uuid.uuid4(), occurred_at=AT, readings=readings)
    decoded = decode_batch(batch)
    assert [d.reading_id for d in decoded.readings] == [r.event_id for r in readings]
    assert [[e.code for e in d.errors] for d in decoded.readings] == [["T", "G"], [], ["Z"]]
    assert decoded.event_id == decode_batch(batch).event_id != batch.event_id
    assert READING_DECODED.decode(encode(decoded)) == decoded
