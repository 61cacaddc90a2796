"""The notifier's compiled scan of a decoded-readings record (``FaultScan``, Rust) against the
Python path (every reading decoded), its reference: for every record the scan takes, the
same readings with faults, as the same models; a record the models refuse, the scan
declines, and the Python path refuses it."""

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings

from batteryhub_contracts.events import EventDecodeError, ReadingsDecoded, encode
from batteryhub_contracts.ids import legacy_reading_id_text
from notifier.handlers import Faults, FaultsOfDecoded
from tests.decoded_records import AT, decoded_record, perturbed_record, reading, record

NATIVE, PYTHON = FaultsOfDecoded(native=True), FaultsOfDecoded(native=False)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(decoded_record())
def test_the_scan_takes_a_record_in_the_decoders_shape_and_finds_pythons_faults(
    raw: bytes,
) -> None:
    assert NATIVE._scan is not None
    assert NATIVE._scan.faults(raw) is not None
    faults = NATIVE.decode(raw)
    assert faults == PYTHON.decode(raw)
    assert [type(r) for r in faults.readings] == [type(r) for r in PYTHON.decode(raw).readings]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(perturbed_record())
def test_any_record_gives_the_python_paths_faults_or_its_refusal(raw: bytes) -> None:
    try:
        expected = PYTHON.decode(raw)
    except EventDecodeError:
        assert NATIVE._scan is not None
        assert NATIVE._scan.faults(raw) is None, raw[:300]
        with pytest.raises(EventDecodeError):
            NATIVE.decode(raw)
        return
    assert NATIVE.decode(raw) == expected


def test_a_full_record_s_faults_are_found_in_order():
    readings = [
        reading(device_time=AT + timedelta(seconds=n), err=["", "TG", "", "Y"][n % 4])
        for n in range(200)
    ]
    raw = encode(
        ReadingsDecoded(event_id=readings[0].event_id, occurred_at=AT, readings=tuple(readings))
    )
    faults = NATIVE.decode(raw)
    assert faults == Faults(tuple(r for r in readings if r.errors))
    assert len(faults.readings) == 100


def test_a_record_the_scan_declines_is_read_the_python_way():
    declined = record(reading_id=legacy_reading_id_text(7, AT), err="TG")
    assert NATIVE._scan is not None
    assert NATIVE._scan.faults(declined) is None
    assert NATIVE.decode(declined) == PYTHON.decode(declined)
    assert len(NATIVE.decode(declined).readings) == 1
