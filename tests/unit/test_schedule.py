"""Business days, payout schedules and local dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.countries import load_country_rules
from shared.domain.schedule import (
    WEEKDAYS,
    PayoutSchedule,
    is_business_day,
    is_payout_due,
    local_date,
    next_business_day,
    next_payout_day,
    previous_business_day,
)

REGISTRY = load_country_rules()
FR, DE, US, JP, GB = (REGISTRY.get(c) for c in ("FR", "DE", "US", "JP", "GB"))

DAILY = PayoutSchedule(interval="daily")


def weekly(weekday: str) -> PayoutSchedule:
    return PayoutSchedule(interval="weekly", weekday=weekday)  # type: ignore[arg-type]


def monthly(day: int) -> PayoutSchedule:
    return PayoutSchedule(interval="monthly", day_of_month=day)


def due_days(schedule: PayoutSchedule, rules, start: date, end: date) -> list[date]:
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [day for day in days if is_payout_due(schedule, rules, day)]


# --- The schedule model -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"interval": "weekly"},  # which weekday?
        {"interval": "monthly"},  # which day?
        {"interval": "daily", "weekday": "monday"},
        {"interval": "weekly", "weekday": "monday", "day_of_month": 1},
        {"interval": "monthly", "day_of_month": 29},  # not in every month
        {"interval": "monthly", "day_of_month": 0},
        {"interval": "monthly", "day_of_month": "5"},  # strict: no strings for numbers
        {"interval": "weekly", "weekday": "Monday"},
        {"interval": "hourly"},
        {"interval": "daily", "extra": 1},
    ],
)
def test_invalid_schedules(data):
    with pytest.raises(ValidationError):
        PayoutSchedule.model_validate(data)


def test_valid_schedules_round_trip_as_json():
    for schedule in (DAILY, weekly("friday"), monthly(28)):
        assert PayoutSchedule.model_validate_json(schedule.model_dump_json()) == schedule


def test_country_default_schedules():
    assert JP.payout_schedule == monthly(25)
    assert US.payout_schedule == DAILY
    assert FR.payout_schedule.interval == "weekly"


# --- Business days ----------------------------------------------------------------------------


def test_public_holidays_and_weekends_are_not_business_days():
    assert not is_business_day(FR, date(2026, 12, 25))  # Christmas, a Friday
    assert not is_business_day(FR, date(2026, 12, 26))  # Saturday
    assert not is_business_day(FR, date(2026, 12, 27))  # Sunday
    assert is_business_day(FR, date(2026, 12, 28))
    assert is_business_day(GB, date(2026, 12, 24))


def test_us_independence_day_follows_the_observed_rule_of_the_holidays_package():
    # 4 July 2026 is a Saturday; the federal holiday is observed on Friday 3 July.
    assert not is_business_day(US, date(2026, 7, 3))
    assert not is_business_day(US, date(2026, 7, 4))
    assert is_business_day(US, date(2026, 7, 6))
    # In 2027 it is a Sunday, observed on Monday 5 July.
    assert is_business_day(US, date(2027, 7, 2))
    assert not is_business_day(US, date(2027, 7, 5))


def test_holidays_are_per_country_and_subdivision():
    assert not is_business_day(GB, date(2026, 8, 31))  # England's late summer bank holiday
    assert is_business_day(FR, date(2026, 8, 31))
    assert not is_business_day(FR, date(2026, 7, 14))  # Bastille Day
    assert is_business_day(DE, date(2026, 7, 14))


def test_next_and_previous_business_day():
    assert next_business_day(FR, date(2026, 12, 25)) == date(2026, 12, 28)
    assert next_business_day(FR, date(2026, 12, 28)) == date(2026, 12, 28)
    assert previous_business_day(FR, date(2026, 12, 28)) == date(2026, 12, 24)


def test_datetimes_are_not_dates():
    with pytest.raises(TypeError):
        is_business_day(FR, datetime(2026, 12, 28, 12, tzinfo=UTC))


# --- When payouts are due ---------------------------------------------------------------------


def test_daily_is_every_business_day():
    assert due_days(DAILY, FR, date(2026, 12, 21), date(2027, 1, 4)) == [
        date(2026, 12, 21),
        date(2026, 12, 22),
        date(2026, 12, 23),
        date(2026, 12, 24),
        # 25: Christmas, 26-27: weekend
        date(2026, 12, 28),
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        # 1 January: New Year, 2-3: weekend
        date(2027, 1, 4),
    ]


def test_weekly_anchor_on_a_holiday_moves_to_the_next_business_day():
    fridays = weekly("friday")
    assert due_days(fridays, FR, date(2026, 12, 14), date(2027, 1, 10)) == [
        date(2026, 12, 18),
        date(2026, 12, 28),  # Friday 25 is Christmas: Monday 28
        date(2027, 1, 4),  # Friday 1 is New Year's Day: Monday 4
        date(2027, 1, 8),
    ]


def test_weekly_anchor_on_a_weekend_is_paid_on_monday():
    assert due_days(weekly("saturday"), DE, date(2026, 11, 1), date(2026, 11, 15)) == [
        date(2026, 11, 2),
        date(2026, 11, 9),
    ]


def test_monthly_anchor_moves_over_weekends_and_holidays():
    # 25 July 2026 is a Saturday.
    assert due_days(JP.payout_schedule, JP, date(2026, 7, 1), date(2026, 8, 31)) == [
        date(2026, 7, 27),
        date(2026, 8, 25),
    ]
    # Golden Week: 3 May (Sun), 4, 5 and the substitute holiday 6 May are all closed.
    assert due_days(monthly(3), JP, date(2026, 5, 1), date(2026, 5, 31)) == [date(2026, 5, 7)]
    # 28 February 2026 is a Saturday: paid on Monday 2 March, in the next month.
    assert due_days(monthly(28), FR, date(2026, 2, 1), date(2026, 3, 31)) == [
        date(2026, 3, 2),
        date(2026, 3, 30),
    ]


def test_next_payout_day():
    assert next_payout_day(weekly("friday"), FR, date(2026, 12, 19)) == date(2026, 12, 28)
    assert next_payout_day(JP.payout_schedule, JP, date(2026, 7, 26)) == date(2026, 7, 27)
    assert next_payout_day(DAILY, US, date(2026, 7, 3)) == date(2026, 7, 6)


dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))
schedules = st.one_of(
    st.just(DAILY),
    st.sampled_from(WEEKDAYS).map(weekly),
    st.integers(min_value=1, max_value=28).map(monthly),
)
countries = st.sampled_from(REGISTRY.countries()).map(REGISTRY.get)


@given(schedules, countries, dates)
def test_every_anchor_is_paid_on_the_first_business_day_on_or_after_it(schedule, rules, day):
    due = is_payout_due(schedule, rules, day)
    assert not due or is_business_day(rules, day)
    if schedule.is_anchor(day):
        assert is_payout_due(schedule, rules, next_business_day(rules, day))
    if due:  # and nothing is paid without an anchor since the previous business day
        since = previous_business_day(rules, day) + timedelta(days=1)
        assert any(schedule.is_anchor(since + timedelta(days=n)) for n in range((day - since).days + 1))


@given(schedules, countries, dates)
def test_next_payout_day_is_due_and_nothing_before_it(schedule, rules, day):
    payout = next_payout_day(schedule, rules, day)
    assert payout >= day and is_payout_due(schedule, rules, payout)
    assert due_days(schedule, rules, day, payout - timedelta(days=1)) == []


# --- Local dates ------------------------------------------------------------------------------


def test_local_date_crosses_midnight_by_timezone():
    instant = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert local_date(JP, instant) == date(2026, 3, 3)  # 08:30 the next morning in Tokyo
    assert local_date(FR, instant) == date(2026, 3, 3)  # 00:30 in Paris
    assert local_date(GB, instant) == date(2026, 3, 2)
    assert local_date(US, datetime(2026, 3, 3, 3, 0, tzinfo=UTC)) == date(2026, 3, 2)  # 22:00 in New York


def test_local_date_accepts_any_aware_datetime():
    instant = datetime(2026, 3, 3, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 23:00 UTC on the 2nd
    assert local_date(GB, instant) == date(2026, 3, 2)
    assert local_date(JP, instant) == date(2026, 3, 3)


def test_local_date_follows_daylight_saving_time():
    # Paris is UTC+1 in winter and UTC+2 in summer.
    assert local_date(FR, datetime(2026, 1, 15, 22, 30, tzinfo=UTC)) == date(2026, 1, 15)
    assert local_date(FR, datetime(2026, 7, 15, 22, 30, tzinfo=UTC)) == date(2026, 7, 16)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        local_date(JP, datetime(2026, 3, 2, 23, 30))


@given(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)), countries)
def test_local_date_is_within_a_day_of_utc(instant, rules):
    assert abs((local_date(rules, instant) - instant.date()).days) <= 1
