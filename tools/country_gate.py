"""The country gate: check a country's entry against the libraries before opening it.

    .venv/bin/python -m tools.country_gate SE                  # a country already in the rules
    .venv/bin/python -m tools.country_gate new/at.json         # a new country's entry (a JSON object)
    .venv/bin/python -m tools.country_gate --all               # every country in the rules
    .venv/bin/python -m tools.country_gate SE --json           # the checklist as JSON

Static checks (this part; no stack needed):

- the country is ISO 3166 and the currency ISO 4217, with the exponent the iso4217 package gives;
- the currency's payout practice is decided (``shared/domain/data/currency_practice.json``), agrees
  with ISO 4217, and the minimum and maximum are payable in it (HUF: whole forints);
- the bank account scheme: for IBANs, the length and format schwifty knows for each IBAN country,
  its SEPA membership, whether schwifty verifies the national check digits; for the other schemes,
  which validator checks them (python-stdnum, or digit patterns where no library covers them);
- ``holidays`` has the business-day calendar (and the subdivision);
- the timezone exists (``zoneinfo``) and is one of the country's zones (tzdata's zone.tab);
- each rail of the country (``rails``) has recorded capabilities and pays each payout currency to
  the country's scheme there (``shared/domain/data/rail_capabilities.json``);
- the whole entry is valid country rules, as the platform loads them;
- the stand-ins can make synthetic sellers for it (needed by the live part).

It prints a go/no-go checklist and exits 1 on a no-go (2 on a usage error). Warnings do not stop
a country; they say what a person should know.

Live checks (``--live``, ``tools/country_gate_live.py``): on a local stack, started for the gate
(``--port-offset``; a new country's entry is added to the rules it loads) or a running one
(``--use-running``), synthetic sellers of the country are onboarded, funded through order events
(in its currency and on the euro storefront), paid by a dry run and a live run, and through each
further rail of its route by an on-demand payout (the rails before it drained, then resumed);
the ledger is audited per currency, FX accounts included. Run it before opening a country:

    .venv/bin/python -m tools.country_gate SE --live --port-offset 700
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import pycountry
from pydantic import ValidationError
from schwifty import checksum as schwifty_checksum
from schwifty.domain import Component
from schwifty.exceptions import InvalidCountryCode
from schwifty.registry import get_iban_spec

from shared.domain.countries import CountryRules
from shared.domain.currency_practice import CurrencyPracticeBook, load_currency_practice
from shared.domain.errors import DomainError
from shared.domain.money import Money, currency_exponent
from shared.domain.rail_capabilities import RailCapabilities, load_rail_capabilities
from shared.domain.validation import field_errors

Status = Literal["ok", "warn", "fail"]

# How each scheme other than IBAN is checked (shared/domain/bank_accounts.py).
SCHEME_VALIDATORS = {
    "us_aba": "ABA routing number: python-stdnum (stdnum.us.rtn, check digit); account 4-17 digits",
    "jp_zengin": "Zengin codes: digit patterns (bank 4, branch 3, account 7); no library covers them",
    "au_becs": "BSB 6 digits, account 5-9 digits: digit patterns; no library covers BSBs (no check digit)",
    "ca_eft": "institution 3, transit 5, account 5-12 digits: digit patterns; no library covers them",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Verdict:
    country: str
    checks: tuple[Check, ...]

    @property
    def go(self) -> bool:
        return all(check.status != "fail" for check in self.checks)


def _ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def _warn(name: str, detail: str) -> Check:
    return Check(name, "warn", detail)


def _fail(name: str, detail: str) -> Check:
    return Check(name, "fail", detail)


def _country_zones() -> dict[str, set[str]]:
    zones: dict[str, set[str]] = {}
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    for line in table.splitlines():
        if line and not line.startswith("#"):
            country, _, zone, *_ = line.split("\t")
            zones.setdefault(country, set()).add(zone)
    return zones


def _money(amount: Any, currency: str) -> str:
    try:
        return str(Money(amount, currency))
    except (DomainError, TypeError):
        return repr(amount)


# --- The checks ----------------------------------------------------------------------------------


def check_country(entry: dict[str, Any]) -> list[Check]:
    code = entry.get("country")
    is_code = isinstance(code, str) and len(code) == 2 and code == code.upper()
    found = pycountry.countries.get(alpha_2=code) if is_code else None
    if found is None:
        return [_fail("country", f"{code!r} is not an ISO 3166-1 alpha-2 country code")]
    return [_ok("country", f"{code} is ISO 3166-1 ({found.name})")]


def check_currency(entry: dict[str, Any], book: CurrencyPracticeBook) -> list[Check]:
    currency = entry.get("currency")
    try:
        exponent = currency_exponent(currency)  # type: ignore[arg-type]
    except DomainError as exc:
        return [_fail("currency", exc.message)]
    checks = [_ok("currency", f"{currency}: ISO 4217, {exponent} decimal(s) (iso4217 package)")]
    if currency not in book:
        checks.append(
            _fail(
                "bank practice",
                f"no payout practice decided for {currency}: add it to currency_practice.json",
            )
        )
        return checks
    practice = book.get(str(currency))
    if practice.iso_exponent != exponent:
        checks.append(
            _fail(
                "bank practice", f"recorded with {practice.iso_exponent} decimals, ISO 4217 says {exponent}"
            )
        )
        return checks
    quantum = practice.payout_quantum
    if quantum == 1:
        checks.append(_ok("bank practice", f"{currency}: banks move every minor unit, as ISO 4217 says"))
    else:
        checks.append(
            _ok(
                "bank practice",
                f"{currency}: ISO says {exponent} decimals, payouts move multiples of {quantum} minor "
                f"units ({_money(quantum, str(currency))}), as decided in currency_practice.json",
            )
        )
    for name in ("minimum_payout", "max_transaction_amount"):
        value = entry.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value % quantum:
            checks.append(
                _fail("limits", f"{name} {_money(value, str(currency))} is not a multiple of {quantum}")
            )
    if all(c.name != "limits" for c in checks):
        checks.append(
            _ok(
                "limits",
                f"minimum {_money(entry.get('minimum_payout'), str(currency))}, "
                f"maximum {_money(entry.get('max_transaction_amount'), str(currency))}",
            )
        )
    return checks


def check_scheme(entry: dict[str, Any]) -> list[Check]:
    scheme = entry.get("bank_account_scheme")
    if scheme == "iban":
        checks: list[Check] = []
        for country in entry.get("iban_countries") or [entry.get("country")]:
            try:
                spec = get_iban_spec(str(country))
            except InvalidCountryCode:
                checks.append(_fail("IBAN", f"schwifty knows no IBAN format for {country}"))
                continue
            sepa = "in the SEPA zone" if spec.in_sepa_zone else "outside SEPA"
            checks.append(
                _ok(
                    "IBAN",
                    f"{country}: {spec.iban_length} characters, BBAN {spec.bban_spec} (schwifty), {sepa}",
                )
            )
            if spec.aspirational:
                checks.append(_warn("IBAN", f"{country}'s IBAN is not in the official registry yet"))
            position = spec.positions.get(Component.NATIONAL_CHECKSUM_DIGITS)
            verified = any(key.startswith(f"{country}:") for key in schwifty_checksum.algorithms)
            if position is not None and not position.is_empty and not verified:
                checks.append(
                    _warn(
                        "IBAN",
                        f"{country}'s national check digits are not verified (no algorithm in schwifty)",
                    )
                )
        return checks
    if scheme in SCHEME_VALIDATORS:
        return [_ok("bank account", f"{scheme}: {SCHEME_VALIDATORS[scheme]}")]
    return [_fail("bank account", f"unknown bank account scheme {scheme!r}")]


def check_calendar(entry: dict[str, Any], today: date) -> list[Check]:
    calendar = entry.get("business_day_calendar") or {}
    country, subdivision = calendar.get("country"), calendar.get("subdivision")
    try:
        days = holidays.country_holidays(str(country), subdiv=subdivision, years=(today.year, today.year + 1))
    except (NotImplementedError, KeyError, TypeError, AttributeError) as exc:
        return [_fail("holidays", f"holidays has no calendar for {country}/{subdivision}: {exc}")]
    where = f"{country}" + (f"/{subdivision}" if subdivision else "")
    checks = [
        _ok(
            "holidays",
            f"holidays {metadata.version('holidays')} has {where}: "
            f"{sum(1 for d in days if d.year == today.year)} holidays in {today.year}, "
            f"{sum(1 for d in days if d.year == today.year + 1)} in {today.year + 1}",
        )
    ]
    if country != entry.get("country"):
        checks.append(
            _warn("holidays", f"the calendar is {country}'s, the country is {entry.get('country')}")
        )
    return checks


def check_timezone(entry: dict[str, Any]) -> list[Check]:
    name = entry.get("timezone")
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return [_fail("timezone", f"{name!r} is not an IANA timezone (zoneinfo)")]
    zones = _country_zones().get(str(entry.get("country")), set())
    if name not in zones:
        return [_warn("timezone", f"{name} exists but is not one of {entry.get('country')}'s zones")]
    return [_ok("timezone", f"{name} exists and is a zone of {entry.get('country')} (tzdata zone.tab)")]


def check_rails(entry: dict[str, Any], capabilities: RailCapabilities) -> list[Check]:
    rails = entry.get("rails") or []
    currency = entry.get("currency")
    currencies = entry.get("payout_currencies") or [currency]
    country, scheme = str(entry.get("country")), str(entry.get("bank_account_scheme"))
    checks: list[Check] = []
    if not rails:
        checks.append(_fail("rails", "the route lists no rail"))
    for rail in entry.get("rail_limits") or {}:
        if rail not in rails:
            checks.append(
                _fail("rails", f"rail_limits names {rail!r}, which is not one of the rails {rails}")
            )
    for rail in rails:
        if rail not in capabilities:
            checks.append(_fail(f"rail {rail}", f"no capabilities are recorded for {rail!r}"))
            continue
        capability = capabilities.get(rail)
        for ccy in currencies:
            reason = capability.why_not(country, str(ccy), scheme)
            if reason:
                checks.append(_fail(f"rail {rail}", reason))
            else:
                checks.append(_ok(f"rail {rail}", f"pays {ccy} to {scheme} accounts in {country}"))
    return checks


def check_rules(entry: dict[str, Any]) -> list[Check]:
    try:
        CountryRules.model_validate_json(json.dumps(entry))
    except ValidationError as exc:
        return [_fail("rules", f"{e['field']}: {e['reason']}") for e in field_errors(exc)]
    return [_ok("rules", "the entry loads as country rules (the platform's own validation)")]


def check_synthetic_sellers(entry: dict[str, Any]) -> list[Check]:
    from stand_ins.sample_sellers import CURRENCIES, seller_body

    country = entry.get("country")
    if country not in CURRENCIES:
        return [_warn("synthetic sellers", f"stand_ins/sample_sellers.py has no shape for {country}")]
    try:
        seller_body(str(country), 0)
    except (KeyError, ValueError) as exc:
        return [_warn("synthetic sellers", f"stand_ins cannot make a {country} seller: {exc}")]
    return [_ok("synthetic sellers", f"stand_ins/sample_sellers.py makes {country} sellers")]


def gate(
    entry: dict[str, Any],
    *,
    practice: CurrencyPracticeBook | None = None,
    capabilities: RailCapabilities | None = None,
    today: date | None = None,
) -> Verdict:
    """Every static check of ``entry`` (a country's rules as JSON data)."""
    book = practice or load_currency_practice()
    rails = capabilities or load_rail_capabilities()
    checks = [
        *check_country(entry),
        *check_currency(entry, book),
        *check_scheme(entry),
        *check_calendar(entry, today or datetime.now(UTC).date()),
        *check_timezone(entry),
        *check_rails(entry, rails),
        *check_rules(entry),
        *check_synthetic_sellers(entry),
    ]
    return Verdict(str(entry.get("country")), tuple(checks))


# --- The command -----------------------------------------------------------------------------------


def _entries(target: str, all_countries: bool, rules_path: str | None) -> list[dict[str, Any]]:
    rules_file = (
        Path(rules_path) if rules_path else Path(__file__).parent.parent / "shared/domain/data/countries.json"
    )
    packaged = json.loads(rules_file.read_text("utf-8"))["countries"]
    if all_countries:
        return list(packaged)
    path = Path(target)
    if path.suffix == ".json" or path.exists():
        doc = json.loads(path.read_text("utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("countries"), list):
            return list(doc["countries"])
        if not isinstance(doc, dict):
            raise ValueError(f"{target}: a country's entry is a JSON object")
        return [doc]
    found = [e for e in packaged if e.get("country") == target.upper()]
    if not found:
        known = ", ".join(sorted(e["country"] for e in packaged))
        raise ValueError(f"{target} is not in the rules ({known}); give a JSON file for a new country")
    return found


def live_checks(entry: dict[str, Any], args: argparse.Namespace) -> list[Check]:
    """The live part on a stack: started here (and stopped), or the running one."""
    import os
    import shutil
    import tempfile

    from local_stack.client import StackClient
    from local_stack.stack import Stack
    from shared.domain.countries import parse_country_rules
    from tools.country_gate_live import live_gate, stack_store

    root = Path(__file__).resolve().parent.parent
    packaged = json.loads((root / "shared/domain/data/countries.json").read_text("utf-8"))
    countries = [e for e in packaged["countries"] if e.get("country") != entry.get("country")] + [entry]
    merged = {**packaged, "countries": countries}
    rules = parse_country_rules(json.dumps(merged)).get(str(entry["country"]))
    started = None
    scratch = None
    try:
        if args.use_running:
            stack = Stack.load(root, port_offset=args.port_offset)
        else:
            scratch = Path(tempfile.mkdtemp(prefix="country-gate-"))
            rules_file = scratch / "countries.json"
            rules_file.write_text(json.dumps(merged), "utf-8")
            stack = started = Stack.start(
                root, port_offset=args.port_offset, extra_env={"COUNTRY_RULES_PATH": str(rules_file)}
            )
        os.environ.update(stack.env)  # the ledger audit reads the stack's emulator
        client = StackClient.from_stack(stack, identity="marketplace")
        found = live_gate(rules, client, stack_store(stack.project))
    except Exception as exc:  # a stack that cannot run the gate is a no-go, said plainly
        return [_fail("live: local stack", f"{type(exc).__name__}: {exc}")]
    finally:
        if started is not None:
            started.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return [_ok(name, detail) if ok else _fail(name, detail) for name, ok, detail in found]


def render(verdict: Verdict) -> str:
    marks = {"ok": "[ok]  ", "warn": "[warn]", "fail": "[FAIL]"}
    width = max(len(c.name) for c in verdict.checks)
    live = any(c.name.startswith("live: ") for c in verdict.checks)
    lines = [f"Country gate for {verdict.country}: static{' and live' if live else ''} checks"]
    lines += [f"  {marks[c.status]} {c.name:<{width}}  {c.detail}" for c in verdict.checks]
    failed = sum(c.status == "fail" for c in verdict.checks)
    warned = sum(c.status == "warn" for c in verdict.checks)
    passed = len(verdict.checks) - failed - warned
    summary = f"{passed} passed, {failed} failed, {warned} warning(s)"
    lines.append(f"{'GO' if verdict.go else 'NO-GO'}: {verdict.country} ({summary})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.country_gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 go, 1 no-go, 2 usage error.",
    )
    parser.add_argument(
        "country", nargs="?", help="a country code in the rules (SE) or a JSON file with an entry"
    )
    parser.add_argument("--all", action="store_true", help="check every country in the rules")
    parser.add_argument("--rules", help="the countries file (default: shared/domain/data/countries.json)")
    parser.add_argument("--json", action="store_true", help="print the checklist as JSON")
    parser.add_argument(
        "--live", action="store_true", help="also pay synthetic sellers through a local stack (one country)"
    )
    parser.add_argument("--use-running", action="store_true", help="--live on the stack already running")
    parser.add_argument(
        "--port-offset", type=int, help="--live: the stack's port offset (default STACK_PORT_OFFSET)"
    )
    args = parser.parse_args(argv)
    if not args.country and not args.all:
        parser.error("give a country code or a JSON file, or --all")
    try:
        entries = _entries(args.country or "", args.all, args.rules)
    except (OSError, ValueError, KeyError) as exc:
        print(f"country_gate: {exc}", file=sys.stderr)
        return 2
    verdicts = [gate(entry) for entry in entries]
    if args.live:
        if len(verdicts) != 1:
            print("country_gate: --live checks one country at a time", file=sys.stderr)
            return 2
        if verdicts[0].go:  # the live part only for a country the static checks let through
            verdicts = [
                Verdict(verdicts[0].country, verdicts[0].checks + tuple(live_checks(entries[0], args)))
            ]
    if args.json:
        print(
            json.dumps(
                [
                    {"country": v.country, "go": v.go, "checks": [asdict(c) for c in v.checks]}
                    for v in verdicts
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print("\n\n".join(render(v) for v in verdicts))
        if not args.live:
            print("(static checks only: add --live to pay synthetic sellers through a local stack)")
    return 0 if all(v.go for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
