"""Realistic test sellers for every supported country, shared by the demo and the tests.

IBANs are built with schwifty from bank and account codes, so every one is valid and unique.
"""

from __future__ import annotations

from typing import Any

from schwifty import IBAN

# bank code (with branch where the country has one) and account-code length per country
_IBAN_SHAPES: dict[str, tuple[str, int]] = {
    "FR": ("3000600001", 11),
    "DE": ("37040044", 10),
    "ES": ("21000418", 10),
    "IT": ("0542811101", 12),
    "NL": ("ABNA", 10),
    "BE": ("539", 7),
    "GB": ("NWBK601613", 8),
}
CURRENCIES = {
    "FR": "EUR",
    "DE": "EUR",
    "ES": "EUR",
    "IT": "EUR",
    "NL": "EUR",
    "BE": "EUR",
    "GB": "GBP",
    "US": "USD",
    "JP": "JPY",
}
COUNTRIES = tuple(CURRENCIES)


def iban_for(country: str, n: int) -> str:
    bank_code, length = _IBAN_SHAPES[country]
    account = str(10 ** (length - 1) + n)[-length:]
    return str(IBAN.generate(country, bank_code=bank_code, account_code=account))


def bank_account(country: str, n: int, holder: str) -> dict[str, Any]:
    if country == "US":
        return {
            "scheme": "us_aba",
            "holder_name": holder,
            "routing_number": "021000021",
            "account_number": f"{40000000 + n}",
            "account_type": "checking",
        }
    if country == "JP":
        return {
            "scheme": "jp_zengin",
            "holder_name": holder,
            "bank_code": "0001",
            "branch_code": "001",
            "account_number": f"{1000000 + n}"[-7:],
            "account_type": "ordinary",
        }
    return {"scheme": "iban", "holder_name": holder, "iban": iban_for(country, n)}


def seller_body(country: str, n: int, **overrides: Any) -> dict[str, Any]:
    holder = f"Refurb Shop {country}-{n}"
    body: dict[str, Any] = {
        "country": country,
        "currency": CURRENCIES[country],
        "display_name": holder,
        "bank_account": bank_account(country, n, holder),
        "kyc_status": "verified",
    }
    body.update(overrides)
    return body


def minor_units(country: str, major: int) -> int:
    """A price in the country's minor units: 100 per unit, except JPY with none."""
    return major if CURRENCIES[country] == "JPY" else major * 100
