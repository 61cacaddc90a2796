"""The projector's compiled read of a decoded-readings record (``native_rows``, Rust) against
the Python one (``record_rows``), its reference: for every record it takes, each reading's
row holds the same values, column by column, and the same ids; every record it declines is
the Python path's, which also refuses what the models refuse."""

import contextlib
import json
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    EventDecodeError,
    ReadingDecoded,
    ReadingFields,
    ReadingsDecoded,
    encode,
)
from batteryhub_contracts.ids import (
    legacy_reading_id_text,
    reading_id_text,
    received_reading_id_text,
)
from batteryhub_contracts.payload import METRIC_FIELDS, Kind
from query_api.adapters import native_rows, projection
from query_api.adapters.native_rows import COPY_HEADER, COPY_TRAILER, CopiedRows
from query_api.adapters.projection import READING_COLUMNS, ROW_CODEC, ReadingRows
from query_api.projector import READINGS_AS_ROWS, readings_codec

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
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


def _metric(key: str) -> st.SearchStrategy[int | float]:
    spec = METRIC_FIELDS[key]
    if spec.kind is Kind.FLOAT:
        return st.one_of(
            st.floats(-1e9, 1e9, allow_nan=False).map(lambda x: round(x, 4) + 0.0),
            st.integers(-(10**9), 10**9),
            st.just(-0.0),  # a small negative value rounded ("-0.00"), as firmware sends it
        ).filter(lambda x: x == 0 or abs(x) >= 1e-4)
    return st.integers(-(10**12), 10**12)


@st.composite
def metrics(draw: st.DrawFn) -> dict[str, int | float]:
    keys = draw(st.lists(st.sampled_from(list(METRIC_FIELDS)), unique=True, max_size=26))
    ordered = [key for key in METRIC_FIELDS if key in keys]  # the gateway's order
    return {key: draw(_metric(key)) for key in ordered}


_NAMES = st.text(
    st.characters(exclude_categories=["Cc", "Cs"], exclude_characters='"\\'), max_size=20
)
"""Names as they come: any text but control characters, quotes and backslashes (escaped)."""


@st.composite
def decoded_reading(draw: st.DrawFn) -> ReadingDecoded:
    battery_id = draw(st.integers(1, 2**53))
    received = AT + timedelta(microseconds=draw(st.integers(0, 10**12)))
    clock = draw(st.sampled_from(["rtc", "rtc", "skewed", "none"]))
    device = received - timedelta(seconds=draw(st.integers(-(10**6), 10**8)))
    device = device.replace(microsecond=0)
    err = draw(st.sampled_from([None, "", "TG", "Y", "RC", "TGXY", "É" * 255]))
    reading_id = (
        reading_id_text(battery_id, device)
        if clock != "none"
        else received_reading_id_text(received)
    )
    return ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=received,
        reading_id=uuid.UUID(reading_id),
        reading=ReadingFields(
            battery_id=battery_id,
            hub_id=draw(st.integers(-(2**40), 2**40)),
            battery_name=draw(_NAMES),
            measured_at=device if clock == "rtc" else received,
            time_source=draw(st.sampled_from(["rtc", "gps", "received"])),
            received_at=received,
            device_time=None if clock == "none" else device,
            clock_skewed=clock == "skewed",
            metrics=draw(metrics()),
            err=err,
            source=draw(st.sampled_from(["direct", "relay", "batch"])),
        ),
        errors=decode_error_string(err),
    )


