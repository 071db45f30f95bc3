"""What a seller can be paid in, which rail can pay it, and what its next payout will be."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

import shared.domain.countries as countries_module
from shared.domain.countries import load_country_rules, parse_country_rules
from shared.domain.eligibility import SkipReason
from shared.domain.fx import Rate, RateUnavailable, StaleRate, UnsupportedCurrencyPair
from shared.domain.money import Money
from shared.domain.payout_currency import (
    UnsupportedPayoutCurrency,
    check_payout_currency,
    expected_payout,
    fx_rate_skip,
    payout_currency_blocker,
    rails_paying,
    receivable_currencies,
)
from shared.domain.rail_capabilities import (
    UnknownRail,
    in_sepa_zone,
    load_rail_capabilities,
    parse_rail_capabilities,
)

REGISTRY = load_country_rules()
RAILS = load_rail_capabilities()
AS_OF = datetime(2025, 10, 21, 14, 0, tzinfo=UTC)
ECB = {"SEK": "10.9345", "PLN": "4.2393", "HUF": "389.63", "GBP": "0.86780", "JPY": "176.45"}


def rate_for(base: str, quote: str) -> Rate:
    """The ECB rates of 21 October 2025, from the euro only."""
    if base != "EUR" or quote not in ECB:
        raise UnsupportedCurrencyPair(f"no {base}/{quote} rate")
    return Rate(base, quote, Decimal(ECB[quote]), "ecb", AS_OF)


def country(code: str, **changes):
    """The packaged entry of ``code`` with ``changes``."""
    entries = json.loads(
        (Path(countries_module.__file__).parent / "data" / "countries.json").read_text("utf-8")
    )
    entry = {**next(e for e in entries["countries"] if e["country"] == code), **changes}
    return parse_country_rules(json.dumps({"countries": [entry]})).get(code)


# --- Rail capabilities -------------------------------------------------------------------------


def test_the_four_rails_are_described_with_sources():
    assert RAILS.rails() == ("adyen", "sandbox", "sepa_file", "stripe")
    for rail in RAILS.rails():
        assert RAILS.get(rail).sources


@pytest.mark.parametrize(
    ("rail", "where", "currency", "scheme", "why_not"),
    [
        ("sandbox", "JP", "JPY", "jp_zengin", None),
        ("adyen", "SE", "SEK", "iban", None),
        ("adyen", "SE", "EUR", "iban", None),  # EUR in SEPA outside the euro area
        ("adyen", "CA", "USD", "ca_eft", None),  # USD in Canada
        ("adyen", "AU", "AUD", "au_becs", None),
        ("adyen", "JP", "JPY", "jp_zengin", "adyen does not pay out to JP"),
        ("adyen", "SE", "NOK", "iban", "adyen pays SE in EUR, SEK, not NOK"),
        ("adyen", "US", "USD", "iban", "adyen pays USD in US to us_aba accounts, not iban"),
        ("stripe", "HU", "HUF", "iban", None),
        ("stripe", "AU", "AUD", "au_becs", "stripe does not pay out to AU"),
        ("sepa_file", "FR", "EUR", "iban", None),
        ("sepa_file", "CH", "EUR", "iban", None),  # Switzerland is in SEPA
        ("sepa_file", "HU", "HUF", "iban", "sepa_file pays HU in EUR, not HUF"),
        ("sepa_file", "US", "EUR", "iban", "sepa_file does not pay out to US"),
    ],
)
def test_what_each_rail_can_pay(rail, where, currency, scheme, why_not):
    capability = RAILS.get(rail)
    assert capability.why_not(where, currency, scheme) == why_not
    assert capability.supports(where, currency, scheme) is (why_not is None)


def test_the_sepa_zone_comes_from_schwifty():
    assert all(in_sepa_zone(c) for c in ("FR", "SE", "CH", "GB", "NO", "HU"))
    assert not any(in_sepa_zone(c) for c in ("US", "JP", "AU", "CA", "ZZ"))


def test_unknown_rail():
    with pytest.raises(UnknownRail) as err:
        RAILS.get("paypal")
    assert err.value.code == "unknown_rail"


@pytest.mark.parametrize(
    "lane",
    [
        {"countries": "eu", "currencies": ["EUR"], "schemes": ["iban"]},
        {"countries": ["ZZ"], "currencies": ["EUR"], "schemes": ["iban"]},
        {"countries": "*", "currencies": ["EURO"], "schemes": ["iban"]},
        {"countries": "*", "currencies": "*", "schemes": []},
        {"countries": "*", "currencies": "*", "schemes": ["swift"]},
    ],
)
def test_bad_capabilities_are_refused(lane):
    doc = {"rails": [{"rail": "x", "about": "x", "sources": ["x"], "lanes": [lane]}]}
    with pytest.raises(ValidationError):
        parse_rail_capabilities(json.dumps(doc))


# --- Payout currencies -------------------------------------------------------------------------


def test_a_country_receives_its_currency_through_its_rails():
    assert receivable_currencies(REGISTRY.get("SE")) == ("SEK",)
    assert rails_paying(REGISTRY.get("SE"), "SEK", "iban") == ("adyen", "stripe", "sandbox")
    assert rails_paying(REGISTRY.get("AU"), "AUD", "au_becs") == ("adyen", "sandbox")
    assert check_payout_currency(REGISTRY.get("HU"), "HUF") == ("stripe", "adyen", "sandbox")


def test_a_payout_currency_the_country_does_not_receive_is_refused():
    with pytest.raises(UnsupportedPayoutCurrency) as err:
        check_payout_currency(REGISTRY.get("SE"), "NOK")
    assert (err.value.code, err.value.field) == ("unsupported_payout_currency", "payout_currency")
    assert err.value.message == "SE sellers can be paid in SEK, not NOK"


def test_a_payout_currency_no_rail_can_pay_is_refused():
    """Sweden could take EUR, but once the sandbox is drained, only Adyen can pay it, not Stripe."""
    se = country("SE", payout_currencies=["SEK", "EUR"])
    assert receivable_currencies(se) == ("SEK", "EUR")
    assert check_payout_currency(se, "EUR", rails=["stripe", "adyen"]) == ("adyen",)
    with pytest.raises(UnsupportedPayoutCurrency) as err:
        check_payout_currency(se, "EUR", rails=["stripe"], field="data.payout_currency")
    assert err.value.field == "data.payout_currency"
    assert err.value.message == ("no rail can pay EUR to SE iban accounts: stripe pays SE in SEK, not EUR")
    assert receivable_currencies(se, rails=["stripe"]) == ("SEK",)


def test_a_rail_without_recorded_capabilities_pays_nothing():
    se = country("SE", rails=["sandbox", "wise"])
    assert rails_paying(se, "SEK", "iban") == ("sandbox",)
    with pytest.raises(UnsupportedPayoutCurrency, match="wise has no recorded capabilities"):
        check_payout_currency(se, "SEK", rails=["wise"])


def test_in_a_run_it_is_a_skip_reason():
    assert payout_currency_blocker(REGISTRY.get("SE"), "SEK") is None
    decision = payout_currency_blocker(REGISTRY.get("SE"), "NOK")
    assert decision is not None and not decision.pays
    assert decision.skip is SkipReason.PAYOUT_CURRENCY_UNSUPPORTED
    assert decision.detail == "SE sellers can be paid in SEK, not NOK"


@pytest.mark.parametrize(
    "error",
    [
        UnsupportedCurrencyPair("no EUR/XOF rate"),
        RateUnavailable("the ECB feed is unreachable"),
        StaleRate("the EUR/SEK rate of ecb is 5.0 days old"),
    ],
)
def test_a_rate_problem_in_a_run_is_a_skip_reason(error):
    decision = fx_rate_skip(error)
    assert decision.skip is SkipReason.FX_RATE_UNAVAILABLE
    assert decision.detail == f"{error.code}: {error.message}"


# --- The next payout, in the payout currency ----------------------------------------------------


def test_a_swedish_seller_selling_in_euros():
    expected = expected_payout([Money(25000, "EUR")], "SEK", rate_for)
    assert expected.total == Money(273362, "SEK")
    (line,) = expected.lines
    assert (line.balance, line.amount, line.kept) == (Money(25000, "EUR"), Money(273362, "SEK"), None)
    assert line.rate is not None and str(line.rate.value) == "10.9345"
    assert expected.rates == (line.rate,)


def test_a_seller_holding_euros_and_pounds_paid_in_forints():
    """Each balance converts on its own line; HUF in whole forints; the forint balance keeps its
    fillér; a balance of zero makes no line."""
    rates = {"EUR": Decimal("389.63"), "GBP": Decimal("448.99")}

    def two_rates(base: str, quote: str) -> Rate:
        return Rate(base, quote, rates[base], "fixed_table", AS_OF)

    expected = expected_payout(
        [Money(10001, "EUR"), Money(5000, "GBP"), Money(123456, "HUF"), Money(0, "SEK")], "HUF", two_rates
    )
    amounts = [(line.balance.currency, line.amount.amount) for line in expected.lines]
    # GBP 50 x 448.99 = HUF 22,449.50 exactly: a tie, to the even forint 22,450.
    assert amounts == [("EUR", 3896700), ("GBP", 2245000), ("HUF", 123400)]
    assert expected.lines[1].conversion is not None and expected.lines[1].conversion.rounding.amount == -50
    assert expected.lines[2].kept == Money(56, "HUF")  # stays in the balance
    assert expected.total == Money(3896700 + 2245000 + 123400, "HUF")
    assert expected.total.amount % 100 == 0


def test_debts_in_one_currency_net_against_the_others():
    expected = expected_payout([Money(25000, "EUR"), Money(-5000, "SEK")], "SEK", rate_for)
    assert expected.total == Money(273362 - 5000, "SEK")


def test_rate_errors_reach_the_caller():
    with pytest.raises(UnsupportedCurrencyPair):
        expected_payout([Money(100, "USD")], "SEK", rate_for)


def test_shards_are_summed_first():
    with pytest.raises(ValueError, match="two balances in EUR"):
        expected_payout([Money(1, "EUR"), Money(2, "EUR")], "SEK", rate_for)
