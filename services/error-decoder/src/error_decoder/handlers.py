"""The decoder's handler: raw readings in, decoded readings out (a batch record in, a batch
record out, under the same key).

The work is done record by record as the consumer decodes each one (``RawToDecoded``), not
in a second pass over the batch: a record's validated readings are written out and dropped
before the next record is read, so the objects of one record (~40 per reading) are what
lives at a time instead of those of a whole fetch (thousands of readings), which the
processor's caches and the garbage collector then walked again for the second pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from batteryhub_contracts.events import EventDecodeError
from batteryhub_contracts.fast import encode_fast
from batteryhub_contracts.topics import battery_key
from batteryhub_platform.consumer import Incoming
from batteryhub_platform.kafka import RawOutgoing, encoded_event
from error_decoder.domain.decode import RawReadingCodec, decode_event


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """A raw record decoded: the battery it belongs to (its key), the decoded event's type
    and its bytes."""

    battery_id: int
    type: str
    value: bytes


class RawToDecoded:
    """The raw topic's codec for the decoder: each record validated (``RawReadingCodec``),
    decoded (``decode_event``) and written (``encode_fast``) in one go. A record refused
    by the validation is an ``EventDecodeError`` with the contract's reason; one that fails
    after it (no such record is known: decoding is pure and total over what validates)
    becomes one too, so it goes to the dead letters instead of failing the batch again on
    every redelivery."""

    def __init__(self) -> None:
        self._raw = RawReadingCodec()

    def decode(self, raw: bytes) -> DecodedRecord:
        event = self._raw.decode(raw)
        try:
            battery_id, decoded = decode_event(event)
            return DecodedRecord(battery_id, decoded.type, encode_fast(decoded))
        except Exception as exc:
            raise EventDecodeError(f"decoding failed: {type(exc).__name__}: {exc}") from exc


def decode_readings(batch: list[Incoming[DecodedRecord]], decoded_topic: str) -> list[RawOutgoing]:
    return [
        encoded_event(
            decoded_topic,
            battery_key(item.event.battery_id),
            item.event.type,
            item.event.value,
            item.correlation_id,
        )
        for item in batch
    ]
