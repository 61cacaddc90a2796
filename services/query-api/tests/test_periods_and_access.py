from datetime import UTC, datetime, timedelta

import pytest

from batteryhub_platform.tokens import UserPrincipal
from query_api.domain.access import visible_hubs
from query_api.domain.periods import TimePeriod, period_range

NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("period", "days"),
    [
        ("last_24_hours", 1),
        ("last_week", 7),
        ("last_2_weeks", 14),
        ("last_month", 30),
        ("last_2_months", 60),
        ("last_3_months", 90),
        ("last_6_months", 180),
        ("last_year", 365),
    ],
)
def test_rolling_periods_end_now_and_span_their_days(period, days):
    assert period_range(TimePeriod(period), NOW) == (NOW - timedelta(days=days), NOW)


def test_this_week_starts_on_monday_midnight():
    assert period_range(TimePeriod.this_week, NOW)[0] == datetime(2026, 11, 23, tzinfo=UTC)


def test_this_month_and_this_year_start_at_their_first_midnight():
    assert period_range(TimePeriod.this_month, NOW)[0] == datetime(2026, 11, 1, tzinfo=UTC)
    assert period_range(TimePeriod.this_year, NOW)[0] == datetime(2026, 1, 1, tzinfo=UTC)


def user(role, hub=1, hubs=()):
    return UserPrincipal(1, "u", role, hub, frozenset(hubs))


def test_superadmin_sees_every_hub():
    assert visible_hubs(user("superadmin", None)) is None


def test_admin_and_user_see_only_their_hub():
    assert visible_hubs(user("admin", 3)) == {3}
    assert visible_hubs(user("user", 4, hubs=[5])) == {4}


def test_data_admin_sees_its_list_of_hubs():
    assert visible_hubs(user("data_admin", None, hubs=[2, 5])) == {2, 5}
