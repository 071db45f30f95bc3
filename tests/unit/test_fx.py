"""Foreign exchange: rates, the rounding rule, and entries that never create or lose a minor unit."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from shared.domain.errors import CurrencyMismatch
from shared.domain.fx import (
    Conversion,
    InvalidRate,
    Rate,
    ReturnMismatch,
    StaleRate,
    UnsupportedCurrencyPair,
    check_fresh,
    conversion_entry,
    convert,
    cross_rate,
    exact_counter_value,
    fx_account,
    fx_gain_loss_account,
    fx_rounding_account,
    parse_fx_account,
    parse_rate_value,
    rail_conversion_entry,
    reversal_entry,
)
from shared.domain.ledger import Bucket, JournalEntry, PlatformAccount, seller_account
from shared.domain.money import Money, currency_exponent

AS_OF = datetime(2025, 10, 21, 14, 0, tzinfo=UTC)  # the ECB's publication of 21 October 2025, 16:00 CET


def rate(base: str, quote: str, value: str, source: str = "test") -> Rate:
    return Rate(base, quote, Decimal(value), source, AS_OF)


def totals(*entries: JournalEntry | None) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        for posting in entry.postings if entry else ():
            out[(posting.account, posting.amount.currency)] += posting.amount.amount
    return {key: value for key, value in out.items() if value}


def per_currency(entries_totals: dict[tuple[str, str], int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for (_, currency), amount in entries_totals.items():
        out[currency] += amount
    return {c: a for c, a in out.items() if a}


# --- The rounding rule, by example ---------------------------------------------------------------


def test_the_worked_example_of_the_module():
    """EUR 100.01 to HUF at 389.63: HUF 38,966.8963 exactly; 38,966.90 at the rate (fillér), and
    whole forints for the seller: 38,967. The platform gives 10 fillér more than the rate."""
    conversion = convert(Money(10001, "EUR"), rate("EUR", "HUF", "389.63"))
    assert exact_counter_value(Money(10001, "EUR"), conversion.rate) == Fraction("3896689.63")
    assert conversion.at_rate == Money(3896690, "HUF")
    assert conversion.target == Money(3896700, "HUF")
    assert conversion.rounding == Money(-10, "HUF")
    entry = conversion_entry("po_1", "s_1", conversion, to_bucket=Bucket.IN_FLIGHT)
    assert totals(entry) == {
        ("seller:s_1:available", "EUR"): -10001,
        ("platform:fx:EUR", "EUR"): 10001,
        ("platform:fx:HUF", "HUF"): -3896690,
        ("platform:fx_rounding:HUF", "HUF"): -10,
        ("seller:s_1:in_flight", "HUF"): 3896700,
    }


def test_a_swedish_seller_selling_in_euros():
    """EUR 250.00 at 10.9345 (ECB, 21 Oct 2025) is exactly SEK 2,733.625: half-even gives 2,733.62."""
    conversion = convert(Money(25000, "EUR"), rate("EUR", "SEK", "10.9345"))
    assert (conversion.at_rate, conversion.target, conversion.rounding) == (
        Money(273362, "SEK"),
        Money(273362, "SEK"),
        Money(0, "SEK"),
    )


@pytest.mark.parametrize(
    ("amount", "value", "quote", "at_rate", "target"),
    [
        (Money(1, "EUR"), "0.5", "USD", 0, 0),  # 0.5 cent: ties go to even
        (Money(3, "EUR"), "0.5", "USD", 2, 2),  # 1.5 cents -> 2
        (Money(5, "EUR"), "0.5", "USD", 2, 2),  # 2.5 cents -> 2
        (Money(-3, "EUR"), "0.5", "USD", -2, -2),  # symmetric for debts
        (Money(10000, "EUR"), "176.45", "JPY", 17645, 17645),  # EUR 100 -> JPY: exponent 2 -> 0
        (Money(17645, "JPY"), "0.00566733", "EUR", 10000, 10000),  # and back: 99.99999...
        (Money(1, "JPY"), "0.00566733", "EUR", 1, 1),  # 0.57 cent
        (Money(150, "EUR"), "3.8", "HUF", 570, 600),  # 5.70 HUF -> 6 HUF, 30 fillér rounding
        (Money(125, "EUR"), "1", "HUF", 125, 100),  # 1.25 HUF -> 1 HUF
        (Money(150, "EUR"), "1", "HUF", 150, 200),  # 1.50 HUF -> 2 HUF (even)
        (Money(250, "EUR"), "1", "HUF", 250, 200),  # 2.50 HUF -> 2 HUF (even)
        (Money(1000, "EUR"), "0.3254", "KWD", 3254, 3254),  # exponent 2 -> 3
        (Money(1, "EUR"), "0.00001", "KWD", 0, 0),  # less than half a fils: the cent stays in FX
    ],
)
def test_rounding_cases(amount, value, quote, at_rate, target):
    quantum = 1 if quote == "KWD" else None  # no payout practice is recorded for KWD
    conversion = convert(amount, rate(amount.currency, quote, value), quantum=quantum)
    assert (conversion.at_rate.amount, conversion.target.amount) == (at_rate, target)


def test_the_quantum_defaults_to_the_currency_practice_and_can_be_given():
    eur_huf = rate("EUR", "HUF", "389.63")
    assert convert(Money(10001, "EUR"), eur_huf).target.amount % 100 == 0
    assert convert(Money(10001, "EUR"), eur_huf, quantum=1).target == Money(3896690, "HUF")
    with pytest.raises(ValueError, match="quantum"):
        convert(Money(1, "EUR"), eur_huf, quantum=0)


def test_only_the_rates_base_currency_converts():
    with pytest.raises(CurrencyMismatch) as err:
        convert(Money(100, "GBP"), rate("EUR", "SEK", "10.9345"))
    assert err.value.field == "currency"


def test_nothing_to_convert():
    conversion = convert(Money(0, "EUR"), rate("EUR", "SEK", "10.9345"))
    assert conversion.target == Money(0, "SEK")
    with pytest.raises(ValueError, match="nothing to convert"):
        conversion_entry("c", "s", conversion)


def test_a_conversion_too_large_for_64_bits_is_refused():
    from shared.domain.errors import InvalidAmount

    with pytest.raises(InvalidAmount):
        convert(Money(2**62, "EUR"), rate("EUR", "HUF", "389.63"))


def test_conversion_records_round_trip():
    conversion = convert(Money(10001, "EUR"), rate("EUR", "HUF", "389.63"))
    assert Conversion.from_record(conversion.as_record()) == conversion
    assert conversion.as_record()["rate"] == {
        "base": "EUR",
        "quote": "HUF",
        "value": "389.63",
        "source": "test",
        "as_of": "2025-10-21T14:00:00+00:00",
    }


# --- Rates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "greater than zero"),
        ("0.000", "greater than zero"),
        ("-1.5", "greater than zero"),
        (0, "greater than zero"),
        (-3, "greater than zero"),
        (Decimal("-0.1"), "greater than zero"),
        (Decimal("NaN"), "finite"),
        (Decimal("Infinity"), "finite"),
        (1.5, "float"),  # already rounded in binary
        (True, "bool"),
        ("1e5", "plain decimal"),
        ("11,45", "plain decimal"),
        ("", "plain decimal"),
        (" ", "plain decimal"),
        ("0x10", "plain decimal"),
        ("1" * 30, "significant digits"),
        ("0.0000000000001", "out of range"),
        ("10000000000000", "out of range"),
        (None, "NoneType"),
    ],
)
def test_bad_rates_are_refused_with_their_field(value, reason):
    with pytest.raises(InvalidRate) as err:
        parse_rate_value(value, "rates[3].rate")
    assert (err.value.code, err.value.field) == ("invalid_rate", "rates[3].rate")
    assert reason in err.value.message


def test_a_rate_is_exact():
    assert parse_rate_value("10.9345") == Decimal("10.9345")
    assert parse_rate_value(" 389.63 ") == Decimal("389.63")
    assert parse_rate_value(2) == Decimal(2)
    with pytest.raises(InvalidRate):
        Rate("EUR", "SEK", Decimal(0), "test", AS_OF)


def test_a_rate_needs_two_currencies_a_source_and_a_time():
    with pytest.raises(UnsupportedCurrencyPair):
        rate("EUR", "EUR", "1")
    with pytest.raises(ValueError, match="currency"):
        rate("EUR", "XXX", "1")
    with pytest.raises(ValueError, match="source"):
        rate("EUR", "SEK", "1", source=" ")
    with pytest.raises(ValueError, match="timezone"):
        Rate("EUR", "SEK", Decimal(1), "test", datetime(2025, 10, 21))


def test_rate_records_round_trip():
    eur_sek = rate("EUR", "SEK", "10.9345", "ecb")
    assert Rate.from_record(eur_sek.as_record()) == eur_sek
    assert str(eur_sek) == "1 EUR = 10.9345 SEK (ecb, 2025-10-21T14:00:00+00:00)"
    assert eur_sek.pair == "EUR/SEK"


def test_inverse_and_cross_rates_are_rounded_once_to_12_digits():
    eur_sek, eur_pln = rate("EUR", "SEK", "10.9345", "ecb"), rate("EUR", "PLN", "4.2393", "ecb")
    sek_eur = eur_sek.inverted()
    assert (sek_eur.base, sek_eur.quote, sek_eur.source) == ("SEK", "EUR", "ecb (inverted)")
    assert sek_eur.value == Decimal("0.0914536558599")
    assert len(sek_eur.value.as_tuple().digits) == 12
    sek_pln = cross_rate(eur_sek, eur_pln)
    assert (sek_pln.pair, sek_pln.source) == ("SEK/PLN", "ecb (cross via EUR)")
    assert sek_pln.value == Decimal("0.387699483287")
    assert abs(Fraction(sek_pln.value) - Fraction("4.2393") / Fraction("10.9345")) < Fraction(1, 10**12)
    with pytest.raises(UnsupportedCurrencyPair):
        cross_rate(eur_sek, rate("USD", "PLN", "3.65"))


def test_a_cross_rate_is_as_old_as_its_older_leg():
    older = Rate("EUR", "SEK", Decimal("10.9"), "ecb", AS_OF - timedelta(days=1))
    assert cross_rate(older, rate("EUR", "PLN", "4.2393")).as_of == older.as_of


def test_freshness():
    eur_sek = rate("EUR", "SEK", "10.9345")
    assert check_fresh(eur_sek, AS_OF + timedelta(hours=23), timedelta(days=1)) is eur_sek
    with pytest.raises(StaleRate) as err:
        check_fresh(eur_sek, AS_OF + timedelta(days=3), timedelta(days=1), field="fx.rate")
    assert (err.value.code, err.value.field) == ("stale_rate", "fx.rate")
    assert "3.0 days old" in err.value.message
    with pytest.raises(StaleRate, match=r"dated .* after"):
        check_fresh(eur_sek, AS_OF - timedelta(minutes=1), timedelta(days=1))


# --- Entries ---------------------------------------------------------------------------------


def test_the_fx_accounts_are_per_currency():
    assert (fx_account("SEK"), fx_rounding_account("HUF"), fx_gain_loss_account("EUR")) == (
        "platform:fx:SEK",
        "platform:fx_rounding:HUF",
        "platform:fx_gain_loss:EUR",
    )
    assert PlatformAccount.FX.value == "platform:fx"
    assert parse_fx_account("platform:fx:SEK") == (PlatformAccount.FX, "SEK")
    assert parse_fx_account("platform:fx_rounding:HUF") == (PlatformAccount.FX_ROUNDING, "HUF")
    assert parse_fx_account("platform:fx_gain_loss:EUR") == (PlatformAccount.FX_GAIN_LOSS, "EUR")
    for other in (
        "platform:fx",
        "platform:payouts",
        "seller:s:available",
        "platform:fx:sek",
        "platform:fx:EURO",
    ):
        assert parse_fx_account(other) is None


def test_a_failed_fx_payout_is_undone_at_the_recorded_rate():
    conversion = convert(Money(10001, "EUR"), rate("EUR", "HUF", "389.63"))
    created = conversion_entry("po_1", "s_1", conversion, to_bucket=Bucket.IN_FLIGHT)
    failed = reversal_entry(
        "po_1:failed", "s_1", conversion, returned_from=seller_account("s_1", Bucket.IN_FLIGHT)
    )
    assert totals(created, failed) == {}  # every account back where it was
    assert failed.entry_id != created.entry_id and failed.kind == "fx.reversed"


def test_a_returned_fx_payout_the_rail_converted_back_at_its_own_rate():
    """Paid SEK 2,733.62 for EUR 250.00; the bank returns it and the rail converts it back at a
    worse rate: EUR 248.10 arrive. The seller gets its EUR 250.00; the platform books a loss of
    EUR 1.90."""
    conversion = convert(Money(25000, "EUR"), rate("EUR", "SEK", "10.9345"))
    created = conversion_entry("po_2", "s_2", conversion, to_bucket=Bucket.IN_FLIGHT)
    paid = JournalEntry(
        "paid",
        "payout.paid",
        "po_2:paid",
        _moves(seller_account("s_2", Bucket.IN_FLIGHT), PlatformAccount.PAYOUTS, conversion.target),
    )
    returned = reversal_entry(
        "po_2:returned",
        "s_2",
        conversion,
        returned_from=PlatformAccount.PAYOUTS,
        returned=Money(24810, "EUR"),
    )
    net = totals(created, paid, returned)
    assert net == {("platform:fx:EUR", "EUR"): 190, ("platform:fx_gain_loss:EUR", "EUR"): -190}
    assert not any(account.startswith("seller:") for account, _ in net)
    assert per_currency(net) == {}


def _moves(source: str, target: str, amount: Money):
    from shared.domain.ledger import Posting

    return (Posting(source, -amount), Posting(target, amount))


def test_a_return_in_the_target_currency_must_be_the_amount_paid():
    conversion = convert(Money(25000, "EUR"), rate("EUR", "SEK", "10.9345"))
    same = reversal_entry("r", "s", conversion, returned_from="platform:payouts", returned=conversion.target)
    mirror = reversal_entry("r", "s", conversion, returned_from="platform:payouts")
    assert same == mirror
    for wrong in (Money(273000, "SEK"), Money(100, "GBP"), Money(0, "EUR"), Money(-5, "EUR")):
        with pytest.raises(ReturnMismatch) as err:
            reversal_entry("r", "s", conversion, returned_from="platform:payouts", returned=wrong)
        assert (err.value.code, err.value.field) == ("fx_return_mismatch", "returned")


def test_a_rail_that_converts_at_another_rate_when_sending():
    conversion = convert(Money(25000, "EUR"), rate("EUR", "SEK", "10.9345"))
    assert rail_conversion_entry("po:sent", conversion, Money(25000, "EUR")) is None
    dearer = rail_conversion_entry("po:sent", conversion, Money(25012, "EUR"))
    assert dearer is not None
    assert totals(dearer) == {("platform:fx:EUR", "EUR"): 12, ("platform:fx_gain_loss:EUR", "EUR"): -12}
    with pytest.raises(ReturnMismatch):
        rail_conversion_entry("po:sent", conversion, Money(273362, "SEK"))


# --- Properties: no minor unit is ever created or lost --------------------------------------------

# Currencies of every ISO exponent: 0 (JPY, ISK), 2 (EUR, SEK, HUF), 3 (KWD, BHD), 4 (CLF).
CURRENCIES = ["JPY", "ISK", "EUR", "SEK", "HUF", "KWD", "BHD", "CLF"]
pairs = st.tuples(st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES)).filter(lambda p: p[0] != p[1])
rate_values = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(exponent),
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=-14, max_value=4),
).filter(lambda v: -12 <= v.adjusted() <= 12)
amounts = st.integers(min_value=-(10**12), max_value=10**12)


@st.composite
def conversions(draw: st.DrawFn) -> tuple[Conversion, int]:
    base, quote = draw(pairs)
    value = draw(rate_values)
    exponent = currency_exponent(quote)
    quantum = 10 ** draw(st.integers(min_value=0, max_value=exponent))  # 1 .. one major unit
    amount = Money(draw(amounts.filter(bool)), base)
    the_rate = Rate(base, quote, value, "property", AS_OF)
    assume(abs(exact_counter_value(amount, the_rate)) < 2**62)
    return convert(amount, the_rate, quantum=quantum), quantum


@settings(max_examples=400)
@given(conversions())
@example((convert(Money(10001, "EUR"), Rate("EUR", "HUF", Decimal("389.63"), "x", AS_OF)), 100))
def test_conversion_rounds_once_half_even_and_the_rounding_account_absorbs_the_difference(case):
    conversion, quantum = case
    exact = exact_counter_value(conversion.source, conversion.rate)
    at_rate, target = conversion.at_rate.amount, conversion.target.amount
    assert abs(at_rate - exact) <= Fraction(1, 2)
    assert abs(target - exact) <= Fraction(quantum, 2)
    assert target % quantum == 0
    if abs(target - exact) == Fraction(quantum, 2):  # a tie went to the even multiple
        assert (target // quantum) % 2 == 0
    entry = conversion_entry("c", "s", conversion)  # JournalEntry refuses an unbalanced entry
    net = totals(entry)
    assert per_currency(net) == {}
    a, b = conversion.source.currency, conversion.rate.quote
    assert net.get(("seller:s:available", a), 0) == -conversion.source.amount
    assert net.get(("platform:fx:" + a, a), 0) == conversion.source.amount
    # What the seller gets plus the rounding is exactly what the FX account gives out.
    seller_b = net.get(("seller:s:available", b), 0)
    rounding_b = net.get(("platform:fx_rounding:" + b, b), 0)
    assert seller_b + rounding_b == -net.get(("platform:fx:" + b, b), 0) == at_rate
    assert rounding_b == at_rate - target


@settings(max_examples=300)
@given(conversions(), st.sampled_from([Bucket.AVAILABLE, Bucket.IN_FLIGHT]))
def test_a_conversion_and_its_reversal_net_every_account_to_its_start(case, bucket):
    conversion, _ = case
    there = conversion_entry("c", "s", conversion, to_bucket=bucket)
    back = reversal_entry("c:back", "s", conversion, returned_from=seller_account("s", bucket))
    assert totals(there, back) == {}


@settings(max_examples=300)
@given(
    conversions(),
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=-(10**6), max_value=10**6),
)
def test_a_reversal_at_the_rails_rate_leaves_the_seller_whole_and_books_the_difference(
    case, returned, sent_diff
):
    conversion, _ = case
    assume(conversion.source.is_positive())
    a = conversion.source.currency
    created = conversion_entry("c", "s", conversion, to_bucket=Bucket.IN_FLIGHT)
    sent = rail_conversion_entry("c:sent", conversion, conversion.source + Money(sent_diff, a))
    holder = seller_account("s", Bucket.IN_FLIGHT)
    paid = None
    if not conversion.target.is_zero():  # the bank took it, then sent it back
        paid = JournalEntry(
            "p", "payout.paid", "c:paid", _moves(holder, "platform:payouts", conversion.target)
        )
        holder = "platform:payouts"
    back = reversal_entry("c:back", "s", conversion, returned_from=holder, returned=Money(returned, a))
    net = totals(created, sent, paid, back)
    assert per_currency(net) == {}
    assert not any(account.startswith("seller:") for account, _ in net)  # every bucket at its start
    # The rail took source + sent_diff and gave back `returned`: the gain/loss is exactly that.
    gain = net.get((fx_gain_loss_account(a), a), 0)
    assert gain == returned - (conversion.source.amount + sent_diff)
    assert net.get((fx_account(a), a), 0) == -gain
    assert set(net) <= {(fx_account(a), a), (fx_gain_loss_account(a), a)}


@settings(max_examples=200)
@given(st.lists(conversions(), min_size=1, max_size=20))
def test_many_conversions_account_for_every_minor_unit(cases):
    entries = [conversion_entry(f"c{i}", "s", c) for i, (c, _) in enumerate(cases)]
    net = totals(*entries)
    assert per_currency(net) == {}
    for currency in {c.rate.quote for c, _ in cases}:
        produced = sum(c.at_rate.amount for c, _ in cases if c.rate.quote == currency)
        received = sum(c.target.amount for c, _ in cases if c.rate.quote == currency)
        rounding = net.get((fx_rounding_account(currency), currency), 0)
        assert received + rounding == produced


@given(rate_values.filter(lambda v: -11 <= v.adjusted() <= 11))
def test_inverting_twice_stays_within_the_derived_precision(value):
    the_rate = Rate("EUR", "SEK", value, "p", AS_OF)
    back = the_rate.inverted().inverted()
    assert abs(Fraction(back.value) - Fraction(value)) <= Fraction(value) * Fraction(1, 10**10)
