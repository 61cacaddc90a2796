"""The notifier's codec of the decoded topic: each record validated in full, and reduced to
its readings with faults."""

import uuid
from datetime import UTC, datetime

import pytest

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    EventDecodeError,
    ReadingDecoded,
    ReadingFields,
    ReadingsDecoded,
    encode,
)
from notifier.handlers import Faults, FaultsOfDecoded

AT = datetime(2025, 12, 11, 14, 15, tzinfo=UTC)
CODEC = FaultsOfDecoded()


def decoded(err: str, soc: float = 80.0) -> ReadingDecoded:
    return ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        reading_id=uuid.uuid4(),
        reading=ReadingFields(
            battery_id=1,
            hub_id=7,
            battery_name="BAT001",
            measured_at=AT,
            time_source="rtc",
            received_at=AT,
            metrics={"soc": soc, "v": 12.5},
            err=err,
        ),
        errors=decode_error_string(err),
    )


def test_a_batch_record_keeps_its_faulty_readings_in_order_as_the_models_read_them():
    readings = (decoded("TG"), decoded(""), decoded("Z"), decoded(""))
    batch = ReadingsDecoded(event_id=uuid.uuid4(), occurred_at=AT, readings=readings)
    faults = CODEC.decode(encode(batch))
    assert faults == Faults((readings[0], readings[2]))
    assert all(type(r) is ReadingDecoded for r in faults.readings)


def test_a_single_reading_record_with_or_without_faults():
    reading = decoded("L")
    assert CODEC.decode(encode(reading)) == Faults((reading,))
    assert CODEC.decode(encode(decoded(""))) == Faults(())


def test_a_record_the_contract_refuses_is_refused_even_without_faults():
    """Every reading is validated, not only those the rule looks at: a bad one sends the
    record to the dead letters, as the other consumers of the topic do."""
    readings = (decoded(""), decoded(""))
    data = encode(ReadingsDecoded(event_id=uuid.uuid4(), occurred_at=AT, readings=readings))
    assert b'"soc":80.0' in data
    with pytest.raises(EventDecodeError):
        CODEC.decode(data.replace(b'"soc":80.0', b'"soc":"high"', 1))
