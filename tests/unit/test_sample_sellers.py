"""The test sellers of every country are valid, and the sandbox reads their outcome from them."""

from __future__ import annotations

import json

import pytest

from shared.adapters.providers.sandbox import _destination
from shared.domain.bank_accounts import validate_bank_account
from shared.domain.countries import load_country_rules
from shared.domain.currency_practice import is_payable
from shared.domain.money import Money
from shared.domain.sellers import SellerIn
from stand_ins.sample_sellers import ALL_COUNTRIES, COUNTRIES, CURRENCIES, OUTCOMES, minor_units, seller_body
from stand_ins.sandbox_provider import validate_transfer

REGISTRY = load_country_rules()


def test_every_country_has_sample_sellers():
    assert set(ALL_COUNTRIES) == set(REGISTRY.countries())
    assert set(COUNTRIES) == {"FR", "DE", "ES", "IT", "NL", "BE", "GB", "US", "JP"}  # the demo's, for now
    assert all(CURRENCIES[c] == REGISTRY.get(c).currency for c in ALL_COUNTRIES)


@pytest.mark.parametrize("country", ALL_COUNTRIES)
@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_sample_sellers_are_valid_and_carry_their_outcome(country, outcome):
    for n in (0, 1, 17):
        body = SellerIn.model_validate_json(json.dumps(seller_body(country, n, outcome)))
        account = validate_bank_account(body.bank_account, REGISTRY.get(country))
        code = validate_transfer(
            {"amount": 100, "currency": body.currency, "reference": "r", "destination": _destination(account)}
        )
        if OUTCOMES[outcome] is None:
            assert code[-6:] not in OUTCOMES.values()
        else:
            assert code[-6:] == OUTCOMES[outcome]


@pytest.mark.parametrize("country", ALL_COUNTRIES)
def test_sample_prices_are_payable_and_about_the_same_everywhere(country):
    price = Money(minor_units(country, 10), CURRENCIES[country])
    assert is_payable(price)
    assert price.amount >= REGISTRY.get(country).minimum_payout // 2
