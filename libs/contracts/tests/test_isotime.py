from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from batteryhub_contracts.isotime import isoformat, naive_utc


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_utc_time_is_written_as_isoformat_writes_it(moment):
    assert isoformat(moment) == moment.isoformat()
    assert naive_utc(moment) == moment.replace(tzinfo=None).isoformat()


@given(st.datetimes(timezones=st.none() | st.just(timezone(timedelta(hours=2)))))
def test_naive_and_other_zones_are_left_to_isoformat(moment):
    assert isoformat(moment) == moment.isoformat()


@given(st.datetimes())
def test_a_naive_time_is_taken_as_utc(moment):
    assert naive_utc(moment) == moment.isoformat()


@given(st.datetimes(min_value=datetime(2, 1, 1), timezones=st.just(timezone(timedelta(hours=2)))))
def test_a_time_in_another_zone_is_written_in_utc(moment):
    assert naive_utc(moment) == naive_utc(moment.astimezone(UTC))
    assert naive_utc(moment) == moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def test_the_forms_the_wire_uses():
    moment = datetime(2025, 12, 11, 14, 15, 0, 500, tzinfo=UTC)
    assert isoformat(moment) == "2025-12-11T14:15:00.000500+00:00"
    assert naive_utc(moment.replace(microsecond=0)) == "2025-12-11T14:15:00"
