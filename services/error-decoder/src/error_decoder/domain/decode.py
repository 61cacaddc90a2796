"""Decoding a raw reading's fault codes. Pure."""

from __future__ import annotations

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    ReadingDecoded,
    ReadingReceived,
    ReadingsDecoded,
    ReadingsReceived,
)
from batteryhub_contracts.ids import derived_id


def decode_reading(raw: ReadingReceived) -> ReadingDecoded:
    """Every reading gets a decoded twin, with or without errors. Its id derives from the raw
    reading's, so decoding the same reading twice yields the same event."""
    # model_construct: the raw event was validated when it was read off the topic.
    return ReadingDecoded.model_construct(
        event_id=derived_id(raw.event_id, "decoded"),
        occurred_at=raw.occurred_at,
        reading_id=raw.event_id,
        reading=raw.reading,
        errors=decode_error_string(raw.reading.err),
    )


def decode_batch(raw: ReadingsReceived) -> ReadingsDecoded:
    """A batch record's readings, decoded in order, as one record."""
    return ReadingsDecoded.model_construct(
        event_id=derived_id(raw.event_id, "decoded"),
        occurred_at=raw.occurred_at,
        readings=tuple(decode_reading(r) for r in raw.readings),
    )
