"""Seller statements and payout statements, computed from the journal. No I/O.

A seller statement covers a range of the seller's local dates: the opening balance of each
currency and bucket, every posting to the seller's buckets in the range (with its order line,
kind and amount, and the bucket's balance after it), the payouts created in the range with their
status, and the closing balance. ``opening + movements = closing`` holds by construction and
:meth:`SellerStatement.check_against` compares the closing balance with the stored balances.

A payout statement is the payout's contents (:mod:`shared.domain.payout_contents`).

Both are paginated by an opaque cursor over a stable ordering key: a movement's (time written,
entry id, posting index); a content line's index.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.errors import DomainError
from shared.domain.ledger import Bucket, DatedEntry, EntryDetail, parse_seller_account
from shared.domain.money import Money
from shared.domain.payout_contents import ContentLine, PayoutContents, payout_id_of
from shared.domain.payouts import Payout, PayoutStatus, paid_at

MAX_STATEMENT_DAYS = 366  # a year, leap day included; longer ranges go through several requests
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100

BalanceKey = tuple[str, Bucket]  # (currency, bucket)


class StatementRequestError(DomainError):
    """A statement request that can never be answered as asked (a 4xx with the field)."""


def statement_range(start: date, end: date, timezone: str = "UTC") -> StatementRange:
    """``start`` and ``end`` are both included, as the seller's local dates in ``timezone``."""
    if end < start:
        raise StatementRequestError("statement_range_reversed", f"to ({end}) is before from ({start})", "to")
    days = (end - start).days + 1
    if days > MAX_STATEMENT_DAYS:
        raise StatementRequestError(
            "statement_range_too_long",
            f"a statement covers at most {MAX_STATEMENT_DAYS} days; this range has {days}",
            "to",
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StatementRequestError(
            "unknown_timezone", f"unknown timezone {timezone!r}", "timezone"
        ) from None
    return StatementRange(start, end, timezone)


@dataclass(frozen=True)
class StatementRange:
    start: date
    end: date  # included
    timezone: str

    def bounds(self) -> tuple[datetime, datetime]:
        """[start of ``start``, start of the day after ``end``) in the seller's timezone."""
        zone = ZoneInfo(self.timezone)
        return (
            datetime.combine(self.start, time(0), zone),
            datetime.combine(self.end + timedelta(days=1), time(0), zone),
        )

    def contains(self, at: datetime) -> bool:
        lo, hi = self.bounds()
        return lo <= at < hi

    def local_date(self, at: datetime) -> date:
        return at.astimezone(ZoneInfo(self.timezone)).date()


# --- The statement --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Movement:
    """One posting to one of the seller's buckets."""

    at: datetime
    entry_id: str
    posting_index: int
    kind: str  # the journal entry's kind: order_line.paid, funds.released, payout.created, ...
    bucket: Bucket
    amount: Money
    balance_after: Money  # the bucket's balance in this currency after the posting
    order_line_id: str | None = None
    payout_id: str | None = None
    details: tuple[EntryDetail, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        # Fixed-width UTC text, so keys compare as the times do once in a page token.
        return (self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), self.entry_id, self.posting_index)

    @property
    def refund_id(self) -> str | None:
        return next((d.ref for d in self.details if d.kind == "refund" and d.ref), None)


@dataclass(frozen=True)
class StatementPayout:
    payout_id: str
    created_at: datetime
    amount: Money
    status: PayoutStatus
    paid_at: datetime | None = None
    failure_code: str | None = None


@dataclass(frozen=True)
class SellerStatement:
    seller_id: str
    range: StatementRange
    opening: Mapping[BalanceKey, Money]
    movements: tuple[Movement, ...]
    payouts: tuple[StatementPayout, ...]
    closing: Mapping[BalanceKey, Money]

    def balance_keys(self) -> list[BalanceKey]:
        order = {bucket: i for i, bucket in enumerate(Bucket)}
        return sorted(set(self.opening) | set(self.closing), key=lambda k: (k[0], order[k[1]]))

    def check_against(self, stored: Mapping[BalanceKey, Money]) -> None:
        """The closing balance must be the stored one (when the range reaches the present)."""
        for key in set(self.closing) | set(stored):
            closing = self.closing.get(key, Money.zero(key[0]))
            if closing != stored.get(key, Money.zero(key[0])):
                raise StatementOutOfStep(
                    f"seller {self.seller_id} {key[0]} {key[1].value}: the journal says {closing}, "
                    f"the stored balance is {stored.get(key)}"
                )


class StatementOutOfStep(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("statement_out_of_step", message)


def _seller_postings(seller_id: str, dated: DatedEntry) -> list[tuple[int, Bucket, Money]]:
    out = []
    for i, posting in enumerate(dated.entry.postings):
        parsed = parse_seller_account(posting.account)
        if parsed and parsed[0] == seller_id:
            out.append((i, parsed[1], posting.amount))
    return out


def balances_at(seller_id: str, entries: Iterable[DatedEntry], before: datetime) -> dict[BalanceKey, Money]:
    """The seller's balances from every entry written before ``before``."""
    totals: dict[BalanceKey, int] = defaultdict(int)
    for dated in entries:
        if dated.at < before:
            for _, bucket, amount in _seller_postings(seller_id, dated):
                totals[(amount.currency, bucket)] += amount.amount
    return {key: Money(value, key[0]) for key, value in totals.items()}


def opening_from_current(
    seller_id: str, current: Mapping[BalanceKey, Money], entries_since: Iterable[DatedEntry], since: datetime
) -> dict[BalanceKey, Money]:
    """The balances at ``since`` from today's stored balances less every entry written since:
    a statement then reads only the journal from its start, not the seller's whole history."""
    totals: dict[BalanceKey, int] = {key: money.amount for key, money in current.items()}
    for dated in entries_since:
        if dated.at >= since:
            for _, bucket, amount in _seller_postings(seller_id, dated):
                key = (amount.currency, bucket)
                totals[key] = totals.get(key, 0) - amount.amount
    return {key: Money(value, key[0]) for key, value in totals.items()}


def seller_statement(
    seller_id: str,
    rng: StatementRange,
    entries: Iterable[DatedEntry],
    *,
    opening: Mapping[BalanceKey, Money] | None = None,
    payouts: Iterable[Payout] = (),
) -> SellerStatement:
    """``entries``: the seller's journal entries, in any order. With ``opening`` given (see
    :func:`opening_from_current`), those from the range's start on are enough; without it, the
    whole history is needed and the entries before the start make the opening balance."""
    lo, hi = rng.bounds()
    ordered = sorted(entries, key=lambda d: d.key)
    start = dict(opening) if opening is not None else balances_at(seller_id, ordered, lo)
    running: dict[BalanceKey, int] = {key: money.amount for key, money in start.items()}
    movements: list[Movement] = []
    for dated in ordered:
        if not lo <= dated.at < hi:
            continue
        entry = dated.entry
        for index, bucket, amount in _seller_postings(seller_id, dated):
            key = (amount.currency, bucket)
            running[key] = running.get(key, 0) + amount.amount
            payout_id = payout_id_of(entry) if entry.kind.startswith("payout.") else None
            movements.append(
                Movement(
                    dated.at,
                    entry.entry_id,
                    index,
                    entry.kind,
                    bucket,
                    amount,
                    Money(running[key], amount.currency),
                    entry.order_line_id,
                    payout_id,
                    entry.details,
                )
            )
    listed = [
        StatementPayout(
            p.payout_id,
            p.created_at,
            p.amount,
            p.status,
            paid_at(p),
            p.failure_code.value if p.failure_code else None,
        )
        for p in payouts
        if p.seller_id == seller_id and rng.contains(p.created_at)
    ]
    listed.sort(key=lambda p: (p.created_at, p.payout_id))
    closing = {key: Money(value, key[0]) for key, value in running.items()}
    for key in start:
        closing.setdefault(key, Money.zero(key[0]))
    return SellerStatement(seller_id, rng, start, tuple(movements), tuple(listed), closing)


@dataclass(frozen=True)
class PayoutStatement:
    payout_id: str
    seller_id: str
    amount: Money
    status: PayoutStatus
    lines: tuple[ContentLine, ...]


def payout_statement(payout: Payout, contents: PayoutContents) -> PayoutStatement:
    if contents.payout_id != payout.payout_id or contents.amount != payout.amount:
        raise StatementOutOfStep(f"the contents stored for payout {payout.payout_id} are not its own")
    return PayoutStatement(
        payout.payout_id, payout.seller_id, payout.amount, payout.status, tuple(contents.lines())
    )


# --- Cursor pagination -------------------------------------------------------------------------------

T = TypeVar("T")


def page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise StatementRequestError("invalid_limit", f"limit must be between 1 and {MAX_PAGE_SIZE}", "limit")
    return limit


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque page token for the ordering key of the last item of a page."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> list[Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise StatementRequestError(
            "invalid_page_token", "page_token is not one this API gave", "page_token"
        ) from None
    if not isinstance(key, list) or not all(
        isinstance(part, str | int) and not isinstance(part, bool) for part in key
    ):
        raise StatementRequestError("invalid_page_token", "page_token is not one this API gave", "page_token")
    return key


def paginate(
    items: Sequence[T], key: Callable[[T], Sequence[Any]], page_token: str | None, limit: int | None
) -> tuple[list[T], str | None]:
    """The page after ``page_token`` of ``items`` (already in key order) and the next token,
    None on the last page. A token carries the key, not a position, so a page stays stable when
    newer items are appended."""
    size = page_size(limit)
    start = 0
    if page_token is not None:
        after = decode_cursor(page_token)
        try:
            start = next((i for i, item in enumerate(items) if list(key(item)) > after), len(items))
        except TypeError:  # a key of the wrong shape
            raise StatementRequestError(
                "invalid_page_token", "page_token is not one this API gave", "page_token"
            ) from None
    page = list(items[start : start + size])
    more = start + size < len(items)
    return page, encode_cursor(key(page[-1])) if more and page else None


def movement_key(movement: Movement) -> tuple[str, str, int]:
    return movement.key


def content_line_key(indexed: tuple[int, ContentLine]) -> tuple[int]:
    return (indexed[0],)
