"""Foreign exchange as pure rules: rates, conversion of minor units, and its journal entries.

**Rate.** ``Rate(base="EUR", quote="SEK", value=Decimal("11.4537"))`` means 1 EUR buys 11.4537
SEK, in major units, exactly as the source published it: a ``Decimal`` built from the source's
text, never a float. It carries its ``source`` ("fixed_table", "ecb", a rail's quote id) and
its ``as_of`` time. A rate that is not published directly (an inverse, or a cross rate through
the euro) is computed exactly and rounded once to :data:`DERIVED_RATE_DIGITS` significant
digits; that rounded value *is* the rate applied and recorded, so a recorded conversion can be
replayed to the minor unit.

**Conversion and the rounding rule.** Converting ``S`` minor units of A at rate ``r`` into B is
exact rational arithmetic, ``S x r x 10^(exp(B) - exp(A))`` (exponents from ISO 4217), rounded
*once* with round-half-even:

- ``at_rate``: to B's minor unit. This is the counter-value of S at the rate, what the
  platform's FX account in B gives out;
- ``target``: to B's payout quantum (``currency_practice.py``: 1 minor unit, or whole forints
  for HUF). This is what the seller receives.

``at_rate - target`` (whole minor units, zero unless the quantum is above 1) goes to the FX
rounding account, so the seller's amount, the rounding and the FX account always add up.
Half-even because it has no bias: over many conversions the rounding account stays near zero
instead of drifting towards the platform (round down: a hidden fee taken from every seller) or
towards the sellers (round up: a leak). It is the rounding of IEEE 754 and of most banking
systems. The difference between the exact product and ``at_rate`` is less than half a minor
unit: no money, since no ledger can hold it; the rule defines the counter-value.

**Accounts.** Each currency has its own platform FX account (``platform:fx:EUR``,
``platform:fx:SEK``): a conversion posts one leg in each currency, so every entry still sums to
zero per currency. ``platform:fx_rounding:CCY`` holds the rounding; ``platform:fx_gain_loss:CCY``
the differences with what a rail really did (positive: a gain, like commission). Together the
FX accounts are the platform's FX position; per currency, money collected = paid out +
commission + refunds + balances + these accounts.

**Reversal.** A payout that fails or is returned after its conversion settles back *at the
recorded rate*: the seller gets exactly the ``S`` of A that left its balance, whatever the rate
is now (:func:`reversal_entry` mirrors the conversion). If the rail returns the money in A at
its own rate (``S'`` instead of ``t`` of B), the seller still gets ``S`` and ``S' - S`` goes to
the gain/loss account in A. The same holds when a rail converts at send time at another rate
than the recorded one (:func:`rail_conversion_entry`).

Worked example (EUR 100.01 to HUF at 389.63): exact 3,896,689.63 fillér -> ``at_rate`` HUF
38,966.90 (3,896,690 fillér), ``target`` HUF 38,967.00 (whole forints), rounding -10 fillér
(the platform gives 10 fillér more than the rate: half-even rounded up). Entries: EUR: seller
available -10001, platform:fx:EUR +10001; HUF: platform:fx:HUF -3896690, platform:fx_rounding:HUF
-10, seller +3896700.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from shared.domain.currency_practice import payout_quantum
from shared.domain.errors import CurrencyMismatch, DomainError
from shared.domain.ledger import Bucket, JournalEntry, PlatformAccount, make_entry, seller_account
from shared.domain.money import Money, currency_exponent

# Significant digits of a rate derived by inversion or through a pivot currency (Adyen's
# appliedExchangeRate carries about 12; the ECB publishes 5 or 6).
DERIVED_RATE_DIGITS = 12
_MAX_RATE_DIGITS = 28  # a published rate with more digits than this is not a rate
_RATE_MAGNITUDE = (-12, 12)  # 1e-12 <= rate < 1e13: beyond, it is a unit mistake (or an attack)
_DECIMAL_TEXT = re.compile(r"\d+(\.\d+)?")  # no sign, no exponent, no spaces: as sources publish


# --- Errors ------------------------------------------------------------------------------------


class UnsupportedCurrencyPair(DomainError):
    """The source has no rate for this pair, and none can be derived."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("unsupported_currency_pair", message, field)


