"""The decoder's handler: raw readings in, decoded readings out."""

from __future__ import annotations

from typing import Any

from batteryhub_contracts.events import ReadingReceived
from batteryhub_contracts.topics import battery_key
from batteryhub_platform.consumer import Incoming
from batteryhub_platform.kafka import Outgoing
from error_decoder.domain.decode import decode_reading


def decode_readings(batch: list[Incoming[Any]], decoded_topic: str) -> list[Outgoing]:
    outgoing = []
    for item in batch:
        raw: ReadingReceived = item.event
        decoded = decode_reading(raw)
        outgoing.append(
            Outgoing(
                decoded_topic, battery_key(raw.reading.battery_id), decoded, item.correlation_id
            )
        )
    return outgoing
