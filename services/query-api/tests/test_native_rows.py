"""The projector's compiled read of a decoded-readings record (``native_rows``, Rust) against
the Python one (``record_rows``), its reference: for every record it takes, each reading's
row holds the same values, column by column, and the same ids; every record it declines is
the Python path's, which also refuses what the models refuse."""

import json
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from batteryhub_contracts.events import EventDecodeError, ReadingsDecoded, encode
from batteryhub_contracts.ids import legacy_reading_id_text
from query_api.adapters import native_rows, projection
from query_api.adapters.native_rows import COPY_HEADER, COPY_TRAILER, CopiedRows
from query_api.adapters.projection import READING_COLUMNS, ROW_CODEC, ReadingRows
from query_api.projector import READINGS_AS_ROWS, readings_codec
from tests.decoded_records import AT, decoded_record, perturbed_record, reading, record

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_TYPES = projection._READING_TYPES

_FIELD: dict[str, Callable[[bytes], Any]] = {
    "uuid": lambda b: str(uuid.UUID(bytes=b)),
    "bigint": lambda b: struct.unpack(">q", b)[0],
    "timestamptz": lambda b: _PG_EPOCH + timedelta(microseconds=struct.unpack(">q", b)[0]),
    "text": bytes.decode,
    "boolean": lambda b: {b"\x00": False, b"\x01": True}[b],
    "jsonb": lambda b: json.loads(b[1:]) if b[:1] == b"\x01" else pytest.fail("jsonb version"),
    "float8": lambda b: struct.unpack(">d", b)[0],
    "json": bytes.decode,
}


def parse_copy_row(row: bytes) -> tuple[Any, ...]:
    """A row in ``COPY``'s binary form, read back as PostgreSQL reads it: a value a column."""
    (count,) = struct.unpack_from(">h", row)
    assert count == len(_TYPES)
    at, values = 2, []
    for kind in _TYPES.values():
        (length,) = struct.unpack_from(">i", row, at)
        at += 4
        if length == -1:
            values.append(None)
            continue
        values.append(_FIELD[kind](row[at : at + length]))
        at += length
    assert at == len(row)
    return tuple(values)


def python_rows(raw: bytes) -> list[tuple[Any, ...]]:
    """The Python path's rows, their jsonb column parsed (PostgreSQL stores it parsed); the
    json column stays text, which PostgreSQL stores as it is."""
    errors = READING_COLUMNS.index("decoded_errors")
    return [
        (*row[:errors], json.loads(row[errors]), *row[errors + 1 :])
        for row in READINGS_AS_ROWS.decode(raw).rows
    ]


def assert_same(raw: bytes) -> CopiedRows:
    copied = native_rows.copied_rows(ROW_CODEC, raw)
    assert copied is not None, raw[:300]
    expected = python_rows(raw)
    got = [parse_copy_row(row) for row in copied.rows]
    assert got == expected
    # float8 columns as PostgreSQL stores them (an int as its float), -0.0 as -0.0
    as_stored = [
        tuple(
            float(v) if k == "float8" and v is not None else v
            for k, v in zip(_TYPES.values(), row, strict=True)
        )
        for row in expected
    ]
    assert repr(got) == repr(as_stored)
    assert copied.ids == [row[0] for row in expected]
    device_times = [row[7] for row in expected if row[7] is not None and not row[8]]
    assert copied.earliest_twin_us == (
        native_rows.as_us(min(device_times)) if device_times else None
    )
    return copied


# --- records in the decoder's shape: the compiled path takes them ---------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(decoded_record())
def test_the_compiled_path_takes_a_record_in_the_decoders_shape_and_gives_pythons_rows(
    raw: bytes,
) -> None:
    assert_same(raw)


def test_a_full_record_is_taken_and_the_stream_is_what_copy_reads():
    readings = [
        reading(device_time=AT + timedelta(seconds=n), err="TG" if n % 7 else "")
        for n in range(200)
    ]
    record = encode(
        ReadingsDecoded(event_id=uuid.uuid4(), occurred_at=AT, readings=tuple(readings))
    )
    copied = assert_same(record)
    assert len(copied.rows) == 200
    stream = b"".join((COPY_HEADER, *copied.rows, COPY_TRAILER))
    assert stream.startswith(b"PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    assert stream.endswith(b"\xff\xff")


# --- anything else: the compiled path declines, or gives what Python gives ------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(perturbed_record())
def test_any_record_the_compiled_path_takes_holds_pythons_rows(raw: bytes) -> None:
    copied = native_rows.copied_rows(ROW_CODEC, raw)
    try:
        expected = python_rows(raw)
    except EventDecodeError:
        assert copied is None, raw[:300]
        return
    if copied is not None:
        assert [parse_copy_row(row) for row in copied.rows] == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(record(reading_id=legacy_reading_id_text(7, AT)), id="a legacy id"),
        pytest.param(record(reading_id=str(uuid.uuid4())), id="a random id"),
        pytest.param(record(metrics={"soc": 1e-5}), id="a float Python writes with an exponent"),
        pytest.param(record(metrics={"soc": 0.1 + 0.2}), id="17 significant digits"),
        pytest.param(record(metrics={"soc": 10**16}), id="a 17-digit integer"),
        pytest.param(record(metrics={"v": 1.0, "soc": 2.0}), id="metrics out of order"),
        pytest.param(record(metrics={"x": 1.0}), id="an unknown metric"),
        pytest.param(record(metrics={"nc": 5}).replace(b'"nc":5', b'"nc":-0'), id="-0"),
        pytest.param(record(metrics={"i": 5.0}).replace(b'"i":5.0', b'"i":-0.00'), id="-0.00"),
        pytest.param(record(battery_name='say "hi"'), id="an escaped quote"),
        pytest.param(record().replace(b'Z"', b'+01:00"', 1), id="an offset"),
        pytest.param(record().replace(b'Z"', b'.1234567Z"', 1), id="below a microsecond"),
        pytest.param(record().replace(b'"occurred_at"', b'"occurred_at" ', 1), id="a space"),
        pytest.param(record()[:-1], id="cut short"),
        pytest.param(record() + b" ", id="a trailing space"),
        pytest.param(record().replace(b'"readings"', b'"readingz"', 1), id="an unknown key"),
        pytest.param(b"\xff" + record(), id="not UTF-8"),
        pytest.param(b'{"type":"readings_decoded","readings":[]}', id="no readings"),
    ],
)
def test_the_compiled_path_declines_what_it_does_not_read_as_python_would(raw: bytes) -> None:
    assert native_rows.copied_rows(ROW_CODEC, raw) is None


def test_the_projectors_codec_takes_the_compiled_path_unless_told_not_to():
    raw = record()
    assert isinstance(readings_codec(native=True).decode(raw), CopiedRows)
    python = readings_codec(native=False).decode(raw)
    assert isinstance(python, ReadingRows)
    assert projection.python_rows(readings_codec(native=True).decode(raw)) == python.rows
    declined = record(reading_id=legacy_reading_id_text(7, AT))
    assert isinstance(readings_codec(native=True).decode(declined), ReadingRows)
    with pytest.raises(EventDecodeError):
        readings_codec(native=True).decode(b'{"type":"readings_decoded","readings":[]}')


def test_the_compiled_reader_is_built_only_for_the_projectors_table():
    with pytest.raises(ValueError, match="cannot write"):
        native_rows.codec({**_TYPES, "extra": "text"}, projection._COLUMN_METRICS)
    with pytest.raises(ValueError, match="cannot write"):
        native_rows.codec(_TYPES, ("soc", "v", "i", "t", "p", "lat"))