class RateUnavailable(DomainError):
    """The pair is known but no usable rate exists now (feed unreachable, nothing published yet)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("rate_unavailable", message, field)


class StaleRate(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("stale_rate", message, field)


class InvalidRate(DomainError):
    """Zero, negative, not a number, or an absurd magnitude."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("invalid_rate", message, field)


class ReturnMismatch(DomainError):
    """What a rail returned does not fit the conversion: ops must look, nothing is booked."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("fx_return_mismatch", message, field)


# --- Rates ---------------------------------------------------------------------------------------


def parse_rate_value(value: object, field: str | None = None) -> Decimal:
    """A rate as an exact positive Decimal, from a Decimal, an int or plain decimal text.

    Floats are refused: a float has already lost the digits the source published.
    """
    if isinstance(value, bool | float):
        raise InvalidRate(
            f"a rate must be a decimal string, not a {type(value).__name__} (it may have lost digits)", field
        )
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("-") and _DECIMAL_TEXT.fullmatch(text[1:]):
            raise InvalidRate(f"a rate must be greater than zero, not {text}", field)
        if not _DECIMAL_TEXT.fullmatch(text):
            raise InvalidRate(f"{value[:40]!r} is not a plain decimal number", field)
        value = Decimal(text)
    elif not isinstance(value, Decimal):
        raise InvalidRate(f"a rate must be a decimal string, not {type(value).__name__}", field)
    if not value.is_finite():
        raise InvalidRate("a rate must be a finite number", field)
    if value <= 0:
        raise InvalidRate(f"a rate must be greater than zero, not {value}", field)
    coefficient = int("".join(map(str, value.as_tuple().digits)))
    # Counted by hand: normalize() would round to the decimal context's 28 digits first.
    if len(str(coefficient).rstrip("0")) > _MAX_RATE_DIGITS:
        raise InvalidRate(f"a rate has at most {_MAX_RATE_DIGITS} significant digits", field)
    low, high = _RATE_MAGNITUDE
    if not low <= value.adjusted() <= high:
        raise InvalidRate(f"rate {value} is out of range (1e{low} to 1e{high + 1})", field)
    return value


def _exact(value: Decimal) -> Fraction:
    return Fraction(value)  # exact for any finite Decimal


def _round_rate(value: Fraction) -> Decimal:
    """``value`` to DERIVED_RATE_DIGITS significant digits, half-even, as one exact Decimal."""
    context = Context(prec=DERIVED_RATE_DIGITS, rounding=ROUND_HALF_EVEN)
    try:
        return context.divide(Decimal(value.numerator), Decimal(value.denominator)).normalize(context)
    except InvalidOperation as exc:  # pragma: no cover - numerator and denominator are positive ints
        raise InvalidRate(f"cannot derive a rate: {exc}") from None


@dataclass(frozen=True, slots=True)
class Rate:
    """1 ``base`` = ``value`` ``quote``, in major units, from ``source`` as of ``as_of``."""

    base: str
    quote: str
    value: Decimal
    source: str
    as_of: datetime

    def __post_init__(self) -> None:
        currency_exponent(self.base)
        currency_exponent(self.quote)
        if self.base == self.quote:
            raise UnsupportedCurrencyPair(f"{self.base}/{self.quote} is not a conversion")
        object.__setattr__(self, "value", parse_rate_value(self.value))
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("a rate needs its source")
        if not isinstance(self.as_of, datetime) or self.as_of.utcoffset() is None:
            raise ValueError("a rate's as_of must be a timezone-aware datetime")

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"

    def inverted(self) -> Rate:
        """The rate of the other direction, rounded to DERIVED_RATE_DIGITS significant digits."""
        return Rate(
            self.quote,
            self.base,
            _round_rate(1 / _exact(self.value)),
            f"{self.source} (inverted)",
            self.as_of,
        )

    def as_record(self) -> dict[str, str]:
        """What a payout stores: exact, as text (Firestore has no decimal type)."""
        return {
            "base": self.base,
            "quote": self.quote,
            "value": str(self.value),
            "source": self.source,
            "as_of": self.as_of.isoformat(),
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Rate:
        return cls(
            str(data["base"]),
            str(data["quote"]),
            parse_rate_value(data["value"]),
            str(data["source"]),
            datetime.fromisoformat(str(data["as_of"])),
        )

    def __str__(self) -> str:
        return f"1 {self.base} = {self.value} {self.quote} ({self.source}, {self.as_of.isoformat()})"


def cross_rate(base_leg: Rate, quote_leg: Rate, source: str | None = None) -> Rate:
    """A/B from P/A and P/B (two rates from the same pivot P, e.g. the ECB's EUR/SEK and EUR/PLN
    give SEK/PLN), rounded to DERIVED_RATE_DIGITS significant digits. As old as its older leg."""
    if base_leg.base != quote_leg.base:
        raise UnsupportedCurrencyPair(f"{base_leg.pair} and {quote_leg.pair} share no pivot currency")
    return Rate(
        base_leg.quote,
        quote_leg.quote,
        _round_rate(_exact(quote_leg.value) / _exact(base_leg.value)),
        source or f"{base_leg.source} (cross via {base_leg.base})",
        min(base_leg.as_of, quote_leg.as_of),
    )


def rate_from_table(rates: Iterable[Rate], base: str, quote: str, pivot: str = "EUR") -> Rate:
    """The ``base``/``quote`` rate from a set of published rates: direct, inverted, or crossed
    through a currency that has a rate with both (``pivot`` first), computed exactly and rounded
    once. Raises UnsupportedCurrencyPair when none of these exists."""
    currency_exponent(base)
    currency_exponent(quote)
    if base == quote:
        raise UnsupportedCurrencyPair(f"{base}/{quote} is not a conversion")
    table = {(r.base, r.quote): r for r in rates}
    if (base, quote) in table:
        return table[(base, quote)]
    if (quote, base) in table:
        return table[(quote, base)].inverted()

    def leg(p: str, x: str) -> tuple[Fraction, Rate] | None:  # 1 p = ? x, exactly
        if (p, x) in table:
            return _exact(table[(p, x)].value), table[(p, x)]
        if (x, p) in table:
            return 1 / _exact(table[(x, p)].value), table[(x, p)]
        return None

    pivots = sorted({c for pair in table for c in pair} - {base, quote}, key=lambda c: (c != pivot, c))
    for p in pivots:
        to_base, to_quote = leg(p, base), leg(p, quote)
        if to_base and to_quote:
            sources = sorted({to_base[1].source, to_quote[1].source})
            return Rate(
                base,
                quote,
                _round_rate(to_quote[0] / to_base[0]),
                f"{' + '.join(sources)} (cross via {p})",
                min(to_base[1].as_of, to_quote[1].as_of),
            )
    raise UnsupportedCurrencyPair(f"no {base}/{quote} rate, direct or through another currency")


def check_fresh(rate: Rate, at: datetime, max_age: timedelta, field: str | None = None) -> Rate:
    """``rate`` if it may be used at ``at``: not older than ``max_age``, not dated after ``at``."""
    if rate.as_of > at:
        raise StaleRate(
            f"the {rate.pair} rate of {rate.source} is dated {rate.as_of.isoformat()}, "
            f"after {at.isoformat()}",
            field,
        )
    age = at - rate.as_of
    if age > max_age:
        raise StaleRate(
            f"the {rate.pair} rate of {rate.source} is {_describe(age)} old "
            f"(as of {rate.as_of.isoformat()}); at most {_describe(max_age)} is allowed",
            field,
        )
    return rate


def _describe(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


# --- Conversion ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conversion:
    """``source`` converted at ``rate``: ``at_rate`` is the counter-value to the minor unit,
    ``target`` what the seller receives (a multiple of the target's payout quantum)."""

    source: Money
    rate: Rate
    at_rate: Money
    target: Money

    def __post_init__(self) -> None:
        if self.source.currency != self.rate.base:
            raise CurrencyMismatch(f"{self.source.currency} cannot be converted at a {self.rate.pair} rate")
        if self.at_rate.currency != self.rate.quote or self.target.currency != self.rate.quote:
            raise CurrencyMismatch(f"a {self.rate.pair} conversion gives {self.rate.quote}")

    @property
    def rounding(self) -> Money:
        """What the rounding account gets: positive when the seller receives less than at_rate."""
        return self.at_rate - self.target

    def as_record(self) -> dict[str, Any]:
        return {
            "source": {"amount": self.source.amount, "currency": self.source.currency},
            "rate": self.rate.as_record(),
            "at_rate": {"amount": self.at_rate.amount, "currency": self.at_rate.currency},
            "target": {"amount": self.target.amount, "currency": self.target.currency},
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Conversion:
        def money(item: Mapping[str, Any]) -> Money:
            return Money(item["amount"], item["currency"])

        return cls(
            money(data["source"]),
            Rate.from_record(data["rate"]),
            money(data["at_rate"]),
            money(data["target"]),
        )


def exact_counter_value(amount: Money, rate: Rate) -> Fraction:
    """``amount`` at ``rate`` in minor units of the quote currency, exactly (a fraction)."""
    shift = currency_exponent(rate.quote) - currency_exponent(rate.base)
    return amount.amount * _exact(rate.value) * Fraction(10) ** shift


def convert(amount: Money, rate: Rate, *, quantum: int | None = None) -> Conversion:
    """Convert ``amount`` (in ``rate.base``) with the rounding rule of this module.

    ``quantum`` defaults to the quote currency's payout quantum (``currency_practice.json``).
    Raises CurrencyMismatch if ``amount`` is not in the rate's base currency, InvalidAmount if the
    result does not fit a signed 64-bit amount.
    """
    if amount.currency != rate.base:
        raise CurrencyMismatch(f"{amount.currency} cannot be converted at a {rate.pair} rate", "currency")
    step = payout_quantum(rate.quote) if quantum is None else quantum
    if type(step) is not int or step < 1:
        raise ValueError("quantum must be a positive integer")
    exact = exact_counter_value(amount, rate)
    # round() of a Fraction is round-half-even.
    return Conversion(
        source=amount,
        rate=rate,
        at_rate=Money(round(exact), rate.quote),
        target=Money(round(exact / step) * step, rate.quote),
    )


# --- Accounts and entries ------------------------------------------------------------------------


def fx_account(currency: str) -> str:
    """The platform's FX position in ``currency``: ``platform:fx:SEK``."""
    return f"{PlatformAccount.FX.value}:{currency}"


def fx_rounding_account(currency: str) -> str:
    return f"{PlatformAccount.FX_ROUNDING.value}:{currency}"


def fx_gain_loss_account(currency: str) -> str:
    return f"{PlatformAccount.FX_GAIN_LOSS.value}:{currency}"


FX_ACCOUNTS = (PlatformAccount.FX, PlatformAccount.FX_ROUNDING, PlatformAccount.FX_GAIN_LOSS)


def parse_fx_account(account: str) -> tuple[PlatformAccount, str] | None:
    """``("platform:fx:SEK")`` -> (PlatformAccount.FX, "SEK"); None for any other account. For
    readers of the journal (audits, reports) that know the platform accounts by name."""
    root, _, currency = account.rpartition(":")
    for kind in FX_ACCOUNTS:
        if root == kind.value and len(currency) == 3 and currency.isalpha() and currency.isupper():
            return kind, currency
    return None


Postings = list[tuple[str, Money]]


def conversion_postings(
    seller_id: str, conversion: Conversion, *, from_bucket: Bucket, to_bucket: Bucket
) -> Postings:
    """The two legs of a seller's conversion: A leaves ``from_bucket`` for the FX account in A; B
    comes from the FX account in B into ``to_bucket``, the rounding to the rounding account."""
    a, b = conversion.source.currency, conversion.rate.quote
    return [
        (seller_account(seller_id, from_bucket), -conversion.source),
        (fx_account(a), conversion.source),
        (fx_account(b), -conversion.at_rate),
        (fx_rounding_account(b), conversion.rounding),
        (seller_account(seller_id, to_bucket), conversion.target),
    ]


def conversion_entry(
    cause: str,
    seller_id: str,
    conversion: Conversion,
    *,
    from_bucket: Bucket = Bucket.AVAILABLE,
    to_bucket: Bucket = Bucket.AVAILABLE,
    kind: str = "fx.converted",
) -> JournalEntry:
    """One conversion as one entry. For an FX payout: ``to_bucket=Bucket.IN_FLIGHT`` reserves the
    converted amount in the same entry."""
    if conversion.source.is_zero():
        raise DomainError("invalid_amount", "there is nothing to convert", "amount")
    return make_entry(
        kind,
        cause,
        conversion_postings(seller_id, conversion, from_bucket=from_bucket, to_bucket=to_bucket),
        seller_id,
    )


def reversal_entry(
    cause: str,
    seller_id: str,
    conversion: Conversion,
    *,
    returned_from: str,
    returned: Money | None = None,
    to_bucket: Bucket = Bucket.AVAILABLE,
    kind: str = "fx.reversed",
) -> JournalEntry:
    """Undo ``conversion`` at its recorded rate: the seller gets back exactly the source amount.

    ``returned_from`` is the account that holds the target amount now: the seller's in-flight
    bucket for a payout that failed before leaving, ``platform:payouts`` for one the bank
    returned. ``returned`` is what the rail gave back: None or the target amount (nothing was
    converted back: a mirror of the conversion), or an amount in the source currency (the rail
    converted it back at its own rate: the difference to the source amount is a gain or a loss).
    Anything else (another amount of the target, a third currency) raises ReturnMismatch.
    """
    a, b = conversion.source.currency, conversion.rate.quote
    postings: Postings = [
        (returned_from, -conversion.target),
        (fx_rounding_account(b), -conversion.rounding),
        (fx_account(b), conversion.at_rate),
        (seller_account(seller_id, to_bucket), conversion.source),
    ]
    if returned is None or returned == conversion.target:
        postings.append((fx_account(a), -conversion.source))
    elif returned.currency == a:
        if not returned.is_positive():
            raise ReturnMismatch(f"the rail returned {returned}: nothing to settle", "returned")
        postings += [
            (fx_account(a), -returned),
            (fx_gain_loss_account(a), returned - conversion.source),
        ]
    else:
        raise ReturnMismatch(
            f"the rail returned {returned}; the payout was {conversion.target} "
            f"converted from {conversion.source}",
            "returned",
        )
    return make_entry(kind, cause, postings, seller_id)


def rail_conversion_entry(
    cause: str, conversion: Conversion, rail_debited: Money, *, kind: str = "fx.rail_converted"
) -> JournalEntry | None:
    """The rail converted at send time and took ``rail_debited`` (in the source currency) to
    deliver the target amount. A difference to the recorded source amount is the platform's gain
    or loss; None when there is none."""
    a = conversion.source.currency
    if rail_debited.currency != a:
        raise ReturnMismatch(f"the rail debited {rail_debited}, not {a}", "rail_debited")
    difference = rail_debited - conversion.source
    if difference.is_zero():
        return None
    return make_entry(kind, cause, [(fx_account(a), difference), (fx_gain_loss_account(a), -difference)])
