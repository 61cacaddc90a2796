import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batteryhub_contracts.error_codes import decode_error_string
from batteryhub_contracts.events import (
    READING_DECODED,
    REGISTRY_EVENT,
    BatteryRecord,
    BatteryRevoked,
    EventDecodeError,
    ReadingDecoded,
    ReadingFields,
    encode,
)
from batteryhub_contracts.ids import (
    decoded_id_text,
    derived_id,
    derived_id_text,
    legacy_reading_id_text,
    notification_id_for,
    public_id,
    reading_id_text,
    reading_id_version,
    reading_public_id,
    received_reading_id_text,
    uuid_texts,
)

AT = datetime(2025, 12, 11, 14, 15, tzinfo=UTC)


def test_same_battery_and_device_time_is_the_same_reading():
    assert reading_id_text(1, AT) == reading_id_text(1, AT)
    assert reading_id_text(1, AT) != reading_id_text(2, AT)


NAMESPACE = uuid.UUID("6f6a3c64-5d1e-4c0e-9a55-0b6e2b1f7a10")
device_times = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)


@given(st.integers(min_value=1, max_value=2**53 - 1), device_times)
def test_a_reading_id_is_a_uuid7_of_the_device_time_and_the_legacy_ids_hash(battery_id, at):
    legacy = uuid.uuid5(NAMESPACE, f"reading:{battery_id}:{at.isoformat()}")
    assert legacy_reading_id_text(battery_id, at) == str(legacy)
    new = uuid.UUID(reading_id_text(battery_id, at))
    assert (new.version, new.variant) == (7, uuid.RFC_4122)
    assert new.int >> 80 == (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    # past the time and the version, the legacy id's bits: its 74 bits below the version
    below_version = (1 << 76) - 1
    variant = 0b11 << 62
    assert new.int & below_version & ~variant == legacy.int & below_version & ~variant
    assert reading_id_version(str(new)) == "7" and reading_id_version(str(legacy)) == "5"
    assert reading_public_id(str(new)) == reading_public_id(new) == public_id("reading", new)


def test_reading_ids_sort_by_device_time_across_batteries():
    times = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s) for s in (0, 1, 60, 3600)]
    ids = [reading_id_text(battery_id, at) for at in times for battery_id in (9, 1, 5)]
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_reading_without_a_device_time_gets_a_fresh_id_of_its_receipt():
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    ids = [uuid.UUID(received_reading_id_text(at)) for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert {(i.version, i.variant) for i in ids} == {(7, uuid.RFC_4122)}
    assert {i.int >> 80 for i in ids} == {int(at.timestamp() * 1000)}


def test_derived_ids_are_the_uuid5_they_always_were():
    # Stored and replayed ids depend on it: pinned, and equal to the standard library's.
    parent = uuid.UUID("0b9e8a52-6c1c-4f43-8f3e-4b1b6a0f2d77")
    namespace = uuid.UUID("6f6a3c64-5d1e-4c0e-9a55-0b6e2b1f7a10")
    expected = uuid.UUID("532fa22d-7178-5939-a4d3-342650539b51")
    assert derived_id(parent, "decoded") == expected == uuid.uuid5(namespace, f"decoded:{parent}")


def test_a_decoded_id_is_its_raw_id_as_version_8():
    raw = "0b9e8a52-6c1c-4f43-8f3e-4b1b6a0f2d77"
    assert decoded_id_text(raw) == "0b9e8a52-6c1c-8f43-8f3e-4b1b6a0f2d77"
    assert uuid.UUID(decoded_id_text(raw)).version == 8


@given(
    st.uuids(version=4),
    st.uuids(version=4),
    st.uuids(version=5),
    st.integers(min_value=1, max_value=2**53 - 1),
    device_times,
)
def test_decoded_ids_are_distinct_from_their_raw_ids_and_each_other(a, b, c, battery_id, at):
    d = uuid.UUID(reading_id_text(battery_id, at))
    decoded = {raw: uuid.UUID(decoded_id_text(str(raw))) for raw in (a, b, c, d)}
    for raw, derived in decoded.items():
        assert derived != raw
        assert derived.version == 8
        assert derived.int & ~(0xF << 76) == raw.int & ~(0xF << 76)  # only the version differs
    assert (decoded[a] == decoded[b]) == (a == b)


@given(st.uuids(), st.text(max_size=40))
def test_the_text_form_of_a_derived_id_is_the_same_id(parent, role):
    namespace = uuid.UUID("6f6a3c64-5d1e-4c0e-9a55-0b6e2b1f7a10")
    expected = uuid.uuid5(namespace, f"{role}:{parent}")
    assert derived_id_text(str(parent), role) == str(expected)
    assert derived_id(parent, role) == expected


@given(st.lists(st.uuids(), max_size=50))
def test_uuid_texts_are_the_texts_str_gives(ids):
    assert uuid_texts(ids) == [str(i) for i in ids]


def test_public_ids_fit_a_javascript_number_and_are_stable():
    ids = {public_id("x", n) for n in range(10_000)}
    assert len(ids) == 10_000
    assert all(0 < i < 2**53 for i in ids)
    assert notification_id_for(uuid.UUID(int=1), "T") == notification_id_for(uuid.UUID(int=1), "T")


@given(st.lists(st.text(max_size=20) | st.integers() | st.uuids(), max_size=4))
def test_a_public_id_is_the_top_53_bits_of_the_blake2b_of_its_parts(parts):
    # Stored, sent to the apps and recomputed on replay: the definition, pinned.
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    assert public_id(*parts) == (int.from_bytes(digest, "big") >> 11 or 1)


def test_events_round_trip_through_their_codec():
    event = ReadingDecoded(
        event_id=uuid.uuid4(),
        occurred_at=AT,
        reading_id=uuid.uuid4(),
        reading=ReadingFields(
            battery_id=1,
            hub_id=1,
            battery_name="BAT001",
            measured_at=AT,
            time_source="rtc",
            received_at=AT,
            metrics={"soc": 85.5},
            err="TG",
        ),
        errors=decode_error_string("TG"),
    )
    assert READING_DECODED.decode(encode(event)) == event


def test_registry_topic_codec_tells_the_event_kinds_apart():
    record = BatteryRecord(
        battery_id=1,
        hub_id=1,
        name="BAT001",
        secret_hash="h",
        revision=2,
        revoked=True,
        registered_at=AT,
    )
    event = BatteryRevoked(event_id=uuid.uuid4(), occurred_at=AT, battery=record)
    assert isinstance(REGISTRY_EVENT.decode(encode(event)), BatteryRevoked)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"type": "reading_decoded"}'])
def test_bytes_that_are_not_an_event_raise_a_decode_error(raw):
    with pytest.raises(EventDecodeError):
        READING_DECODED.decode(raw)


def test_events_are_immutable():
    record = BatteryRecord(
        battery_id=1, hub_id=1, name="B", secret_hash="h", revision=1, registered_at=AT
    )
    with pytest.raises(ValueError):
        record.hub_id = 2  # type: ignore[misc]
