"""The msgspec twins decide exactly as the models do: a differential property test over
valid events and mutated ones, plus the derivation's refusals."""

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, field_validator

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    READING_DECODED,
    READING_RECEIVED,
    EventDecodeError,
    RawReadingEvent,
    ReadingDecoded,
    ReadingFields,
    ReadingReceived,
    ReadingsDecoded,
    ReadingsReceived,
    each_reading,
    encode,
)
from batteryhub_contracts.fast import (
    _DIGITS_AS_ZERO,
    _MORE_THAN_MICROSECONDS,
    GATEWAY_METRICS,
    READING_DECODED_FAST,
    READING_DECODED_KEYED,
    READING_RECEIVED_FAST,
    FastEventCodec,
    KnownKeys,
    encode_fast,
    twin,
)

AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


KNOWN_METRICS = ("soc", "v", "i")
KNOWN: KnownKeys = frozenset({(ReadingFields, "metrics", KNOWN_METRICS)})
KEYED_METRICS = next(
    f.type for f in msgspec.structs.fields(twin(ReadingFields, KNOWN)) if f.name == "metrics"
)
GATEWAY_KEYED_METRICS = next(
    f.type
    for f in msgspec.structs.fields(twin(ReadingFields, GATEWAY_METRICS))
    if f.name == "metrics"
)


def plain(value: Any) -> Any:
    """A decoded event (model or twin) as plain data, for comparing the two: datetimes with
    their offsets, tuples as lists, the tag as a field, a map of known keys as the map."""
    if isinstance(value, BaseModel):
        return {name: plain(v) for name, v in value.__dict__.items()}
    if isinstance(value, KEYED_METRICS | GATEWAY_KEYED_METRICS):
        return {
            name: plain(v)
            for name in value.__struct_fields__
            if (v := getattr(value, name)) is not None
        }
    if isinstance(value, msgspec.Struct):
        fields = {name: plain(getattr(value, name)) for name in value.__struct_fields__}
        tag = value.__struct_config__.tag
        return {**fields, "type": plain(tag)} if tag is not None else fields
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return (value, value.utcoffset())
    return (type(value), value)


def outcome(codec: Any, raw: bytes) -> Any:
    try:
        return plain(codec.decode(raw))
    except EventDecodeError:
        return "refused"


moments = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone.min]),
)
metric_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
)
fields = st.builds(
    ReadingFields,
    battery_id=st.integers(min_value=1, max_value=2**53),
    hub_id=st.integers(min_value=-5, max_value=2**40),
    battery_name=st.text(max_size=10),
    measured_at=moments,
    time_source=st.sampled_from(["rtc", "gps", "received"]),
    received_at=moments,
    device_time=st.one_of(st.none(), moments),
    clock_skewed=st.booleans(),
    metrics=st.dictionaries(st.text(min_size=1, max_size=3), metric_values, max_size=4),
    err=st.one_of(st.none(), st.text(max_size=8)),
    source=st.sampled_from(["direct", "relay", "batch"]),
)
single = st.builds(ReadingReceived, event_id=st.uuids(), occurred_at=moments, reading=fields)
batch = st.builds(
    ReadingsReceived,
    event_id=st.uuids(),
    occurred_at=moments,
    readings=st.lists(single, min_size=1, max_size=3).map(tuple),
)

ODD_VALUES = [
    "42",
    42.0,
    42.5,
    -1,
    0,
    2**70,
    -(2**70),
    True,
    None,
    "",
    "x" * 300,
    "batch",
    "reading_received",
    "readings_received",
    "2026-11-27T10:00:00",
    "2026-11-27T10:00:00Z",
    "2026-11-27 10:00:00+05:30",
    "2026-11-27t10:00:00z",
    "2026-11-27T10:00:00.1234567Z",
    "2026-11-27T10:00:00.9999999+01:00",
    "2026-11-27T10:00:00+0100",
    "2026-11-27T10:00Z",
    "2026-11-27T23:59:60Z",
    "2026-11-27T10:00:00+24:00",
    "2026-11-27",
    1764237600,
    "1764237600",
    "eb4b623d81f24db185957b1611ddfaf3",
    "EB4B623D-81F2-4DB1-8595-7B1611DDFAF3",
    "urn:uuid:eb4b623d-81f2-4db1-8595-7b1611ddfaf3",
    [],
    {},
    {"soc": "1"},
    {"soc": True},
    {"soc": None},
    {"soc": 1e308},
]


