"""The country gate, static part: a go for every country we have, a no-go for each broken check."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

import shared.domain.countries as countries_module
from tools import country_gate
from tools.country_gate import gate

PACKAGED = json.loads((Path(countries_module.__file__).parent / "data" / "countries.json").read_text("utf-8"))
TODAY = date(2026, 12, 1)

AUSTRIA = {
    "country": "AT",
    "currency": "EUR",
    "bank_account_scheme": "iban",
    "minimum_payout": 1000,
    "max_transaction_amount": 5000000,
    "holding_period_days": 14,
    "payout_schedule": {"interval": "weekly", "weekday": "monday"},
    "business_day_calendar": {"country": "AT"},
    "timezone": "Europe/Vienna",
    "rails": ["sandbox", "adyen", "stripe", "sepa_file"],
    "bank_account_cooling_off_days": 5,
}


def entry(of: str, **changes: object) -> dict[str, object]:
    base = next(e for e in PACKAGED["countries"] if e["country"] == of)
    return {**base, **changes}


def failures(verdict: country_gate.Verdict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for check in verdict.checks:
        if check.status == "fail":
            out.setdefault(check.name, []).append(check.detail)
    return out


def warnings(verdict: country_gate.Verdict) -> list[str]:
    return [check.detail for check in verdict.checks if check.status == "warn"]


# --- Go ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("country", [e["country"] for e in PACKAGED["countries"]])
def test_every_country_we_have_is_a_go(country):
    verdict = gate(entry(country), today=TODAY)
    assert verdict.go, failures(verdict)
    names = {check.name for check in verdict.checks}
    assert {"country", "currency", "bank practice", "limits", "holidays", "timezone", "rules"} <= names
    assert any(name.startswith("rail ") for name in names)


def test_hungary_says_what_differs_from_iso():
    verdict = gate(entry("HU"), today=TODAY)
    practice = next(c for c in verdict.checks if c.name == "bank practice")
    assert "ISO says 2 decimals, payouts move multiples of 100 minor units (1.00 HUF)" in practice.detail
    assert warnings(verdict) == ["HU's national check digits are not verified (no algorithm in schwifty)"]


def test_a_new_country_from_its_entry_alone():
    verdict = gate(AUSTRIA, today=TODAY)
    assert verdict.go, failures(verdict)
    details = [c.detail for c in verdict.checks]
    assert "AT: 20 characters, BBAN 5!n11!n (schwifty), in the SEPA zone" in details
    assert "pays EUR to iban accounts in AT" in details
    assert warnings(verdict) == ["stand_ins/sample_sellers.py has no shape for AT"]  # the live part needs one


# --- No-go, one per check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "check", "reason"),
    [
        ({"country": "ZZ"}, "country", "not an ISO 3166-1"),
        ({"country": "at"}, "country", "not an ISO 3166-1"),
        ({"currency": "ZZZ"}, "currency", "unknown currency ZZZ"),
        ({"currency": "KWD", "minimum_payout": 1000}, "bank practice", "no payout practice decided for KWD"),
        ({"bank_account_scheme": "swift"}, "bank account", "unknown bank account scheme"),
        ({"iban_countries": ["AT", "US"]}, "IBAN", "schwifty knows no IBAN format for US"),
        ({"business_day_calendar": {"country": "AT", "subdivision": "XX"}}, "holidays", "no calendar"),
        ({"business_day_calendar": {"country": "ZZ"}}, "holidays", "no calendar"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "not an IANA timezone"),
        ({"rails": []}, "rails", "the route lists no rail"),
        ({"rail_limits": {"stripe": 100000}, "rails": ["sandbox"]}, "rails", "rail_limits names 'stripe'"),
        ({"rails": ["sandbox", "paypal"]}, "rail paypal", "no capabilities are recorded"),
        ({"holding_period_days": -1}, "rules", "holding_period_days"),
        ({"payout_schedule": {"interval": "weekly"}}, "rules", "payout_schedule"),
    ],
)
def test_each_broken_check_is_a_no_go(changes, check, reason):
    verdict = gate({**AUSTRIA, **changes}, today=TODAY)
    assert not verdict.go
    assert check in failures(verdict), failures(verdict)
    assert any(reason in detail for detail in failures(verdict)[check]), failures(verdict)[check]


@pytest.mark.parametrize(
    ("country", "changes", "check", "reason"),
    [
        ("JP", {"rails": ["sandbox", "adyen"]}, "rail adyen", "adyen does not pay out to JP"),
        ("AU", {"rails": ["sandbox", "stripe"]}, "rail stripe", "stripe does not pay out to AU"),
        ("HU", {"rails": ["sandbox", "sepa_file"]}, "rail sepa_file", "sepa_file pays HU in EUR, not HUF"),
        ("US", {"rails": ["sandbox", "sepa_file"]}, "rail sepa_file", "sepa_file does not pay out to US"),
        (
            "SE",
            {"payout_currencies": ["SEK", "EUR"]},
            "rail stripe",
            "stripe pays SE in SEK, not EUR",
        ),
        ("HU", {"minimum_payout": 400050}, "limits", "minimum_payout 4000.50 HUF is not a multiple of 100"),
    ],
)
def test_a_rail_or_a_limit_that_does_not_fit_is_a_no_go(country, changes, check, reason):
    verdict = gate(entry(country, **changes), today=TODAY)
    assert not verdict.go
    assert reason in failures(verdict)[check]


def test_a_timezone_of_another_country_is_only_a_warning():
    verdict = gate({**AUSTRIA, "timezone": "Europe/Berlin"}, today=TODAY)
    assert verdict.go
    assert "Europe/Berlin exists but is not one of AT's zones" in warnings(verdict)


# --- The command ---------------------------------------------------------------------------------


def test_a_country_in_the_rules(capsys):
    assert country_gate.main(["SE"]) == 0
    out = capsys.readouterr().out
    assert "Country gate for SE: static checks" in out
    assert "GO: SE (12 passed, 0 failed, 1 warning(s))" in out
    assert "[ok]   rail adyen" in out


def test_every_country_in_the_rules(capsys):
    assert country_gate.main(["--all"]) == 0
    out = capsys.readouterr().out
    assert out.count("\nGO: ") + out.startswith("GO: ") == len(PACKAGED["countries"])
    assert "NO-GO" not in out


def test_a_new_country_file(tmp_path, capsys):
    path = tmp_path / "at.json"
    path.write_text(json.dumps(AUSTRIA), "utf-8")
    assert country_gate.main([str(path)]) == 0
    assert "GO: AT" in capsys.readouterr().out
    path.write_text(json.dumps({**AUSTRIA, "rails": ["sandbox", "sepa_file"], "currency": "CHF"}), "utf-8")
    assert country_gate.main([str(path), "--json"]) == 1
    (result,) = json.loads(capsys.readouterr().out)
    assert result["country"] == "AT" and result["go"] is False
    failed = [c for c in result["checks"] if c["status"] == "fail"]
    assert {
        "name": "rail sepa_file",
        "status": "fail",
        "detail": "sepa_file pays AT in EUR, not CHF",
    } in failed


def test_a_rules_file_of_several_countries(tmp_path):
    path = tmp_path / "countries.json"
    path.write_text(json.dumps({"countries": [AUSTRIA, {**AUSTRIA, "country": "ZZ"}]}), "utf-8")
    assert country_gate.main([str(path)]) == 1


@pytest.mark.parametrize("args", [["ZZ"], ["missing.json"], ["--rules", "/nonexistent.json", "SE"]])
def test_usage_errors(args, capsys):
    assert country_gate.main(args) == 2
    assert "country_gate:" in capsys.readouterr().err


def test_a_file_that_is_not_an_entry(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", "utf-8")
    assert country_gate.main([str(path)]) == 2


def test_help_and_no_arguments(capsys):
    with pytest.raises(SystemExit) as exit_help:
        country_gate.main(["--help"])
    assert exit_help.value.code == 0
    out = capsys.readouterr().out
    assert "go/no-go checklist" in out and "Exit status: 0 go, 1 no-go, 2 usage error." in out
    with pytest.raises(SystemExit) as exit_usage:
        country_gate.main([])
    assert exit_usage.value.code == 2
