"""Seller onboarding: create or update a seller, and read it back with its balances."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from shared import log
from shared.domain.countries import CountryRegistry
from shared.domain.errors import DomainError
from shared.domain.fx import Rate, RateUnavailable
from shared.domain.money import Money
from shared.domain.payout_currency import (
    FX_RATE_ERRORS,
    ExpectedPayout,
    check_payout_currency,
    expected_payout,
)
from shared.domain.sellers import (
    Seller,
    SellerIn,
    SellerPatch,
    bank_account_changed,
    onboard_seller,
    patch_seller,
    replace_seller,
)
from shared.usecases.ports import Balance, RateSource, Storage, UnitOfWork

logger = logging.getLogger(__name__)


class SellerNotFound(DomainError):
    def __init__(self, seller_id: str) -> None:
        super().__init__("seller_not_found", f"seller {seller_id} does not exist", "seller_id")


@dataclass(frozen=True)
class SaveResult:
    seller: Seller
    created: bool


@dataclass(frozen=True)
class SellerWithBalances:
    seller: Seller
    balances: list[Balance]  # one per currency, the seller's own first even when empty


def put_seller(
    store: Storage,
    registry: CountryRegistry,
    seller_id: str,
    data: SellerIn,
    now: datetime | None = None,
) -> SaveResult:
    """Create the seller, or replace its mutable fields. Validation happens before any write."""
    now = now or datetime.now(UTC)
    rules = registry.get(data.country)

    def save(uow: UnitOfWork) -> SaveResult:
        current = uow.sellers.get(seller_id)
        if data.payout_currency is not None:  # issue 17: one the country and a rail can pay
            check_payout_currency(rules, data.payout_currency)
        if current is None:
            seller = onboard_seller(seller_id, data, rules, now)
            uow.sellers.put(seller, bank_account_changed=True)
            return SaveResult(seller, created=True)
        seller = replace_seller(current, data, rules, now)
        uow.sellers.put(seller, bank_account_changed=bank_account_changed(current, seller))
        return SaveResult(seller, created=False)

    with log.bind(seller_id=seller_id):
        result = store.atomically(save)
        logger.info(
            "seller %s (bank account %s)",
            "onboarded" if result.created else "updated",
            result.seller.bank_account.masked,
        )
        return result


def update_seller(
    store: Storage,
    registry: CountryRegistry,
    seller_id: str,
    patch: SellerPatch,
    now: datetime | None = None,
) -> Seller:
    now = now or datetime.now(UTC)

    def save(uow: UnitOfWork) -> Seller:
        current = uow.sellers.get(seller_id)
        if current is None:
            raise SellerNotFound(seller_id)
        rules = registry.get(current.country)
        if patch.payout_currency is not None:  # issue 17: one the country and a rail can pay
            check_payout_currency(rules, patch.payout_currency)
        seller = patch_seller(current, patch, rules, now)
        uow.sellers.put(seller, bank_account_changed=bank_account_changed(current, seller))
        return seller

    with log.bind(seller_id=seller_id):
        seller = store.atomically(save)
        logger.info("seller patched: %s", ", ".join(sorted(patch.model_fields_set)) or "nothing")
        return seller


def seller_balances(store: Storage, seller: Seller) -> list[Balance]:
    balances = store.sellers.balances(seller.seller_id)
    if not any(b.currency == seller.currency for b in balances):
        balances = [Balance(currency=seller.currency), *balances]
    return balances


def get_seller(store: Storage, seller_id: str) -> SellerWithBalances:
    seller = store.sellers.get(seller_id)
    if seller is None:
        raise SellerNotFound(seller_id)
    return SellerWithBalances(seller, seller_balances(store, seller))


@dataclass(frozen=True)
class ExpectedNextPayout:
    """What the seller's next payout is expected to be in its payout currency (issue 17): each
    available balance, converted at the current rate, or why no rate could be had."""

    payout_currency: str
    expected: ExpectedPayout | None
    error: DomainError | None = None

    @property
    def total(self) -> Money | None:
        return self.expected.total if self.expected else None

    @property
    def rates(self) -> tuple[Rate, ...]:
        return self.expected.rates if self.expected else ()


def expected_next_payout(
    store: Storage, rates: RateSource | None, seller: Seller, now: datetime
) -> ExpectedNextPayout:
    """The seller's available balances as its next payout would pay them now (before its minimum,
    limit and schedule): ``payout_currency.expected_payout`` at the rate source's current rates."""
    available = [Money(b.available, b.currency) for b in seller_balances(store, seller)]

    def rate_for(base: str, quote: str) -> Rate:
        if rates is None:
            raise RateUnavailable("no exchange-rate source is configured")
        return rates.rate(base, quote, now)

    try:
        return ExpectedNextPayout(
            seller.payout_currency, expected_payout(available, seller.payout_currency, rate_for)
        )
    except FX_RATE_ERRORS as exc:
        return ExpectedNextPayout(seller.payout_currency, None, exc)
