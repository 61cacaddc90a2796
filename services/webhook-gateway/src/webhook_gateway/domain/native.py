"""The compiled batch path: ``ingest_batch`` for the common upload, in one call into Rust.

A battery's firmware uploads its buffered readings as one JSON array, nearly always in the
same shape: its own id, known keys, metrics as numbers or numbers as text, an RTC time. For
such an upload the Python path spends ~20 µs a reading between C calls (decoding, ids, the
record's and the answer's JSON). ``batteryhub_native`` (``libs/native``, Rust through PyO3)
does the same work in one pass and gives the same records and answer; for any other upload
it answers ``None`` and ``ingest_batch`` decides, so every rejection, skipped field, unknown
key and GPS time is still the Python path's. Every constant it uses is handed over from
here, from the contract's own definitions. ``tests/test_native_batch.py`` holds the two
paths to the same records and answers on generated uploads (docs/decisions.md, "The batch
path in Rust").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from batteryhub_contracts.error_codes import MAX_ERR_LENGTH
from batteryhub_contracts.events import CURRENT_VERSION, MAX_READINGS_PER_RECORD, BatteryRecord
from batteryhub_contracts.ids import NAMESPACE, PUBLIC_ID_BITS
from batteryhub_contracts.isotime import isoformat, naive_utc
from batteryhub_contracts.payload import (
    EARLIEST_VALID_YEAR,
    MAX_BATTERY_ID,
    MAX_FUTURE_SKEW,
    METRIC_FIELDS,
)
from batteryhub_native import BatchCodec
from webhook_gateway.domain.ingest import (
    BATCH_SOURCE,
    MAX_BATCH,
    READING_RECEIVED_TYPE,
    READINGS_RECEIVED_TYPE,
    BatchOutcome,
    BatchRecord,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CODEC = BatchCodec(
    metrics=[
        (key, spec.kind.value, spec.fast_low, spec.fast_high, spec.low, spec.high)
        for key, spec in METRIC_FIELDS.items()
    ],
    namespace=NAMESPACE.bytes,
    contract={
        "reading_type": READING_RECEIVED_TYPE,
        "readings_type": READINGS_RECEIVED_TYPE,
        "schema_version": CURRENT_VERSION,
        "source": BATCH_SOURCE,
        "max_items": MAX_BATCH,
        "max_per_record": MAX_READINGS_PER_RECORD,
        "max_err_length": MAX_ERR_LENGTH,
        "earliest_year": EARLIEST_VALID_YEAR,
        "max_future_skew_us": MAX_FUTURE_SKEW // _MICROSECOND,
        "max_battery_id": MAX_BATTERY_ID,
        "public_id_bits": PUBLIC_ID_BITS,
    },
)


def native_batch(body: bytes, battery: BatteryRecord, received_at: datetime) -> BatchOutcome | None:
    """``ingest_batch(body, …, received_at)`` for an upload of ``battery``'s own readings
    that is stored as it stands, or None: then ``ingest_batch`` must judge it."""
    assert received_at.tzinfo is UTC
    battery_fields = orjson.dumps(
        {"battery_id": battery.battery_id, "hub_id": battery.hub_id, "battery_name": battery.name}
    )[1:-1].decode()
    done = _CODEC.accept(
        body,
        battery.battery_id,
        battery_fields,
        (received_at - _EPOCH) // _MICROSECOND,
        isoformat(received_at),
        naive_utc(received_at),
    )
    if done is None:
        return None
    records, answer, accepted = done
    battery_id = battery.battery_id
    return BatchOutcome(
        [BatchRecord(battery_id, event_id, value) for event_id, value in records],
        answer,
        accepted,
        0,
    )
