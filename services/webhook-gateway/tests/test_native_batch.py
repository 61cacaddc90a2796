"""The compiled batch path (``native_batch``, Rust) against the Python one (``ingest_batch``),
its reference: for every upload it takes, the same records (ids, keys, JSON and the events
the consumers decode) and the same answer; every upload it declines goes to the Python path.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from batteryhub_contracts.events import READING_RECEIVED, BatteryRecord
from batteryhub_contracts.ids import reading_public_id
from batteryhub_contracts.payload import METRIC_FIELDS, Kind
from webhook_gateway.domain.ingest import (
    MAX_BATCH,
    BatchOutcome,
    Forbidden,
    ingest_batch,
)
from webhook_gateway.domain.native import native_batch
from webhook_gateway.domain.registry import BatteryNotFound

NOW = datetime(2026, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)
BATTERY = BatteryRecord(
    battery_id=101, hub_id=2, name='BAT "101" — Süd', secret_hash="h", revision=1, registered_at=NOW
)


def _battery_for(battery_id: int) -> BatteryRecord:
    if battery_id == 404:
        raise BatteryNotFound(f"battery {battery_id} is not registered")
    if battery_id != BATTERY.battery_id:
        raise Forbidden(f"this token may submit only for battery 101, not {battery_id}")
    return BATTERY


def _python(body: bytes, received_at: datetime = NOW) -> BatchOutcome:
    return ingest_batch(body, _battery_for, received_at)


def assert_same(native: BatchOutcome, python: BatchOutcome) -> None:
    assert orjson.loads(native.answer) == orjson.loads(python.answer)
    assert (native.accepted, native.rejected) == (python.accepted, python.rejected)
    assert [(r.battery_id, r.event_id) for r in native.records] == [
        (r.battery_id, r.event_id) for r in python.records
    ]
    for ours, theirs in zip(native.records, python.records, strict=True):
        assert orjson.loads(ours.value) == orjson.loads(theirs.value)
        decoded, expected = (
            READING_RECEIVED.decode(ours.value),
            READING_RECEIVED.decode(theirs.value),
        )
        assert decoded == expected
        # int stays int and float stays float (a consumer's sums depend on it)
        assert [{k: type(v) for k, v in e.reading.metrics.items()} for e in decoded.readings] == [
            {k: type(v) for k, v in e.reading.metrics.items()} for e in expected.readings
        ]


# --- uploads in the common shape: the compiled path takes them ---------------------------


def _stored_as_is(key: str) -> st.SearchStrategy[Any]:
    """A value ``parse_reading`` stores as it stands: a number within the field's bounds, as
    a JSON number or as plain decimal text, or no value at all."""
    spec = METRIC_FIELDS[key]
    if spec.kind is Kind.FLOAT:
        low = -1e12 if spec.low is None else spec.low
        high = 1e12 if spec.high is None else spec.high
        number: st.SearchStrategy[Any] = st.one_of(
            # as firmware writes them: a few decimals (20 digits in a row go the general way)
            st.floats(low, high, allow_nan=False).map(lambda x: round(x, 6) + 0.0),
            st.integers(int(low), int(high)),
        )
        text = (
            st.floats(low, high, allow_nan=False)
            .map(lambda x: f"{x:.3f}")
            .filter(lambda t: t != "-0.000" and low <= float(t) <= high)
        )
    else:
        low = 0 if spec.kind is Kind.FLAG or spec.low is not None else -(10**12)
        high = 1 if spec.kind is Kind.FLAG else (10**12 if spec.high is None else int(spec.high))
        number = st.integers(int(low), high)
        text = st.integers(int(low), high).map(str)
    blank = st.sampled_from([None, "", "  ", "00-00-00", "00:00:00"])
    return st.one_of(number, text, text.map(lambda t: f" {t} "), blank)


@st.composite
def common_reading(draw: st.DrawFn, minute: int) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(METRIC_FIELDS)), unique=True, max_size=26))
    reading: dict[str, Any] = {key: draw(_stored_as_is(key)) for key in keys}
    reading["id"] = draw(st.sampled_from([101, "101", "0101"]))
    err = draw(st.sampled_from([None, "", "TG", " RC ", "XYZ", "D" * 64]))
    if err is not None or draw(st.booleans()):
        reading["err"] = err
    clock = draw(st.sampled_from(["rtc", "rtc", "rtc", "future", "none"]))
    if clock != "none":
        moment = datetime(2025, 12, 11, 14, 15, tzinfo=UTC) + timedelta(minutes=minute)
        if clock == "future":
            moment = NOW + timedelta(minutes=draw(st.integers(11, 60 * 24 * 400)), seconds=7)
        reading["d"], reading["tm"] = moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")
        if draw(st.booleans()):  # a GPS time beside a valid RTC time is not read
            reading["gd"], reading["gt"] = "2025-01-01", "00:00:01"
    items = list(reading.items())
    return dict(draw(st.permutations(items)))


@st.composite
def common_upload(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 12))
    minutes = draw(st.lists(st.integers(0, 5), min_size=count, max_size=count))  # repeats
    return [draw(common_reading(minute)) for minute in minutes]


def _timed(upload: list[dict[str, Any]]) -> bool:
    return all("d" in r for r in upload)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(common_upload())
def test_the_compiled_path_takes_a_common_upload_and_gives_what_python_gives(
    upload: list[dict[str, Any]],
) -> None:
    body = orjson.dumps(upload)
    native = native_batch(body, BATTERY, NOW)
    assert native is not None, body
    if _timed(upload):
        assert_same(native, _python(body))
    else:
        assert_same_but_random_ids(native, _python(body))


def assert_same_but_random_ids(native: BatchOutcome, python: BatchOutcome) -> None:
    """Readings without a device time get a random id each time: the same outcome, but for
    the ids of those readings (and the record ids and public ids made from them)."""

    def without_ids(outcome: BatchOutcome) -> tuple[Any, list[Any]]:
        answer = orjson.loads(outcome.answer)
        for item in answer["results"]:
            item.pop("data_id")
        events = []
        for record in outcome.records:
            for event in orjson.loads(record.value)["readings"]:
                if event["reading"]["device_time"] is None:
                    event.pop("event_id")
                events.append(event)
        return answer, events

    assert without_ids(native) == without_ids(python)
    received_ms = (NOW - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    ids = [
        event["event_id"]
        for record in native.records
        for event in orjson.loads(record.value)["readings"]
    ]
    answered = [item["data_id"] for item in orjson.loads(native.answer)["results"]]
    untimed = [
        (event["event_id"])
        for record in native.records
        for event in orjson.loads(record.value)["readings"]
        if event["reading"]["device_time"] is None
    ]
    for reading_id in untimed:
        parsed = uuid.UUID(reading_id)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert int(reading_id.replace("-", "")[:12], 16) == received_ms
    assert len(set(untimed)) == len(untimed)
    assert set(answered) == {reading_public_id(i) for i in ids}
    for record in native.records:
        decoded = READING_RECEIVED.decode(record.value)
        assert [str(e.event_id) for e in decoded.readings] == [
            e["event_id"] for e in orjson.loads(record.value)["readings"]
        ]


def test_a_full_upload_travels_in_records_of_at_most_200_readings():
    upload = [
        {"id": "101", "soc": "55.5", "v": 12.71, "err": "", "d": "2025-12-11", "tm": clock}
        for clock in (f"14:{n // 60:02d}:{n % 60:02d}" for n in range(MAX_BATCH))
    ]
    body = orjson.dumps(upload)
    native = native_batch(body, BATTERY, NOW)
    assert native is not None
    assert [len(orjson.loads(r.value)["readings"]) for r in native.records] == [200, 200, 100]
    python = _python(body)
    assert_same(native, python)
    # in the shape firmware sends, even the bytes are the same
    assert native.answer == python.answer
    assert [r.value for r in native.records] == [r.value for r in python.records]
    # an identical retry is an identical record
    again = native_batch(body, BATTERY, NOW + timedelta(seconds=1))
    assert again is not None
    assert [r.event_id for r in again.records] == [r.event_id for r in native.records]


# --- anything else: the compiled path declines, or gives what Python gives -----------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "7", "-3.5", "1e3", "0x10", "1_000", "12.", ".5", "+4", "nan", "٣"]),
    st.sampled_from(["2025-12-11", "2014-01-01", "2025-02-29", "11-12-2025", "2025-13-01"]),
    st.sampled_from(["14:15:00", "00:00:00", "24:00:00", "14:15", "14:15:60"]),
    st.text(max_size=8),
)
any_key = st.one_of(
    st.sampled_from([*METRIC_FIELDS, "id", "err", "d", "tm", "gd", "gt"]),
    st.text(max_size=4),
)


@st.composite
def any_upload(draw: st.DrawFn) -> bytes:
    base = draw(common_upload())
    for reading in base:
        if draw(st.integers(0, 3)) == 0:  # one key changed in a quarter of the readings
            reading[draw(any_key)] = draw(json_scalars)
        if draw(st.integers(0, 9)) == 0:
            reading["id"] = draw(st.sampled_from([7, 404, "abc", None, 101.0, -101, 2**53]))
    # the standard library's writer too: integers beyond 64 bits, "1e-05", "\\u00e9"
    body = json.dumps(base, ensure_ascii=draw(st.booleans())).encode()
    if draw(st.integers(0, 9)) == 0:
        body = body.replace(b"{", b"{ ", 1) + draw(st.sampled_from([b" ", b",", b"]"]))
    return body


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_upload())
def test_any_upload_the_compiled_path_takes_comes_out_as_python_gives_it(body: bytes) -> None:
    native = native_batch(body, BATTERY, NOW)
    try:
        python = _python(body)
    except ValueError:  # PayloadError: a body that is no batch; the compiled path declined
        assert native is None
        return
    note_event("taken" if native is not None else "declined")
    if native is None:
        return
    assert python.rejected == 0
    if all(event["reading"]["device_time"] for event in _events(python)):
        assert_same(native, python)
    else:
        assert_same_but_random_ids(native, python)


def _events(outcome: BatchOutcome) -> list[dict[str, Any]]:
    return [e for r in outcome.records for e in orjson.loads(r.value)["readings"]]


TIMED = {"id": 101, "v": 12.5, "d": "2025-12-11", "tm": "14:15:00"}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"id": 7}, "another battery's reading: refused"),
        ({"id": 404}, "an unregistered battery: refused"),
        ({"id": None}, "no id: refused"),
        ({"x": 1}, "an unknown key: reported"),
        ({"soc": 101}, "out of bounds: skipped with its reason"),
        ({"soc": "abc"}, "not a number: skipped with its reason"),
        ({"v": "1e3"}, "text that is no plain decimal: parse_number decides"),
        ({"nc": 2.0}, "a float for a whole number: parse_number decides"),
        ({"ec": True}, "a boolean: parse_number decides"),
        ({"err": 5}, "err that is no text: skipped with its reason"),
        ({"err": "T" * 300}, "err too long: refused"),
        ({"d": "2025-02-29"}, "no such day: the RTC time is unusable"),
        ({"d": "2014-12-11"}, "before 2015: the RTC time is unusable"),
        ({"tm": "00:00:00"}, "midnight sharp reads as no time"),
        ({"d": None, "gd": "2025-12-11", "gt": "14:15:00"}, "a GPS time"),
        ({"d": "11-12-2025"}, "another date format"),
        ({"err": "é"}, "non-ASCII text"),
        ({"err": "a\\"}, "an escape"),
    ],
)
def test_the_compiled_path_declines_what_the_python_path_must_judge(
    change: dict[str, Any], why: str
) -> None:
    body = orjson.dumps([TIMED, {**TIMED, "tm": "14:16:00", **change}])
    assert native_batch(body, BATTERY, NOW) is None, why
    python = _python(body)
    assert python.accepted >= 1  # the first reading is stored either way


@pytest.mark.parametrize(
    "body",
    [b"", b"{}", b"[]", b"[1]", b"[{}]", b'[{"id": 101}] x', orjson.dumps([TIMED] * 501)],
)
def test_the_compiled_path_declines_a_body_that_is_no_common_upload(body: bytes) -> None:
    assert native_batch(body, BATTERY, NOW) is None


def test_a_small_negative_value_rounded_to_zero_travels_as_python_gives_it():
    """Firmware prints a current of -0.001 A to two decimals as "-0.00": a float, -0.0, on
    both paths. "-0" is an integer to Python (0) but -0.0 to serde: declined."""
    body = b'[{"id":101,"v":12.5,"i":-0.00,"p":-0.0,"soc":"-0.0","d":"2025-12-11","tm":"14:15:00"}]'
    native = native_batch(body, BATTERY, NOW)
    assert native is not None
    assert_same(native, _python(body))
    assert [r.value for r in native.records] == [r.value for r in _python(body).records]
    assert b'"i":-0.0,"p":-0.0' in native.records[0].value
    for integer in (b'"i":-0,', b'"err":"-0",'):  # the second only looks like one
        declined = body.replace(b'"i":-0.00,', integer)
        assert native_batch(declined, BATTERY, NOW) is None, declined
        assert _python(declined).accepted == 1


def test_a_reading_twice_in_one_upload_is_one_reading_answered_twice():
    body = orjson.dumps([TIMED, TIMED, {**TIMED, "tm": "14:16:00"}])
    native = native_batch(body, BATTERY, NOW)
    assert native is not None
    answer = orjson.loads(native.answer)
    assert answer["results"][0]["data_id"] == answer["results"][1]["data_id"]
    assert len(_events(native)) == 2
    assert_same(native, _python(body))
