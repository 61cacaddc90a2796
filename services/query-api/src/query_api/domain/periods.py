"""The ``time_period`` values the single-page app sends (WIRE-FACTS §5), as UTC ranges."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class TimePeriod(StrEnum):
    last_24_hours = "last_24_hours"
    last_week = "last_week"
    last_2_weeks = "last_2_weeks"
    last_month = "last_month"
    last_2_months = "last_2_months"
    last_3_months = "last_3_months"
    last_6_months = "last_6_months"
    last_year = "last_year"
    this_week = "this_week"
    this_month = "this_month"
    this_year = "this_year"


_ROLLING = {
    TimePeriod.last_24_hours: timedelta(hours=24),
    TimePeriod.last_week: timedelta(days=7),
    TimePeriod.last_2_weeks: timedelta(days=14),
    TimePeriod.last_month: timedelta(days=30),
    TimePeriod.last_2_months: timedelta(days=60),
    TimePeriod.last_3_months: timedelta(days=90),
    TimePeriod.last_6_months: timedelta(days=180),
    TimePeriod.last_year: timedelta(days=365),
}


def period_range(period: TimePeriod, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end]`` of the period ending ``now``. Calendar periods start at midnight UTC;
    weeks start on Monday."""
    if period in _ROLLING:
        return now - _ROLLING[period], now
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is TimePeriod.this_week:
        return midnight - timedelta(days=midnight.weekday()), now
    if period is TimePeriod.this_month:
        return midnight.replace(day=1), now
    return midnight.replace(month=1, day=1), now
