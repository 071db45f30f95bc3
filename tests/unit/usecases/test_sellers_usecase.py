"""Seller onboarding against the in-memory store."""

from __future__ import annotations

import json

import pytest

from shared.domain.sellers import KycStatus, SellerError, SellerIn, SellerPatch
from shared.usecases.sellers import SellerNotFound, get_seller, put_seller, update_seller
from stand_ins.sample_sellers import bank_account, seller_body
from tests.unit.usecases.conftest import NOW, ONBOARDED


def body(**overrides):
    return SellerIn.model_validate_json(json.dumps(seller_body("FR", 1, **overrides)))


def test_a_new_seller_is_created_then_replaced(world):
    first = put_seller(world.store, world.registry, "s-1", body(), now=ONBOARDED)
    assert first.created and first.seller.created_at == ONBOARDED
    second = put_seller(world.store, world.registry, "s-1", body(display_name="Renamed"), now=NOW)
    assert not second.created and second.seller.display_name == "Renamed"
    assert second.seller.created_at == ONBOARDED
    assert world.store.t.bank_account_changes["s-1"] == [ONBOARDED]  # the same account: no change


def test_a_new_bank_account_is_recorded_and_restarts_the_cooling_off(world):
    put_seller(world.store, world.registry, "s-1", body(), now=ONBOARDED)
    patch = SellerPatch.model_validate({"bank_account": bank_account("FR", 7, "Refurb Shop")}, strict=False)
    seller = update_seller(world.store, world.registry, "s-1", patch, now=NOW)
    assert seller.bank_account_changed_at == NOW
    assert world.store.t.bank_account_changes["s-1"] == [ONBOARDED, NOW]


def test_a_patch_changes_only_what_it_names(world):
    put_seller(world.store, world.registry, "s-1", body(), now=ONBOARDED)
    seller = update_seller(
        world.store, world.registry, "s-1", SellerPatch(kyc_status=KycStatus.PENDING), now=NOW
    )
    assert seller.kyc_status is KycStatus.PENDING and seller.display_name == "Refurb Shop FR-1"


def test_unknown_sellers_and_changes_of_country_are_refused(world):
    with pytest.raises(SellerNotFound):
        update_seller(world.store, world.registry, "nobody", SellerPatch(display_name="x"), now=NOW)
    with pytest.raises(SellerNotFound):
        get_seller(world.store, "nobody")
    put_seller(world.store, world.registry, "s-1", body(), now=ONBOARDED)
    other = SellerIn.model_validate_json(json.dumps(seller_body("DE", 1)))
    with pytest.raises(SellerError):
        put_seller(world.store, world.registry, "s-1", other, now=NOW)


def test_a_seller_is_shown_with_a_balance_in_its_currency_even_before_any_sale(world):
    world.seller("s-1")
    found = get_seller(world.store, "s-1")
    assert [(b.currency, b.available) for b in found.balances] == [("EUR", 0)]
    world.fund("s-1", 2500)
    assert get_seller(world.store, "s-1").balances[0].available == 2500
