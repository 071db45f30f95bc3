"""Seller and payout statements from the journal, their pages, and their CSV."""

from __future__ import annotations

import csv
import gzip
import html
import io
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.ledger import Bucket, balances_from_entries, parse_seller_account
from shared.domain.money import Money
from shared.domain.payout_contents import PayoutContents
from shared.domain.payouts import PayoutStatus
from shared.domain.statement_csv import (
    PAYOUT_STATEMENT_HEADER,
    SELLER_STATEMENT_HEADER,
    amount_cell,
    payout_statement_csv,
    render_csv,
    safe_text,
    seller_statement_csv,
)
from shared.domain.statements import (
    MAX_STATEMENT_DAYS,
    StatementOutOfStep,
    StatementRequestError,
    balances_at,
    movement_key,
    opening_from_current,
    paginate,
    payout_statement,
    seller_statement,
    statement_range,
)
from tests.unit.seller_book import SELLER, T0, Book, action, play


def stored_balances(book: Book) -> dict:
    out = {}
    for (account, currency), amount in balances_from_entries(d.entry for d in book.entries).items():
        parsed = parse_seller_account(account)
        if parsed and parsed[0] == SELLER:
            out[(currency, parsed[1])] = Money(amount, currency)
    return out


def a_month_of_business() -> Book:
    """A phone (€300, 10% commission) and a case (€20) sold, released and paid out; half the
    phone refunded after the payout, so the seller owes €135 at the end."""
    book = Book()
    book.sell("phone", 30000, 3000)
    book.sell("case", 2000, 200)
    book.release("phone")
    book.release("case")
    payout = book.pay_out(28800)
    book.settle(payout, PayoutStatus.PAID)
    book.refund("phone", 15000, "rf-1")
    return book


def test_a_statement_opens_moves_and_closes_on_the_stored_balances():
    book = a_month_of_business()
    rng = statement_range(T0.date(), T0.date(), "Europe/Paris")
    statement = seller_statement(SELLER, rng, book.entries, payouts=book.payouts.values())

    assert statement.opening == {}
    kinds = [(m.kind, m.bucket.value, m.amount.amount, m.order_line_id) for m in statement.movements]
    assert kinds == [
        ("order_line.paid", "pending", 27000, "phone"),
        ("order_line.paid", "pending", 1800, "case"),
        ("funds.released", "pending", -27000, "phone"),
        ("funds.released", "available", 27000, "phone"),
        ("funds.released", "pending", -1800, "case"),
        ("funds.released", "available", 1800, "case"),
        ("payout.created", "available", -28800, None),
        ("payout.created", "in_flight", 28800, None),
        ("payout.paid", "in_flight", -28800, None),
        ("order_line.refunded", "available", -13500, "phone"),
    ]
    assert statement.movements[-1].refund_id == "rf-1"
    assert statement.movements[-1].balance_after == Money(-13500, "EUR")
    assert [(p.status, p.amount.amount) for p in statement.payouts] == [(PayoutStatus.PAID, 28800)]
    assert statement.closing[("EUR", Bucket.AVAILABLE)] == Money(-13500, "EUR")
    statement.check_against(stored_balances(book))
    with pytest.raises(StatementOutOfStep):
        statement.check_against({("EUR", Bucket.AVAILABLE): Money(0, "EUR")})


def test_the_opening_balance_is_the_same_from_the_past_or_from_todays_balances():
    book = a_month_of_business()
    book.clock += timedelta(days=3)
    book.sell("cable", 1000, 100)
    since = book.clock.replace(hour=0, minute=0)
    from_history = balances_at(SELLER, book.entries, since)
    from_today = opening_from_current(SELLER, stored_balances(book), book.entries, since)
    assert {k: v for k, v in from_today.items() if v.amount} == {
        k: v for k, v in from_history.items() if v.amount
    }


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=8, max_size=40), st.integers(1, 3))
def test_statements_chain_and_always_match_the_sum_of_postings(actions, spacing_days):
    book = Book()
    for i, act in enumerate(actions):  # spread the history over several days
        book.clock += timedelta(days=spacing_days if i % 5 == 0 else 0)
        play_one(book, act)
    first_day, last_day = T0.date(), book.clock.date()
    middle = first_day + (last_day - first_day) // 2
    rng_a = statement_range(first_day, middle, "UTC")
    rng_b = statement_range(middle + timedelta(days=1), last_day, "UTC")
    a = seller_statement(SELLER, rng_a, book.entries)
    b = seller_statement(SELLER, rng_b, book.entries)
    for statement in (a, b):
        for key in statement.balance_keys():
            moved = sum(m.amount.amount for m in statement.movements if (m.amount.currency, m.bucket) == key)
            opening = statement.opening.get(key, Money.zero(key[0])).amount
            assert opening + moved == statement.closing[key].amount
    assert {k: v for k, v in a.closing.items() if v.amount} == {
        k: v for k, v in b.opening.items() if v.amount
    }
    b.check_against(stored_balances(book))


