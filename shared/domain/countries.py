"""Per-country payout rules. Countries are data: opening a country means adding an entry to
``data/countries.json`` (and its cases to ``tests/unit/country_cases.json``), no code change.

Every entry is checked when the file is loaded, so a bad entry fails at start-up, not at the
first payout: the country code is ISO 3166, the currency is ISO 4217 with a minor unit, the
holiday calendar exists in ``holidays``, the timezone exists in the IANA database, the
currency's payout practice is recorded (``currency_practice.py``) and the minimum and maximum
amounts are payable in it (HUF: whole forints).

``rails`` is the country's route: the payment rails its payouts may go to, in order of
preference (``shared/domain/rail_routing.py`` picks the first that can take a payout;
``tools/country_gate.py`` checks each rail's capabilities). ``rail_limits`` caps the amount of
one payout on a rail, where that rail imposes a limit below the country's own.
``payout_currencies`` lists the currencies its sellers can be paid in (default: the country's
currency); a seller's payout currency outside it is refused (``payout_currency.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.domain.currency_practice import load_currency_practice
from shared.domain.errors import UnsupportedCountry
from shared.domain.money import INT64_MAX, Money, currency_exponent
from shared.domain.schedule import PayoutSchedule

BankAccountScheme = Literal["iban", "us_aba", "jp_zengin", "au_becs", "ca_eft"]


def _iso_country(code: str) -> str:
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code} is not an ISO 3166-1 alpha-2 country code")
    return code


def _known_currency(code: str) -> str:
    currency_exponent(code)  # UnknownCurrency is a ValueError: pydantic reports it on the field
    return code


def _known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {name!r}") from None
    return name


CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_iso_country)]
CurrencyCode = Annotated[str, AfterValidator(_known_currency)]
MinorUnits = Annotated[int, Field(gt=0, le=INT64_MAX)]
RailName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class BusinessDayCalendar(_Frozen):
    """A calendar of the ``holidays`` package: a country and optionally one of its subdivisions."""

    country: str
    subdivision: str | None = None

    @model_validator(mode="after")
    def _exists(self) -> BusinessDayCalendar:
        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision)
        except NotImplementedError as exc:  # how `holidays` says "no such calendar"
            raise ValueError(f"unknown holiday calendar: {exc}") from None
        return self


class CountryRules(_Frozen):
    """How sellers of one country are paid. Amounts are integer minor units of ``currency``."""

    country: CountryCode
    currency: CurrencyCode
    bank_account_scheme: BankAccountScheme
    # Countries whose IBANs are accepted (iban scheme only). Default: the country itself.
    iban_countries: tuple[CountryCode, ...] = Field(default=(), strict=False)  # a JSON array
    minimum_payout: MinorUnits
    max_transaction_amount: MinorUnits  # largest single order line or payout accepted
    holding_period_days: int = Field(ge=0, le=365)  # calendar days after delivery
    payout_schedule: PayoutSchedule  # the default for new sellers
    business_day_calendar: BusinessDayCalendar
    timezone: Annotated[str, AfterValidator(_known_timezone)]
    bank_account_cooling_off_days: int = Field(ge=0, le=365)  # payouts held after an account change
    # The route: the rails this country's payouts may go to, first choice first.
    rails: tuple[RailName, ...] = Field(min_length=1, strict=False)  # a JSON array
    # The largest payout a rail takes here, where it imposes one (minor units of the currency).
    rail_limits: dict[RailName, MinorUnits] = Field(default_factory=dict)
    # The currencies its sellers can be paid in (default: the country's currency).
    payout_currencies: tuple[CurrencyCode, ...] = Field(default=(), strict=False)  # a JSON array

    @model_validator(mode="before")
    @classmethod
    def _default_iban_countries(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and "iban_countries" not in data
            and data.get("bank_account_scheme") == "iban"
        ):
            data = {**data, "iban_countries": (data.get("country"),)}
        if isinstance(data, dict) and "payout_currencies" not in data and "currency" in data:
            data = {**data, "payout_currencies": (data["currency"],)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> CountryRules:
        if self.bank_account_scheme == "iban" and not self.iban_countries:
            raise ValueError("iban_countries must not be empty for the iban scheme")
        if self.bank_account_scheme != "iban" and self.iban_countries:
            raise ValueError("iban_countries is only for the iban scheme")
        if self.max_transaction_amount <= self.minimum_payout:
            raise ValueError("max_transaction_amount must be greater than minimum_payout")
        if len(set(self.rails)) != len(self.rails):
            raise ValueError("rails must not repeat a rail")
        for rail in self.rail_limits:
            if rail not in self.rails:
                raise ValueError(
                    f"rail_limits names {rail!r}, which is not one of the rails {list(self.rails)}"
                )
        if self.currency not in self.payout_currencies:
            raise ValueError(f"payout_currencies must include the country's currency {self.currency}")
        if len(set(self.payout_currencies)) != len(self.payout_currencies):
            raise ValueError("payout_currencies must not repeat a currency")
        book = load_currency_practice()
        for currency in self.payout_currencies:
            book.get(currency)  # UnknownCurrencyPractice (a ValueError) until it is decided
        quantum = book.get(self.currency).payout_quantum
        for name in ("minimum_payout", "max_transaction_amount"):
            if getattr(self, name) % quantum:
                raise ValueError(f"{name} must be a multiple of {self.currency}'s payout quantum {quantum}")
        return self

    @property
    def minimum_payout_money(self) -> Money:
        return Money(self.minimum_payout, self.currency)

    @property
    def max_transaction_money(self) -> Money:
        return Money(self.max_transaction_amount, self.currency)


class _RulesFile(_Frozen):
    countries: list[CountryRules]


class CountryRegistry:
    """The countries we pay sellers in, by ISO 3166 alpha-2 code."""

    def __init__(self, rules: Iterable[CountryRules]) -> None:
        self._rules: dict[str, CountryRules] = {}
        for entry in rules:
            if entry.country in self._rules:
                raise ValueError(f"country {entry.country} is defined twice")
            self._rules[entry.country] = entry

    def get(self, country: str) -> CountryRules:
        try:
            return self._rules[country]
        except (KeyError, TypeError):
            raise UnsupportedCountry(f"country {country!r} is not supported", "country") from None

    def countries(self) -> tuple[str, ...]:
        return tuple(sorted(self._rules))

    def __contains__(self, country: object) -> bool:
        return country in self._rules

    def __len__(self) -> int:
        return len(self._rules)


def parse_country_rules(text: str | bytes) -> CountryRegistry:
    """Validate a rules document ``{"countries": [{...}, ...]}``; raises pydantic.ValidationError."""
    return CountryRegistry(_RulesFile.model_validate_json(text).countries)


@lru_cache(maxsize=8)
def load_country_rules(path: str | None = None) -> CountryRegistry:
    """Load and validate the rules file at ``path`` (default: the packaged data/countries.json).

    Cached per path: the file is read once per process.
    """
    if path is None:
        text = resources.files("shared.domain").joinpath("data", "countries.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    try:
        return parse_country_rules(text)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ValueError(f"invalid country rules in {path or 'data/countries.json'}: {exc}") from exc


def rules_for_sale_currency(rules: CountryRules, currency: str, registry: CountryRegistry) -> CountryRules:
    """The rules an order line of this country's seller follows when it is sold in ``currency``
    (a storefront's, issue 17): the country's holding period and schedule, with the limit of one
    order line of a country of that currency (the first by code), else the country's own."""
    if currency == rules.currency:
        return rules
    of_currency = next(
        (registry.get(c) for c in registry.countries() if registry.get(c).currency == currency), None
    )
    limit = of_currency.max_transaction_amount if of_currency else rules.max_transaction_amount
    return rules.model_copy(update={"currency": currency, "max_transaction_amount": limit})
