"""Seller onboarding: create or update a seller, and read it back with its balances."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from shared import log
from shared.domain.countries import CountryRegistry
from shared.domain.errors import DomainError
from shared.domain.sellers import (
    Seller,
    SellerIn,
    SellerPatch,
    bank_account_changed,
    onboard_seller,
    patch_seller,
    replace_seller,
)
from shared.usecases.ports import Balance, Storage, UnitOfWork

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
        seller = patch_seller(current, patch, registry.get(current.country), now)
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