def play_one(book: Book, act) -> None:
    # Reuse the property-test driver one action at a time, on this book.
    played, _ = play([act], book=book)
    assert played is book


def test_a_range_ending_before_it_starts_is_refused_on_to():
    with pytest.raises(StatementRequestError) as exc:
        statement_range(date(2026, 11, 30), date(2026, 11, 1))
    assert (exc.value.code, exc.value.field) == ("statement_range_reversed", "to")


def test_a_range_longer_than_a_year_is_refused_on_to():
    start = date(2024, 1, 1)
    statement_range(start, start + timedelta(days=MAX_STATEMENT_DAYS - 1))  # 366 days: 2024 is fine
    with pytest.raises(StatementRequestError) as exc:
        statement_range(start, start + timedelta(days=MAX_STATEMENT_DAYS))
    assert (exc.value.code, exc.value.field) == ("statement_range_too_long", "to")


def test_a_range_is_the_sellers_local_days():
    rng = statement_range(date(2026, 11, 2), date(2026, 11, 2), "Asia/Tokyo")
    lo, hi = rng.bounds()
    assert lo.isoformat() == "2026-11-02T00:00:00+09:00"
    assert (hi - lo) == timedelta(days=1)


def test_pages_walk_every_movement_once_in_order():
    book = a_month_of_business()
    statement = seller_statement(SELLER, statement_range(T0.date(), T0.date()), book.entries)
    seen, token = [], None
    while True:
        page, token = paginate(statement.movements, movement_key, token, 3)
        seen.extend(page)
        if token is None:
            break
    assert seen == list(statement.movements)
    assert len(seen) == 10


@pytest.mark.parametrize("token", ["not base64 !", "bnVsbA", "WyJhIiwgdHJ1ZV0", "e30"])
def test_a_page_token_we_did_not_give_is_refused(token):
    book = a_month_of_business()
    statement = seller_statement(SELLER, statement_range(T0.date(), T0.date()), book.entries)
    with pytest.raises(StatementRequestError) as exc:
        paginate(statement.movements, movement_key, token, 3)
    assert (exc.value.code, exc.value.field) == ("invalid_page_token", "page_token")


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_a_page_size_out_of_range_is_refused(limit):
    with pytest.raises(StatementRequestError) as exc:
        paginate([], movement_key, None, limit)
    assert exc.value.field == "limit"


def test_a_payout_statement_is_its_contents():
    book = a_month_of_business()
    payout_id = next(iter(book.payouts))
    contents: PayoutContents = book.contents()[payout_id]
    statement = payout_statement(book.payouts[payout_id], contents)
    assert sum(line.amount.amount for line in statement.lines) == 28800
    assert [line.kind.value for line in statement.lines] == ["sale", "commission", "sale", "commission"]


# --- CSV -------------------------------------------------------------------------------------------


def parse(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def test_amounts_use_the_currencys_decimals_and_stay_plain_numbers():
    assert amount_cell(Money(1234, "EUR")) == "12.34"
    assert amount_cell(Money(-5, "EUR")) == "-0.05"
    assert amount_cell(Money(0, "EUR")) == "0.00"
    assert amount_cell(Money(1200, "JPY")) == "1200"
    assert amount_cell(Money(-1234, "KWD")) == "-1.234"


@pytest.mark.parametrize(
    "hostile",
    ["=1+2", "+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1", '  =HYPERLINK("http://x")', "-12.34"],
)
def test_text_that_a_spreadsheet_could_run_is_neutralised(hostile):
    assert safe_text(hostile) == "'" + hostile
    row = parse(render_csv(["name", "amount"], [[hostile, amount_cell(Money(-1234, "EUR"))]]))[1]
    assert row == ["'" + hostile, "-12.34"]  # the amount, ours, stays a number


def test_ordinary_text_is_left_alone():
    assert safe_text("Refurb Shop, Paris") == "Refurb Shop, Paris"
    assert safe_text("ol_1-2") == "ol_1-2"
    assert safe_text(None) == ""


def test_the_seller_statement_csv_has_a_header_iso_dates_and_a_currency_column():
    book = a_month_of_business()
    statement = seller_statement(SELLER, statement_range(T0.date(), T0.date(), "Europe/Paris"), book.entries)
    rows = parse(seller_statement_csv(statement))
    assert tuple(rows[0]) == SELLER_STATEMENT_HEADER
    body = rows[1:]
    assert {r[0] for r in body} == {"opening_balance", "movement", "closing_balance"}
    for r in body:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[1])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", r[2])
        assert r[3] == "EUR"
        assert re.fullmatch(r"-?\d+\.\d{2}", r[10])
    refund = next(r for r in body if r[5] == "order_line.refunded")
    assert (refund[6], refund[8], refund[10], refund[11]) == ("phone", "rf-1", "-135.00", "-135.00")
    closing = {r[4]: r[10] for r in body if r[0] == "closing_balance"}
    assert closing == {"pending": "0.00", "available": "-135.00", "in_flight": "0.00"}


