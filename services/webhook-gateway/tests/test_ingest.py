from datetime import UTC, datetime

from batteryhub_contracts.events import READING_RECEIVED, BatteryRecord, encode
from batteryhub_contracts.payload import parse_reading
from webhook_gateway.domain.ingest import batch_records, reading_event, success_body

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
BATTERY = BatteryRecord(
    battery_id=1, hub_id=2, name="BAT001", secret_hash="h", revision=1, registered_at=NOW
)


def test_a_reading_with_a_valid_device_clock_has_a_stable_id():
    payload = {"id": 1, "d": "2025-12-11", "tm": "14:15:00", "err": "TG"}
    first = reading_event(parse_reading(payload, NOW), BATTERY, NOW, "direct")
    again = reading_event(parse_reading(payload, NOW), BATTERY, NOW, "direct")
    assert first.event_id == again.event_id


def test_a_reading_timed_by_the_server_gets_a_fresh_id():
    payload = {"id": 1, "err": "R"}
    first = reading_event(parse_reading(payload, NOW), BATTERY, NOW, "direct")
    again = reading_event(parse_reading(payload, NOW), BATTERY, NOW, "direct")
    assert first.event_id != again.event_id


def test_the_answer_keeps_the_old_shape():
    parsed = parse_reading({"id": "1", "soc": "85", "x": 1}, NOW)
    body = success_body(reading_event(parsed, BATTERY, NOW, "direct"), parsed)
    assert body["status"] == "success"
    assert (body["battery_id"], body["timestamp"], body["fields_processed"]) == (
        1,
        "2026-01-01T12:00:00",
        1,
    )
    assert isinstance(body["data_id"], int)
    assert body["unknown_fields"] == ["x"]


def test_a_batch_travels_as_records_per_battery_of_at_most_200_readings():
    other = BATTERY.model_copy(update={"battery_id": 7})
    readings = [
        reading_event(
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
    assert [(r.readings[0].reading.battery_id, len(r.readings)) for r in records] == [
        (1, 200),
        (1, 200),
        (1, 50),
        (7, 200),
        (7, 200),
        (7, 50),
    ]
    assert [e for r in records for e in r.readings if e.reading.battery_id == 1] == [
        e for e in readings if e.reading.battery_id == 1
    ]
    decoded = READING_RECEIVED.decode(encode(records[0]))
    assert decoded == records[0]
    assert [r.event_id for r in batch_records(readings, NOW)] == [r.event_id for r in records]
