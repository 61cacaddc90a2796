"""Decoding raw readings' fault codes. Pure.

The decoder runs once per reading at tens of thousands of readings a second, so it writes
the decoded records' JSON data directly instead of building ``ReadingDecoded`` models and
dumping them (which cost more than validating the raw record did): each decoded reading
carries its raw reading's fields on, plus the decoded codes and the ids derived from its
own. The records are the models' wire form all the same; the consumers decode them with the
models, and the tests do too.

``RawReadingCodec`` reads the raw records. A record the msgspec twin accepts (every record
this system's gateway writes) is validated by it in full, and its readings' fields and times
are then written on *as they came*: their bytes, located by a second, unparsed pass over the
record (``msgspec.Raw``), are copied into the decoded record instead of being written again
from the parsed values (writing them was about a fifth of the decoder's work per reading).
A record only the model accepts (lax-mode JSON) is written from the model's values, so no
lax input travels on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec
from pydantic import BaseModel

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    CURRENT_VERSION,
    RawReadingEvent,
    ReadingDecoded,
    ReadingsDecoded,
    ReadingsReceived,
)
from batteryhub_contracts.fast import GATEWAY_METRICS, FastEventCodec
from batteryhub_contracts.ids import decoded_id_text, uuid_texts

# The contract's own values, so the JSON written here cannot drift from the models.
READING_DECODED_TYPE: str = ReadingDecoded.model_fields["type"].default
READINGS_DECODED_TYPE: str = ReadingsDecoded.model_fields["type"].default
READINGS_RECEIVED_TYPE: str = ReadingsReceived.model_fields["type"].default

JsonData = dict[str, Any]


class _WrittenReading(msgspec.Struct, frozen=True, gc=False):
    """A raw reading's fields that the decoder writes on, as bytes of the record."""

    occurred_at: msgspec.Raw
    reading: msgspec.Raw


class _Written(msgspec.Struct, frozen=True, gc=False):
    """The same for a record: a single reading's, or a batch's readings'. Its attributes
    are named as the event's are, so either can say what to write."""

    occurred_at: msgspec.Raw
    reading: msgspec.Raw = msgspec.Raw(b"")
    readings: tuple[_WrittenReading, ...] = ()


@dataclass(frozen=True, slots=True)
class Validated:
    """A raw reading event the twin accepted (``event``), with where its fields sit in the
    record's bytes (``written``)."""

    event: Any
    written: _Written


class RawReadingCodec:
    """The validation in the decoder's codec of the raw topic (``handlers.RawToDecoded``): a
    ``Validated`` event, or the model's event (or its ``EventDecodeError``) when the twin
    refused the bytes."""

    def __init__(self) -> None:
        # No time of day is read from the event (they are written on as they came), so the
        # scan for times that pydantic would truncate, which only decides values, is skipped.
        # Nor are the metrics read: the gateway writes only the payload's known metrics, and
        # they validate as a struct of those keys first (any other key: as a plain map).
        self._events = FastEventCodec(RawReadingEvent, exact_times=False, known=GATEWAY_METRICS)
        self._written = msgspec.json.Decoder(_Written)

    def decode(self, raw: bytes) -> Any:
        event = self._events.decode(raw)
        if isinstance(event, BaseModel):
            return event
        try:
            written = self._written.decode(raw)
        except (msgspec.MsgspecError, ValueError):
            # No input is known that the twin accepts and this pass refuses; should one
            # exist, the model decides, rather than the record blocking its partition.
            return self._events.model_codec.decode(raw)
        return Validated(event, written)


@lru_cache(maxsize=4096)
def decoded_errors(err: str | None) -> tuple[JsonData, ...]:
    """The ``errors`` of a reading with this ``err`` string, as JSON data. Few distinct
    strings occur (most readings have none), so they are decoded once each."""
    return tuple(e.model_dump(mode="json") for e in decode_error_string(err))


class ReadingDecodedJson(msgspec.Struct, frozen=True, gc=False):
    """A ``ReadingDecoded`` as the decoder writes it: the model's fields, in its order (a test
    holds them to it), holding JSON data or the raw record's bytes. Written by msgspec
    from a struct, it costs ~0.4 µs a reading less than from a dict of the same keys."""

    event_id: str
    occurred_at: Any
    schema_version: int
    type: str
    reading_id: str
    reading: Any
    errors: tuple[JsonData, ...]


class ReadingsDecodedJson(msgspec.Struct, frozen=True, gc=False):
    """A ``ReadingsDecoded`` as the decoder writes it, as ``ReadingDecodedJson``."""

    event_id: str
    occurred_at: Any
    schema_version: int
    type: str
    readings: list[ReadingDecodedJson]


def _decoded(
    reading_id: str, err: str | None, occurred_at: Any, reading: Any
) -> ReadingDecodedJson:
    """A ``ReadingReceived``'s decoded twin (a ``ReadingDecoded``), with or without errors. Its
    id derives from the raw reading's, so decoding the same reading twice yields the same
    event."""
    return ReadingDecodedJson(
        event_id=decoded_id_text(reading_id),
        occurred_at=occurred_at,
        schema_version=CURRENT_VERSION,
        type=READING_DECODED_TYPE,
        reading_id=reading_id,
        reading=reading,
        errors=decoded_errors(err),
    )


def decode_event(raw: Any) -> tuple[int, ReadingDecodedJson | ReadingsDecodedJson]:
    """A raw reading event from ``RawReadingCodec`` (or a model, or a twin) decoded, with the
    battery it belongs to. A batch record's readings are decoded in order, into one
    ``ReadingsDecoded`` record."""
    event, written = (raw.event, raw.written) if isinstance(raw, Validated) else (raw, raw)
    if event.type != READINGS_RECEIVED_TYPE:
        reading = event.reading
        data = _decoded(str(event.event_id), reading.err, written.occurred_at, written.reading)
        return reading.battery_id, data
    readings = event.readings
    return readings[0].reading.battery_id, ReadingsDecodedJson(
        event_id=decoded_id_text(str(event.event_id)),
        occurred_at=written.occurred_at,
        schema_version=CURRENT_VERSION,
        type=READINGS_DECODED_TYPE,
        readings=[
            _decoded(reading_id, r.reading.err, w.occurred_at, w.reading)
            for reading_id, r, w in zip(
                uuid_texts([r.event_id for r in readings]), readings, written.readings, strict=True
            )
        ],
    )
