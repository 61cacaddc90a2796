import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    READING_DECODED,
    READING_RECEIVED,
    ReadingDecoded,
    ReadingFields,
    ReadingReceived,
    ReadingsDecoded,
    ReadingsReceived,
    encode,
)
from batteryhub_contracts.fast import READING_RECEIVED_FAST, encode_fast
from batteryhub_contracts.ids import derived_id
from batteryhub_platform.consumer import Incoming
from error_decoder.domain.decode import decode_event
from error_decoder.handlers import decode_readings

AT = datetime(2025, 12, 11, 14, 15, tzinfo=UTC)


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


CODECS = {"twin": READING_RECEIVED_FAST, "model": READING_RECEIVED}
"""The decoder reads msgspec twins, and models when a twin refused lax-mode bytes."""


def decoded(
    event: ReadingReceived | ReadingsReceived, codec: str = "twin"
) -> ReadingDecoded | ReadingsDecoded:
    """Through the decoder as it runs: bytes in, validated data, decoded, bytes out, read back
    with the contract's models."""
    _, out = decode_event(CODECS[codec].decode(encode(event)))
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
    assert result.event_id == derived_id(reading.event_id, "decoded")


def test_decoding_twice_gives_the_same_bytes():
    event = READING_RECEIVED_FAST.decode(encode(raw("T")))
    assert encode_fast(decode_event(event)[1]) == encode_fast(decode_event(event)[1])


def test_a_reading_the_twin_refuses_but_the_model_accepts_is_decoded_from_the_model():
    """Lax-mode JSON (a numeric string for an int) is the model's to accept; the decoder
    decodes the model it gets the same way."""
    reading = raw("TG", battery_id=42)
    data = encode(reading).replace(b'"battery_id":42', b'"battery_id":"42"')
    event = READING_RECEIVED_FAST.decode(data)
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
    assert result.event_id == derived_id(batch.event_id, "decoded")


def test_the_handler_keys_records_by_battery_and_keeps_the_correlation_id():
    reading = raw("T", battery_id=42)
    event = READING_RECEIVED_FAST.decode(encode(reading))
    (out,) = decode_readings([Incoming(event, "raw", 0, 7, "cid-1")], "decoded")
    assert out.topic == "decoded"
    assert out.key == b"42"
    assert dict(out.headers) == {"event-type": b"reading_decoded", "correlation-id": b"cid-1"}


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
        st.text(min_size=1, max_size=4),
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
        event_id=derived_id(record.event_id, "decoded"),
        occurred_at=record.occurred_at,
        readings=tuple(
            ReadingDecoded(
                event_id=derived_id(r.event_id, "decoded"),
                occurred_at=r.occurred_at,
                reading_id=r.event_id,
                reading=r.reading,
                errors=decode_error_string(r.reading.err),
            )
            for r in batch
        ),
    )
    assert decoded(record, codec) == expected
