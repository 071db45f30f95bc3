"""Bank practice per currency: ISO 4217 minor units in the ledger, payout steps where banks differ."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.domain.currency_practice import (
    UnknownCurrencyPractice,
    is_payable,
    load_currency_practice,
    parse_currency_practice,
    payable_amount,
    payout_quantum,
)
from shared.domain.money import Money, currency_exponent

BOOK = load_currency_practice()


def practice(**changes):
    base = {
        "currency": "HUF",
        "iso_exponent": 2,
        "payout_quantum": 100,
        "why": "whole forints",
        "sources": ["x"],
    }
    return json.dumps({"currencies": [{**base, **changes}]})


@pytest.mark.parametrize("currency", BOOK.currencies())
def test_every_entry_agrees_with_iso_4217(currency):
    entry = BOOK.get(currency)
    assert entry.iso_exponent == currency_exponent(currency)
    assert 10**entry.iso_exponent % entry.payout_quantum == 0
    assert entry.why and entry.sources


def test_the_decisions():
    """HUF moves in whole forints; CZK keeps its haléře (non-cash payments are unchanged); ISK
    stays ISO's whole krónur here (the providers' x100 belongs in their adapters)."""
    assert {c: payout_quantum(c) for c in ("HUF", "CZK", "ISK", "JPY", "SEK", "EUR")} == {
        "HUF": 100,
        "CZK": 1,
        "ISK": 1,
        "JPY": 1,
        "SEK": 1,
        "EUR": 1,
    }
    assert BOOK.get("ISK").iso_exponent == 0


def test_every_country_currency_has_a_decision():
    from shared.domain.countries import load_country_rules

    registry = load_country_rules()
    assert {registry.get(c).currency for c in registry.countries()} <= set(BOOK.currencies())


@pytest.mark.parametrize(
    ("available", "payable"),
    [
        (Money(1234567, "HUF"), Money(1234500, "HUF")),  # 12,345.67 HUF -> 12,345 HUF, 67 fillér stay
        (Money(1234500, "HUF"), Money(1234500, "HUF")),
        (Money(99, "HUF"), Money(0, "HUF")),
        (Money(-1234567, "HUF"), Money(-1234500, "HUF")),  # towards zero: never more debt than there is
        (Money(1234567, "CZK"), Money(1234567, "CZK")),
        (Money(1234567, "EUR"), Money(1234567, "EUR")),
        (Money(1234, "JPY"), Money(1234, "JPY")),
    ],
)
def test_payable_amount_rounds_down_to_the_quantum(available, payable):
    assert payable_amount(available) == payable
    assert is_payable(payable)
    assert is_payable(available) == (available == payable)


def test_unknown_currency():
    with pytest.raises(UnknownCurrencyPractice) as err:
        payout_quantum("KWD")
    assert (err.value.code, err.value.field) == ("unknown_currency_practice", "currency")
    assert "KWD" not in BOOK


@pytest.mark.parametrize(
    "changes",
    [
        {"iso_exponent": 0},  # ISO 4217 says 2 for HUF: the data is stale
        {"payout_quantum": 1000},  # more than a major unit
        {"payout_quantum": 30},  # does not divide a forint
        {"payout_quantum": 0},
        {"currency": "XAU"},  # no minor unit
        {"why": ""},
        {"sources": []},
        {"unexpected": 1},
    ],
)
def test_bad_entries_are_refused(changes):
    with pytest.raises(ValidationError):
        parse_currency_practice(practice(**changes))


def test_a_currency_cannot_be_decided_twice():
    entry = json.loads(practice())["currencies"][0]
    with pytest.raises(ValueError, match="twice"):
        parse_currency_practice(json.dumps({"currencies": [entry, entry]}))


def test_a_bad_file_fails_loudly_with_its_path(tmp_path):
    path = tmp_path / "practice.json"
    path.write_text(practice(iso_exponent=0), "utf-8")
    with pytest.raises(ValueError, match=r"practice\.json"):
        load_currency_practice(str(path))
