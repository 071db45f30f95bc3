"""The double-entry ledger: accounts, postings and journal entries, with no I/O.

Sign convention: a posting's amount is what it adds to its account's balance. Every entry's
postings sum to zero per currency, which :class:`JournalEntry` enforces when it is built.
Seller money lives in three buckets: ``pending`` (sold, inside the holding period),
``available`` (can be paid out) and ``in_flight`` (inside a payout that is not final yet).
The platform accounts are the other side of every movement.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain.errors import DomainError
from shared.domain.money import Money


class UnbalancedEntry(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("unbalanced_entry", message)


class Bucket(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    IN_FLIGHT = "in_flight"


class PlatformAccount(StrEnum):
    CUSTOMER_FUNDS = "platform:customer_funds"  # money collected from customers (negative: a source)
    COMMISSION = "platform:commission"  # the marketplace's revenue
    REFUNDS = "platform:refunds"  # money given back to customers
    PAYOUTS = "platform:payouts"  # money that left for sellers' banks
    # Foreign exchange, one account per currency ("platform:fx:SEK", see shared/domain/fx.py):
    FX = "platform:fx"  # the platform's FX position: what conversions took in (+) or gave out (-)
    FX_ROUNDING = "platform:fx_rounding"  # conversions' rounding to the payout quantum
    FX_GAIN_LOSS = "platform:fx_gain_loss"  # differences with the rates the rails really used
    RAIL_FEES = "platform:rail_fees"  # what the payment rails charged (shared/domain/reconciliation.py)


def seller_account(seller_id: str, bucket: Bucket) -> str:
    return f"seller:{seller_id}:{bucket.value}"


def parse_seller_account(account: str) -> tuple[str, Bucket] | None:
    parts = account.split(":")
    if len(parts) != 3 or parts[0] != "seller":
        return None
    return parts[1], Bucket(parts[2])


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: Money


@dataclass(frozen=True, slots=True)
class EntryDetail:
    """One part of what an entry means for its seller, e.g. a release of €243 is the sale (+€300),
    the commission (-€30) and a refund netted before release (-€27). An entry's details sum to
    what it adds to the seller bucket it is about; payout contents and statements show them."""

    kind: str  # "sale", "commission", "refund", "commission_returned"
    amount: Money  # signed, as it counts for the seller
    ref: str | None = None  # e.g. the refund id


@dataclass(frozen=True)
class JournalEntry:
    """One balanced movement of money. Immutable once written; its id is its idempotency key."""

    entry_id: str
    kind: str
    cause: str  # what caused it: an event id, an order line, a payout transition
    postings: tuple[Posting, ...]
    seller_id: str | None = None
    order_line_id: str | None = None  # the order line it belongs to, if any
    details: tuple[EntryDetail, ...] = ()

    def __post_init__(self) -> None:
        if not self.postings:
            raise UnbalancedEntry(f"{self.kind}: an entry needs postings")
        totals: dict[str, int] = defaultdict(int)
        for posting in self.postings:
            totals[posting.amount.currency] += posting.amount.amount
        unbalanced = {ccy: total for ccy, total in totals.items() if total != 0}
        if unbalanced:
            raise UnbalancedEntry(f"{self.kind}: postings do not sum to zero: {unbalanced}")

    def seller_deltas(self) -> dict[tuple[str, str], dict[Bucket, int]]:
        """What this entry adds to each seller balance, keyed by (seller_id, currency)."""
        deltas: dict[tuple[str, str], dict[Bucket, int]] = defaultdict(lambda: defaultdict(int))
        for posting in self.postings:
            parsed = parse_seller_account(posting.account)
            if parsed:
                seller_id, bucket = parsed
                deltas[(seller_id, posting.amount.currency)][bucket] += posting.amount.amount
        return {key: dict(value) for key, value in deltas.items()}


@dataclass(frozen=True, slots=True)
class DatedEntry:
    """A journal entry as stored: with the time its transaction wrote it."""

    entry: JournalEntry
    at: datetime

    @property
    def key(self) -> tuple[datetime, str]:
        """Journal order: time written, then entry id (stable for entries written together)."""
        return (self.at, self.entry.entry_id)


def entry_id_for(kind: str, cause: str) -> str:
    """Deterministic, non-sequential id: the same cause can only ever post once."""
    return hashlib.sha256(f"{kind}|{cause}".encode()).hexdigest()[:40]


def make_entry(
    kind: str,
    cause: str,
    postings: Iterable[tuple[str, Money]],
    seller_id: str | None = None,
    *,
    order_line_id: str | None = None,
    details: Iterable[EntryDetail] = (),
) -> JournalEntry:
    kept = tuple(Posting(account, amount) for account, amount in postings if not amount.is_zero())
    return JournalEntry(
        entry_id_for(kind, cause),
        kind,
        cause,
        kept,
        seller_id,
        order_line_id,
        tuple(d for d in details if not d.amount.is_zero()),
    )


# --- The movements of an order line ------------------------------------------------------------


def sale_details(gross: Money, commission: Money) -> tuple[EntryDetail, ...]:
    return (EntryDetail("sale", gross), EntryDetail("commission", -commission))


def refund_details(
    refund: Money, commission_returned: Money, refund_id: str | None
) -> tuple[EntryDetail, ...]:
    return (
        EntryDetail("refund", -refund, refund_id),
        EntryDetail("commission_returned", commission_returned),
    )


def record_sale(
    cause: str, seller_id: str, gross: Money, commission: Money, *, order_line_id: str | None = None
) -> JournalEntry:
    """A customer paid ``gross``; the marketplace keeps ``commission``; the rest is pending."""
    return make_entry(
        "order_line.paid",
        cause,
        [
            (PlatformAccount.CUSTOMER_FUNDS, -gross),
            (PlatformAccount.COMMISSION, commission),
            (seller_account(seller_id, Bucket.PENDING), gross - commission),
        ],
        seller_id,
        order_line_id=order_line_id,
        details=sale_details(gross, commission),
    )


def release_pending_funds(
    cause: str,
    seller_id: str,
    amount: Money,
    *,
    order_line_id: str | None = None,
    details: Iterable[EntryDetail] = (),
) -> JournalEntry:
    """The holding period is over: pending money becomes available for payout. ``details`` say
    what the amount is made of (the sale, its commission, refunds netted before release)."""
    return make_entry(
        "funds.released",
        cause,
        [
            (seller_account(seller_id, Bucket.PENDING), -amount),
            (seller_account(seller_id, Bucket.AVAILABLE), amount),
        ],
        seller_id,
        order_line_id=order_line_id,
        details=details,
    )


def record_refund(
    cause: str,
    seller_id: str,
    refund: Money,
    commission_returned: Money,
    from_bucket: Bucket,
    *,
    order_line_id: str | None = None,
    refund_id: str | None = None,
) -> JournalEntry:
    """The customer gets ``refund`` back. The marketplace returns ``commission_returned`` of its
    commission; the seller bears the rest, from pending or, once released, from available
    (which may go below zero: that debt is netted from later payouts)."""
    return make_entry(
        "order_line.refunded",
        cause,
        [
            (PlatformAccount.REFUNDS, refund),
            (PlatformAccount.COMMISSION, -commission_returned),
            (seller_account(seller_id, from_bucket), -(refund - commission_returned)),
        ],
        seller_id,
        order_line_id=order_line_id,
        details=refund_details(refund, commission_returned, refund_id),
    )


def record_rail_fee(rail: str, record_id: str, fee: Money) -> JournalEntry:
    """A rail took ``fee`` from the platform's account there (a bank's charges, a provider's fee):
    an expense of the marketplace, paid out of its commission. The cause is the rail's own record,
    so however often reconciliation sees that record, the fee posts once."""
    return make_entry(
        "rail.fee",
        f"{rail}:{record_id}",
        [(PlatformAccount.RAIL_FEES, fee), (PlatformAccount.COMMISSION, -fee)],
    )


def balances_from_entries(entries: Iterable[JournalEntry]) -> Mapping[tuple[str, str], int]:
    """Sum of postings per (account, currency): what every stored balance must equal."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        for posting in entry.postings:
            totals[(posting.account, posting.amount.currency)] += posting.amount.amount
    return dict(totals)
