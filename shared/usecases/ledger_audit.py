"""Ledger checks over the whole store: every entry balances per currency, and every stored
seller balance equals the sum of that seller's postings.

``audit_ledger`` reads the store; ``check_ledger`` does the same checks on entries and stored
balances handed to it, so other auditors can reuse them (the auditor's dataset files go through
``shared.adapters.firestore.documents.ledger_report``). The rules themselves are the domain's
(``shared/domain/ledger_invariants.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.domain.ledger_invariants import (
    RecordedEntry,
    RecordedPosting,
    balance_mismatches,
    is_balanced,
    journal_totals,
    posted_by_account,
    sums_by_currency,
)
from shared.usecases.ports import Storage, StoredEntry


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


def _recorded(entry: StoredEntry) -> RecordedEntry:
    return RecordedEntry(
        entry.entry_id,
        tuple(RecordedPosting(account, currency, amount) for account, amount, currency in entry.postings),
    )


def check_ledger(entries: Iterable[StoredEntry], stored: Mapping[tuple[str, str], int]) -> LedgerReport:
    """Entries as stored (not trusted to balance) and seller balances as kept, keyed by
    (seller account, currency)."""
    recorded = [_recorded(entry) for entry in entries]
    posted = posted_by_account(recorded)
    report = LedgerReport(
        entries=len(recorded),
        totals_by_currency=journal_totals(posted),
        account_totals=posted,
        stored_balances=dict(stored),
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


def audit_ledger(store: Storage) -> LedgerReport:
    return check_ledger(store.journal.entries(), store.journal.stored_balances())
