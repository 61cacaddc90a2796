"""Properties of the live-data payload parser, over arbitrary JSON-like input.

Whatever a device sends, the parser either returns a reading or raises ``PayloadError``
(which the gateway answers with a 4xx); anything else would be a 500.
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, date, datetime, time
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from batteryhub_contracts.payload import (
    DATE_FORMATS,
    EARLIEST_VALID_YEAR,
    KNOWN_KEYS,
    MAX_BATTERY_ID,
    MAX_REPORTED_UNKNOWN_KEYS,
    METRIC_FIELDS,
    Kind,
    PayloadError,
    decode_json,
    decode_json_object,
    is_no_value,
    parse_battery_id,
    parse_date_time,
    parse_number,
    parse_reading,
    unwrap_relay,
)

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INT64 = 2**63 - 1
"""``decode_json`` refuses longer integers, so the parser never sees them."""

keys = st.sampled_from(sorted(KNOWN_KEYS)) | st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-INT64, max_value=INT64)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "00-00-00", "00:00:00", "2025-12-11", "14:15:00", "1e999", " 42 "])
)
json_values = (
    scalars
    | st.lists(scalars, max_size=3)
    | st.dictionaries(st.text(max_size=4), scalars, max_size=3)
    | st.lists(st.lists(scalars, max_size=2) | st.dictionaries(st.text(max_size=4), scalars))
)
payloads = st.dictionaries(keys, json_values, max_size=12)
SETTINGS = settings(max_examples=200, deadline=None)


def _parse_or_refuse(payload: dict[str, Any], require_id: bool = True) -> None:
    with contextlib.suppress(PayloadError):
        parse_reading(payload, RECEIVED, require_id=require_id)


@SETTINGS
@given(payloads, st.booleans())
@example({"id": "²"}, True)  # str.isdigit() is true for superscripts, int() refuses them
def test_the_parser_raises_nothing_but_payload_error(
    payload: dict[str, Any], require_id: bool
) -> None:
    _parse_or_refuse(payload, require_id)


@SETTINGS
@given(st.dictionaries(keys, json_values | st.integers(), max_size=8).map(json.dumps))
def test_a_body_off_the_wire_is_refused_or_parsed_never_anything_else(body: str) -> None:
    try:
        payload = decode_json_object(body)
    except PayloadError:
        return
    _parse_or_refuse(payload)


@SETTINGS
@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_arbitrary_bytes_are_decoded_or_refused_with_payload_error(raw: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode_json(raw)


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "device_id": json_values,
            "values": st.lists(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["data", "other"]) | json_values},
                    optional={"value": json_values | payloads.map(json.dumps)},
                )
                | json_values,
                max_size=3,
            )
            | json_values,
        },
    )
)
def test_a_relay_wrapper_is_opened_or_refused_with_payload_error(body: dict[str, Any]) -> None:
    try:
        envelope = unwrap_relay(body)
    except PayloadError:
        return
    _parse_or_refuse(envelope.reading, require_id=False)


FREE_FLOATS = sorted(k for k, s in METRIC_FIELDS.items() if s.kind is Kind.FLOAT and s.low is None)
COUNTERS = sorted(k for k, s in METRIC_FIELDS.items() if s.kind is Kind.INT and s.high is None)
padding = st.sampled_from(["", " ", "\t", "  "])


@SETTINGS
@given(
    st.sampled_from(FREE_FLOATS), st.floats(allow_nan=False, allow_infinity=False), padding, padding
)
def test_a_number_sent_as_a_string_comes_back_as_the_same_number(
    key: str, number: float, before: str, after: str
) -> None:
    reading = parse_reading({"id": 1, key: f"{before}{number!r}{after}"}, RECEIVED)
    assert reading.metrics == {key: number}


@SETTINGS
@given(st.sampled_from(COUNTERS), st.integers(min_value=0, max_value=MAX_BATTERY_ID), padding)
def test_a_whole_number_sent_as_a_string_comes_back_as_the_same_integer(
    key: str, number: int, pad: str
) -> None:
    reading = parse_reading({"id": 1, key: f"{pad}{number}{pad}"}, RECEIVED)
    assert reading.metrics == {key: number}
    assert isinstance(reading.metrics[key], int)


@SETTINGS
@given(st.integers(min_value=1, max_value=MAX_BATTERY_ID), padding)
def test_a_battery_id_sent_as_a_string_comes_back_as_the_same_id(number: int, pad: str) -> None:
    assert parse_battery_id(f"{pad}{number}{pad}") == number


@SETTINGS
@given(st.sampled_from(sorted(METRIC_FIELDS)), st.text(max_size=12))
def test_an_accepted_numeric_string_means_exactly_what_float_reads_in_it(
    key: str, text: str
) -> None:
    reading = parse_reading({"id": 1, key: text}, RECEIVED)
    if key in reading.metrics:
        assert reading.metrics[key] == float(text.strip())
        assert math.isfinite(reading.metrics[key])


@SETTINGS
@given(payloads)
def test_every_metric_field_is_kept_skipped_or_empty_never_lost(payload: dict[str, Any]) -> None:
    payload["id"] = 7
    reading = parse_reading(payload, RECEIVED)
    for key in METRIC_FIELDS.keys() & payload.keys():
        outcomes = [key in reading.metrics, key in reading.skipped, is_no_value(payload[key])]
        assert outcomes.count(True) == 1, (key, payload[key], reading)
    assert set(reading.metrics) <= set(METRIC_FIELDS)


@SETTINGS
@given(st.sampled_from(sorted(METRIC_FIELDS)), scalars)
@example("soc", 100)
@example("soc", 100.000001)
@example("ec", 1)
@example("ec", 2)
@example("ec", 1.0)
@example("gf", 9)
@example("nc", MAX_BATTERY_ID)
@example("nc", MAX_BATTERY_ID + 1)
@example("nc", 7.0)
@example("v", float("inf"))
@example("v", float("nan"))
@example("v", 2**63 - 1)
def test_every_metric_is_read_as_parse_number_reads_it(key: str, value: Any) -> None:
    """parse_reading takes plain in-range numbers by a fast path; it must agree with
    parse_number, which decides every other value, on every value."""
    reading = parse_reading({"id": 1, key: value}, RECEIVED)
    if is_no_value(value):
        assert key not in reading.metrics and key not in reading.skipped
        return
    try:
        expected = parse_number(value, METRIC_FIELDS[key])
    except ValueError as exc:
        assert reading.skipped == {key: str(exc)}
        assert key not in reading.metrics
    else:
        assert reading.metrics == {key: expected}
        assert type(reading.metrics[key]) is type(expected)


unknown_keys = st.lists(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in KNOWN_KEYS), unique=True, max_size=60
)


@SETTINGS
@given(unknown_keys, st.dictionaries(st.sampled_from(sorted(METRIC_FIELDS)), scalars))
def test_unknown_keys_are_all_counted_and_the_first_ones_named_in_order(
    unknown: list[str], known: dict[str, Any]
) -> None:
    payload: dict[str, Any] = {"id": 3, **known}
    for n, key in enumerate(unknown):
        payload[key] = n
    reading = parse_reading(payload, RECEIVED)
    assert reading.unknown_count == len(unknown)
    assert reading.unknown_keys == tuple(unknown[:MAX_REPORTED_UNKNOWN_KEYS])


def _strptime_date(text: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _by_strptime(day: str, clock: str) -> datetime | None:
    """The device-time rule as the decisions state it, read with ``strptime`` only."""
    if is_no_value(day) or is_no_value(clock):
        return None
    parsed_day = _strptime_date(day.strip())
    try:
        parsed_time = datetime.strptime(clock.strip(), "%H:%M:%S").time()
    except ValueError:
        return None
    if parsed_day is None or parsed_day.year < EARLIEST_VALID_YEAR:
        return None
    return datetime.combine(parsed_day, parsed_time, tzinfo=UTC)


# ASCII only: for non-ASCII digits ("1\u0662:00:00") the fast ISO path refuses what strptime
# would read; no firmware sends them, and refusing is the better answer.
digits_and_marks = st.text(alphabet="0123456789-:+ T.", max_size=11)
days = (
    st.builds(
        lambda d, fmt: d.strftime(fmt),
        st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
        st.sampled_from(DATE_FORMATS),
    )
    | digits_and_marks
)
clocks = st.times().map(lambda t: t.strftime("%H:%M:%S")) | st.times().map(time.isoformat)
clocks = clocks | digits_and_marks


@SETTINGS
@given(days, clocks)
def test_a_device_time_means_what_strptime_reads_in_it(day: str, clock: str) -> None:
    assert parse_date_time(day, clock) == _by_strptime(day, clock)
