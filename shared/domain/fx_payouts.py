"""A payout in the seller's payout currency from balances in several currencies. Pure rules.

**The rule.** A seller is paid in one *payout currency* and may hold available balances in
others (its storefronts' currencies: ``payout_currency.sales_currencies``). A payout, scheduled
or on demand, first converts *every* non-zero available balance in another currency in full
into the payout currency, at the rates fixed when the payout is created (one
:class:`~shared.domain.fx.Conversion` each, recorded on the payout); then it is decided on the
balance in the payout currency that results, exactly as a payout in one currency is (the
country's minimum, the limit of one payout, the requested amount), and what it does not pay
stays in the payout currency for the next payout. So:

- one payout per seller per run, in the payout currency, carrying its conversions (a payout
  with several source currencies is one transfer; each conversion is its own journal entry);
- a negative balance in one currency (refunds owed) nets against the others at the same rate;
- nothing is converted when nothing is paid (a skipped seller keeps its balances as they were);
- a failed, canceled or returned payout converts back at the recorded rates
  (``fx.reversal_entry``): the seller gets back exactly the balances that left.

The country's minimum and limit are in its currency; a payout currency other than the
country's compares them converted at the same rates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from shared.domain.countries import CountryRules
from shared.domain.currency_practice import payable_amount
from shared.domain.eligibility import (
    Decision,
    SkipReason,
    amount_decision,
    decide_payout,
    payout_blocker,
    requested_amount_decision,
)
from shared.domain.errors import DomainError
from shared.domain.fx import (
    Conversion,
    InvalidRate,
    Rate,
    RateUnavailable,
    StaleRate,
    UnsupportedCurrencyPair,
    convert,
)
from shared.domain.money import Money, amount_text, sum_money
from shared.domain.payout_currency import FX_RATE_ERRORS, fx_rate_skip, payout_currency_blocker
from shared.domain.sellers import Seller

# Rates by source currency, each to the seller's payout currency, or why there is none (the
# error a RateSource raised: UnsupportedCurrencyPair, RateUnavailable, StaleRate, InvalidRate).
RatesToPayout = Mapping[str, Rate | DomainError]

# A run's skips that depend on the amount: with money in other currencies, decided on the total.
_AMOUNT_SKIPS = frozenset(
    {SkipReason.NO_AVAILABLE_BALANCE, SkipReason.BELOW_MINIMUM, SkipReason.NEGATIVE_BALANCE}
)


@dataclass(frozen=True)
class PayoutPlan:
    """The decision, and the conversions the payout makes when it pays (none when it does not)."""

    decision: Decision
    conversions: tuple[Conversion, ...] = ()

    @property
    def rates(self) -> tuple[Rate, ...]:
        return tuple(c.rate for c in self.conversions)


def foreign_balances(balances: Iterable[Money], payout_currency: str) -> tuple[Money, ...]:
    """The non-zero balances in currencies other than the payout currency, by currency."""
    return tuple(
        sorted(
            (b for b in balances if b.currency != payout_currency and not b.is_zero()),
            key=lambda b: b.currency,
        )
    )


def rate_to_payout(rates: RatesToPayout, currency: str, payout_currency: str) -> Rate:
    """The rate for ``currency`` -> ``payout_currency``, or the error the source gave (raised)."""
    found = rates.get(currency)
    if found is None:
        raise RateUnavailable(f"no {currency}/{payout_currency} rate was fetched for this payout")
    if isinstance(found, DomainError):
        raise found
    if found.base != currency or found.quote != payout_currency:
        raise RateUnavailable(f"a {found.pair} rate cannot convert {currency} to {payout_currency}")
    return found


def limits_in(rules: CountryRules, payout_currency: str, rates: RatesToPayout) -> CountryRules:
    """The country's rules with its minimum and limit of one payout in ``payout_currency``."""
    if payout_currency == rules.currency:
        return rules
    rate = rate_to_payout(rates, rules.currency, payout_currency)
    return rules.model_copy(
        update={
            "currency": payout_currency,
            "minimum_payout": convert(rules.minimum_payout_money, rate).target.amount,
            "max_transaction_amount": convert(rules.max_transaction_money, rate).target.amount,
        }
    )


_RATE_ERRORS_BY_CODE: dict[str, Callable[[str], DomainError]] = {
    "unsupported_currency_pair": UnsupportedCurrencyPair,
    "rate_unavailable": RateUnavailable,
    "stale_rate": StaleRate,
    "invalid_rate": InvalidRate,
}


