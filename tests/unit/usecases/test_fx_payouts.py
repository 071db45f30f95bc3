"""Issue 17 part B on the fakes: sellers paid in another currency than they sell in, payouts that
convert at a rate fixed when they are created, their reversal at the recorded rate, the skip
reasons and refusals of every bad rate, and the ledger conserved per currency, FX included."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from shared.adapters.fx_rates import fixed_table_source
from shared.domain.eligibility import SkipReason
from shared.domain.fx import (
    InvalidRate,
    Rate,
    RateUnavailable,
    StaleRate,
    UnsupportedCurrencyPair,
    fx_account,
    fx_gain_loss_account,
    fx_rounding_account,
)
from shared.domain.ledger_invariants import money_flows, unknown_accounts
from shared.domain.money import Money
from shared.domain.payout_currency import UnsupportedPayoutCurrency
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.sellers import SellerIn, SellerPatch
from shared.usecases import payout_runs as runs
from shared.usecases.ledger_audit import audit_ledger
from shared.usecases.order_events import InvalidForSeller
from shared.usecases.sellers import get_seller, put_seller, update_seller
from stand_ins.sample_sellers import seller_body
from tests.unit.usecases.conftest import NOW
from tests.unit.usecases.test_runs import drain, items

TODAY = NOW.date()  # a Tuesday: SE and FR sellers are paid on Tuesdays
LOCAL_RATES = fixed_table_source(max_age=timedelta(days=3650))


class Rates:
    """A rate source that answers what a test tells it, per pair (a Rate or the error to raise)."""

    name = "test"

    def __init__(self, **answers: object) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, datetime]] = []

    def rate(self, base: str, quote: str, at: datetime) -> Rate:
        self.asked.append((base, quote, at))
        answer = self.answers.get(f"{base}{quote}")
        if answer is None:
            return LOCAL_RATES.rate(base, quote, at)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, Rate)
        return answer


@pytest.fixture
def fx(world):
    world.svc.rates = LOCAL_RATES
    return world


def swedish_seller_selling_in_eur(world, eur=25_000, seller_id="se-1"):
    world.seller(seller_id, "SE", 1)
    world.fund(seller_id, eur, "EUR")
    return seller_id


def conserved(world):
    """Every entry balances, stored balances equal their postings, and per currency: collected =
    paid out + commission + refunds + balances + the FX accounts."""
    report = audit_ledger(world.store)
    assert report.ok, report.problems
    assert not unknown_accounts(report.account_totals)
    flows = money_flows(report.account_totals, report.stored_balances)
    assert all(flow.conserved for flow in flows.values()), flows
    return report.account_totals


def test_a_seller_is_paid_in_its_countrys_currency_unless_it_chooses_another(fx):
    fx.seller("se-1", "SE", 1)
    assert get_seller(fx.store, "se-1").seller.payout_currency == "SEK"


def test_a_payout_currency_the_country_cannot_receive_is_refused_naming_the_field(fx):
    body = seller_body("SE", 2, payout_currency="EUR")
    with pytest.raises(UnsupportedPayoutCurrency) as refused:
        put_seller(fx.store, fx.registry, "se-2", SellerIn.model_validate_json(json.dumps(body)), now=NOW)
    assert refused.value.field == "payout_currency" and refused.value.code == "unsupported_payout_currency"
    fx.seller("se-3", "SE", 3)
    with pytest.raises(UnsupportedPayoutCurrency):
        update_seller(fx.store, fx.registry, "se-3", SellerPatch(payout_currency="USD"), now=NOW)


def test_a_payout_currency_no_rail_of_the_country_can_pay_is_refused(fx):
    # JP's rails: sandbox only; a Japanese seller paid in JPY is fine, in a currency JP lists but
    # no rail pays to its accounts (a registry where JP also lists USD, only adyen routes) is not.
    rules = fx.registry.get("JP").model_copy(
        update={"payout_currencies": ("JPY", "USD"), "rails": ("adyen",)}
    )
    from shared.domain.payout_currency import check_payout_currency

    with pytest.raises(UnsupportedPayoutCurrency) as refused:
        check_payout_currency(rules, "USD")
    assert "adyen" in refused.value.message and refused.value.field == "payout_currency"


def test_order_events_may_credit_a_seller_in_its_storefront_currencies_not_others(fx):
    sid = swedish_seller_selling_in_eur(fx)
    fx.fund(sid, 10_000, "GBP")
    fx.fund(sid, 50_000, "SEK")
    assert {b.currency for b in fx.store.sellers.balances(sid)} == {"EUR", "GBP", "SEK"}
    with pytest.raises(InvalidForSeller) as refused:
        fx.fund(sid, 1_000, "USD")
    assert refused.value.field == "data.gross.currency"


def test_a_run_converts_a_foreign_balance_at_the_rate_fixed_when_the_payout_is_created(fx):
    sid = swedish_seller_selling_in_eur(fx)  # EUR 250.00 available
    run = runs.start_run(fx.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run
    drain(fx)
    item = items(fx, run.run_id)[sid]
    payout = fx.store.t.payouts[item.payout_id]
    # The docs' worked example: EUR 250.00 at 10.9345 is SEK 2,733.625, half-even SEK 2,733.62.
    assert payout.amount == Money(273_362, "SEK")
    (conversion,) = payout.conversions
    assert conversion.source == Money(25_000, "EUR") and conversion.target == Money(273_362, "SEK")
    assert conversion.rate.value == Decimal("10.9345") and conversion.rate.source == "fixed_table"
    assert item.conversions == payout.conversions and item.currency == "SEK"
    assert fx.available(sid, "EUR") == 0 and fx.balance(sid, "SEK") == (0, 0, 273_362)
    totals = conserved(fx)
    assert totals[(fx_account("EUR"), "EUR")] == 25_000
    assert totals[(fx_account("SEK"), "SEK")] == -273_362


def test_one_payout_gathers_several_balances_with_one_conversion_each(fx):
    fx.seller("fr-1", "FR", 1)
    fx.fund("fr-1", 4_000, "EUR")
    fx.fund("fr-1", 8_678, "GBP")  # GBP 86.78 = EUR 100.00 at 0.86780
    run = runs.start_run(fx.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run
    drain(fx)
    payout = fx.store.t.payouts[items(fx, run.run_id)["fr-1"].payout_id]
    assert payout.amount == Money(14_000, "EUR")
    assert [c.source for c in payout.conversions] == [Money(8_678, "GBP")]
    conserved(fx)


def test_a_dry_run_shows_the_rates_it_would_use_and_moves_nothing(fx):
    sid = swedish_seller_selling_in_eur(fx)
    run = runs.start_run(fx.svc, TODAY, dry_run=True, requested_by="test", now=NOW).progress.run
    drain(fx)
    item = items(fx, run.run_id)[sid]
    assert item.would_pay == 273_362 and item.payout_id is None
    (conversion,) = item.conversions
    assert str(conversion.rate.value) == "10.9345" and conversion.rate.pair == "EUR/SEK"
    assert fx.available(sid, "EUR") == 25_000 and fx.store.t.payouts == {}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UnsupportedCurrencyPair("no EUR/SEK rate"), "unsupported_currency_pair"),
        (StaleRate("the EUR/SEK rate is 5.0 days old"), "stale_rate"),
        (RateUnavailable("the feed is unreachable"), "rate_unavailable"),
        (InvalidRate("a rate must be greater than zero, not 0"), "invalid_rate"),
        (InvalidRate("a rate must be greater than zero, not -10.9"), "invalid_rate"),
    ],
)
def test_a_rate_that_cannot_be_had_is_a_skip_reason_in_a_run_never_a_crash(fx, error, code):
    sid = swedish_seller_selling_in_eur(fx)
    fx.svc.rates = Rates(EURSEK=error)
    run = runs.start_run(fx.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run
    drain(fx)
    item = items(fx, run.run_id)[sid]
    assert item.skip_reason is SkipReason.FX_RATE_UNAVAILABLE and item.detail.startswith(code)
    assert fx.available(sid, "EUR") == 25_000 and fx.store.t.payouts == {}


def test_a_zero_or_negative_rate_from_a_source_is_refused_where_the_rate_is_made():
    for value in ("0", "-10.9345", "0.0"):
        with pytest.raises(InvalidRate):
            Rate("EUR", "SEK", value, "ecb", NOW)  # type: ignore[arg-type]


def test_no_rate_source_is_a_skip_reason(fx):
    sid = swedish_seller_selling_in_eur(fx)
    fx.svc.rates = None
    run = runs.start_run(fx.svc, TODAY, dry_run=True, requested_by="test", now=NOW).progress.run
    drain(fx)
    assert items(fx, run.run_id)[sid].skip_reason is SkipReason.FX_RATE_UNAVAILABLE


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UnsupportedCurrencyPair("no EUR/SEK rate"), "unsupported_currency_pair"),
        (StaleRate("the EUR/SEK rate is 5.0 days old"), "stale_rate"),
        (RateUnavailable("no EUR/SEK rate published yet"), "rate_unavailable"),
        (InvalidRate("a rate must be greater than zero, not -1"), "invalid_rate"),
    ],
)
def test_on_demand_a_rate_that_cannot_be_had_is_a_clear_refusal(fx, error, code):
    sid = swedish_seller_selling_in_eur(fx)
    fx.svc.rates = Rates(EURSEK=error)
    outcome = fx.svc.request_payout(
        caller="ops", idempotency_key="k-fx-00001", seller_id=sid, amount=Money(100_000, "SEK"), now=NOW
    )
    assert outcome.payout is None and outcome.refusal is not None
    assert outcome.refusal.code == "fx_rate_unavailable" and outcome.refusal.field == "amount.currency"
    assert code in outcome.refusal.message
    assert fx.available(sid, "EUR") == 25_000


def test_on_demand_in_another_currency_than_the_payout_currency_is_refused(fx):
    sid = swedish_seller_selling_in_eur(fx)
    outcome = fx.svc.request_payout(
        caller="ops", idempotency_key="k-fx-00002", seller_id=sid, amount=Money(10_000, "EUR"), now=NOW
    )
    assert outcome.refusal is not None and outcome.refusal.code == "currency_mismatch"
    assert outcome.refusal.field == "amount.currency"


def test_on_demand_converts_and_what_it_does_not_pay_stays_in_the_payout_currency(fx):
    sid = swedish_seller_selling_in_eur(fx)
    payout = fx.pay_on_demand(sid, 100_000, currency="SEK")
    assert payout.amount == Money(100_000, "SEK") and len(payout.conversions) == 1
    assert fx.available(sid, "EUR") == 0
    assert fx.balance(sid, "SEK") == (0, 173_362, 100_000)
    conserved(fx)


@pytest.mark.parametrize("status", [PayoutStatus.FAILED, PayoutStatus.CANCELED])
def test_a_failed_or_canceled_fx_payout_converts_back_at_the_recorded_rate(fx, status):
    sid = swedish_seller_selling_in_eur(fx)
    payout = fx.pay_on_demand(sid, 273_362, currency="SEK")
    fx.svc.rates = Rates(EURSEK=Rate("EUR", "SEK", Decimal("12.5"), "ecb", NOW))  # the rate moved
    if status is PayoutStatus.CANCELED:
        fx.svc.cancel(payout.payout_id, "ops", now=NOW)
    else:
        fx.svc.apply_state(
            payout.payout_id, status, cause="test", actor="test", failure_code=FailureCode.DECLINED, now=NOW
        )
    assert fx.available(sid, "EUR") == 25_000 and fx.balance(sid, "SEK") == (0, 0, 0)
    totals = conserved(fx)
    assert totals.get((fx_account("EUR"), "EUR"), 0) == 0 and totals.get((fx_account("SEK"), "SEK"), 0) == 0


def test_a_returned_fx_payout_converts_back_at_the_recorded_rate(fx):
    sid = swedish_seller_selling_in_eur(fx)
    payout = fx.pay_on_demand(sid, 273_362, currency="SEK")
    fx.svc.apply_state(payout.payout_id, PayoutStatus.PAID, cause="test", actor="test", now=NOW)
    fx.svc.apply_state(
        payout.payout_id, PayoutStatus.RETURNED, cause="test", actor="test", now=NOW + timedelta(days=2)
    )
    assert fx.available(sid, "EUR") == 25_000 and fx.balance(sid, "SEK") == (0, 0, 0)
    conserved(fx)


def test_a_return_in_the_source_currency_at_the_rails_rate_books_the_difference_as_fx_gain_or_loss(fx):
    # The docs' example: the rail gives back EUR 248.10 for the SEK 2,733.62 it could not deliver.
    sid = swedish_seller_selling_in_eur(fx)
    payout = fx.pay_on_demand(sid, 273_362, currency="SEK")
    fx.svc.apply_state(payout.payout_id, PayoutStatus.PAID, cause="test", actor="test", now=NOW)
    result = fx.svc.apply_state(
        payout.payout_id,
        PayoutStatus.RETURNED,
        cause="test",
        actor="test",
        amount=Money(24_810, "EUR"),
        now=NOW + timedelta(days=2),
    )
    assert result == "applied"
    assert fx.available(sid, "EUR") == 25_000  # the seller gets back exactly what left
    totals = conserved(fx)
    assert totals[(fx_gain_loss_account("EUR"), "EUR")] == -190


def test_a_return_of_another_amount_in_the_payout_currency_is_flagged_not_booked(fx):
    sid = swedish_seller_selling_in_eur(fx)
    payout = fx.pay_on_demand(sid, 273_362, currency="SEK")
    fx.svc.apply_state(payout.payout_id, PayoutStatus.PAID, cause="test", actor="test", now=NOW)
    result = fx.svc.apply_state(
        payout.payout_id, PayoutStatus.RETURNED, cause="t", actor="t", amount=Money(1, "SEK"), now=NOW
    )
    assert result == "amount_mismatch" and fx.store.t.payouts[payout.payout_id].status is PayoutStatus.PAID


def test_a_hungarian_seller_paid_in_whole_forints_books_the_rounding(fx):
    fx.seller("hu-1", "HU", 1)
    fx.fund("hu-1", 10_001, "EUR")  # EUR 100.01 at 389.63: HUF 38,966.8963
    run = runs.start_run(
        fx.svc, TODAY + timedelta(days=2), dry_run=False, requested_by="t", now=NOW + timedelta(days=2)
    )
    drain(fx, now=NOW + timedelta(days=2))
    payout = fx.store.t.payouts[items(fx, run.progress.run.run_id)["hu-1"].payout_id]
    assert payout.amount == Money(3_896_700, "HUF")
    totals = conserved(fx)
    assert totals[(fx_rounding_account("HUF"), "HUF")] == -10


def test_a_debt_in_one_currency_nets_against_the_others(fx):
    fx.seller("se-1", "SE", 1)
    fx.fund("se-1", 150_000, "SEK", line="sek-line")
    fx.pay_on_demand("se-1", 150_000, key="k-sek-00001", currency="SEK")
    fx.event(
        "se-1", "refunded", {"amount": {"amount": 165_000, "currency": "SEK"}, "refund_id": "r-1"}, "sek-line"
    )
    assert fx.available("se-1", "SEK") == -150_000
    fx.fund("se-1", 25_000, "EUR")
    payout = fx.pay_on_demand("se-1", 123_362, key="k-sek-00002", currency="SEK")  # SEK 2,733.62 - 1,500.00
    assert payout.amount == Money(123_362, "SEK")
    assert fx.available("se-1", "SEK") == 0 and fx.available("se-1", "EUR") == 0
    conserved(fx)


def test_the_seller_view_shows_each_balance_and_the_expected_payout_with_its_rates(fx):
    from shared.usecases.sellers import expected_next_payout

    sid = swedish_seller_selling_in_eur(fx)
    fx.fund(sid, 8_678, "GBP")
    view = expected_next_payout(fx.store, fx.svc.rates, get_seller(fx.store, sid).seller, NOW)
    assert view.payout_currency == "SEK"
    assert view.total == Money(273_362 + 109_345, "SEK")
    assert {str(r.value) for r in view.rates} == {"10.9345", "12.6002535146"}


def test_a_seller_view_with_a_rate_that_cannot_be_had_says_why(fx):
    from shared.usecases.sellers import expected_next_payout

    sid = swedish_seller_selling_in_eur(fx)
    view = expected_next_payout(
        fx.store, Rates(EURSEK=StaleRate("too old")), get_seller(fx.store, sid).seller, NOW
    )
    assert view.error is not None and view.error.code == "stale_rate"
