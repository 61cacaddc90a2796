"""The projector's handler: decoded readings, registry and notification events in, query
tables out. One transaction per batch, or a single INSERT for a few readings alone;
nothing is published."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_contracts.events import AnyRegistryEvent, NotificationRaised, NotificationRead
from batteryhub_contracts.fast import READING_DECODED_KEYED
from batteryhub_platform.consumer import Incoming, ReducingCodec
from batteryhub_platform.kafka import Outgoing
from query_api.adapters import native_rows, projection

READINGS_AS_ROWS = ReducingCodec(READING_DECODED_KEYED, projection.record_rows)
"""The decoded-readings topic's codec for the projector: each record's readings as their
rows (``projection.ReadingRows``), built as the consumer reads it (``ReducingCodec``), while
the batch before is written."""


def readings_codec(*, native: bool) -> projection.RowsCodec:
    """That codec, behind the compiled read of the records it takes (``native_rows``)."""
    return projection.RowsCodec(READINGS_AS_ROWS, native=native)


_READINGS = (projection.ReadingRows, native_rows.CopiedRows)


async def project_events(batch: list[Incoming[Any]], engine: AsyncEngine) -> Sequence[Outgoing]:
    events = [i.event for i in batch]
    # Decoded readings come as their rows, built as the consumer read each record.
    records = [e for e in events if isinstance(e, _READINGS)]
    others = [e for e in events if not isinstance(e, _READINGS)]
    if not others and sum(len(r.rows) for r in records) <= projection.FEW_ROWS:
        # One INSERT (``add_rows``), a transaction by itself: without BEGIN and COMMIT,
        # a single reading's batch is one round trip instead of three (docs/decisions.md).
        rows = projection.all_python_rows(records)
        async with engine.connect() as c:
            await projection.add_rows(await c.execution_options(isolation_level="AUTOCOMMIT"), rows)
        return ()
    async with engine.begin() as c:
        await projection.apply_registry(
            c,
            [e for e in others if isinstance(e, AnyRegistryEvent)],
        )
        await projection.add_records(c, records)
        # Raised before read: a read event always follows its notification on the topic.
        await projection.add_notifications(
            c, [e for e in others if isinstance(e, NotificationRaised)]
        )
        await projection.mark_read(c, [e for e in others if isinstance(e, NotificationRead)])
    return ()
