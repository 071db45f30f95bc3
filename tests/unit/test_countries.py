"""Country rules are data: every entry is validated on load, and a new country needs no code."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import shared.domain.countries as countries_module
from shared.domain.bank_accounts import IbanAccount, validate_bank_account
from shared.domain.countries import CountryRegistry, CountryRules, load_country_rules, parse_country_rules
from shared.domain.currency_practice import load_currency_practice
from shared.domain.errors import UnsupportedCountry
from shared.domain.money import Money, currency_exponent
from shared.domain.schedule import is_business_day, is_payout_due

PACKAGED = Path(countries_module.__file__).parent / "data" / "countries.json"
CASES = json.loads((Path(__file__).parent / "country_cases.json").read_text("utf-8"))["countries"]
REGISTRY = load_country_rules()


def packaged_entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(PACKAGED.read_text("utf-8"))["countries"]
    return entries


def entry(of: str = "FR", **changes: Any) -> dict[str, Any]:
    """The packaged entry of country ``of``, with ``changes``."""
    base = next(e for e in packaged_entries() if e["country"] == of)
    return {**base, **changes}


def rules_from(*entries: dict[str, Any]) -> CountryRegistry:
    return parse_country_rules(json.dumps({"countries": list(entries)}))


# --- The packaged rules -----------------------------------------------------------------------


def test_the_required_countries_are_there():
    assert set(REGISTRY.countries()) >= {"FR", "DE", "ES", "IT", "NL", "BE", "GB", "US", "JP"}
    assert set(REGISTRY.countries()) >= {"SE", "PL", "DK", "CZ", "CH", "NO", "HU", "AU", "CA"}


@pytest.mark.parametrize(
    ("country", "currency", "scheme", "timezone"),
    [
        ("FR", "EUR", "iban", "Europe/Paris"),
        ("DE", "EUR", "iban", "Europe/Berlin"),
        ("ES", "EUR", "iban", "Europe/Madrid"),
        ("IT", "EUR", "iban", "Europe/Rome"),
        ("NL", "EUR", "iban", "Europe/Amsterdam"),
        ("BE", "EUR", "iban", "Europe/Brussels"),
        ("GB", "GBP", "iban", "Europe/London"),
        ("US", "USD", "us_aba", "America/New_York"),
        ("JP", "JPY", "jp_zengin", "Asia/Tokyo"),
        ("SE", "SEK", "iban", "Europe/Stockholm"),
        ("PL", "PLN", "iban", "Europe/Warsaw"),
        ("DK", "DKK", "iban", "Europe/Copenhagen"),
        ("CZ", "CZK", "iban", "Europe/Prague"),
        ("CH", "CHF", "iban", "Europe/Zurich"),
        ("NO", "NOK", "iban", "Europe/Oslo"),
        ("HU", "HUF", "iban", "Europe/Budapest"),
        ("AU", "AUD", "au_becs", "Australia/Sydney"),
        ("CA", "CAD", "ca_eft", "America/Toronto"),
    ],
)
def test_country_basics(country, currency, scheme, timezone):
    rules = REGISTRY.get(country)
    assert (rules.country, rules.currency, rules.bank_account_scheme, rules.timezone) == (
        country,
        currency,
        scheme,
        timezone,
    )


@pytest.mark.parametrize("country", REGISTRY.countries())
def test_every_entry_is_plausible(country):
    rules = REGISTRY.get(country)
    currency_exponent(rules.currency)
    assert 0 < rules.minimum_payout < rules.max_transaction_amount
    assert rules.minimum_payout_money == Money(rules.minimum_payout, rules.currency)
    assert rules.max_transaction_money.currency == rules.currency
    assert 7 <= rules.holding_period_days <= 14
    assert 3 <= rules.bank_account_cooling_off_days <= 7
    assert rules.rails and set(rules.rail_limits) <= set(rules.rails)
    assert rules.currency in rules.payout_currencies
    quantum = load_currency_practice().get(rules.currency).payout_quantum
    assert rules.minimum_payout % quantum == 0 and rules.max_transaction_amount % quantum == 0
    if rules.bank_account_scheme == "iban":
        assert rules.country in rules.iban_countries
    else:
        assert rules.iban_countries == ()


def test_every_country_has_its_test_cases():
    """Opening a country = its rules entry + its cases in tests/unit/country_cases.json."""
    assert set(CASES) == set(REGISTRY.countries())


@pytest.mark.parametrize("country", sorted(CASES))
def test_country_cases(country):
    rules, case = REGISTRY.get(country), CASES[country]
    holiday, business_day = date.fromisoformat(case["holiday"]), date.fromisoformat(case["business_day"])
    assert holiday.weekday() < 5 and not is_business_day(rules, holiday)
    assert business_day.weekday() < 5 and is_business_day(rules, business_day)


def test_unknown_country():
    with pytest.raises(UnsupportedCountry) as err:
        REGISTRY.get("ZZ")
    assert (err.value.code, err.value.field) == ("unsupported_country", "country")
    with pytest.raises(UnsupportedCountry):
        REGISTRY.get("fr")  # codes are upper-case, as stored
    assert "FR" in REGISTRY and "ZZ" not in REGISTRY


def test_the_packaged_rules_are_loaded_once():
    assert load_country_rules() is load_country_rules()


def test_rules_are_immutable():
    with pytest.raises(ValidationError):
        REGISTRY.get("FR").holding_period_days = 0  # type: ignore[misc]


# --- Validation on load -----------------------------------------------------------------------


def test_iban_countries_default_to_the_country_itself():
    fr = entry("FR")
    del fr["iban_countries"]
    assert rules_from(fr).get("FR").iban_countries == ("FR",)


@pytest.mark.parametrize(
    "changes",
    [
        {"country": "ZZ"},  # not ISO 3166
        {"country": "fr"},
        {"currency": "ZZZ"},
        {"currency": "eur"},
        {"currency": "XAU"},  # no minor unit
        {"bank_account_scheme": "swift"},
        {"iban_countries": []},
        {"iban_countries": ["F1"]},
        {"minimum_payout": 0},
        {"minimum_payout": 10.0},  # floats are not minor units
        {"minimum_payout": "1000"},
        {"max_transaction_amount": 1000},  # must exceed the minimum payout
        {"holding_period_days": -1},
        {"bank_account_cooling_off_days": -1},
        {"payout_schedule": {"interval": "weekly"}},
        {"business_day_calendar": {"country": "ZZ"}},
        {"business_day_calendar": {"country": "DE", "subdivision": "XX"}},
        {"timezone": "Europe/Atlantis"},
        {"timezone": "../../etc/passwd"},
        {"provider_route": "sandbox"},  # retired: the route is "rails"
        {"rails": []},  # a route names at least one rail
        {"rail_limits": {"stripe": 100}},  # a limit for a rail outside the route
        {"rail_limits": {"sandbox": 0}},
        {"rails": ["sandbox", "sandbox"]},
        {"rails": ["Sandbox"]},
        {"payout_currencies": ["SEK"]},  # must include the country's own currency
        {"payout_currencies": ["EUR", "EUR"]},
        {"payout_currencies": ["EUR", "KWD"]},  # no recorded payout practice for KWD
        {"unexpected": True},
    ],
)
def test_bad_entries_are_refused(changes):
    with pytest.raises(ValidationError):
        rules_from(entry("FR", **changes))


def test_iban_countries_are_only_for_the_iban_scheme():
    with pytest.raises(ValidationError):
        rules_from(entry("US", iban_countries=["US"]))


def test_a_country_cannot_be_defined_twice():
    with pytest.raises(ValueError, match="twice"):
        rules_from(entry("FR"), entry("FR"))


def test_a_bad_file_fails_loudly_with_its_path(tmp_path):
    path = tmp_path / "countries.json"
    path.write_text(json.dumps({"countries": [entry("FR", currency="ZZZ")]}), "utf-8")
    with pytest.raises(ValueError, match=r"countries\.json") as err:
        load_country_rules(str(path))
    assert "ZZZ" in str(err.value)


# --- A new country is data only ---------------------------------------------------------------


def test_opening_a_country_is_a_data_change(tmp_path):
    austria = {
        "country": "AT",
        "currency": "EUR",
        "bank_account_scheme": "iban",
        "minimum_payout": 1000,
        "max_transaction_amount": 5000000,
        "holding_period_days": 14,
        "payout_schedule": {"interval": "weekly", "weekday": "monday"},
        "business_day_calendar": {"country": "AT"},
        "timezone": "Europe/Vienna",
        "rails": ["sandbox"],
        "bank_account_cooling_off_days": 5,
    }
    path = tmp_path / "countries.json"
    path.write_text(json.dumps({"countries": [*packaged_entries(), austria]}), "utf-8")

    registry = load_country_rules(str(path))
    at = registry.get("AT")
    assert set(registry.countries()) == {*REGISTRY.countries(), "AT"}
    assert at.iban_countries == ("AT",)

    account = IbanAccount.model_validate(
        {"scheme": "iban", "holder_name": "Anna Huber", "iban": "AT61 1904 3002 3457 3201"}
    )
    validated = validate_bank_account(account, at)
    assert (validated.country, validated.masked) == ("AT", "AT••••3201")

    # Monday 26 October 2026 is the Austrian National Day: that week's payout moves to Tuesday.
    assert not is_payout_due(at.payout_schedule, at, date(2026, 10, 26))
    assert is_payout_due(at.payout_schedule, at, date(2026, 10, 27))
    assert is_payout_due(at.payout_schedule, at, date(2026, 11, 2))
    # The same day is an ordinary Monday in Germany.
    de = REGISTRY.get("DE")
    assert is_payout_due(de.payout_schedule, de, date(2026, 10, 26))


def test_rules_can_be_built_in_code_too():
    rules = CountryRules.model_validate(entry("FR"))
    assert rules == REGISTRY.get("FR")


# --- Countries opened for issue 17: rails, payout currencies, bank practice ----------------


def test_rails_and_payout_currencies_default_to_the_route_and_the_currency():
    fr = REGISTRY.get("FR")
    assert (fr.rails, fr.payout_currencies) == (("sandbox",), ("EUR",))
    assert REGISTRY.get("SE").rails == ("adyen", "stripe", "sandbox")
    assert REGISTRY.get("PL").rails == ("stripe", "adyen", "sandbox")
    assert REGISTRY.get("AU").rails == ("adyen", "sandbox")  # Stripe does not reach AU from the EEA
    assert REGISTRY.get("JP").rails == ("sandbox",)  # neither Adyen nor Stripe pays Zengin accounts


def test_a_country_may_receive_several_currencies():
    ca = rules_from(entry("CA", payout_currencies=["CAD", "USD"])).get("CA")
    assert ca.payout_currencies == ("CAD", "USD")


def test_whole_forints_only():
    """HUF is paid in whole forints: the minimum and the maximum must be multiples of 100 fillér."""
    assert rules_from(entry("HU", minimum_payout=400100)).get("HU").minimum_payout == 400100  # 4,001 HUF
    for changes in ({"minimum_payout": 400050}, {"max_transaction_amount": 2000000001}):
        with pytest.raises(ValidationError, match="payout quantum 100"):
            rules_from(entry("HU", **changes))


def test_a_currency_without_a_recorded_practice_cannot_be_opened():
    with pytest.raises(ValidationError, match="no payout practice is recorded for KWD"):
        rules_from(entry("FR", currency="KWD", payout_currencies=["KWD"]))


@pytest.mark.parametrize(
    ("country", "holding", "cooling_off", "schedule", "subdivision"),
    [
        ("SE", 14, 5, {"interval": "weekly", "weekday": "tuesday"}, None),
        ("CH", 14, 5, {"interval": "weekly", "weekday": "monday"}, "ZH"),  # Zurich: SIX's calendar
        ("AU", 7, 3, {"interval": "weekly", "weekday": "wednesday"}, "NSW"),
        ("CA", 7, 3, {"interval": "weekly", "weekday": "thursday"}, "ON"),
    ],
)
def test_new_country_rules(country, holding, cooling_off, schedule, subdivision):
    rules = REGISTRY.get(country)
    assert rules.holding_period_days == holding
    assert rules.bank_account_cooling_off_days == cooling_off
    assert rules.payout_schedule.model_dump(exclude_none=True) == schedule
    assert rules.business_day_calendar.subdivision == subdivision
