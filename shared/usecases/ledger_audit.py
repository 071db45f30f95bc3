"""Ledger checks over the whole store: every entry balances per currency, and every stored
seller balance equals the sum of that seller's postings.

``audit_ledger`` reads the store; ``ledger_report`` does the same checks on plain documents
(journal entries and balance shards as stored), so other auditors can reuse them. The rules
themselves are the domain's (``shared/domain/ledger_invariants.py``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.firestore_store import BALANCE_SHARDS, FirestoreStore
from shared.domain.ledger import Bucket, seller_account
from shared.domain.ledger_invariants import (
    RecordedEntry,
    RecordedPosting,
    balance_mismatches,
    is_balanced,
    journal_totals,
    posted_by_account,
    sums_by_currency,
)


@dataclass
class LedgerReport:
    entries: int = 0
    totals_by_currency: dict[str, int] = field(default_factory=dict)  # must all be 0
    account_totals: dict[tuple[str, str], int] = field(default_factory=dict)
    stored_balances: dict[tuple[str, str], int] = field(default_factory=dict)  # seller buckets, as kept
    unbalanced_entries: list[str] = field(default_factory=list)
    balance_mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def ledger_report(entries: Iterable[Mapping[str, Any]], shards: Iterable[Mapping[str, Any]]) -> LedgerReport:
    """The checks of :func:`audit_ledger` on journal entry and balance shard documents."""
    recorded = [_recorded_entry(entry) for entry in entries]
    posted = posted_by_account(recorded)
    stored = _stored_seller_balances(shards)
    report = LedgerReport(
        entries=len(recorded),
        totals_by_currency=journal_totals(posted),
        account_totals=posted,
        stored_balances=stored,
    )
    for entry in recorded:
        if not is_balanced(entry):
            report.unbalanced_entries.append(entry.entry_id)
            report.problems.append(f"entry {entry.entry_id} does not balance: {sums_by_currency(entry)}")
    for ccy, total in report.totals_by_currency.items():
        if total:
            report.problems.append(f"journal does not sum to zero in {ccy}: {total}")
    for m in balance_mismatches(posted, stored):
        report.balance_mismatches.append(f"{m.account} {m.currency}")
        report.problems.append(
            f"balance {m.account} {m.currency} is {m.stored} but its postings sum to {m.posted}"
        )
    return report


def _recorded_entry(doc: Mapping[str, Any]) -> RecordedEntry:
    postings = tuple(
        RecordedPosting(str(p["account"]), str(p["currency"]), int(p["amount"])) for p in doc["postings"]
    )
    return RecordedEntry(str(doc["entry_id"]), postings)


def _stored_seller_balances(shards: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """Every seller bucket, summed over its balance shards."""
    stored: dict[tuple[str, str], int] = defaultdict(int)
    for data in shards:
        for bucket in Bucket:
            account = seller_account(data["seller_id"], bucket)
            stored[(account, data["currency"])] += int(data.get(bucket.value, 0))
    return dict(stored)


def audit_ledger(store: FirestoreStore) -> LedgerReport:
    shards = (shard.to_dict() or {} for shard in store.client.collection_group(BALANCE_SHARDS).stream())
    return ledger_report(store.journal_entries(), shards)
