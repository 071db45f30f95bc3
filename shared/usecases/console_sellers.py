"""Sellers in the console: search, and a seller's page (balances per currency and how they moved,
holds: the payout hold and the order lines whose money is not released yet, KYC, bank and rail
accounts and tax id masked, their payouts).

The balance over time is rebuilt from the journal, backwards from the stored balance: each of the
seller's newest ``BALANCE_HISTORY_ENTRIES`` entries is undone in turn, newest first, so the read is
bounded whatever the seller's history, and the newest point is exactly the balance the payout
rules use. Nothing here shows a bank number, a rail id or a tax id other than masked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from shared.domain.countries import CountryRegistry
from shared.domain.ledger import Bucket, DatedEntry, parse_seller_account
from shared.domain.payouts import Payout
from shared.domain.sellers import Seller
from shared.usecases.console_views import NotFound
from shared.usecases.payouts import PayoutService
from shared.usecases.ports import Balance, ConsoleReads

SEARCH_LIMIT = 50
BALANCE_HISTORY_ENTRIES = 500  # journal entries read for a seller's chart (newest first)
SELLER_PAYOUTS = 25
UNRELEASED_LINES = 100  # order lines on hold shown (their money is in the pending bucket)
MAX_QUERY = 128


@dataclass(frozen=True)
class BalancePoint:
    """A seller's balance in one currency just after an entry (or now), minor units."""

    at: datetime
    pending: int
    available: int
    in_flight: int

    def bucket(self, bucket: Bucket) -> int:
        return int(getattr(self, bucket.value))


def search_sellers(reads: ConsoleReads, text: str | None) -> list[Seller]:
    """Sellers whose id or display name starts with what was typed (the first sellers by id
    when nothing was)."""
    return reads.find_sellers((text or "").strip()[:MAX_QUERY], SEARCH_LIMIT)


def balance_history(
    seller_id: str, balances: Sequence[Balance], newest_first: Sequence[DatedEntry], now: datetime
) -> dict[str, list[BalancePoint]]:
    """Per currency, the balance after each entry, oldest first, ending with ``now``'s (the
    stored balance). Entries are undone from the stored balance, newest first."""
    current: dict[str, dict[Bucket, int]] = defaultdict(lambda: dict.fromkeys(Bucket, 0))
    for b in balances:
        current[b.currency] = {bucket: b.bucket(bucket) for bucket in Bucket}
    points: dict[str, list[BalancePoint]] = defaultdict(list)

    def point(currency: str, at: datetime) -> BalancePoint:
        values = current[currency]
        return BalancePoint(at, values[Bucket.PENDING], values[Bucket.AVAILABLE], values[Bucket.IN_FLIGHT])

    for currency in list(current):
        points[currency].append(point(currency, now))
    # Entries written at the same time (one unit of work) are undone together: their order
    # among themselves is not the order they were written in.
    for at, together in groupby(newest_first, key=lambda e: e.at):
        moved: dict[str, dict[Bucket, int]] = defaultdict(dict)
        for dated in together:
            for posting in dated.entry.postings:
                parsed = parse_seller_account(posting.account)
                if parsed is None or parsed[0] != seller_id:
                    continue
                bucket = parsed[1]
                ccy = posting.amount.currency
                moved[ccy][bucket] = moved[ccy].get(bucket, 0) + posting.amount.amount
        for currency, by_bucket in moved.items():
            if not points[currency]:  # a currency whose balance is gone: it ended at zero now
                points[currency].append(point(currency, now))
            points[currency].append(point(currency, at))  # just after the entries
            for bucket, amount in by_bucket.items():
                current[currency][bucket] -= amount  # just before them
    out: dict[str, list[BalancePoint]] = {}
    for currency, found in sorted(points.items()):
        ordered = list(reversed(found))
        if newest_first and len(ordered) > 1:
            # Where the window starts: the balance before the oldest entry read.
            ordered.insert(0, point(currency, ordered[0].at))
        out[currency] = ordered
    return out


def seller_detail(
    svc: PayoutService, reads: ConsoleReads, registry: CountryRegistry, seller_id: str, now: datetime
) -> dict[str, Any]:
    seller = svc.store.sellers.get(seller_id)
    if seller is None:
        raise NotFound(seller_id)
    balances = svc.store.sellers.balances(seller_id)
    entries = reads.seller_entries_newest_first(seller_id, BALANCE_HISTORY_ENTRIES + 1)
    complete = len(entries) <= BALANCE_HISTORY_ENTRIES
    history = balance_history(seller_id, balances, entries[:BALANCE_HISTORY_ENTRIES], now)
    unreleased = reads.unreleased_order_lines(seller_id, UNRELEASED_LINES + 1)
    payouts: list[Payout] = svc.store.payouts.newest_first(
        seller_id=seller_id, status=None, run_id=None, limit=SELLER_PAYOUTS, after=None
    )
    return {
        "seller": masked_seller(seller, registry),
        "balances": balances,
        "history": history,
        "history_complete": complete,
        "history_entries": min(len(entries), BALANCE_HISTORY_ENTRIES),
        "payouts": payouts,
        # Money on hold: each unreleased line, the seller's share of it and when it releases.
        "held_lines": [
            {
                "order_line_id": line.order_line_id,
                "state": line.release_state.value,
                "amount": line.seller_net_remaining,
                "currency": line.currency,
                "release_at": line.release_at,
            }
            for line in unreleased[:UNRELEASED_LINES]
        ],
        "held_lines_more": len(unreleased) > UNRELEASED_LINES,
    }


def masked_seller(seller: Seller, registry: CountryRegistry) -> dict[str, Any]:
    """The seller as ops see it: bank account, rail accounts and tax id masked only."""
    hold = seller.payout_hold
    cooling_off_until = None
    if seller.country in registry.countries():
        cooling_off_until = seller.cooling_off_until(registry.get(seller.country))
    return {
        "seller_id": seller.seller_id,
        "display_name": seller.display_name,
        "country": seller.country,
        "currency": seller.currency,
        "kyc_status": seller.kyc_status.value,
        "payout_hold": {"held": hold.held, "reason": hold.reason},
        "payout_schedule": seller.payout_schedule.model_dump(mode="json", exclude_none=True),
        "bank_account": {
            "scheme": seller.bank_account.scheme,
            "masked": seller.bank_account.masked,
            "status": seller.bank_account_status.value,
            "invalid_reason": seller.bank_account_invalid_reason,
            "changed_at": seller.bank_account_changed_at,
            "cooling_off_until": cooling_off_until,
        },
        "rail_accounts": seller.rail_accounts.masked(),
        "tax_id": (
            {"country": seller.tax_id.country, "scheme": seller.tax_id.scheme, "masked": seller.tax_id.masked}
            if seller.tax_id
            else None
        ),
        "created_at": seller.created_at,
    }
