import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from batteryhub_contracts.events import (
    READING_RECEIVED,
    BatteryRecord,
    ReadingFields,
    ReadingReceived,
    ReadingsReceived,
)
from batteryhub_contracts.payload import METRIC_FIELDS, ParsedReading, parse_reading
from webhook_gateway.domain.ingest import accept_reading, batch_records, success_body

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
BATTERY = BatteryRecord(
    battery_id=1, hub_id=2, name="BAT001", secret_hash="h", revision=1, registered_at=NOW
)


def test_a_reading_with_a_valid_device_clock_has_a_stable_id():
    payload = {"id": 1, "d": "2025-12-11", "tm": "14:15:00", "err": "TG"}
    first = accept_reading(parse_reading(payload, NOW), BATTERY, NOW, "direct")
    again = accept_reading(parse_reading(payload, NOW), BATTERY, NOW, "direct")
    assert first.reading_id == again.reading_id
    assert first.encode() == again.encode()


def test_a_reading_timed_by_the_server_gets_a_fresh_id():
    payload = {"id": 1, "err": "R"}
    first = accept_reading(parse_reading(payload, NOW), BATTERY, NOW, "direct")
    again = accept_reading(parse_reading(payload, NOW), BATTERY, NOW, "direct")
    assert first.reading_id != again.reading_id


def test_the_answer_keeps_the_old_shape():
    parsed = parse_reading({"id": "1", "soc": "85", "x": 1}, NOW)
    body = success_body(accept_reading(parsed, BATTERY, NOW, "direct"), parsed)
    assert body["status"] == "success"
    assert (body["battery_id"], body["timestamp"], body["fields_processed"]) == (
        1,
        "2026-01-01T12:00:00",
        1,
    )
    assert isinstance(body["data_id"], int)
    assert body["unknown_fields"] == ["x"]


def _expected(parsed: ParsedReading, reading_id: str) -> ReadingReceived:
    """The event as the contract's model builds it, field by field, from the parsed reading."""
    return ReadingReceived(
        event_id=uuid.UUID(reading_id),
        occurred_at=NOW,
        reading=ReadingFields(
            battery_id=BATTERY.battery_id,
            hub_id=BATTERY.hub_id,
            battery_name=BATTERY.name,
            measured_at=parsed.measured_at,
            time_source=parsed.time_source,
            received_at=NOW,
            device_time=parsed.device_time,
            clock_skewed=parsed.clock_skewed,
            metrics=parsed.metrics,
            err=parsed.err,
            source="direct",
        ),
    )


metric_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.sampled_from(["12.5", " 7 ", "", None, True]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted(METRIC_FIELDS)), metric_values, max_size=10),
    st.sampled_from(["", "TG", " RC ", None]),
    st.sampled_from(
        [{}, {"d": "2025-12-11", "tm": "14:15:00"}, {"gd": "2027-01-01", "gt": "00:00:00"}]
    ),
)
def test_the_encoded_reading_is_the_contract_event_the_consumers_decode(
    metrics: dict[str, object], err: str | None, clock: dict[str, str]
) -> None:
    payload = {"id": 1, **metrics, **clock, "err": err}
    parsed = parse_reading(payload, NOW)
    reading = accept_reading(parsed, BATTERY, NOW, "direct")
    decoded = READING_RECEIVED.decode(reading.encode())
    expected = _expected(parsed, reading.reading_id)
    assert decoded == expected
    # int stays int and float stays float on the wire (a consumer's sums depend on it)
    assert {k: type(v) for k, v in decoded.reading.metrics.items()} == {
        k: type(v) for k, v in expected.reading.metrics.items()
    }


def test_a_batch_travels_as_records_per_battery_of_at_most_200_readings():
    other = BATTERY.model_copy(update={"battery_id": 7})
    readings = [
        accept_reading(
            parse_reading(
                {"id": b.battery_id, "d": "2025-12-11", "tm": f"14:{n // 60:02d}:{n % 60:02d}"}, NOW
            ),
            b,
            NOW,
            "batch",
        )
        for n in range(450)
        for b in (BATTERY, other)
    ]
    records = batch_records(readings, NOW)
    decoded = [READING_RECEIVED.decode(r.value) for r in records]
    assert all(isinstance(d, ReadingsReceived) for d in decoded)
    assert [(r.battery_id, len(d.readings)) for r, d in zip(records, decoded, strict=True)] == [
        (1, 200),
        (1, 200),
        (1, 50),
        (7, 200),
        (7, 200),
        (7, 50),
    ]
    assert [str(d.event_id) for d in decoded] == [r.event_id for r in records]
    assert [str(e.event_id) for d in decoded for e in d.readings if e.reading.battery_id == 1] == [
        r.reading_id for r in readings if r.battery_id == 1
    ]
    assert all(e.reading.source == "batch" for d in decoded for e in d.readings)
    # an identical retry is an identical record
    assert [r.value for r in batch_records(readings, NOW)] == [r.value for r in records]
