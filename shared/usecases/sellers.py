"""Seller onboarding: create or update a seller, and read it back with its balances."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import log
from shared.adapters.firestore_store import Balance, FirestoreStore, Tx
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

logger = logging.getLogger(__name__)


class SellerNotFound(DomainError):
    http_status = 404

    def __init__(self, seller_id: str) -> None:
        super().__init__("seller_not_found", f"seller {seller_id} does not exist", "seller_id")


@dataclass(frozen=True)
class SaveResult:
    seller: Seller
    created: bool


def put_seller(
    store: FirestoreStore,
    registry: CountryRegistry,
    seller_id: str,
    data: SellerIn,
    now: datetime | None = None,
) -> SaveResult:
    """Create the seller, or replace its mutable fields. Validation happens before any write."""
    now = now or datetime.now(UTC)
    rules = registry.get(data.country)

    def save(tx: Tx) -> SaveResult:
        current = tx.get_seller(seller_id)
        if current is None:
            seller = onboard_seller(seller_id, data, rules, now)
            tx.put_seller(seller, bank_account_changed=True)
            return SaveResult(seller, created=True)
        seller = replace_seller(current, data, rules, now)
        tx.put_seller(seller, bank_account_changed=bank_account_changed(current, seller))
        return SaveResult(seller, created=False)

    with log.bind(seller_id=seller_id):
        result = store.run(save)
        logger.info(
            "seller %s (bank account %s)",
            "onboarded" if result.created else "updated",
            result.seller.bank_account.masked,
        )
        return result


def update_seller(
    store: FirestoreStore,
    registry: CountryRegistry,
    seller_id: str,
    patch: SellerPatch,
    now: datetime | None = None,
) -> Seller:
    now = now or datetime.now(UTC)

    def save(tx: Tx) -> Seller:
        current = tx.get_seller(seller_id)
        if current is None:
            raise SellerNotFound(seller_id)
        seller = patch_seller(current, patch, registry.get(current.country), now)
        tx.put_seller(seller, bank_account_changed=bank_account_changed(current, seller))
        return seller

    with log.bind(seller_id=seller_id):
        seller = store.run(save)
        logger.info("seller patched: %s", ", ".join(sorted(patch.model_fields_set)) or "nothing")
        return seller


def get_seller(store: FirestoreStore, seller_id: str) -> tuple[Seller, list[Balance]]:
    seller = store.get_seller(seller_id)
    if seller is None:
        raise SellerNotFound(seller_id)
    return seller, store.balances(seller_id)


def seller_view(
    seller: Seller, registry: CountryRegistry, balances: list[Balance] | None = None
) -> dict[str, Any]:
    """What the API shows: the bank account only ever masked."""
    rules = registry.get(seller.country)
    view: dict[str, Any] = {
        "seller_id": seller.seller_id,
        "country": seller.country,
        "currency": seller.currency,
        "display_name": seller.display_name,
        "bank_account": {
            "scheme": seller.bank_account.scheme,
            "holder_name": seller.bank_account.holder_name,
            "masked": seller.bank_account.masked,
            "status": seller.bank_account_status.value,
            "invalid_reason": seller.bank_account_invalid_reason,
            "changed_at": seller.bank_account_changed_at.isoformat(),
            "cooling_off_until": seller.cooling_off_until(rules).isoformat(),
        },
        "kyc_status": seller.kyc_status.value,
        "payout_schedule": seller.payout_schedule.model_dump(mode="json", exclude_none=True),
        "payout_hold": seller.payout_hold.model_dump(mode="json"),
        "created_at": seller.created_at.isoformat(),
        "updated_at": seller.updated_at.isoformat(),
    }
    if balances is not None:
        if not any(b.currency == seller.currency for b in balances):
            balances = [Balance(currency=seller.currency), *balances]
        view["balances"] = [b.as_dict() for b in balances]
    return view
