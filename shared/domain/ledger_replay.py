"""The ledger a sequence of order events must produce, worked out offline by the order-line rules
themselves: each event applied to its line (``apply_order_event``), then every line whose release
is due released (``is_release_due``, ``release_line``), exactly as the ingest and release use
cases do against the store. The demo and the fault harness compare the platform with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.domain.countries import CountryRules
from shared.domain.ledger import (
    Bucket,
    JournalEntry,
    PlatformAccount,
    balances_from_entries,
    parse_seller_account,
)
from shared.domain.order_events import OrderEvent, OrderLine, apply_order_event, is_release_due, release_line


@dataclass(frozen=True)
class ReplayedLedger:
    """The journal entries the events and the due releases post, and the order lines they leave."""

    entries: tuple[JournalEntry, ...]
    lines: Mapping[str, OrderLine]

    def balances(self) -> Mapping[tuple[str, str], int]:
        """Sum of postings per (account, currency)."""
        return balances_from_entries(self.entries)

    def available_by_seller_and_currency(self) -> dict[str, dict[str, int]]:
        """Each seller's available balance in each of its currencies (issue 17)."""
        available: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (account, currency), amount in self.balances().items():
            parsed = parse_seller_account(account)
            if parsed and parsed[1] is Bucket.AVAILABLE:
                available[parsed[0]][currency] += amount
        return {seller: dict(by) for seller, by in available.items()}

    def available_by_seller(self) -> dict[str, int]:
        """Each seller's available balance, in minor units of the seller's one currency."""
        available: dict[str, int] = defaultdict(int)
        for (account, _currency), amount in self.balances().items():
            parsed = parse_seller_account(account)
            if parsed and parsed[1] is Bucket.AVAILABLE:
                available[parsed[0]] += amount
        return dict(available)

    def collected_by_currency(self) -> dict[str, int]:
        """What customers paid, per currency (the customer-funds account is its negative)."""
        return {
            currency: -amount
            for (account, currency), amount in self.balances().items()
            if account == PlatformAccount.CUSTOMER_FUNDS.value
        }


def replay_order_events(
    events: Iterable[OrderEvent],
    rules_for_seller: Callable[[str], CountryRules],
    now: datetime,
    rules_for_event: Callable[[OrderEvent], CountryRules] | None = None,
) -> ReplayedLedger:
    """Apply the events in the given order, then release every line due at ``now``.
    ``rules_for_event``: the rules of each event, where a seller sells in several currencies
    (issue 17: ``countries.rules_for_sale_currency``); default, its seller's."""
    lines: dict[str, OrderLine] = {}
    entries: list[JournalEntry] = []
    for event in events:
        rules = rules_for_event(event) if rules_for_event else rules_for_seller(event.seller_id)
        line, results = apply_order_event(lines.get(event.order_line_id), event, rules)
        lines[event.order_line_id] = line
        entries += [entry for result in results for entry in result.entries]
    for line_id, line in list(lines.items()):
        if is_release_due(line, now):
            lines[line_id], entry = release_line(line)
            if entry is not None:
                entries.append(entry)
    return ReplayedLedger(tuple(entries), lines)
