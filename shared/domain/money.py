"""Money as an integer number of minor units of an ISO 4217 currency. No floats anywhere.

The number of minor units per major unit (the exponent) comes from ISO 4217 via the ``iso4217``
package: JPY 0 (1200 means ¥1200), EUR 2 (1234 means €12.34), KWD 3, CLF 4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from iso4217 import Currency

from shared.domain.errors import AmountTooPrecise, CurrencyMismatch, InvalidAmount, UnknownCurrency

# Amounts are stored and exchanged as signed 64-bit integers (Firestore, JSON consumers).
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_CODE = re.compile(r"[A-Z]{3}")
# Plain decimal notation only: no exponent, no spaces, no underscores, no "+", no "NaN".
_DECIMAL_TEXT = re.compile(r"-?\d+(\.\d+)?")


def currency_exponent(code: str) -> int:
    """Number of decimals of the currency's minor unit. Raises UnknownCurrency for codes that are
    not ISO 4217, not upper-case, or have no minor unit (XAU, XDR, XXX...)."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise UnknownCurrency(f"{code!r} is not an ISO 4217 currency code", "currency")
    return _exponent(code)


@cache  # only valid codes are cached: a raise is not
def _exponent(code: str) -> int:
    try:
        exponent = Currency(code).exponent
    except ValueError:
        raise UnknownCurrency(f"unknown currency {code}", "currency") from None
    if exponent is None:
        raise UnknownCurrency(f"currency {code} has no minor unit", "currency")
    return int(exponent)


def _check_amount(amount: object) -> int:
    # `type(...) is int` also rejects bool (a subclass of int) and int-like enums.
    if type(amount) is not int:
        raise InvalidAmount(
            f"amount must be an integer number of minor units, not {type(amount).__name__}", "amount"
        )
    if not INT64_MIN <= amount <= INT64_MAX:
        raise InvalidAmount("amount is outside the signed 64-bit range", "amount")
    return amount


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units (cents for EUR, yen for JPY) of one currency.

    Arithmetic and ordering only work within one currency (CurrencyMismatch otherwise);
    ``==`` between different currencies is simply False.
    """

    amount: int
    currency: str

    def __post_init__(self) -> None:
        _check_amount(self.amount)
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, value: Decimal | str, currency: str) -> Money:
        """``Money.from_decimal("12.34", "EUR") == Money(1234, "EUR")``.

        Never rounds: a value with more decimals than the currency has (other than trailing
        zeros) raises AmountTooPrecise. Floats are refused because they are already rounded.
        """
        exponent = currency_exponent(currency)
        if isinstance(value, str):
            if not _DECIMAL_TEXT.fullmatch(value):
                raise InvalidAmount(f"{value!r} is not a plain decimal number", "amount")
            value = Decimal(value)
        elif not isinstance(value, Decimal):
            raise InvalidAmount(f"amount must be a Decimal or a string, not {type(value).__name__}", "amount")
        if not value.is_finite():
            raise InvalidAmount("amount must be a finite number", "amount")
        sign, digits, decimal_exponent = value.as_tuple()
        assert isinstance(decimal_exponent, int)  # finite, checked above
        if len(digits) > 40:  # no int64 amount needs that many; also bounds the work below
            raise InvalidAmount("amount has too many digits", "amount")
        coefficient = int("".join(map(str, digits)))
        shift = decimal_exponent + exponent  # power of ten that turns the coefficient into minor units
        if coefficient and shift > 19:  # beyond int64 whatever the digits; avoids huge powers of ten
            raise InvalidAmount("amount is outside the signed 64-bit range", "amount")
        if shift >= 0:
            minor = coefficient * 10**shift
        else:
            minor, rest = divmod(coefficient, 10**-shift)
            if rest:
                raise AmountTooPrecise(
                    f"{currency} has {exponent} decimal(s); {value} would need rounding", "amount"
                )
        return cls(-minor if sign else minor, currency)

    def to_decimal(self) -> Decimal:
        """The amount in major units, exact: Money(1234, "EUR") -> Decimal("12.34")."""
        sign, digits, _ = Decimal(self.amount).as_tuple()
        # Built from its digits rather than by division so that no decimal context can round it.
        return Decimal((sign, digits, -currency_exponent(self.currency)))

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_positive(self) -> bool:
        return self.amount > 0

    def is_negative(self) -> bool:
        return self.amount < 0

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}", "currency")

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        """Major units and code: 12.34 EUR, 1200 JPY, 1.234 KWD, -0.05 EUR."""
        return f"{self.to_decimal():f} {self.currency}"


def amount_text(money: Money) -> str:
    """An amount as every message states it: the integer minor units the API takes, then the
    formatted value: ``1000 (10.00 EUR)``, ``-5400 (-54.00 EUR)``, ``1200 (1200 JPY)``."""
    return f"{money.amount} ({money})"


def sum_money(items: Iterable[Money], currency: str) -> Money:
    """Sum of ``items``, all in ``currency`` (CurrencyMismatch otherwise); zero when empty."""
    total = Money.zero(currency)
    for item in items:
        total = total + item
    return total
