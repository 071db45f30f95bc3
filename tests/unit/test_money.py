"""Money: integer minor units, one currency at a time, never a float."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.errors import (
    AmountTooPrecise,
    CurrencyMismatch,
    DomainError,
    InvalidAmount,
    UnknownCurrency,
)
from shared.domain.money import INT64_MAX, INT64_MIN, Money, currency_exponent, sum_money

CURRENCIES = ["EUR", "USD", "GBP", "JPY", "KWD", "CLF"]
# Small enough that sums of three never leave int64.
amounts = st.integers(min_value=-(2**61), max_value=2**61)
currencies = st.sampled_from(CURRENCIES)


def money_in(currency: str) -> st.SearchStrategy[Money]:
    return amounts.map(lambda amount: Money(amount, currency))


# --- Currencies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"), [("JPY", 0), ("EUR", 2), ("USD", 2), ("GBP", 2), ("KWD", 3), ("IQD", 3), ("CLF", 4)]
)
def test_currency_exponent_comes_from_iso_4217(code, exponent):
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["ZZZ", "eur", "Eur", "EURO", "EU", "", "XAU", "XXX", "XDR", None, 978])
def test_unknown_or_unitless_currencies_are_refused(code):
    with pytest.raises(UnknownCurrency) as err:
        currency_exponent(code)
    assert err.value.code == "unknown_currency"
    with pytest.raises(UnknownCurrency):
        Money(100, code)


# --- Construction -----------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1.0, 12.34, True, False, Decimal("1"), "100", None, 10**20])
def test_amount_must_be_an_int64_integer(amount):
    with pytest.raises(InvalidAmount) as err:
        Money(amount, "EUR")
    assert err.value.code == "invalid_amount"


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_always_refused(value):
    with pytest.raises(InvalidAmount):
        Money(value, "EUR")
    with pytest.raises(InvalidAmount):
        Money.from_decimal(value, "EUR")


def test_int64_bounds():
    assert Money(INT64_MAX, "EUR").amount == 2**63 - 1
    assert Money(INT64_MIN, "EUR").amount == -(2**63)
    with pytest.raises(InvalidAmount):
        Money(INT64_MAX + 1, "EUR")
    with pytest.raises(InvalidAmount):
        Money(INT64_MAX, "EUR") + Money(1, "EUR")  # overflow is an error, not a wrap-around


def test_money_is_immutable_and_hashable():
    money = Money(100, "EUR")
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount = 5  # type: ignore[misc]
    assert {money, Money(100, "EUR")} == {Money(100, "EUR")}


# --- Arithmetic -------------------------------------------------------------------------------


@given(currencies.flatmap(lambda c: st.tuples(money_in(c), money_in(c), money_in(c))))
def test_addition_is_associative_and_commutative(triple):
    a, b, c = triple
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a


@given(currencies.flatmap(money_in))
def test_subtraction_and_negation(a):
    zero = Money.zero(a.currency)
    assert a - a == zero
    assert (a - a).is_zero()
    assert a + zero == a
    negated = -a
    assert -negated == a
    assert a + (-a) == zero


@given(currencies.flatmap(lambda c: st.tuples(money_in(c), money_in(c))))
def test_ordering_follows_the_amount(pair):
    a, b = pair
    assert (a < b) == (a.amount < b.amount)
    assert (a <= b) == (a.amount <= b.amount)
    assert (a > b) == (a.amount > b.amount)
    assert (a >= b) == (a.amount >= b.amount)


def test_sign_predicates():
    assert Money(5, "EUR").is_positive() and not Money(5, "EUR").is_negative()
    assert Money(-5, "EUR").is_negative() and not Money(-5, "EUR").is_positive()
    assert Money.zero("JPY").is_zero() and not Money.zero("JPY").is_positive()


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_mixing_currencies_raises(operation):
    with pytest.raises(CurrencyMismatch) as err:
        operation(Money(100, "EUR"), Money(100, "USD"))
    assert err.value.code == "currency_mismatch"


def test_equality_across_currencies_is_false_not_an_error():
    assert Money(100, "EUR") != Money(100, "USD")


def test_money_does_not_mix_with_plain_numbers():
    with pytest.raises(TypeError):
        Money(100, "EUR") + 1
    with pytest.raises(TypeError):
        Money(100, "EUR") < 1  # noqa: B015


@given(currencies.flatmap(lambda c: st.tuples(st.just(c), st.lists(money_in(c), max_size=3))))
def test_sum_money(case):
    currency, items = case
    assert sum_money(items, currency) == Money(sum(m.amount for m in items), currency)


def test_sum_money_of_nothing_is_zero_and_mixing_raises():
    assert sum_money([], "KWD") == Money.zero("KWD")
    with pytest.raises(CurrencyMismatch):
        sum_money([Money(1, "EUR"), Money(1, "USD")], "EUR")


# --- Decimals and display ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        ("12.34", "EUR", 1234),
        ("12.3", "EUR", 1230),
        ("12", "EUR", 1200),
        ("-0.05", "EUR", -5),
        ("12.340", "EUR", 1234),  # trailing zeros need no rounding
        ("1200", "JPY", 1200),
        ("1200.0", "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("0.0001", "CLF", 1),
        (Decimal("12.34"), "EUR", 1234),
        (Decimal("1E+3"), "JPY", 1000),
    ],
)
def test_from_decimal(value, currency, amount):
    assert Money.from_decimal(value, currency) == Money(amount, currency)


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("12.345", "EUR"),
        ("0.001", "EUR"),
        ("1200.5", "JPY"),
        ("0.1", "JPY"),
        ("1.2345", "KWD"),
        ("0.00001", "CLF"),
    ],
)
def test_from_decimal_never_rounds(value, currency):
    with pytest.raises(AmountTooPrecise) as err:
        Money.from_decimal(value, currency)
    assert err.value.code == "amount_too_precise"


@pytest.mark.parametrize(
    "value",
    [1.5, 12, True, "1e3", "12,34", " 12.34", "+1", "1_000", "NaN", "Infinity", "", ".5", Decimal("NaN")],
)
def test_from_decimal_refuses_anything_but_plain_decimals(value):
    with pytest.raises(InvalidAmount):
        Money.from_decimal(value, "EUR")


def test_from_decimal_out_of_range():
    with pytest.raises(InvalidAmount):
        Money.from_decimal("92233720368547758.08", "EUR")
    with pytest.raises(InvalidAmount):
        Money.from_decimal(Decimal("1E+999999999"), "EUR")


@given(currencies.flatmap(money_in))
def test_decimal_round_trip(money):
    assert Money.from_decimal(money.to_decimal(), money.currency) == money
    assert Money.from_decimal(format(money.to_decimal(), "f"), money.currency) == money


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1234, "EUR"), "12.34 EUR"),
        (Money(5, "EUR"), "0.05 EUR"),
        (Money(-5, "EUR"), "-0.05 EUR"),
        (Money(0, "EUR"), "0.00 EUR"),
        (Money(1200, "JPY"), "1200 JPY"),
        (Money(1234, "KWD"), "1.234 KWD"),
        (Money(INT64_MAX, "EUR"), "92233720368547758.07 EUR"),
    ],
)
def test_str(money, text):
    assert str(money) == text
    assert money.to_decimal() == Decimal(text.split()[0])


def test_domain_errors_carry_code_message_and_field():
    err = InvalidAmount("amount must be an integer", "gross.amount")
    assert isinstance(err, DomainError)
    assert isinstance(err, ValueError)  # so pydantic validators report it on the field
    assert (err.code, err.message, err.field, str(err)) == (
        "invalid_amount",
        "amount must be an integer",
        "gross.amount",
        "amount must be an integer",
    )
    assert DomainError("custom_code", "why").field is None
