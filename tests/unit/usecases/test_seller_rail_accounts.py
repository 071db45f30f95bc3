"""Onboarding takes the seller's ids on the rails that need them (rail_accounts), checks their
format, keeps them, shows them masked, and hands them to the rail in TransferRequest.rail_ids."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.domain.sellers import RailAccounts, SellerIn, SellerPatch
from shared.entrypoints.views import seller_view
from shared.usecases.sellers import update_seller
from stand_ins.sample_sellers import seller_body, stripe_account_for
from tests.unit.usecases.conftest import NOW, RULES

ACCT = stripe_account_for("FR", 1)


def test_onboarding_keeps_the_rail_accounts_and_shows_them_masked(world):
    world.seller("s-1", rail_accounts={"stripe": ACCT, "adyen_account_holder": "AH3227C223222C5GXQXF658WB"})
    seller = world.store.sellers.get("s-1")
    assert seller.rail_accounts == RailAccounts(
        stripe_account=ACCT, adyen_account_holder="AH3227C223222C5GXQXF658WB"
    )
    shown = seller_view(seller, RULES)["rail_accounts"]
    assert shown == {"stripe_account": f"acct_…{ACCT[-4:]}", "adyen_account_holder": "AH…58WB"}
    assert ACCT not in json.dumps(seller_view(seller, RULES))


@pytest.mark.parametrize(
    ("accounts", "field"),
    [
        ({"stripe": "acct-123"}, "stripe"),
        ({"stripe": "acct_"}, "stripe"),
        ({"stripe": "acct_12 34"}, "stripe"),
        ({"adyen_account_holder": "BA3227C223222C5GXQXF658WB"}, "adyen_account_holder"),
        ({"adyen_balance_account": "ba123"}, "adyen_balance_account"),
        ({"paypal": "x"}, "paypal"),
    ],
)
def test_a_rail_id_of_the_wrong_shape_is_refused_with_its_field(accounts, field):
    body = seller_body("FR", 1, rail_accounts=accounts)
    with pytest.raises(ValidationError) as caught:
        SellerIn.model_validate_json(json.dumps(body))
    assert any(e["loc"][:2] == ("rail_accounts", field) for e in caught.value.errors())


def test_a_patch_replaces_the_rail_accounts(world):
    world.seller("s-1", rail_accounts={"stripe": ACCT})
    patch = SellerPatch.model_validate(
        {"rail_accounts": {"adyen_account_holder": "AH3227C223222C5GXQXF658WB"}}
    )
    update_seller(world.store, world.registry, "s-1", patch, now=NOW)
    assert world.store.sellers.get("s-1").rail_accounts == RailAccounts(
        adyen_account_holder="AH3227C223222C5GXQXF658WB"
    )


def test_the_rail_gets_the_sellers_ids_with_the_transfer(world):
    world.seller("s-1", rail_accounts={"stripe": ACCT})
    world.fund("s-1", 5000)
    payout = world.pay_on_demand("s-1", 3000)
    seen = []
    create = world.provider.create_transfer

    def spy(request):
        seen.append(request)
        return create(request)

    world.provider.create_transfer = spy
    assert world.svc.send_transfer(payout.payout_id, now=NOW) == "sent"
    (request,) = seen
    assert request.rail_ids.stripe_account == ACCT
    assert request.created_at == payout.created_at and request.run_id is None
