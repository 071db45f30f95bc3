"""Who is paid in a run, and why not: every rule, timezones and business days."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.domain.countries import load_country_rules
from shared.domain.eligibility import SkipReason, decide_payout, requested_amount_decision
from shared.domain.money import Money
from shared.domain.schedule import PayoutSchedule
from shared.domain.sellers import BankAccountStatus, KycStatus, PayoutHold, SellerIn, onboard_seller
from stand_ins.sample_sellers import seller_body

RULES = load_country_rules()
DAILY = PayoutSchedule(interval="daily")
MONDAY = date(2026, 11, 23)
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LONG_AGO = NOON - timedelta(days=60)


def seller(country="FR", **changes):
    s = onboard_seller(
        f"s-{country}",
        SellerIn.model_validate_json(json.dumps(seller_body(country, 1))),
        RULES.get(country),
        LONG_AGO,
    )
    return replace(s, **{"payout_schedule": DAILY, **changes})


def decide(s, available=50000, run_date=MONDAY, now=NOON):
    return decide_payout(s, RULES.get(s.country), Money(available, s.currency), run_date, now)


def test_a_verified_seller_with_funds_on_a_business_day_is_paid_everything_available():
    d = decide(seller())
    assert d.pays and d.amount == Money(50000, "EUR")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"kyc_status": KycStatus.PENDING}, SkipReason.KYC_PENDING),
        ({"kyc_status": KycStatus.REJECTED}, SkipReason.KYC_REJECTED),
        ({"payout_hold": PayoutHold(held=True, reason="fraud review")}, SkipReason.ON_HOLD),
        (
            {
                "bank_account_status": BankAccountStatus.INVALID,
                "bank_account_invalid_reason": "account_closed",
            },
            SkipReason.BANK_ACCOUNT_INVALID,
        ),
        ({"bank_account_changed_at": NOON - timedelta(days=1)}, SkipReason.BANK_ACCOUNT_COOLING_OFF),
    ],
)
def test_each_blocking_rule_has_its_reason(changes, reason):
    d = decide(seller(**changes))
    assert not d.pays and d.skip is reason and d.detail


def test_cooling_off_ends_after_the_countrys_number_of_days():
    days = RULES.get("FR").bank_account_cooling_off_days
    assert decide(seller(bank_account_changed_at=NOON - timedelta(days=days))).pays
    assert not decide(seller(bank_account_changed_at=NOON - timedelta(days=days) + timedelta(seconds=1))).pays


@pytest.mark.parametrize(
    ("available", "reason"),
    [
        (-500, SkipReason.NEGATIVE_BALANCE),
        (0, SkipReason.NO_AVAILABLE_BALANCE),
        (999, SkipReason.BELOW_MINIMUM),
    ],
)
def test_balance_rules(available, reason):
    assert decide(seller(), available=available).skip is reason


def test_exactly_the_minimum_is_paid():
    assert decide(seller(), available=RULES.get("FR").minimum_payout).pays


def test_weekends_and_public_holidays_are_not_payout_days():
    assert decide(seller(), run_date=date(2026, 11, 22)).skip is SkipReason.NOT_A_PAYOUT_DAY  # Sunday
    xmas = datetime(2026, 12, 25, 12, tzinfo=UTC)
    assert decide(seller(), run_date=date(2026, 12, 25), now=xmas).skip is SkipReason.NOT_A_PAYOUT_DAY
    july4 = datetime(2026, 7, 3, 18, tzinfo=UTC)  # 4 July 2026 is a Saturday, observed Friday 3rd
    assert decide(seller("US"), run_date=date(2026, 7, 3), now=july4).skip is SkipReason.NOT_A_PAYOUT_DAY


def test_a_weekly_schedule_pays_on_its_weekday_only():
    weekly = seller(payout_schedule=PayoutSchedule(interval="weekly", weekday="tuesday"))
    assert decide(weekly).skip is SkipReason.NOT_A_PAYOUT_DAY
    tuesday = NOON + timedelta(days=1)
    assert decide(weekly, run_date=tuesday.date(), now=tuesday).pays


def test_the_run_date_must_have_begun_in_the_sellers_timezone():
    # Monday 20:00 UTC is already Tuesday 05:00 in Tokyo, still Monday in New York.
    monday_evening, tuesday = datetime(2026, 11, 23, 20, 0, tzinfo=UTC), date(2026, 11, 24)
    assert decide(seller("JP"), run_date=tuesday, now=monday_evening).pays
    assert decide(seller("US"), run_date=tuesday, now=monday_evening).skip is SkipReason.NOT_YET_IN_TIMEZONE


def test_japanese_public_holidays_are_not_payout_days():
    # 23 November is Labour Thanksgiving Day in Japan, a Monday in 2026; France works.
    assert decide(seller("JP")).skip is SkipReason.NOT_A_PAYOUT_DAY
    assert decide(seller("FR")).pays


def test_on_demand_amounts_are_bounded_by_available_and_the_minimum():
    fr = RULES.get("FR")
    assert requested_amount_decision(Money(5000, "EUR"), Money(4000, "EUR"), fr).skip is (
        SkipReason.INSUFFICIENT_AVAILABLE_BALANCE
    )
    assert (
        requested_amount_decision(Money(10, "EUR"), Money(4000, "EUR"), fr).skip is SkipReason.BELOW_MINIMUM
    )
    assert requested_amount_decision(Money(4000, "EUR"), Money(4000, "EUR"), fr).pays


def test_a_run_date_at_the_start_of_the_calendar_is_decided_not_an_error():
    """A run of 0001-01-01 is accepted; its pages must finish, not fail for ever (the schedule of
    the days before it cannot be computed: not a payout day)."""
    for country in RULES.countries():
        decided = decide(seller(country), run_date=date(1, 1, 1))
        assert decided.skip in (SkipReason.NOT_A_PAYOUT_DAY, None)