@st.composite
def mutated(draw: st.DrawFn, events: st.SearchStrategy[BaseModel]) -> bytes:
    """A valid event's JSON with a few of its values (at any depth) replaced, removed or
    joined by unknown ones."""
    data = json.loads(encode(draw(events)))
    for _ in range(draw(st.integers(0, 3))):
        node = data
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if isinstance(node[key], dict | list) and node[key] and draw(st.booleans()):
                node = node[key]
                continue
            action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
            if action == "replace":
                node[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
            elif action == "drop" and isinstance(node, dict):
                del node[key]
            elif isinstance(node, dict):
                node[draw(st.sampled_from(["extra", "type", "schema_version"]))] = copy.deepcopy(
                    draw(st.sampled_from(ODD_VALUES))
                )
            break
    # as this system's writers put text (UTF-8, not \u escapes, which the fast codecs leave
    # to the models), so the twins decide most of the examples they accept
    return json.dumps(data, ensure_ascii=False).encode()


@settings(max_examples=600, deadline=None)
@given(st.one_of(mutated(single), mutated(batch)))
def test_a_raw_reading_record_is_decided_as_the_model_decides(raw):
    assert outcome(READING_RECEIVED_FAST, raw) == outcome(READING_RECEIVED, raw)


READING_RECEIVED_TIMES_AS_WRITTEN = FastEventCodec(RawReadingEvent, exact_times=False)


@settings(max_examples=400, deadline=None)
@given(st.one_of(mutated(single), mutated(batch)))
def test_without_the_time_scan_a_record_is_still_accepted_or_refused_as_the_model_decides(raw):
    """The scan for times of more than six digits of a second decides values only: without
    it (the decoder's codec) the verdict is the model's all the same, and so are the values
    other than such times."""
    fast, model = outcome(READING_RECEIVED_TIMES_AS_WRITTEN, raw), outcome(READING_RECEIVED, raw)
    assert (fast == "refused") == (model == "refused")
    if _MORE_THAN_MICROSECONDS not in raw.translate(_DIGITS_AS_ZERO):
        assert fast == model


known_fields = st.builds(
    lambda f, metrics: f.model_copy(update={"metrics": metrics}),
    fields,
    st.dictionaries(st.sampled_from(KNOWN_METRICS), metric_values, max_size=3),
)
known_single = st.builds(
    ReadingReceived, event_id=st.uuids(), occurred_at=moments, reading=known_fields
)
known_batch = st.builds(
    ReadingsReceived,
    event_id=st.uuids(),
    occurred_at=moments,
    readings=st.lists(st.one_of(known_single, single), min_size=1, max_size=3).map(tuple),
)
READING_RECEIVED_KNOWN_METRICS = FastEventCodec(RawReadingEvent, known=KNOWN)


@settings(max_examples=400, deadline=None)
@given(st.one_of(mutated(known_single), mutated(known_batch), mutated(single)))
def test_with_known_metric_keys_a_record_is_still_decided_as_the_model_decides(raw):
    """Metrics of the known keys only are validated as a struct of them (the decoder's
    codec), any other key by the plain twin's map: the verdict and the values are the
    model's either way."""
    assert outcome(READING_RECEIVED_KNOWN_METRICS, raw) == outcome(READING_RECEIVED, raw)


def test_known_metric_keys_go_through_the_struct_and_other_keys_through_the_map():
    known = READING_RECEIVED_KNOWN_METRICS.decode(encode(reading_of({"v": 13.2, "soc": 80})))
    assert isinstance(known.reading.metrics, KEYED_METRICS)
    assert plain(known.reading.metrics) == plain({"v": 13.2, "soc": 80})
    other = READING_RECEIVED_KNOWN_METRICS.decode(encode(reading_of({"soc": 80, "x": 1.5})))
    assert other.reading.metrics == {"soc": 80, "x": 1.5}
    # written out, a struct of known keys holds the keys it was given, as the map did
    reading = reading_of({"v": 13.2})
    assert (
        READING_RECEIVED.decode(encode_fast(READING_RECEIVED_KNOWN_METRICS.decode(encode(reading))))
        == reading
    )


def decoded_twin(event: ReadingReceived) -> ReadingDecoded:
    return ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=event.occurred_at,
        reading_id=event.event_id,
        reading=event.reading,
        errors=decode_error_string(event.reading.err),
    )


decoded_single = single.map(decoded_twin)
decoded_batch = st.builds(
    ReadingsDecoded,
    event_id=st.uuids(),
    occurred_at=moments,
    readings=st.lists(decoded_single, min_size=1, max_size=3).map(tuple),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(mutated(decoded_single), mutated(decoded_batch)))
