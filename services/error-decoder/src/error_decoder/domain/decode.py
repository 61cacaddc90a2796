"""Decoding raw readings' fault codes. Pure.

The decoder runs once per reading at tens of thousands of readings a second, so it writes
the decoded records' JSON data directly instead of building ``ReadingDecoded`` models and
dumping them (which cost more than validating the raw record did): each decoded reading
carries its validated raw reading's fields on as they are, plus the decoded codes and the
ids derived from its own. The records are the models' wire form all the same; the consumers
decode them with the models, and the tests do too.

The raw events come from the contract's fast codec: each is the msgspec twin of its model,
or the model itself when the twin refused the bytes and the model accepted them (see
``batteryhub_contracts.fast``). Only the attributes both have are read here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    CURRENT_VERSION,
    ReadingDecoded,
    ReadingsDecoded,
    ReadingsReceived,
)
from batteryhub_contracts.ids import derived_id_text, uuid_texts

# The contract's own values, so the JSON written here cannot drift from the models.
READING_DECODED_TYPE: str = ReadingDecoded.model_fields["type"].default
READINGS_DECODED_TYPE: str = ReadingsDecoded.model_fields["type"].default
READINGS_RECEIVED_TYPE: str = ReadingsReceived.model_fields["type"].default

JsonData = dict[str, Any]


@lru_cache(maxsize=4096)
def decoded_errors(err: str | None) -> tuple[JsonData, ...]:
    """The ``errors`` of a reading with this ``err`` string, as JSON data. Few distinct
    strings occur (most readings have none), so they are decoded once each."""
    return tuple(e.model_dump(mode="json") for e in decode_error_string(err))


def decode_reading(raw: Any) -> JsonData:
    """A ``ReadingReceived``'s decoded twin (a ``ReadingDecoded``), with or without errors. Its id
    derives from the raw reading's, so decoding the same reading twice yields the same
    event."""
    return _decoded(raw, str(raw.event_id))


def _decoded(raw: Any, reading_id: str) -> JsonData:
    """``decode_reading`` given the text of the raw reading's id."""
    return {
        "event_id": derived_id_text(reading_id, "decoded"),
        "occurred_at": raw.occurred_at,
        "schema_version": CURRENT_VERSION,
        "type": READING_DECODED_TYPE,
        "reading_id": reading_id,
        "reading": raw.reading,  # the validated fields as they are
        "errors": decoded_errors(raw.reading.err),
    }


def decode_batch(raw: Any) -> JsonData:
    """A ``ReadingsReceived`` record's readings, decoded in order, as one ``ReadingsDecoded``
    record."""
    return {
        "event_id": derived_id_text(str(raw.event_id), "decoded"),
        "occurred_at": raw.occurred_at,
        "schema_version": CURRENT_VERSION,
        "type": READINGS_DECODED_TYPE,
        "readings": [
            _decoded(r, reading_id)
            for r, reading_id in zip(
                raw.readings, uuid_texts([r.event_id for r in raw.readings]), strict=True
            )
        ],
    }


def decode_event(raw: Any) -> tuple[int, JsonData]:
    """A raw reading event (a ``ReadingReceived`` or ``ReadingsReceived``, model or twin)
    decoded, with the battery it belongs to."""
    if raw.type == READINGS_RECEIVED_TYPE:
        return raw.readings[0].reading.battery_id, decode_batch(raw)
    return raw.reading.battery_id, decode_reading(raw)