def rate_error_text(error: DomainError) -> str:
    """How a snapshot keeps a pair's missing rate: ``"stale_rate: ..."``."""
    return f"{error.code}: {error.message}"


def rates_from_snapshot(
    rates: Iterable[Rate],
    unavailable: Iterable[tuple[str, str]],
    currencies: Iterable[str],
    payout_currency: str,
) -> RatesToPayout:
    """A seller's rates from a snapshot (a dry run's): each of ``currencies`` to the payout
    currency, or the error recorded for the pair (or that the snapshot has no such pair)."""
    table = {(r.base, r.quote): r for r in rates}
    missing = dict(unavailable)
    found: dict[str, Rate | DomainError] = {}
    for currency in currencies:
        if currency == payout_currency:
            continue
        pair = f"{currency}/{payout_currency}"
        if (currency, payout_currency) in table:
            found[currency] = table[(currency, payout_currency)]
        elif pair in missing:
            code, _, message = missing[pair].partition(": ")
            found[currency] = _RATE_ERRORS_BY_CODE.get(code, RateUnavailable)(message)
        else:
            found[currency] = RateUnavailable(f"the run fixed no {pair} rate")
    return found


def plan_payout(
    balances: Iterable[Money],
    payout_currency: str,
    rules: CountryRules,
    rates: RatesToPayout,
    *,
    requested: Money | None = None,
) -> PayoutPlan:
    """The payout of ``balances`` (available, one per currency) in ``payout_currency``: all
    available up to the limit of one payout (a run), or ``requested`` (on demand).

    Without money in another currency this is the one-currency decision, unchanged. Raises the
    rate errors (FX_RATE_ERRORS) of a currency it must convert, for the caller to skip or refuse.
    """
    by_currency = {b.currency: b for b in balances}
    native = by_currency.get(payout_currency, Money.zero(payout_currency))
    foreign = foreign_balances(by_currency.values(), payout_currency)
    if not foreign and payout_currency == rules.currency:
        if requested is None:
            return PayoutPlan(amount_decision(native, rules))
        return PayoutPlan(requested_amount_decision(requested, native, rules))
    limits = limits_in(rules, payout_currency, rates)
    conversions = tuple(convert(b, rate_to_payout(rates, b.currency, payout_currency)) for b in foreign)
    total = native + sum_money((c.target for c in conversions), payout_currency)
    if requested is None:
        decision = amount_decision(payable_amount(total) if total.is_positive() else total, limits)
    else:
        decision = requested_amount_decision(requested, total, limits)
    if decision.amount is None:
        return PayoutPlan(decision)
    converted = "; ".join(
        f"{amount_text(c.source)} -> {amount_text(c.target)} at {c.rate}" for c in conversions
    )
    detail = f"converted {converted}" + (f"; {decision.detail}" if decision.detail else "")
    return PayoutPlan(replace(decision, detail=detail), conversions)


def decide_fx_payout(
    seller: Seller,
    rules: CountryRules,
    balances: Iterable[Money],
    rates: RatesToPayout,
    now: datetime,
    *,
    run_date: date | None = None,
    requested: Money | None = None,
) -> PayoutPlan:
    """A seller's payout decision over all its balances: a run's (``run_date``: its schedule,
    timezone and business day first) or an on-demand request's. A payout currency no rail can
    pay now, or a rate that cannot be had, is a skip (``payout_currency_unsupported``,
    ``fx_rate_unavailable``), never an error."""
    held = list(balances)
    payout_currency = seller.payout_currency
    native = next((b for b in held if b.currency == payout_currency), Money.zero(payout_currency))
    if run_date is not None:
        first = decide_payout(seller, rules, native, run_date, now)
        if not (first.pays or first.skip in _AMOUNT_SKIPS):
            return PayoutPlan(first)
    else:
        blocked = payout_blocker(seller, rules, now)
        if blocked is not None:
            return PayoutPlan(blocked)
    if payout_currency != rules.currency:
        unsupported = payout_currency_blocker(rules, payout_currency)
        if unsupported is not None:
            return PayoutPlan(unsupported)
    try:
        return plan_payout(held, payout_currency, rules, rates, requested=requested)
    except FX_RATE_ERRORS as exc:
        return PayoutPlan(fx_rate_skip(exc))