def test_a_decoded_reading_record_is_decided_as_the_model_decides(raw):
    assert outcome(READING_DECODED_FAST, raw) == outcome(READING_DECODED, raw)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        mutated(st.builds(decoded_twin, known_single)),
        mutated(decoded_single),
        mutated(decoded_batch),
    )
)
def test_the_consumers_codec_decides_a_decoded_record_as_the_model_decides(raw):
    """The notifier's and the projector's codec: the gateway's metrics as a struct of their
    keys (``known_single`` draws some of them), any other as the map."""
    assert outcome(READING_DECODED_KEYED, raw) == outcome(READING_DECODED, raw)


def test_the_consumers_codec_takes_the_gateway_metrics_as_a_struct():
    reading = decoded_twin(reading_of({"soc": 55.5, "nc": 3, "ts": 0}))
    keyed = READING_DECODED_KEYED.decode(encode(reading))
    assert isinstance(keyed.reading.metrics, GATEWAY_KEYED_METRICS)
    assert (keyed.reading.metrics.soc, keyed.reading.metrics.v) == (55.5, None)
    assert READING_DECODED.decode(encode_fast(keyed)) == reading
    other = decoded_twin(reading_of({"soc": 55.5, "x": 1}))
    assert READING_DECODED_KEYED.decode(encode(other)).reading.metrics == {"soc": 55.5, "x": 1}


def reading_of(metrics: dict[str, float | int], err: str | None = None) -> ReadingReceived:
    fields = ReadingFields(
        battery_id=7,
        hub_id=1,
        battery_name="B7",
        measured_at=AT,
        time_source="rtc",
        received_at=AT,
        metrics=metrics,
        err=err,
    )
    return ReadingReceived(event_id=uuid.uuid4(), occurred_at=AT, reading=fields)


def test_valid_records_come_back_as_twins_with_the_models_attributes():
    reading = reading_of({"soc": 55.5, "nc": 3}, "TG")
    record = ReadingsReceived(event_id=uuid.uuid4(), occurred_at=AT, readings=(reading,) * 2)
    event = READING_RECEIVED_FAST.decode(encode(record))
    assert isinstance(event, msgspec.Struct)
    assert event.type == "readings_received"
    (first, _) = each_reading(event)
    assert first.type == "reading_received"
    assert first.reading.metrics == {"soc": 55.5, "nc": 3}
    assert type(first.reading.metrics["nc"]) is int
    assert plain(event) == plain(record)
    assert READING_RECEIVED.decode(encode_fast(event)) == record


def test_more_than_six_digits_of_a_second_are_left_to_the_model():
    """pydantic truncates them where msgspec would round: the model decides."""
    data = encode(reading_of({}))
    at = AT.isoformat().replace("+00:00", "Z").encode()
    data = data.replace(b'"occurred_at":"' + at, b'"occurred_at":"2026-11-27T10:00:00.9999999Z', 1)
    event = READING_RECEIVED_FAST.decode(data)
    assert isinstance(event, ReadingReceived)
    assert event.occurred_at == AT + timedelta(microseconds=999_999)


def test_a_time_spelled_with_escapes_is_left_to_the_model():
    """``\\u002e`` is a dot the scan cannot see: the record goes to the model all the same."""
    data = encode(reading_of({}))
    at = AT.isoformat().replace("+00:00", "Z").encode()
    escaped = b'"occurred_at":"2026-11-27T10:00:00\\u002e9999999Z'
    data = data.replace(b'"occurred_at":"' + at, escaped, 1)
    event = READING_RECEIVED_FAST.decode(data)
    assert isinstance(event, ReadingReceived)
    assert event.occurred_at == AT + timedelta(microseconds=999_999)


def test_a_model_the_derivation_cannot_mirror_is_refused():
    class Checked(BaseModel):
        value: int

        @field_validator("value")
        @classmethod
        def positive(cls, v: int) -> int:
            return abs(v)

    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        value: int

    class Patterned(BaseModel):
        value: str = Field(pattern="^a")

    class Factory(BaseModel):
        values: tuple[int, ...] = Field(default_factory=tuple)

    for model in (Checked, Open, Patterned, Factory):
        with pytest.raises(TypeError):
            twin(model)
    # only a plain dict[str, X] can become a struct of known keys
    with pytest.raises(TypeError):
        twin(ReadingFields, frozenset({(ReadingFields, "battery_name", ("a",))}))
