"""The decoder's handler: raw readings in, decoded readings out (a batch record in, a batch
record out, under the same key)."""

from __future__ import annotations

from typing import Any

from batteryhub_contracts.events import ReadingReceived, ReadingsReceived
from batteryhub_contracts.topics import battery_key
from batteryhub_platform.consumer import Incoming
from batteryhub_platform.kafka import Outgoing
from error_decoder.domain.decode import decode_batch, decode_reading


def decode_readings(batch: list[Incoming[Any]], decoded_topic: str) -> list[Outgoing]:
    outgoing = []
    for item in batch:
        raw: ReadingReceived | ReadingsReceived = item.event
        if isinstance(raw, ReadingsReceived):
            decoded: Any = decode_batch(raw)
            battery_id = raw.readings[0].reading.battery_id
        else:
            decoded = decode_reading(raw)
            battery_id = raw.reading.battery_id
        outgoing.append(
            Outgoing(decoded_topic, battery_key(battery_id), decoded, item.correlation_id)
        )
    return outgoing