def test_the_payout_statement_csv_sums_to_the_payout():
    book = a_month_of_business()
    payout_id = next(iter(book.payouts))
    statement = payout_statement(book.payouts[payout_id], book.contents()[payout_id])
    rows = parse(payout_statement_csv(statement, "Europe/Paris"))
    assert tuple(rows[0]) == PAYOUT_STATEMENT_HEADER
    from decimal import Decimal

    assert sum(Decimal(r[9]) for r in rows[1:]) == Decimal("288.00")
    assert [r[2] for r in rows[1:]] == ["sale", "commission", "sale", "commission"]


SSCONVERT = shutil.which("ssconvert")


def spreadsheet_cells(csv_text: str, tmp_path: Path) -> dict[tuple[int, int], tuple[str | None, str]]:
    """Open the CSV in Gnumeric (ssconvert) and read back each cell's type and content:
    ValueType 40 is a number, 60 a string; no ValueType means a formula."""
    assert SSCONVERT, "ssconvert (Debian package gnumeric) is missing: run scripts/bootstrap.sh as root"
    source, target = tmp_path / "s.csv", tmp_path / "s.gnumeric"
    source.write_text(csv_text, encoding="utf-8", newline="")
    subprocess.run([SSCONVERT, str(source), str(target)], check=True, capture_output=True, timeout=120)
    xml = gzip.decompress(target.read_bytes()).decode()
    cells = {}
    for m in re.finditer(
        r'<gnm:Cell Row="(\d+)" Col="(\d+)"(?: ValueType="(\d+)")?[^>]*>([^<]*)</gnm:Cell>', xml
    ):
        cells[(int(m[1]), int(m[2]))] = (m[3], html.unescape(m[4]))
    return cells


def test_a_spreadsheet_reads_amounts_as_numbers_and_hostile_text_as_text(tmp_path):
    hostile = ["=1+2", "-2+3", "+5", "@SUM(1;2)", '=HYPERLINK("http://x";"y")']
    rows = [[h, amount_cell(Money(-1234 * (i + 1), "EUR")), "EUR"] for i, h in enumerate(hostile)]
    cells = spreadsheet_cells(render_csv(["name", "amount", "currency"], rows), tmp_path)
    for i, h in enumerate(hostile, start=1):
        assert cells[(i, 0)] == ("60", h), cells[(i, 0)]  # text, shown without the guard's quote
        value_type, value = cells[(i, 1)]
        assert value_type == "40" and float(value) == pytest.approx(-12.34 * i)


def test_without_the_guard_the_same_spreadsheet_would_run_a_formula(tmp_path):
    # The same quoting, no leading quote: quoting alone does not stop a formula.
    cells = spreadsheet_cells('"name","amount"\r\n"=1+2","-12.34"\r\n', tmp_path)
    assert cells[(1, 0)] == (None, "=1+2")  # a formula: what the guard prevents
    assert cells[(1, 1)][0] == "40"


def test_a_whole_statement_opens_in_a_spreadsheet_with_numeric_amounts(tmp_path):
    book = a_month_of_business()
    statement = seller_statement(SELLER, statement_range(T0.date(), T0.date(), "Europe/Paris"), book.entries)
    cells = spreadsheet_cells(seller_statement_csv(statement), tmp_path)
    rows = max(r for r, _ in cells)
    assert cells[(0, 0)] == ("60", "row_type")  # the byte-order mark is not part of the header
    for r in range(1, rows + 1):
        assert cells[(r, 10)][0] == "40"  # amount
        assert cells[(r, 1)][0] == "40"  # the ISO date is read as a date (a number formatted as one)
