"""Run dates that suit every sample seller (``stand_ins/sample_sellers.py``), for the demo, the
fault harness and the benchmark: a live run may only be started for a date that has begun in
every seller's timezone, and it pays the sellers whose schedule falls on a business day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from shared.domain.countries import load_country_rules
from shared.domain.schedule import is_business_day
from stand_ins.sample_sellers import COUNTRIES

# The latest timezone of the sample countries is at most 14 hours behind UTC.
_BEGUN_EVERYWHERE = timedelta(hours=14)


def run_dates(now: datetime, count: int) -> list[date]:
    """The ``count`` latest dates, newest first, that have begun everywhere and are business days
    in every sample country."""
    rules = load_country_rules()
    day = (now - _BEGUN_EVERYWHERE).date()
    found: list[date] = []
    while len(found) < count:
        if all(is_business_day(rules.get(c), day) for c in COUNTRIES):
            found.append(day)
        day -= timedelta(days=1)
    return found


def run_date_for(now: datetime) -> date:
    """The latest such date."""
    return run_dates(now, 1)[0]
