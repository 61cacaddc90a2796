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
from typing import Any

from batteryhub_contracts.fast import encode_fast
from batteryhub_contracts.topics import battery_key
from batteryhub_platform.consumer import Incoming, ReducingCodec
from batteryhub_platform.kafka import RawOutgoing, encoded_event
from error_decoder.domain.decode import RawReadingCodec, decode_event


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """A raw record decoded: the battery it belongs to (its key), the decoded event's type
    and its bytes."""

    battery_id: int
    type: str
    value: bytes


def decoded_record(raw: Any) -> DecodedRecord:
    """A validated raw event (``RawReadingCodec``) decoded and written."""
    battery_id, decoded = decode_event(raw)
    return DecodedRecord(battery_id, decoded.type, encode_fast(decoded))


class RawToDecoded(ReducingCodec[DecodedRecord]):
    """The raw topic's codec for the decoder: each record validated (``RawReadingCodec``),
    decoded and written in one go. No record is known that validates and then fails to
    decode (decoding is pure and total over what validates)."""

    def __init__(self) -> None:
        super().__init__(RawReadingCodec(), decoded_record)


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
