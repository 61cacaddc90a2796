from datetime import UTC, datetime

from batteryhub_contracts.events import BatteryRecord
from batteryhub_contracts.payload import parse_reading
from webhook_gateway.domain.ingest import reading_event, success_body

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
