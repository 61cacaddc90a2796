"""A batch upload parsed through ``FastReading`` comes to exactly what the general path
(``decode_json`` and ``parse_reading``) gives: a differential property test over batches
of ordinary, odd and broken readings, plus the cases that must take one path or the other."""

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from batteryhub_contracts.payload import (
    KNOWN_KEYS,
    METRIC_FIELDS,
    FastReading,
    FieldSpec,
    Kind,
    PayloadError,
    decode_batch,
    decode_json,
    parse_fast_reading,
    parse_reading,
)

RECEIVED = datetime(2025, 12, 11, 14, 15, 0, tzinfo=UTC)
MAX_ITEMS = 500


def upload(body: bytes) -> Any:
    return decode_batch(body, MAX_ITEMS)


def typed(value: Any) -> Any:
    """A value with its type, so that 1 and 1.0 (equal in Python) are told apart."""
    if isinstance(value, dict):
        return sorted((k, typed(v)) for k, v in value.items())
    return (type(value).__name__, value)


def outcome(decode: Any, parse: Any, body: bytes) -> Any:
    """What the gateway makes of a batch body: the whole body refused, or each item's
    reading (every field, metric values with their types) or reason for refusal."""
    try:
        items = decode(body)
    except PayloadError as exc:
        return ("refused", exc.status, exc.message)
    if not isinstance(items, list):
        return ("not a list", typed(items) if not isinstance(items, list | dict) else None)
    results = []
    for item in items:
        try:
            parsed = parse(item)
        except PayloadError as exc:
            results.append(("rejected", exc.status, exc.message))
            continue
        results.append({name: typed(value) for name, value in asdict(parsed).items()})
    return results


def general(item: Any) -> Any:
    if not isinstance(item, dict):
        raise PayloadError("each reading must be a JSON object")
    return parse_reading(item, RECEIVED)


def fast(item: Any) -> Any:
    if isinstance(item, FastReading):
        return parse_fast_reading(item, RECEIVED)
    return general(item)


numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-200, max_value=200),
    st.integers(min_value=-3, max_value=12),
    st.integers(min_value=-(10**19 - 1), max_value=2**64),  # 19 digits at most
    st.sampled_from([0, 1, 100, 101, -90, 90, 180, 2**53 - 1, 2**53, 1e308, -0.0, 0.5, 9.0]),
)
texts = st.one_of(
    st.sampled_from(
        ["85.5", " 12 ", "1e3", "abc", "", " ", "00-00-00", "00:00:00", "nan", "inf", "-1"]
    ),
    numbers.map(str),
    st.text(max_size=6),
)
values = st.one_of(numbers, texts, st.none(), st.booleans(), st.just([]), st.just({}))
days = st.sampled_from(
    ["2025-12-11", "11-12-2025", "12-11-2025", "2025-13-01", "1970-01-01", "2099-01-01", ""]
)
clocks = st.sampled_from(["14:15:00", "23:59:59", "24:00:00", "00:00:00", "9:30:00", ""])
keys = st.sampled_from([*sorted(KNOWN_KEYS), "x", "SOC", "ID"])


@st.composite
def readings(draw: st.DrawFn) -> dict[str, Any]:
    reading: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        reading["id"] = draw(st.one_of(st.integers(1, 2**40), st.integers(1, 99).map(str), values))
    for key in draw(st.lists(st.sampled_from(list(METRIC_FIELDS)), max_size=8, unique=True)):
        reading[key] = draw(numbers if draw(st.integers(0, 3)) else values)
    for day_key, clock_key in (("d", "tm"), ("gd", "gt")):
        if draw(st.booleans()):
            reading[day_key] = draw(st.one_of(days, values))
            reading[clock_key] = draw(st.one_of(clocks, values))
    if draw(st.booleans()):
        reading["err"] = draw(st.one_of(st.sampled_from(["", "TG", "X", " L "]), values))
    for _ in range(draw(st.integers(0, 1))):  # now and then any key, known or not
        reading[draw(keys)] = draw(values)
    return reading


@settings(max_examples=500, deadline=None)
@given(st.lists(readings(), min_size=0, max_size=4))
def test_a_batch_comes_to_the_same_readings_by_either_path(batch):
    body = json.dumps(batch, ensure_ascii=False).encode()
    assert outcome(upload, fast, body) == outcome(decode_json, general, body)


