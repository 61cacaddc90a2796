"""From an accepted payload to the ``ReadingReceived`` event and the answer the firmware
expects. Pure: the clock and the registry record come in as arguments."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from batteryhub_contracts.events import (
    MAX_READINGS_PER_RECORD,
    BatteryRecord,
    ReadingFields,
    ReadingReceived,
    ReadingSource,
    ReadingsReceived,
)
from batteryhub_contracts.ids import derived_id, reading_id_for, reading_public_id
from batteryhub_contracts.payload import ParsedReading


def reading_event(
    parsed: ParsedReading,
    battery: BatteryRecord,
    received_at: datetime,
    source: ReadingSource,
) -> ReadingReceived:
    """A reading whose device clock was valid gets an id derived from battery and device
    time, so the same reading sent twice (a retry after a lost answer) is one reading."""
    if parsed.device_time is None:
        reading_id = uuid.uuid4()
    else:
        reading_id = reading_id_for(battery.battery_id, parsed.device_time)
    # model_construct: every field was validated by the parser and the registry already, and
    # this runs once per reading on the ingest hot path (a third of its cost with validation).
    return ReadingReceived.model_construct(
        event_id=reading_id,
        occurred_at=received_at,
        reading=ReadingFields.model_construct(
            battery_id=battery.battery_id,
            hub_id=battery.hub_id,
            battery_name=battery.name,
            measured_at=parsed.measured_at,
            time_source=parsed.time_source,
            received_at=received_at,
            device_time=parsed.device_time,
            clock_skewed=parsed.clock_skewed,
            metrics=parsed.metrics,
            err=parsed.err,
            source=source,
        ),
    )


def batch_records(
    readings: Iterable[ReadingReceived], received_at: datetime
) -> list[ReadingsReceived]:
    """Readings of a batch upload as Kafka records: per battery (the record's key), in upload
    order, at most ``MAX_READINGS_PER_RECORD`` each."""
    per_battery: dict[int, list[ReadingReceived]] = {}
    for r in readings:
        per_battery.setdefault(r.reading.battery_id, []).append(r)
    records = []
    for chunk_source in per_battery.values():
        for start in range(0, len(chunk_source), MAX_READINGS_PER_RECORD):
            chunk = tuple(chunk_source[start : start + MAX_READINGS_PER_RECORD])
            records.append(
                ReadingsReceived.model_construct(
                    event_id=derived_id(
                        chunk[0].event_id, f"batch:{len(chunk)}:{chunk[-1].event_id}"
                    ),
                    occurred_at=received_at,
                    readings=chunk,
                )
            )
    return records


def naive_utc(moment: datetime) -> str:
    """Times on the old wire are ISO-8601 without an offset, in UTC."""
    return moment.replace(tzinfo=None).isoformat()


def success_body(event: ReadingReceived, parsed: ParsedReading) -> dict[str, Any]:
    """The old system's answer, plus what was skipped or unknown so firmware authors see it."""
    body: dict[str, Any] = {
        "status": "success",
        "data_id": reading_public_id(event.event_id),
        "battery_id": event.reading.battery_id,
        "timestamp": naive_utc(event.reading.measured_at),
        "fields_processed": parsed.fields_processed,
    }
    if parsed.skipped:
        body["skipped_fields"] = parsed.skipped
    if parsed.clock_skewed:
        body["clock_skewed"] = True
    if parsed.unknown_keys:
        body["unknown_fields"] = list(parsed.unknown_keys)
        body["unknown_fields_count"] = parsed.unknown_count
    return body
