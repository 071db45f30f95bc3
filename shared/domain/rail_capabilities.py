"""What each payment rail can pay, as data: which countries, currencies and bank account schemes.

``data/rail_capabilities.json`` has one entry per rail (sandbox, adyen, stripe, sepa_file), with
its sources, as *lanes*: (recipient countries, currencies, schemes). A rail supports a payout
when one lane holds the seller's country, the payout currency and the account's scheme. The
country gate (``tools/country_gate.py``) checks a country's rails against it, and
``payout_currency.py`` uses it to tell which currencies a seller can be paid in. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from schwifty.exceptions import InvalidCountryCode
from schwifty.registry import get_iban_spec

from shared.domain.countries import BankAccountScheme, CountryCode, CurrencyCode, RailName
from shared.domain.errors import DomainError

RailAccountKind = Literal["stripe_account", "adyen_account_holder", "adyen_balance_account"]


class UnknownRail(DomainError):
    def __init__(self, rail: str, field: str | None = None) -> None:
        super().__init__("unknown_rail", f"no capabilities are recorded for rail {rail!r}", field)


def in_sepa_zone(country: str) -> bool:
    """Is ``country`` in the SEPA schemes' geographical scope (schwifty's IBAN registry)?"""
    try:
        return bool(get_iban_spec(country).in_sepa_zone)
    except InvalidCountryCode:
        return False


class Lane(BaseModel):
    # Not strict: JSON arrays become tuples (the codes are still checked one by one).
    model_config = ConfigDict(extra="forbid", frozen=True)

    countries: Literal["*", "sepa"] | tuple[CountryCode, ...]
    currencies: Literal["*"] | tuple[CurrencyCode, ...]
    schemes: tuple[BankAccountScheme, ...] = Field(min_length=1, strict=False)

    def has_country(self, country: str) -> bool:
        if self.countries == "*":
            return True
        if self.countries == "sepa":
            return in_sepa_zone(country)
        return country in self.countries

    def has_currency(self, currency: str) -> bool:
        return self.currencies == "*" or currency in self.currencies


class RailCapability(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    rail: RailName
    about: Annotated[str, StringConstraints(min_length=1)]
    sources: tuple[str, ...] = Field(min_length=1, strict=False)
    lanes: tuple[Lane, ...] = Field(min_length=1, strict=False)
    # The seller's ids on this rail that a payout through it needs (onboarding's rail_accounts).
    needs: tuple[RailAccountKind, ...] = Field(default=(), strict=False)
    # A batch rail is not called per payout: its payouts are queued for a file (another use case).
    batch: bool = False

    def supports(self, country: str, currency: str, scheme: str) -> bool:
        return self.why_not(country, currency, scheme) is None

    def why_not(self, country: str, currency: str, scheme: str) -> str | None:
        """None when the rail can pay ``currency`` to a ``scheme`` account in ``country``; else why."""
        lanes = [lane for lane in self.lanes if lane.has_country(country)]
        if not lanes:
            return f"{self.rail} does not pay out to {country}"
        with_currency = [lane for lane in lanes if lane.has_currency(currency)]
        if not with_currency:
            paid = sorted({c for lane in lanes if lane.currencies != "*" for c in lane.currencies})
            return f"{self.rail} pays {country} in {', '.join(paid)}, not {currency}"
        if not any(scheme in lane.schemes for lane in with_currency):
            schemes = sorted({s for lane in with_currency for s in lane.schemes})
            return f"{self.rail} pays {currency} in {country} to {', '.join(schemes)} accounts, not {scheme}"
        return None


class RailCapabilities:
    def __init__(self, entries: Iterable[RailCapability]) -> None:
        self._rails: dict[str, RailCapability] = {}
        for entry in entries:
            if entry.rail in self._rails:
                raise ValueError(f"rail {entry.rail} is defined twice")
            self._rails[entry.rail] = entry

    def get(self, rail: str) -> RailCapability:
        try:
            return self._rails[rail]
        except (KeyError, TypeError):
            raise UnknownRail(str(rail)) from None

    def __contains__(self, rail: object) -> bool:
        return rail in self._rails

    def rails(self) -> tuple[str, ...]:
        return tuple(sorted(self._rails))


class _CapabilitiesFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    about: str = Field(default="", alias="_about")
    rails: list[RailCapability]


def parse_rail_capabilities(text: str | bytes) -> RailCapabilities:
    return RailCapabilities(_CapabilitiesFile.model_validate_json(text).rails)


@lru_cache(maxsize=4)
def load_rail_capabilities(path: str | None = None) -> RailCapabilities:
    """The packaged ``data/rail_capabilities.json`` (or the file at ``path``), read once."""
    if path is None:
        text = resources.files("shared.domain").joinpath("data", "rail_capabilities.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    try:
        return parse_rail_capabilities(text)
    except ValueError as exc:
        raise ValueError(
            f"invalid rail capabilities in {path or 'data/rail_capabilities.json'}: {exc}"
        ) from exc
