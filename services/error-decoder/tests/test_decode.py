import uuid
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    READING_DECODED,
    READING_RECEIVED,
    EventDecodeError,
    ReadingDecoded,
    ReadingFields,
    ReadingReceived,
    ReadingsDecoded,
    ReadingsReceived,
    encode,
)
from batteryhub_contracts.fast import READING_DECODED_FAST, READING_RECEIVED_FAST, encode_fast
from batteryhub_contracts.payload import METRIC_FIELDS
from batteryhub_platform.consumer import Incoming
from error_decoder import handlers
from error_decoder.domain.decode import (
    RawReadingCodec,
    ReadingDecodedJson,
    ReadingsDecodedJson,
    Validated,
    decode_event,
)
from error_decoder.handlers import RawToDecoded, decode_readings

AT = datetime(2025, 12, 11, 14, 15, tzinfo=UTC)


def decoded_id(raw_id: uuid.UUID) -> uuid.UUID:
    """A decoded event's id: its raw event's with the version field (bits 76-79) set to 8."""
    return uuid.UUID(int=raw_id.int & ~(0xF << 76) | 8 << 76)


def raw(err: str | None, **fields: object) -> ReadingReceived:
    reading = {
        "battery_id": 1,
        "hub_id": 1,
        "battery_name": "BAT001",
        "measured_at": AT,
        "time_source": "rtc",
        "received_at": AT,
        "metrics": {"soc": 80.0},
        "err": err,
        **fields,
    }
    return ReadingReceived(event_id=uuid.uuid4(), occurred_at=AT, reading=ReadingFields(**reading))


CODECS = {"decoder": RawReadingCodec(), "twin": READING_RECEIVED_FAST, "model": READING_RECEIVED}
"""The decoder reads validated twins with their fields' bytes, and models when a twin refused
lax-mode bytes; it decodes a plain twin too."""


def decoded(
    event: ReadingReceived | ReadingsReceived, codec: str = "decoder"
) -> ReadingDecoded | ReadingsDecoded:
    """Through the decoder as it runs: bytes in, validated data, decoded, bytes out, read back
    with the contract's models."""
    return decoded_bytes(encode(event), codec)


RUNNING = RawToDecoded()
"""The raw topic's codec as the decoder runs it: validated, decoded and written in one go."""


def decoded_bytes(data: bytes, codec: str = "decoder") -> ReadingDecoded | ReadingsDecoded:
    if codec == "decoder":
        return READING_DECODED.decode(RUNNING.decode(data).value)
    _, out = decode_event(CODECS[codec].decode(data))
    return READING_DECODED.decode(encode_fast(out))


@pytest.mark.parametrize(
    ("err", "codes"),
    [("TG", "TG"), ("L", "L"), ("CBL", "CBL"), ("X", "X"), ("TXYZ", "TXYZ"), ("", ""), (None, "")],
)
def test_every_reading_is_decoded_with_its_codes_in_order(err, codes):
    result = decoded(raw(err))
    assert isinstance(result, ReadingDecoded)
    assert "".join(e.code for e in result.errors) == codes


def test_decoded_reading_keeps_the_reading_and_points_at_it():
    reading = raw("TG")
    result = decoded(reading)
    assert isinstance(result, ReadingDecoded)
    assert result.reading == reading.reading
    assert result.reading_id == reading.event_id
    assert result.event_id == decoded_id(reading.event_id)


def test_the_written_records_have_the_models_fields_in_their_order():
    for written, model in (
        (ReadingDecodedJson, ReadingDecoded),
        (ReadingsDecodedJson, ReadingsDecoded),
    ):
        assert written.__struct_fields__ == tuple(model.model_fields)


def test_decoding_twice_gives_the_same_bytes():
    event = CODECS["decoder"].decode(encode(raw("T")))
    assert encode_fast(decode_event(event)[1]) == encode_fast(decode_event(event)[1])