def in_bounds(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """A value ``parse_reading`` takes as it is, or a numeric string it has to read."""
    if spec.kind is Kind.FLAG:
        number: st.SearchStrategy[Any] = st.sampled_from([0, 1])
    elif spec.kind is Kind.INT:
        number = st.integers(int(spec.fast_low), min(int(spec.fast_high), 10**9))
    else:
        number = st.floats(spec.fast_low, spec.fast_high, allow_nan=False)
    return st.one_of(number, number.map(str), st.none())


@st.composite
def ordinary_readings(draw: st.DrawFn) -> dict[str, Any]:
    """Readings as firmware sends them, now and then with one odd value or key."""
    reading: dict[str, Any] = {"id": draw(st.one_of(st.integers(1, 2**40), st.just("17")))}
    for key in draw(st.lists(st.sampled_from(list(METRIC_FIELDS)), max_size=26, unique=True)):
        reading[key] = draw(in_bounds(METRIC_FIELDS[key]))
    reading["err"] = draw(st.sampled_from(["", "TG", "X", "CBL"]))
    reading["d"], reading["tm"] = draw(days), draw(clocks)
    if not draw(st.integers(0, 7)):
        reading[draw(keys)] = draw(values)
    return reading


@settings(max_examples=300, deadline=None)
@given(st.lists(ordinary_readings(), min_size=1, max_size=4))
def test_ordinary_batches_come_to_the_same_readings_by_either_path(batch):
    body = json.dumps(batch).encode()
    assert outcome(upload, fast, body) == outcome(decode_json, general, body)


@settings(max_examples=200, deadline=None)
@given(st.lists(readings(), min_size=1, max_size=3), st.sampled_from(["", " ", "\n"]))
def test_the_same_holds_for_any_spacing_and_a_repeated_key(batch, space):
    """JSON may repeat a key (the last one counts on both paths) and space its tokens."""
    body = json.dumps(batch, separators=(f",{space}", f":{space}")).encode()
    body = body.replace(b"{", b'{"soc": "x",', 1) if batch and batch[0] else body
    assert outcome(upload, fast, body) == outcome(decode_json, general, body)


def test_a_firmware_batch_takes_the_fast_path():
    """Numbers as numbers or numeric strings, RTC and GPS times, codes: as the bench's
    simulated batteries (and the firmware they imitate) send them."""
    reading = {
        "id": 7,
        "soc": "85.5",
        "v": 13.21,
        "i": -0.4,
        "ec": 1,
        "gs": 7,
        "lat": 55.622,
        "nc": 12,
        "err": "TG",
        "gd": "2025-12-11",
        "gt": "14:15:00",
        "d": "2025-12-11",
        "tm": "14:15:00",
    }
    body = json.dumps([reading, {**reading, "soc": None, "err": ""}]).encode()
    items = upload(body)
    assert all(isinstance(item, FastReading) for item in items)
    first = parse_fast_reading(items[0], RECEIVED)
    sent = {key: value for key, value in reading.items() if key in METRIC_FIELDS}
    assert first.metrics == {**sent, "soc": 85.5}
    assert first.time_source == "rtc"
    assert outcome(upload, fast, body) == outcome(decode_json, general, body)


def test_anything_else_takes_the_general_path():
    """An unknown key, a number out of its bounds, a boolean, an escape: the general path
    decides, and says what it skipped."""
    for odd in ({"x": 1}, {"soc": 150}, {"ec": True}, {"v": "13\\u002e2"}, {"nc": 2.0}):
        body = json.dumps([{"id": 7, "v": 13.2, **odd}]).replace("\\\\u", "\\u").encode()
        items = upload(body)
        assert isinstance(items[0], dict), odd
        assert outcome(upload, fast, body) == outcome(decode_json, general, body)


def test_an_id_below_64_bits_takes_the_general_path():
    """orjson reads an integer below -2**63 as a float, which the refusal's reason shows."""
    for battery_id in (-(2**63), -(2**63) - 1, -(10**19 - 1)):
        body = json.dumps([{"id": battery_id, "v": 13.2}]).encode()
        assert isinstance(upload(body)[0], FastReading) == (battery_id >= -(2**63))
        assert outcome(upload, fast, body) == outcome(decode_json, general, body)


def test_a_body_of_more_objects_than_a_batch_holds_takes_the_general_path():
    """Refused anyway (413), without a struct for each of its objects."""
    body = json.dumps([{"id": 7}] * (MAX_ITEMS + 1)).encode()
    assert isinstance(upload(body)[0], dict)
    assert isinstance(upload(json.dumps([{"id": 7}] * MAX_ITEMS).encode())[0], FastReading)
