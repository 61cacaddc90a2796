"""The projector's handler: decoded readings, registry and notification events in, query
tables out. One transaction per batch; nothing is published."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_contracts.events import (
    DECODED_READING_TYPES,
    AnyRegistryEvent,
    NotificationRaised,
    NotificationRead,
    each_reading,
)
from batteryhub_platform.consumer import Incoming
from batteryhub_platform.kafka import Outgoing
from query_api.adapters import projection


async def project_events(batch: list[Incoming[Any]], engine: AsyncEngine) -> Sequence[Outgoing]:
    events = [i.event for i in batch]
    async with engine.begin() as c:
        await projection.apply_registry(
            c,
            [e for e in events if isinstance(e, AnyRegistryEvent)],
        )
        # Decoded readings come from the fast codec, as msgspec twins of the models.
        await projection.add_readings(
            c,
            [r for e in events if e.type in DECODED_READING_TYPES for r in each_reading(e)],
        )
        # Raised before read: a read event always follows its notification on the topic.
        await projection.add_notifications(
            c, [e for e in events if isinstance(e, NotificationRaised)]
        )
        await projection.mark_read(c, [e for e in events if isinstance(e, NotificationRead)])
    return ()