@st.composite
def decoded_record(draw: st.DrawFn) -> bytes:
    readings = draw(st.lists(decoded_reading(), min_size=1, max_size=12))
    if len(readings) == 1 and draw(st.booleans()):
        return encode(readings[0])
    return encode(ReadingsDecoded(event_id=uuid.uuid4(), occurred_at=AT, readings=tuple(readings)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(decoded_record())
def test_the_compiled_path_takes_a_record_in_the_decoders_shape_and_gives_pythons_rows(
    raw: bytes,
) -> None:
    assert_same(raw)


def test_a_full_record_is_taken_and_the_stream_is_what_copy_reads():
    readings = [
        _reading(device_time=AT + timedelta(seconds=n), err="TG" if n % 7 else "")
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

_EDITS: list[tuple[bytes, bytes]] = [
    (b'"metrics":{', b'"metrics":{"x":1,'),  # a key the gateway does not write
    (b'"metrics":{', b'"metrics": {'),  # whitespace
    (b'"soc":', b'"soc":1e2,"v":'),  # an exponent, and keys out of order
    (b'Z"', b'+01:00"'),  # an offset other than UTC
    (b'Z"', b'.1234567Z"'),  # more than microseconds
    (b'Z"', b'.5Z"'),
    (b'"err":"', b'"err":"\\u0041'),  # an escape
    (b'"battery_id":', b'"battery_id":-'),
    (b'"battery_id":', b'"battery_id":0'),
    (b'"schema_version":1', b'"schema_version":1.0'),
    (b'"clock_skewed":false', b'"clock_skewed":0'),
    (b'"time_source":"', b'"time_source":"x'),
    (b'"severity":"', b'"severity":"x'),
    (b'"source":"', b'"source":"x'),
    (b'"readings":[', b'"readings":[],"x":['),
    (b'"reading_id":"', b'"reading_id":"A'),
    (b'"errors":[', b'"errors":[{}'),
    (b".", b".0"),
    (b":0.", b":-0."),
    (b":1", b":01"),
    (b"}", b"} "),
]


@st.composite
def perturbed_record(draw: st.DrawFn) -> bytes:
    raw = draw(decoded_record())
    for _ in range(draw(st.integers(1, 3))):
        old, new = draw(st.sampled_from(_EDITS))
        at = raw.find(old, draw(st.integers(0, len(raw))))
        if at >= 0:
            raw = raw[:at] + new + raw[at + len(old) :]
    if draw(st.integers(0, 4)) == 0:  # the standard library's writer: spaces, escapes
        with contextlib.suppress(ValueError):  # an edit made it no JSON: as it is
            raw = json.dumps(json.loads(raw), ensure_ascii=draw(st.booleans())).encode()
    return raw


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


def _reading(**changes: Any) -> ReadingDecoded:
    fields = {
        "battery_id": 7,
        "hub_id": 3,
        "battery_name": "B7",
        "measured_at": AT,
        "time_source": "rtc",
        "received_at": AT,
        "device_time": AT,
        "clock_skewed": False,
        "metrics": {"soc": 81.5, "v": 12.9},
        "err": "",
        "source": "batch",
    }
    fields.update(changes)
    reading_id = fields.pop("reading_id", None) or reading_id_text(7, fields["device_time"])
    return ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        reading_id=uuid.UUID(reading_id),
        reading=ReadingFields(**fields),
        errors=decode_error_string(fields["err"]),
    )


def _record(**changes: Any) -> bytes:
    readings = (_reading(**changes),)
    return encode(ReadingsDecoded(event_id=uuid.uuid4(), occurred_at=AT, readings=readings))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_record(reading_id=legacy_reading_id_text(7, AT)), id="a legacy id"),
        pytest.param(_record(reading_id=str(uuid.uuid4())), id="a random id"),
        pytest.param(_record(metrics={"soc": 1e-5}), id="a float Python writes with an exponent"),
        pytest.param(_record(metrics={"soc": 0.1 + 0.2}), id="17 significant digits"),
        pytest.param(_record(metrics={"soc": 10**16}), id="a 17-digit integer"),
        pytest.param(_record(metrics={"v": 1.0, "soc": 2.0}), id="metrics out of order"),
        pytest.param(_record(metrics={"x": 1.0}), id="an unknown metric"),
        pytest.param(_record(metrics={"nc": 5}).replace(b'"nc":5', b'"nc":-0'), id="-0"),
        pytest.param(_record(metrics={"i": 5.0}).replace(b'"i":5.0', b'"i":-0.00'), id="-0.00"),
        pytest.param(_record(battery_name='say "hi"'), id="an escaped quote"),
        pytest.param(_record().replace(b'Z"', b'+01:00"', 1), id="an offset"),
        pytest.param(_record().replace(b'Z"', b'.1234567Z"', 1), id="below a microsecond"),
        pytest.param(_record().replace(b'"occurred_at"', b'"occurred_at" ', 1), id="a space"),
        pytest.param(_record()[:-1], id="cut short"),
        pytest.param(_record() + b" ", id="a trailing space"),
        pytest.param(_record().replace(b'"readings"', b'"readingz"', 1), id="an unknown key"),
        pytest.param(b"\xff" + _record(), id="not UTF-8"),
        pytest.param(b'{"type":"readings_decoded","readings":[]}', id="no readings"),
    ],
)
def test_the_compiled_path_declines_what_it_does_not_read_as_python_would(raw: bytes) -> None:
    assert native_rows.copied_rows(ROW_CODEC, raw) is None


def test_the_projectors_codec_takes_the_compiled_path_unless_told_not_to():
    raw = _record()
    assert isinstance(readings_codec(native=True).decode(raw), CopiedRows)
    python = readings_codec(native=False).decode(raw)
    assert isinstance(python, ReadingRows)
    assert projection.python_rows(readings_codec(native=True).decode(raw)) == python.rows
    declined = _record(reading_id=legacy_reading_id_text(7, AT))
    assert isinstance(readings_codec(native=True).decode(declined), ReadingRows)
    with pytest.raises(EventDecodeError):
        readings_codec(native=True).decode(b'{"type":"readings_decoded","readings":[]}')


def test_the_compiled_reader_is_built_only_for_the_projectors_table():
    with pytest.raises(ValueError, match="cannot write"):
        native_rows.codec({**_TYPES, "extra": "text"}, projection._COLUMN_METRICS)
    with pytest.raises(ValueError, match="cannot write"):
        native_rows.codec(_TYPES, ("soc", "v", "i", "t", "p", "lat"))
