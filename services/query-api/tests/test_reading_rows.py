"""The projector's reading rows carry each value in its column (they go to COPY by
position)."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    EventDecodeError,
    ReadingDecoded,
    ReadingFields,
    ReadingsDecoded,
    each_reading,
    encode,
)
from batteryhub_contracts.fast import READING_DECODED_KEYED
from batteryhub_contracts.ids import reading_public_id
from query_api.adapters.projection import READING_COLUMNS, reading_rows
from query_api.projector import READINGS_AS_ROWS

AT = datetime(2026, 1, 1, tzinfo=UTC)


def reading(err: str) -> ReadingDecoded:
    metrics = {"soc": 81.5, "v": 12.9, "i": -1.25, "t": 24.5, "p": -16.1, "lat": 51.5, "lon": -0.1}
    return ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        reading_id=uuid.uuid4(),
        reading=ReadingFields(
            battery_id=7,
            hub_id=3,
            battery_name="B7",
            measured_at=AT - timedelta(minutes=1),
            time_source="gps",
            received_at=AT,
            device_time=AT - timedelta(minutes=1),
            clock_skewed=False,
            metrics={**metrics, "nc": 4},
            err=err,
        ),
        errors=decode_error_string(err),
    )


def test_every_value_is_in_its_column():
    events = [reading("TG"), reading("")]
    for event, row in zip(events, reading_rows(events), strict=True):
        assert len(row) == len(READING_COLUMNS)
        by_column = dict(zip(READING_COLUMNS, row, strict=True))
        r = event.reading
        assert by_column == {
            "reading_id": str(event.reading_id),
            "public_id": reading_public_id(event.reading_id),
            "battery_id": 7,
            "hub_id": 3,
            "measured_at": r.measured_at,
            "received_at": r.received_at,
            "time_source": "gps",
            "device_time": r.device_time,
            "clock_skewed": False,
            "err": r.err,
            "has_errors": bool(event.errors),
            "decoded_errors": by_column["decoded_errors"],
            "soc": 81.5,
            "voltage": 12.9,
            "current": -1.25,
            "temperature": 24.5,
            "power": -16.1,
            "latitude": 51.5,
            "longitude": -0.1,
            "metrics": by_column["metrics"],
        }
        assert json.loads(by_column["metrics"]) == r.metrics
        assert json.loads(by_column["decoded_errors"]) == [
            e.model_dump(mode="json", include={"code", "name", "description", "severity"})
            for e in event.errors
        ]
    assert json.loads(reading_rows(events)[1][READING_COLUMNS.index("decoded_errors")]) == []


def test_the_consumers_codec_gives_the_same_rows_as_the_model():
    """The projector's codec decodes a record of the gateway's metrics into structs of their
    keys, one with any other key into maps: the rows are the model's either way."""
    known = [reading("TG"), reading("")]
    other = reading("").model_copy(
        update={"reading": known[1].reading.model_copy(update={"metrics": {"x": 1, "soc": 2}})}
    )
    for readings, keyed in ((known, True), ([*known, other], False)):
        record = ReadingsDecoded(event_id=uuid.uuid4(), occurred_at=AT, readings=tuple(readings))
        decoded = each_reading(READING_DECODED_KEYED.decode(encode(record)))
        assert all((type(r.reading.metrics) is not dict) is keyed for r in decoded)
        assert [*map(normal, reading_rows(decoded))] == [*map(normal, reading_rows(readings))]


def test_the_projector_reads_each_record_as_its_rows():
    """The projector's consumer reduces each decoded-readings record to its rows as it reads
    it (a single reading's record, or a batch upload's); bytes that are no such event are
    refused as the codec refuses them, to the dead letters."""
    single, batch = reading("TG"), [reading(""), reading("TG")]
    record = ReadingsDecoded(event_id=uuid.uuid4(), occurred_at=AT, readings=tuple(batch))
    for event, readings in ((single, [single]), (record, batch)):
        rows = READINGS_AS_ROWS.decode(encode(event)).rows
        assert [*map(normal, rows)] == [*map(normal, reading_rows(readings))]
    with pytest.raises(EventDecodeError):
        READINGS_AS_ROWS.decode(b'{"type": "readings_decoded", "readings": []}')


def normal(row: tuple[object, ...]) -> tuple[object, ...]:
    """A row with its JSON columns parsed (the two writers may space them differently)."""
    return tuple(
        json.loads(v) if c in ("metrics", "decoded_errors") else v
        for c, v in zip(READING_COLUMNS, row, strict=True)
    )