def test_a_reading_the_twin_refuses_but_the_model_accepts_is_decoded_from_the_model():
    """Lax-mode JSON (a numeric string for an int) is the model's to accept; the decoder
    decodes the model it gets the same way."""
    reading = raw("TG", battery_id=42)
    data = encode(reading).replace(b'"battery_id":42', b'"battery_id":"42"')
    event = CODECS["decoder"].decode(data)
    assert isinstance(event, ReadingReceived)
    _, out = decode_event(event)
    assert READING_DECODED.decode(encode_fast(out)) == decoded(reading)


def test_a_batch_record_decodes_to_one_record_in_the_same_order():
    readings = (raw("TG"), raw(None), raw("Z"))
    batch = ReadingsReceived(event_id=uuid.uuid4(), occurred_at=AT, readings=readings)
    result = decoded(batch)
    assert isinstance(result, ReadingsDecoded)
    assert [d.reading_id for d in result.readings] == [r.event_id for r in readings]
    assert [[e.code for e in d.errors] for d in result.readings] == [["T", "G"], [], ["Z"]]
    assert result.event_id == decoded_id(batch.event_id)


def test_the_handler_keys_records_by_battery_and_keeps_the_correlation_id():
    reading = raw("T", battery_id=42)
    event = RUNNING.decode(encode(reading))
    (out,) = decode_readings([Incoming(event, "raw", 0, 7, "cid-1")], "decoded")
    assert out.topic == "decoded"
    assert out.key == b"42"
    assert dict(out.headers) == {"event-type": b"reading_decoded", "correlation-id": b"cid-1"}


def test_a_record_refused_or_failing_is_an_undecodable_event(monkeypatch: pytest.MonkeyPatch):
    """Both go to the dead letters with their reason, rather than failing the batch again on
    every redelivery."""
    with pytest.raises(EventDecodeError, match="battery_id"):
        RUNNING.decode(encode(raw("T")).replace(b'"battery_id":1', b'"battery_id":"one"'))

    def failing(_: object) -> None:
        raise KeyError("no such code")

    # no record is known that validates and then fails, so decoding is made to fail
    monkeypatch.setattr(handlers, "decode_event", failing)
    with pytest.raises(EventDecodeError, match="decoding failed: KeyError"):
        RUNNING.decode(encode(raw("T")))


def test_what_the_twin_accepts_is_written_on_as_it_came():
    """The readings' fields are copied from the record's bytes, not written again from the
    parsed values: what went in is what comes out, and the model reads the same."""
    data = encode(raw("TG", metrics={"soc": 80.1, "v": 0.001}))
    written = data[data.index(b'"reading":') + 10 : -1]
    # as no writer here would put it: spaces, a trailing zero, an exponent, another zone
    odd = written
    for canonical, unusual in (
        (b'"soc":80.1', b'"soc" : 80.10'),
        (b'"v":0.001', b'"v":1E-3'),
        (b'"measured_at":"2025-12-11T14:15:00Z"', b'"measured_at":"2025-12-11T15:15:00+01:00"'),
    ):
        assert canonical in odd
        odd = odd.replace(canonical, unusual)
    data = data.replace(written, odd)
    event = CODECS["decoder"].decode(data)
    assert isinstance(event, Validated)
    _, out = decode_event(event)
    assert bytes(out.reading) == odd
    assert decoded_bytes(data) == decoded_bytes(data, "model")


def test_a_field_given_twice_is_written_as_the_twin_validated_it():
    """JSON may repeat a key; the last one counts, for the validation and the bytes alike."""
    first, second = raw("T", battery_id=41), raw("G", battery_id=42)
    fields = encode(second)[encode(second).index(b'"reading":') : -1]
    data = encode(first)[:-1] + b"," + fields + b"}"
    result = decoded_bytes(data)
    assert isinstance(result, ReadingDecoded)
    assert result.reading == second.reading
    assert [e.code for e in result.errors] == ["G"]
    assert result == decoded_bytes(data, "model")


