"""The compiled read of a decoded-readings record: its readings' rows in ``COPY``'s binary
form, in one call into Rust.

For each reading the Python path decodes the event (~4 µs), builds its row (ids, the
metrics' JSON: ~3 µs) and asyncpg encodes the row field by field for ``COPY`` (~9 µs):
most of the projector's CPU at the sustained rate. ``batteryhub_native.RowCodec``
(``libs/native/src/rows.rs``) reads the record as the decoder writes it and gives each
reading's id and its row already encoded, which ``projection.add_copied`` hands to
PostgreSQL as one ``COPY ... (FORMAT binary)``. For any other record it answers ``None``,
and the Python path (``projection.record_rows``) decides, refusals included. The table's
columns and every constant come from here, from the projector's and the contract's own
definitions. ``tests/test_native_rows.py`` holds the two paths to the same rows
(docs/decisions.md, "The projector's rows in Rust").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from batteryhub_contracts.fast import decoded_record_contract
from batteryhub_contracts.payload import METRIC_FIELDS
from batteryhub_native import RowCodec

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""The binary ``COPY`` stream's signature, its flags (none) and its header extension (none)."""
COPY_TRAILER = b"\xff\xff"


@dataclass(frozen=True, slots=True)
class CopiedRows:
    """A decoded-readings record read by ``RowCodec``: each reading's id and row (binary
    ``COPY`` fields), the earliest device time that may have a twin stored (µs since 1970,
    ``add_copied``), and the record itself, for the Python path when a batch needs its rows
    as tuples."""

    raw: bytes
    ids: list[str]
    rows: list[bytes]
    earliest_twin_us: int | None


def codec(columns: dict[str, str], column_metrics: tuple[str, ...]) -> RowCodec:
    """The compiled reader of rows of ``columns`` (name: type, in a row's order) whose
    float columns hold ``column_metrics``; it refuses to be built for any other table."""
    return RowCodec(
        columns=list(columns.items()),
        metric_keys=list(METRIC_FIELDS),
        column_metrics=list(column_metrics),
        contract=decoded_record_contract(),
    )


def copied_rows(row_codec: RowCodec, raw: bytes) -> CopiedRows | None:
    read = row_codec.rows(raw)
    if read is None:
        return None
    ids, rows, earliest = read
    return CopiedRows(raw, ids, rows, earliest)


def as_us(moment: datetime) -> int:
    """An aware time as µs since 1970, to compare with ``CopiedRows.earliest_twin_us``."""
    return (moment - _EPOCH) // _MICROSECOND
