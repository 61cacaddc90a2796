"""Decoded-readings records for the tests of the compiled readers of that topic (the
projector's rows, the notifier's fault scan): records in the shape the decoder writes
(``decoded_record``), the same perturbed (``perturbed_record``), and one of a given reading
(``record``)."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import ReadingDecoded, ReadingFields, ReadingsDecoded, encode
from batteryhub_contracts.ids import reading_id_text, received_reading_id_text
from batteryhub_contracts.payload import METRIC_FIELDS, Kind

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


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


EDITS: list[tuple[bytes, bytes]] = [
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
        old, new = draw(st.sampled_from(EDITS))
        at = raw.find(old, draw(st.integers(0, len(raw))))
        if at >= 0:
            raw = raw[:at] + new + raw[at + len(old) :]
    if draw(st.integers(0, 4)) == 0:  # the standard library's writer: spaces, escapes
        with contextlib.suppress(ValueError):  # an edit made it no JSON: as it is
            raw = json.dumps(json.loads(raw), ensure_ascii=draw(st.booleans())).encode()
    return raw


def reading(**changes: Any) -> ReadingDecoded:
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


def record(**changes: Any) -> bytes:
    readings = (reading(**changes),)
    return encode(ReadingsDecoded(event_id=uuid.uuid4(), occurred_at=AT, readings=readings))
