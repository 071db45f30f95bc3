"""Issue 17 part B, the pure rules (shared/domain/fx_payouts.py): the payout plan over several
balances, limits in another payout currency, a dry run's rate snapshot, and the sales currencies."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.countries import load_country_rules
from shared.domain.eligibility import SkipReason
from shared.domain.fx import InvalidRate, Rate, RateUnavailable, StaleRate, UnsupportedCurrencyPair
from shared.domain.fx_payouts import (
    foreign_balances,
    limits_in,
    plan_payout,
    rate_error_text,
    rate_to_payout,
    rates_from_snapshot,
)
from shared.domain.money import Money
from shared.domain.payout_currency import check_sales_currency, sales_currencies, storefront_currencies

RULES = load_country_rules()
AT = datetime(2025, 10, 21, 14, tzinfo=UTC)
EUR_SEK = Rate("EUR", "SEK", Decimal("10.9345"), "ecb", AT)
GBP_SEK = Rate("GBP", "SEK", Decimal("12.6"), "ecb", AT)


def test_without_money_in_another_currency_the_plan_is_the_one_currency_decision():
    plan = plan_payout([Money(50_000, "SEK"), Money(0, "EUR")], "SEK", RULES.get("SE"), {})
    assert plan.decision.amount == Money(50_000, "SEK") and plan.conversions == ()
    low = plan_payout([Money(5_000, "SEK")], "SEK", RULES.get("SE"), {})
    assert low.decision.skip is SkipReason.BELOW_MINIMUM


def test_every_other_balance_is_converted_in_full_and_nothing_when_nothing_is_paid():
    plan = plan_payout(
        [Money(10_000, "SEK"), Money(25_000, "EUR"), Money(1_000, "GBP")],
        "SEK",
        RULES.get("SE"),
        {"EUR": EUR_SEK, "GBP": GBP_SEK},
    )
    assert plan.decision.amount == Money(10_000 + 273_362 + 12_600, "SEK")
    assert [c.source.currency for c in plan.conversions] == ["EUR", "GBP"]
    assert plan.rates == (EUR_SEK, GBP_SEK)
    nothing = plan_payout([Money(500, "EUR")], "SEK", RULES.get("SE"), {"EUR": EUR_SEK})
    assert nothing.decision.skip is SkipReason.BELOW_MINIMUM and nothing.conversions == ()


def test_over_the_limit_the_rest_stays_in_the_payout_currency():
    rules = RULES.get("SE")
    big = Money(5_000_000, "EUR")  # SEK 546,725.00 > SEK 500,000.00
    plan = plan_payout([big], "SEK", rules, {"EUR": EUR_SEK})
    assert plan.decision.amount == rules.max_transaction_money
    assert plan.decision.left_for_next_run == Money(54_672_500 - 50_000_000, "SEK")
    on_demand = plan_payout([big], "SEK", rules, {"EUR": EUR_SEK}, requested=Money(60_000_000, "SEK"))
    assert on_demand.decision.skip is SkipReason.AMOUNT_OVER_LIMIT


def test_a_missing_or_failed_rate_is_raised_for_the_caller_to_skip():
    with pytest.raises(RateUnavailable):
        plan_payout([Money(25_000, "EUR")], "SEK", RULES.get("SE"), {})
    with pytest.raises(StaleRate):
        plan_payout([Money(25_000, "EUR")], "SEK", RULES.get("SE"), {"EUR": StaleRate("old")})
    with pytest.raises(RateUnavailable, match="cannot convert"):
        rate_to_payout({"EUR": GBP_SEK}, "EUR", "SEK")


def test_limits_in_another_payout_currency_are_converted_at_the_same_rate():
    rules = RULES.get("SE")
    sek_eur = Rate("SEK", "EUR", Decimal("0.0914532"), "ecb", AT)
    in_eur = limits_in(rules, "EUR", {"SEK": sek_eur})
    assert in_eur.currency == "EUR"
    assert in_eur.minimum_payout == 915  # SEK 100.00 = EUR 9.14532
    assert limits_in(rules, "SEK", {}) is rules


def test_foreign_balances_leave_out_zeros_and_the_payout_currency():
    found = foreign_balances([Money(0, "GBP"), Money(-5, "EUR"), Money(7, "SEK")], "SEK")
    assert found == (Money(-5, "EUR"),)


def test_a_dry_runs_snapshot_gives_each_seller_its_rates_or_the_error_recorded():
    unavailable = [
        ("GBP/SEK", rate_error_text(UnsupportedCurrencyPair("no GBP/SEK"))),
        ("USD/SEK", rate_error_text(InvalidRate("a rate must be greater than zero, not 0"))),
    ]
    rates = rates_from_snapshot([EUR_SEK], unavailable, ["EUR", "GBP", "SEK", "USD", "CHF"], "SEK")
    assert rates["EUR"] == EUR_SEK and "SEK" not in rates
    assert isinstance(rates["GBP"], UnsupportedCurrencyPair)
    assert isinstance(rates["USD"], InvalidRate) and rates["USD"].message.endswith("not 0")
    assert isinstance(rates["CHF"], RateUnavailable)


def test_a_seller_sells_in_its_currencies_and_the_storefronts_only():
    assert storefront_currencies() == ("EUR", "GBP")
    assert sales_currencies("SEK", "SEK") == ("EUR", "GBP", "SEK")
    check_sales_currency("GBP", "SEK", "SEK", "data.gross.currency")
    with pytest.raises(Exception) as refused:
        check_sales_currency("USD", "SEK", "SEK", "data.gross.currency")
    assert getattr(refused.value, "field", None) == "data.gross.currency"
