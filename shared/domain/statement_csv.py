"""Statements as CSV that opens cleanly in a spreadsheet. No I/O: text in, text out.

- A header row; one row per balance, movement, payout or content line.
- Dates as ISO 8601 (``2026-11-20``, the seller's local date) and a UTC timestamp column.
- Amounts in major units with the currency's own decimals (``12.34`` EUR, ``1200`` JPY,
  ``1.234`` KWD) and the currency in a column of its own.
- UTF-8 with a byte-order mark (Excel reads UTF-8 only with it), CRLF line ends (RFC 4180),
  every cell in double quotes.
- CSV injection (OWASP): a text cell whose first character (or first after whitespace) is ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return could run as a formula, so it gets a leading ``'``
  and shows as text. Amounts are not text: they are written by :func:`amount_cell` from integers
  and always match ``-?digits[.digits]``, which every spreadsheet reads as a number, never as a
  formula, so a negative amount stays a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.domain.ledger import Bucket
from shared.domain.money import Money
from shared.domain.statements import PayoutStatement, SellerStatement

FORMULA_LEADS = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
BOM = "\ufeff"


class Amount(str):
    """A cell that is a number we wrote: left as it is."""

    __slots__ = ()


def amount_cell(money: Money) -> Amount:
    text = f"{money.to_decimal():f}"
    assert _PLAIN_NUMBER.fullmatch(text)
    return Amount(text)


def safe_text(value: object) -> str:
    """A text cell, neutralised if a spreadsheet could take it for a formula."""
    if value is None:
        return ""
    text = str(value)
    # The first character, and the first after any whitespace (some spreadsheets trim it).
    if text[:1] in FORMULA_LEADS or text.lstrip()[:1] in FORMULA_LEADS:
        return "'" + text
    return text


def _cell(value: object) -> str:
    """Every cell in double quotes (embedded ones doubled), as OWASP advises; spreadsheets still
    read a quoted plain number as a number. Bare cells mislead importers that guess the
    separator: Gnumeric took the ``-`` of ``"x",-12.34`` for one."""
    text = str(value) if isinstance(value, Amount) else safe_text(value)
    return '"' + text.replace('"', '""') + '"'


def render_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = [",".join(_cell(h) for h in header)]
    lines.extend(",".join(_cell(v) for v in row) for row in rows)
    return BOM + "".join(line + "\r\n" for line in lines)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SELLER_STATEMENT_HEADER = (
    "row_type",
    "date",
    "timestamp_utc",
    "currency",
    "bucket",
    "kind",
    "order_line_id",
    "payout_id",
    "refund_id",
    "entry_id",
    "amount",
    "balance_after",
    "status",
)


def _balance_row(
    row_type: str, day: str, timestamp: str, currency: str, bucket: Bucket, balance: Money
) -> list[object]:
    empty = ["", "", "", "", ""]  # kind, order line, payout, refund, entry
    return [
        row_type,
        day,
        timestamp,
        currency,
        bucket.value,
        *empty,
        amount_cell(balance),
        amount_cell(balance),
        "",
    ]


def seller_statement_csv(statement: SellerStatement) -> str:
    rng = statement.range
    lo, hi = rng.bounds()
    rows: list[list[object]] = []
    for currency, bucket in statement.balance_keys():
        opening = statement.opening.get((currency, bucket), Money.zero(currency))
        rows.append(
            _balance_row("opening_balance", rng.start.isoformat(), _utc(lo), currency, bucket, opening)
        )
    for m in statement.movements:
        rows.append(
            [
                "movement",
                rng.local_date(m.at).isoformat(),
                _utc(m.at),
                m.amount.currency,
                m.bucket.value,
                m.kind,
                m.order_line_id,
                m.payout_id,
                m.refund_id,
                m.entry_id,
                amount_cell(m.amount),
                amount_cell(m.balance_after),
                "",
            ]
        )
    for p in statement.payouts:
        rows.append(
            [
                "payout",
                rng.local_date(p.created_at).isoformat(),
                _utc(p.created_at),
                p.amount.currency,
                "",
                "payout",
                "",
                p.payout_id,
                "",
                "",
                amount_cell(p.amount),
                "",
                p.status.value,
            ]
        )
    for currency, bucket in statement.balance_keys():
        closing = statement.closing.get((currency, bucket), Money.zero(currency))
        rows.append(_balance_row("closing_balance", rng.end.isoformat(), _utc(hi), currency, bucket, closing))
    return render_csv(SELLER_STATEMENT_HEADER, rows)


PAYOUT_STATEMENT_HEADER = (
    "payout_id",
    "line",
    "kind",
    "date",
    "order_line_id",
    "reference",
    "owed",
    "reopened_from",
    "movement_id",
    "amount",
    "currency",
)


def payout_statement_csv(statement: PayoutStatement, timezone: str = "UTC") -> str:
    """One row per content line; the amount column sums to the payout amount."""
    zone = ZoneInfo(timezone)
    rows = [
        [
            statement.payout_id,
            i + 1,
            line.kind.value,
            line.occurred_at.astimezone(zone).date().isoformat(),
            line.order_line_id,
            line.ref,
            "yes" if line.owed else "",
            line.reopened_from,
            line.movement_id,
            amount_cell(line.amount),
            line.amount.currency,
        ]
        for i, line in enumerate(statement.lines)
    ]
    return render_csv(PAYOUT_STATEMENT_HEADER, rows)
