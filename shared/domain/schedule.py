"""Payout schedules and business days, as pure functions of dates. No I/O.

The rule, for every interval: a schedule has *anchor* days (every day for ``daily``, one weekday
each week for ``weekly``, one day of the month for ``monthly``). A payout is due on the first
business day on or after each anchor. So an anchor that falls on a weekend or a public holiday
moves the payout to the next business day, even into the next week or month; two anchors that
move to the same business day make one payout.

Business days are Monday to Friday minus the public holidays of the country's calendar, as the
``holidays`` package knows them (including "observed" days, e.g. a US holiday on a Saturday
observed on the Friday before).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # countries.py imports this module for PayoutSchedule
    from shared.domain.countries import CountryRules

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# No calendar has this many non-business days in a row; more means broken calendar data.
_MAX_CLOSED_RUN = 31


class PayoutSchedule(BaseModel):
    """When a seller is paid. ``weekday`` only for weekly, ``day_of_month`` only for monthly.

    ``day_of_month`` stops at 28 so that every month has the anchor day.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    interval: Literal["daily", "weekly", "monthly"]
    weekday: Weekday | None = None
    day_of_month: int | None = Field(default=None, ge=1, le=28)

    @model_validator(mode="after")
    def _anchor_matches_interval(self) -> PayoutSchedule:
        if (self.weekday is not None) != (self.interval == "weekly"):
            raise ValueError("weekday is required for a weekly schedule and not allowed otherwise")
        if (self.day_of_month is not None) != (self.interval == "monthly"):
            raise ValueError("day_of_month is required for a monthly schedule and not allowed otherwise")
        return self

    def is_anchor(self, day: date) -> bool:
        """Is ``day`` a nominal payout day, before moving it off weekends and holidays?"""
        if self.interval == "weekly":
            return WEEKDAYS[day.weekday()] == self.weekday
        if self.interval == "monthly":
            return day.day == self.day_of_month
        return True


@lru_cache(maxsize=512)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # A frozenset rather than the HolidayBase dict: that one grows itself on lookups of other
    # years, which is a mutation we don't want shared between threads.
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(found.keys())


def _check_date(day: date) -> None:
    # datetime is a subclass of date; a datetime here is a timezone bug waiting to happen.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}; convert with local_date()")


def is_business_day(rules: CountryRules, day: date) -> bool:
    """Monday to Friday and not a public holiday of the country's calendar."""
    _check_date(day)
    if day.weekday() >= 5:
        return False
    calendar = rules.business_day_calendar
    return day not in _public_holidays(calendar.country, calendar.subdivision, day.year)


def next_business_day(rules: CountryRules, day: date) -> date:
    """``day`` itself if it is a business day, else the first business day after it."""
    for offset in range(_MAX_CLOSED_RUN):
        candidate = day + timedelta(days=offset)
        if is_business_day(rules, candidate):
            return candidate
    raise ValueError(f"no business day within {_MAX_CLOSED_RUN} days of {day} in {rules.country}")


def previous_business_day(rules: CountryRules, day: date) -> date:
    """The last business day strictly before ``day``."""
    for offset in range(1, _MAX_CLOSED_RUN + 1):
        candidate = day - timedelta(days=offset)
        if is_business_day(rules, candidate):
            return candidate
    raise ValueError(f"no business day within {_MAX_CLOSED_RUN} days before {day} in {rules.country}")


def is_payout_due(schedule: PayoutSchedule, rules: CountryRules, local_day: date) -> bool:
    """Is ``local_day`` (a date in the country's timezone, see local_date) a payout day?

    It is when it is a business day and an anchor falls after the previous business day and on
    or before ``local_day``: i.e. it is the first business day on or after some anchor.
    """
    if not is_business_day(rules, local_day):
        return False
    day = previous_business_day(rules, local_day) + timedelta(days=1)
    while day <= local_day:
        if schedule.is_anchor(day):
            return True
        day += timedelta(days=1)
    return False


def next_payout_day(schedule: PayoutSchedule, rules: CountryRules, from_day: date) -> date:
    """The first day on or after ``from_day`` on which a payout is due."""
    _check_date(from_day)
    # A monthly anchor is at most 31 days away, then at most _MAX_CLOSED_RUN days to move.
    for offset in range(31 + _MAX_CLOSED_RUN):
        candidate = from_day + timedelta(days=offset)
        if is_payout_due(schedule, rules, candidate):
            return candidate
    raise ValueError(f"no payout day found after {from_day} in {rules.country}")


def local_date(rules: CountryRules, instant: datetime) -> date:
    """The calendar date of ``instant`` in the country's timezone.

    ``instant`` must be timezone-aware (normally UTC); a naive datetime is ambiguous and is refused.
    E.g. 2026-03-02 23:30 UTC is already 2026-03-03 in Asia/Tokyo.
    """
    if not isinstance(instant, datetime):
        raise TypeError(f"expected a datetime, got {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("naive datetime: pass a timezone-aware (UTC) datetime")
    return instant.astimezone(ZoneInfo(rules.timezone)).date()
