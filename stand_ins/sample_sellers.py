"""Realistic test sellers for every supported country, shared by the demo and the tests.

IBANs are built with schwifty from bank and account codes, so every one is valid. The sandbox
provider decides a transfer's fate from the last six digits of the account number, like a real
PSP's test accounts (see stand_ins/sandbox_provider.py); ``outcome`` picks them.
"""

from __future__ import annotations

import warnings
from typing import Any

from schwifty import IBAN
from schwifty.exceptions import NationalChecksumNotVerified

from shared.domain.money import currency_exponent

# bank code (with branch where the country has one) and account-code length per country
_IBAN_SHAPES: dict[str, tuple[str, int]] = {
    "FR": ("3000600001", 11),
    "DE": ("37040044", 10),
    "ES": ("21000418", 10),
    "IT": ("0542811101", 12),
    "NL": ("ABNA", 10),
    "BE": ("539", 7),
    "GB": ("NWBK601613", 8),
    "SE": ("500", 16),
    "PL": ("10901014", 16),
    "DK": ("0040", 10),
    "CZ": ("0800000000", 10),
    "CH": ("00762", 12),
    "NO": ("1594", 6),  # a bank code whose mod-11 check admits every magic suffix
    "HU": ("1177301", 16),
    "IE": ("AIBK931152", 8),  # issue 16: paid through the SEPA bank-file rail
}
CURRENCIES = {
    "FR": "EUR", "DE": "EUR", "ES": "EUR", "IT": "EUR", "NL": "EUR", "BE": "EUR",
    "GB": "GBP", "US": "USD", "JP": "JPY",
    "SE": "SEK", "PL": "PLN", "DK": "DKK", "CZ": "CZK", "CH": "CHF", "NO": "NOK", "HU": "HUF",
    "AU": "AUD", "CA": "CAD",
    "IE": "EUR",
}  # fmt: skip
# The countries the demo, the fault harness and the benchmark onboard sellers in. The countries
# opened for issue 17 (SE to CA above) have their shapes here and join the demo in its part B.
COUNTRIES = ("FR", "DE", "ES", "IT", "NL", "BE", "GB", "US", "JP")
ALL_COUNTRIES = tuple(CURRENCIES)
# Roughly how many units of each currency a euro buys, so that test prices look alike everywhere
# (GBP and USD are kept at 1, as they always were here).
_UNITS_PER_EURO = {
    "JPY": 160,
    "SEK": 11,
    "PLN": 4,
    "DKK": 7,
    "CZK": 25,
    "NOK": 12,
    "HUF": 400,
    "AUD": 2,
    "CAD": 2,
}

OUTCOMES: dict[str, str | None] = {
    "paid": None,
    "account_closed": "999901",
    "no_account": "999902",
    "invalid_account_number": "999903",
    "account_frozen": "999904",
    "declined": "999905",
    "insufficient_platform_funds": "999906",
    "returned": "999907",
}


# Known for SE and HU (schwifty has no algorithm for their national check digits): not news here.
warnings.filterwarnings("ignore", category=NationalChecksumNotVerified)


def _account_code(length: int, n: int, outcome: str) -> str:
    suffix = OUTCOMES[outcome]
    if suffix is None:  # 1 followed by n: never ends in a magic suffix for n < 10**(length-2)
        return "1" + str(n % 10 ** (length - 2)).zfill(length - 1)
    return (str(n % 10 ** max(length - 6, 1)).zfill(length - 6) + suffix)[-length:]


def iban_for(country: str, n: int, outcome: str = "paid") -> str:
    """A valid IBAN, national check digits included: where the bank's own check method refuses
    an account number (German banks have dozens), the next number is tried."""
    bank_code, length = _IBAN_SHAPES[country]
    for attempt in range(1000):
        code = _account_code(length, n + attempt * 7919, outcome)
        try:  # generate raises when the national check digit cannot be computed for this number
            iban = IBAN.generate(country, bank_code=bank_code, account_code=code)
            iban.validate(validate_bban=True)
        except ValueError:
            continue
        return str(iban)
    raise ValueError(f"no valid {country} IBAN for {n} {outcome}")


def bank_account(country: str, n: int, holder: str, outcome: str = "paid") -> dict[str, Any]:
    if country == "US":
        return {
            "scheme": "us_aba",
            "holder_name": holder,
            "routing_number": "021000021",
            "account_number": _account_code(10, n, outcome),
            "account_type": "checking",
        }
    if country == "JP":
        return {
            "scheme": "jp_zengin",
            "holder_name": holder,
            "bank_code": "0001",
            "branch_code": "001",
            "account_number": _account_code(7, n, outcome),
            "account_type": "ordinary",
        }
    if country == "AU":
        return {
            "scheme": "au_becs",
            "holder_name": holder,
            "bsb": "062000",
            "account_number": _account_code(9, n, outcome),
        }
    if country == "CA":
        return {
            "scheme": "ca_eft",
            "holder_name": holder,
            "institution_number": "001",
            "transit_number": "00011",
            "account_number": _account_code(10, n, outcome),
            "account_type": "checking",
        }
    return {"scheme": "iban", "holder_name": holder, "iban": iban_for(country, n, outcome)}


# Where the sample sellers are registered: each country's capital (DAC7 needs an address).
_CITIES = {
    "FR": "Paris", "DE": "Berlin", "ES": "Madrid", "IT": "Roma", "NL": "Amsterdam", "BE": "Bruxelles",
    "GB": "London", "US": "Washington", "JP": "Tokyo", "SE": "Stockholm", "PL": "Warszawa",
    "DK": "København", "CZ": "Praha", "CH": "Bern", "NO": "Oslo", "HU": "Budapest",
    "AU": "Canberra", "CA": "Ottawa", "IE": "Dublin",
}  # fmt: skip


def dac7_identity(country: str, n: int, legal_name: str) -> dict[str, Any]:
    """A sample seller as DAC7 sees it: a company registered in its country's capital, complete
    without a TIN (a business registration number stands in, as the directive allows)."""
    return {
        "kind": "entity",
        "legal_name": legal_name,
        "address": {"country": country, "city": _CITIES[country], "street": f"{n} Market Street"},
        "business_registration_number": f"REG-{country}-{n:06d}",
    }


def seller_body(country: str, n: int, outcome: str = "paid", **overrides: Any) -> dict[str, Any]:
    holder = f"Refurb Shop {country}-{n}"
    body: dict[str, Any] = {
        "country": country,
        "currency": CURRENCIES[country],
        "display_name": holder,
        "bank_account": bank_account(country, n, holder, outcome),
        "kyc_status": "verified",
        "dac7": dac7_identity(country, n, holder),
    }
    body.update(overrides)
    return body


def minor_units(country: str, major: int) -> int:
    """A price of about ``major`` euros in the country's minor units (JPY has no minor unit:
    about 160 yen to the euro; HUF keeps its ISO fillér: about 40,000 to the euro)."""
    currency = CURRENCIES[country]
    return major * _UNITS_PER_EURO.get(currency, 1) * int(10 ** currency_exponent(currency))


def stripe_account_for(country: str, n: int, outcome: str = "paid") -> str:
    """A Stripe connected account id whose last six characters give the Stripe stand-in the
    outcome (stand_ins/stripe_connect.py), as the bank account number does for the others."""
    return "acct_" + country + _account_code(14, n, outcome)
