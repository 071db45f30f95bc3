"""A seller's money in several currencies: which currency it can be paid in, and what its next
payout will be in that currency. Pure rules, no I/O.

A seller holds balances per currency (the ledger's ``sellers/{id}/balance_shards/{CCY}-{n}``)
and is paid in one *payout currency*. That currency must be one its country receives
(``CountryRules.payout_currencies``) and that at least one of its country's rails can pay to its
kind of bank account (``rail_capabilities.json``); otherwise onboarding refuses it
(:class:`UnsupportedPayoutCurrency`) and a run skips the seller
(``SkipReason.PAYOUT_CURRENCY_UNSUPPORTED``).

The expected next payout (:func:`expected_payout`) converts each balance at the current rate
with the same rule a payout uses (``fx.convert``): nothing is deducted that is not shown. A
balance in the payout currency is paid down to the currency's payout quantum and the rest stays
in the balance (HUF: the fillér below a whole forint); a converted balance is paid in full, its
rounding shown on its line. Balances net: a negative balance (refunds owed) in one currency
reduces the payout from the others at the same rate.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.domain.countries import CountryRules
from shared.domain.currency_practice import payable_amount
from shared.domain.eligibility import Decision, SkipReason, skip
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
from shared.domain.money import Money, currency_exponent, sum_money
from shared.domain.rail_capabilities import RailCapabilities, load_rail_capabilities


class UnsupportedPayoutCurrency(DomainError):
    def __init__(self, message: str, field: str | None = "payout_currency") -> None:
        super().__init__("unsupported_payout_currency", message, field)


def rails_paying(
    rules: CountryRules,
    currency: str,
    scheme: str,
    capabilities: RailCapabilities | None = None,
    rails: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """The rails of ``rules`` (or ``rails``, e.g. without a drained one), in order, that can pay
    ``currency`` to a ``scheme`` account in the country. Rails without recorded capabilities
    cannot be trusted to, so they are left out."""
    book = capabilities or load_rail_capabilities()
    candidates = rules.rails if rails is None else tuple(rails)
    return tuple(
        rail
        for rail in candidates
        if rail in book and book.get(rail).supports(rules.country, currency, scheme)
    )


def receivable_currencies(
    rules: CountryRules, capabilities: RailCapabilities | None = None, rails: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The payout currencies a seller of this country can choose now."""
    return tuple(
        currency
        for currency in rules.payout_currencies
        if rails_paying(rules, currency, rules.bank_account_scheme, capabilities, rails)
    )


def check_payout_currency(
    rules: CountryRules,
    payout_currency: str,
    capabilities: RailCapabilities | None = None,
    *,
    rails: Sequence[str] | None = None,
    field: str = "payout_currency",
) -> tuple[str, ...]:
    """The rails that can pay ``payout_currency`` to this country's sellers; raises
    UnsupportedPayoutCurrency (with ``field``) when the country or none of its rails can."""
    if payout_currency not in rules.payout_currencies:
        raise UnsupportedPayoutCurrency(
            f"{rules.country} sellers can be paid in {', '.join(rules.payout_currencies)}, "
            f"not {payout_currency}",
            field,
        )
    paying = rails_paying(rules, payout_currency, rules.bank_account_scheme, capabilities, rails)
    if not paying:
        book = capabilities or load_rail_capabilities()
        candidates = rules.rails if rails is None else tuple(rails)
        reasons = [
            book.get(rail).why_not(rules.country, payout_currency, rules.bank_account_scheme) or rail
            if rail in book
            else f"{rail} has no recorded capabilities"
            for rail in candidates
        ]
        raise UnsupportedPayoutCurrency(
            f"no rail can pay {payout_currency} to {rules.country} {rules.bank_account_scheme} accounts: "
            + ("; ".join(reasons) or "the country has no usable rail"),
            field,
        )
    return paying


