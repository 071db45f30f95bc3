"""How each currency is paid out to banks, where bank practice differs from ISO 4217. No I/O.

The ledger counts every currency in its ISO 4217 minor units (``money.py``): HUF in fillér, like
the marketplace's order events do. But some two-decimal ISO currencies travel between banks in
whole units only: Stripe accepts HUF payouts only in amounts divisible by 100. So each currency
has a ``payout_quantum``, the step in minor units that a payout may carry (1 for most, 100 for
HUF), decided per currency as data in ``data/currency_practice.json`` with the reason and the
sources. A payout amount is always a multiple of its currency's quantum:

- paid from a balance in the same currency, the amount is rounded *down* to the quantum and the
  rest stays in the seller's balance, visible (:func:`payable_amount`);
- converted from another currency, the amount is rounded half-even to the quantum and the
  difference goes to the FX rounding account (``fx.py``).

Providers that represent a currency differently again (Stripe and Adyen send ISK with 2
decimals) are handled in their adapters, not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.domain.errors import DomainError
from shared.domain.money import Money, currency_exponent


class UnknownCurrencyPractice(DomainError):
    """No decision is recorded on how this currency is paid out: it cannot be paid out yet."""

    def __init__(self, currency: str, field: str | None = "currency") -> None:
        super().__init__(
            "unknown_currency_practice",
            f"no payout practice is recorded for {currency}: add it to data/currency_practice.json",
            field,
        )


def _known_currency(code: str) -> str:
    currency_exponent(code)  # UnknownCurrency is a ValueError: pydantic reports it on the field
    return code


class CurrencyPractice(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    currency: Annotated[str, AfterValidator(_known_currency)]
    iso_exponent: int = Field(ge=0, le=4)  # repeated here so that a change of ISO 4217 is noticed
    payout_quantum: int = Field(ge=1)  # in minor units: 1, or 100 for whole major units
    why: str = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1, strict=False)  # a JSON array

    @model_validator(mode="after")
    def _consistent(self) -> CurrencyPractice:
        iso = currency_exponent(self.currency)
        if self.iso_exponent != iso:
            raise ValueError(
                f"{self.currency}: iso_exponent {self.iso_exponent} but ISO 4217 (iso4217 package) says {iso}"
            )
        quantum = self.payout_quantum
        if quantum > 10**iso or 10**iso % quantum:
            raise ValueError(
                f"{self.currency}: payout_quantum {quantum} must divide a major unit ({10**iso} minor units)"
            )
        return self


class CurrencyPracticeBook:
    """The recorded practice of every currency we pay out in."""

    def __init__(self, entries: Iterable[CurrencyPractice]) -> None:
        self._entries: dict[str, CurrencyPractice] = {}
        for entry in entries:
            if entry.currency in self._entries:
                raise ValueError(f"currency {entry.currency} is defined twice")
            self._entries[entry.currency] = entry

    def get(self, currency: str) -> CurrencyPractice:
        try:
            return self._entries[currency]
        except (KeyError, TypeError):
            raise UnknownCurrencyPractice(str(currency)) from None

    def __contains__(self, currency: object) -> bool:
        return currency in self._entries

    def currencies(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))


class _PracticeFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    about: str = Field(default="", alias="_about")
    currencies: list[CurrencyPractice]


def parse_currency_practice(text: str | bytes) -> CurrencyPracticeBook:
    """Validate a document ``{"currencies": [...]}``; raises pydantic.ValidationError."""
    return CurrencyPracticeBook(_PracticeFile.model_validate_json(text).currencies)


@lru_cache(maxsize=4)
def load_currency_practice(path: str | None = None) -> CurrencyPracticeBook:
    """The packaged ``data/currency_practice.json`` (or the file at ``path``), read once."""
    if path is None:
        text = resources.files("shared.domain").joinpath("data", "currency_practice.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    try:
        return parse_currency_practice(text)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ValueError(
            f"invalid currency practice in {path or 'data/currency_practice.json'}: {exc}"
        ) from exc


def payout_quantum(currency: str, book: CurrencyPracticeBook | None = None) -> int:
    """The step, in minor units, of a payout amount in ``currency`` (1, or 100 for HUF)."""
    return (book or load_currency_practice()).get(currency).payout_quantum


def is_payable(amount: Money, book: CurrencyPracticeBook | None = None) -> bool:
    """Can a bank transfer carry exactly this amount?"""
    return amount.amount % payout_quantum(amount.currency, book) == 0


def payable_amount(available: Money, book: CurrencyPracticeBook | None = None) -> Money:
    """The largest payable amount not above ``available`` (rounded towards zero to the quantum).

    What is left (less than one quantum) stays in the seller's balance for a later payout.
    """
    quantum = payout_quantum(available.currency, book)
    whole = abs(available.amount) // quantum * quantum
    return Money(whole if available.amount >= 0 else -whole, available.currency)
