"""The decoder's handler: raw readings in, decoded readings out (a batch record in, a batch
record out, under the same key)."""

from __future__ import annotations

from typing import Any

from batteryhub_contracts.fast import encode_fast
from batteryhub_contracts.topics import battery_key
from batteryhub_platform.consumer import Incoming
from batteryhub_platform.kafka import RawOutgoing, encoded_event
from error_decoder.domain.decode import decode_event


def decode_readings(batch: list[Incoming[Any]], decoded_topic: str) -> list[RawOutgoing]:
    outgoing = []
    for item in batch:
        battery_id, decoded = decode_event(item.event)
        outgoing.append(
            encoded_event(
                decoded_topic,
                battery_key(battery_id),
                decoded.type,
                encode_fast(decoded),
                item.correlation_id,
            )
        )
    return outgoing