def payout_currency_blocker(
    rules: CountryRules,
    payout_currency: str,
    capabilities: RailCapabilities | None = None,
    rails: Sequence[str] | None = None,
) -> Decision | None:
    """In a run: the skip of a seller whose payout currency cannot be paid now, else None."""
    try:
        check_payout_currency(rules, payout_currency, capabilities, rails=rails)
    except UnsupportedPayoutCurrency as exc:
        return skip(SkipReason.PAYOUT_CURRENCY_UNSUPPORTED, exc.message)
    return None


FX_RATE_ERRORS = (UnsupportedCurrencyPair, RateUnavailable, StaleRate, InvalidRate)


def fx_rate_skip(error: DomainError) -> Decision:
    """In a run: the skip of a seller whose balance cannot be converted now (no pair, no rate, a
    stale or invalid rate). The next run converts it when a good rate is there."""
    return skip(SkipReason.FX_RATE_UNAVAILABLE, f"{error.code}: {error.message}")


# --- The next payout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedLine:
    balance: Money  # the available balance, in its own currency
    amount: Money  # what it adds to the payout, in the payout currency
    conversion: Conversion | None = None  # None: the balance is in the payout currency
    kept: Money | None = None  # left in the balance (below the payout quantum), same currency only

    @property
    def rate(self) -> Rate | None:
        return self.conversion.rate if self.conversion else None


@dataclass(frozen=True)
class ExpectedPayout:
    payout_currency: str
    lines: tuple[ExpectedLine, ...]
    total: Money

    @property
    def rates(self) -> tuple[Rate, ...]:
        """The rates this payout would use (what a dry run shows)."""
        return tuple(line.rate for line in self.lines if line.rate is not None)


def expected_payout(
    balances: Iterable[Money], payout_currency: str, rate_for: Callable[[str, str], Rate]
) -> ExpectedPayout:
    """What paying ``balances`` (available, one per currency) in ``payout_currency`` gives now.

    ``rate_for(base, quote)`` is asked once per foreign balance (a RateSource bound to the time
    of the run, or a table); its errors (UnsupportedCurrencyPair, RateUnavailable, StaleRate,
    InvalidRate) propagate, for the caller to show or turn into :func:`fx_rate_skip`.
    """
    lines: list[ExpectedLine] = []
    seen: set[str] = set()
    for balance in balances:
        if balance.currency in seen:
            raise ValueError(f"two balances in {balance.currency}: sum the shards first")
        seen.add(balance.currency)
        if balance.is_zero():
            continue
        if balance.currency == payout_currency:
            amount = payable_amount(balance)
            lines.append(ExpectedLine(balance, amount, kept=balance - amount))
        else:
            conversion = convert(balance, rate_for(balance.currency, payout_currency))
            lines.append(ExpectedLine(balance, conversion.target, conversion=conversion))
    total = sum_money((line.amount for line in lines), payout_currency)
    return ExpectedPayout(payout_currency, tuple(lines), total)


# --- Which currencies a seller may hold ------------------------------------------------------------

_STOREFRONTS = Path(__file__).parent / "data" / "storefronts.json"


@functools.cache
def storefront_currencies() -> tuple[str, ...]:
    """The currencies the marketplace sells in to any seller (``data/storefronts.json``)."""
    data = json.loads(_STOREFRONTS.read_text())
    currencies = tuple(str(c) for c in data["currencies"])
    for code in currencies:
        currency_exponent(code)  # an unknown code is a broken file, refused on first use
    return currencies


def sales_currencies(home_currency: str, payout_currency: str) -> tuple[str, ...]:
    """The currencies a seller may be credited in, and so hold balances in: its country's, its
    payout currency and the storefronts' (sorted, each once)."""
    return tuple(sorted({home_currency, payout_currency, *storefront_currencies()}))


class UnsupportedSalesCurrency(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("currency_mismatch", message, field)


def check_sales_currency(currency: str, home_currency: str, payout_currency: str, field: str) -> None:
    """An order event's currency must be one the seller may hold (:func:`sales_currencies`)."""
    allowed = sales_currencies(home_currency, payout_currency)
    if currency not in allowed:
        raise UnsupportedSalesCurrency(
            f"currency {currency} is not one this seller sells in ({', '.join(allowed)})", field
        )
