from datetime import UTC, datetime

import pytest

from batteryhub_contracts.payload import (
    PayloadError,
    decode_json_object,
    parse_battery_id,
    parse_reading,
    unwrap_relay,
)

RECEIVED = datetime(2025, 12, 11, 14, 15, 0, tzinfo=UTC)


def test_numbers_may_arrive_as_numeric_strings():
    reading = parse_reading({"id": "1", "soc": "85.5", "v": 13.2, "nc": "12"}, RECEIVED)
    assert reading.battery_id == 1
    assert reading.metrics == {"soc": 85.5, "v": 13.2, "nc": 12}


@pytest.mark.parametrize("marker", [None, "", "00-00-00", "00:00:00", "  "])
def test_no_value_markers_mean_the_field_is_absent_not_wrong(marker):
    reading = parse_reading({"id": 1, "t": marker}, RECEIVED)
    assert "t" not in reading.metrics
    assert reading.skipped == {}


def test_unparseable_value_is_skipped_and_reported_while_the_rest_is_kept():
    reading = parse_reading({"id": 1, "soc": "abc", "v": "13.2"}, RECEIVED)
    assert reading.metrics == {"v": 13.2}
    assert "soc" in reading.skipped
    assert "not a number" in reading.skipped["soc"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("soc", 101),
        ("soc", -1),
        ("ec", 2),
        ("gf", 10),
        ("lat", 91),
        ("nc", 1.5),
        ("v", "nan"),
        ("v", "inf"),
        ("v", True),
        ("v", [1]),
        ("v", {"x": 1}),
    ],
)
def test_values_outside_what_the_field_allows_are_skipped_with_a_reason(key, value):
    reading = parse_reading({"id": 1, key: value}, RECEIVED)
    assert key not in reading.metrics
    assert reading.skipped[key]


def test_flags_accept_booleans_and_zero_one():
    reading = parse_reading({"id": 1, "ec": True, "eu": "0", "ef": 1}, RECEIVED)
    assert reading.metrics == {"ec": 1, "eu": 0, "ef": 1}


def test_unknown_keys_are_counted_not_refused():
    reading = parse_reading({"id": 1, "foo": 1, "bar": "x", "soc": 50}, RECEIVED)
    assert reading.unknown_keys == ("foo", "bar")
    assert reading.metrics == {"soc": 50.0}


def test_measurement_time_comes_from_the_rtc_first():
    reading = parse_reading(
        {"id": 1, "d": "2025-12-10", "tm": "08:00:00", "gd": "2025-12-09", "gt": "07:00:00"},
        RECEIVED,
    )
    assert reading.measured_at == datetime(2025, 12, 10, 8, 0, tzinfo=UTC)
    assert reading.time_source == "rtc"


def test_gps_time_is_used_when_the_rtc_gives_zeros():
    reading = parse_reading(
        {
            "id": 1,
            "d": "00-00-00",
            "tm": "00:00:00",
            "gd": "2025-12-09",
            "gt": "07:00:00",
            "err": "R",
        },
        RECEIVED,
    )
    assert reading.measured_at == datetime(2025, 12, 9, 7, 0, tzinfo=UTC)
    assert reading.time_source == "gps"


def test_receive_time_is_used_when_neither_clock_is_usable():
    reading = parse_reading({"id": 1, "d": "2000-01-01", "tm": "00:00:05"}, RECEIVED)
    assert reading.measured_at == RECEIVED
    assert reading.time_source == "received"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2025-12-11", datetime(2025, 12, 11, 9, 30, tzinfo=UTC)),
        ("11-12-2025", datetime(2025, 12, 11, 9, 30, tzinfo=UTC)),
        ("12-31-2025", datetime(2025, 12, 31, 9, 30, tzinfo=UTC)),
    ],
)
def test_the_three_date_formats_seen_in_the_field_are_read(day, expected):
    reading = parse_reading({"id": 1, "d": day, "tm": "09:30:00"}, RECEIVED)
    assert reading.device_time == expected


def test_a_device_clock_far_in_the_future_is_flagged_and_not_trusted():
    reading = parse_reading({"id": 1, "d": "2030-01-01", "tm": "00:00:01"}, RECEIVED)
    assert reading.clock_skewed is True
    assert reading.measured_at == RECEIVED
    assert reading.time_source == "received"
    assert reading.device_time == datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_a_device_clock_a_little_ahead_is_trusted():
    reading = parse_reading({"id": 1, "d": "2025-12-11", "tm": "14:20:00"}, RECEIVED)
    assert reading.clock_skewed is False
    assert reading.measured_at == datetime(2025, 12, 11, 14, 20, tzinfo=UTC)


def test_buffered_readings_keep_their_old_device_time():
    reading = parse_reading({"id": 1, "d": "2025-11-01", "tm": "08:00:00"}, RECEIVED)
    assert reading.measured_at == datetime(2025, 11, 1, 8, tzinfo=UTC)
    assert reading.clock_skewed is False


@pytest.mark.parametrize("bad_id", [None, "", "abc", "1.5", -3, 0, True, [1], 2**60, "1" * 30])
def test_battery_id_must_be_a_positive_integer(bad_id):
    with pytest.raises(PayloadError) as info:
        parse_battery_id(bad_id)
    assert info.value.status == 400


def test_missing_id_is_refused():
    with pytest.raises(PayloadError, match="missing battery id"):
        parse_reading({"soc": 50}, RECEIVED)


def test_err_longer_than_255_characters_is_refused_as_unprocessable():
    with pytest.raises(PayloadError) as info:
        parse_reading({"id": 1, "err": "T" * 256}, RECEIVED)
    assert info.value.status == 422


def test_err_that_is_not_a_string_is_skipped():
    reading = parse_reading({"id": 1, "err": 5}, RECEIVED)
    assert reading.err is None
    assert "err" in reading.skipped


def test_relay_wrapper_yields_the_inner_reading():
    envelope = unwrap_relay(
        {
            "device_id": "0291f60a",
            "values": [
                {"name": "other", "value": "1"},
                {"name": "data", "value": '{"soc": 85, "v": 13.2, "err": "TG"}'},
            ],
        }
    )
    assert envelope.device_id == "0291f60a"
    assert envelope.reading == {"soc": 85, "v": 13.2, "err": "TG"}


@pytest.mark.parametrize(
    "body",
    [
        {"device_id": "d", "values": []},
        {"device_id": "d", "values": [{"name": "data", "value": "{not json"}]},
        {"device_id": "d", "values": [{"name": "data", "value": "[1, 2]"}]},
        {"device_id": "d", "values": [{"name": "data", "value": 5}]},
        {"device_id": "", "values": [{"name": "data", "value": "{}"}]},
        {"device_id": "d", "values": "data"},
    ],
)
def test_relay_without_a_usable_data_value_is_refused(body):
    with pytest.raises(PayloadError) as info:
        unwrap_relay(body)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"not json", 400),
        (b"[1,2]", 400),
        (b'"x"', 400),
        (b'{"id": 1, "x": "a\\u0000b"}', 400),
        (b'{"id": 1}\x00', 400),
        (b'{"id": 123456789012345678901234567890}', 422),
        (b'{"v": NaN}', 400),
        (b"\xff\xfe", 400),
    ],
)
def test_json_decoding_refuses_what_cannot_be_stored(raw, status):
    with pytest.raises(PayloadError) as info:
        decode_json_object(raw)
    assert info.value.status == status


def test_json_decoding_accepts_ordinary_objects():
    assert decode_json_object(b'{"id": 1, "v": 13.2}') == {"id": 1, "v": 13.2}