def test_a_time_with_more_than_six_digits_of_a_second_reads_as_the_model_reads_it():
    """Such times are written on as they came; read back by the consumers' codec, they are
    the model's (which truncates to microseconds), not msgspec's rounding."""
    at = AT.isoformat().replace("+00:00", "Z").encode()
    data = encode(raw("T")).replace(at, b"2025-12-11T14:15:00.9999999Z")
    _, out = decode_event(CODECS["decoder"].decode(data))
    result = READING_DECODED_FAST.decode(encode_fast(out))
    assert result.occurred_at == AT + timedelta(microseconds=999_999)
    assert result.reading.measured_at == AT + timedelta(microseconds=999_999)
    assert result == decoded_bytes(data, "model")


def test_a_record_the_second_pass_refuses_is_decided_by_the_model(
    monkeypatch: pytest.MonkeyPatch,
):
    """No input is known that the twin accepts and the pass for the fields' bytes refuses;
    should one exist, the model decides it instead of the record blocking its partition."""

    class Refusing:
        def decode(self, _: bytes) -> None:
            raise msgspec.ValidationError("refused")

    codec = RawReadingCodec()
    # no input is known to reach this branch, so the pass itself is made to refuse
    monkeypatch.setattr(codec, "_written", Refusing())
    reading = raw("TG")
    event = codec.decode(encode(reading))
    assert isinstance(event, ReadingReceived)
    assert decoded_bytes(encode(reading), "model") == decoded(reading)


@pytest.mark.parametrize(
    "metrics", [{"soc": 80.5, "v": 13.2}, {"v": 13.2, "soc": 80.5}, {"soc": 80.5, "vv": 1}]
)
def test_metrics_are_written_on_whichever_keys_they_have(metrics):
    """The gateway's keys validate as a struct of them (fastest in the payload table's
    order), any other key as a map; either way the metrics come out as they went in."""
    data = encode(raw("T", metrics=metrics))
    result = decoded_bytes(data)
    assert isinstance(result, ReadingDecoded)
    assert result.reading.metrics == metrics
    assert list(result.reading.metrics) == list(metrics)
    assert result == decoded_bytes(data, "model")


@pytest.mark.parametrize("codec", CODECS)
def test_integers_beyond_64_bits_stay_exact(codec):
    big = 10**30
    result = decoded(raw("T", metrics={"nc": big, "soc": 80.5}), codec)
    assert isinstance(result, ReadingDecoded)
    assert result.reading.metrics == {"nc": big, "soc": 80.5}
    assert type(result.reading.metrics["nc"]) is int


moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone.min]),
)
readings = st.builds(
    raw,
    st.one_of(st.none(), st.text(max_size=12)),
    battery_id=st.integers(min_value=1, max_value=2**40),
    battery_name=st.text(max_size=20),
    measured_at=moments,
    device_time=st.one_of(st.none(), moments),
    clock_skewed=st.booleans(),
    metrics=st.dictionaries(
        # the gateway's metric keys (validated as a struct of them) or any others (as a map)
        st.one_of(st.sampled_from(sorted(METRIC_FIELDS)), st.text(min_size=1, max_size=4)),
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(min_value=-(2**53), max_value=2**53),
        ),
        max_size=6,
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(readings, min_size=1, max_size=5), st.integers(0, 59), st.sampled_from(sorted(CODECS))
)
def test_the_decoder_writes_what_the_models_would(batch, seconds, codec):
    """Whatever the readings, the decoded record read back with the models is exactly the
    model-built decoding (same readings, codes, ids and times), from twins and from models."""
    record = ReadingsReceived(
        event_id=uuid.uuid4(), occurred_at=AT + timedelta(seconds=seconds), readings=tuple(batch)
    )
    expected = ReadingsDecoded(
        event_id=decoded_id(record.event_id),
        occurred_at=record.occurred_at,
        readings=tuple(
            ReadingDecoded(
                event_id=decoded_id(r.event_id),
                occurred_at=r.occurred_at,
                reading_id=r.event_id,
                reading=r.reading,
                errors=decode_error_string(r.reading.err),
            )
            for r in batch
        ),
    )
    assert decoded(record, codec) == expected
