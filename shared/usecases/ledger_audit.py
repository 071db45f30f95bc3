"""Ledger checks over the whole store: every entry balances per currency, and every stored
seller balance equals the sum of that seller's postings.

``audit_ledger`` reads the store; ``check_ledger`` does the same checks on entries and stored
balances handed to it, so other auditors can reuse them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.domain.ledger import parse_seller_account
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


def check_ledger(entries: Iterable[StoredEntry], stored: Mapping[tuple[str, str], int]) -> LedgerReport:
    """Entries as stored (not trusted to balance) and seller balances as kept, keyed by
    (seller account, currency)."""
    report = LedgerReport()
    by_currency: dict[str, int] = defaultdict(int)
    accounts: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        report.entries += 1
        per_entry: dict[str, int] = defaultdict(int)
        for account, amount, currency in entry.postings:
            per_entry[currency] += amount
            by_currency[currency] += amount
            accounts[(account, currency)] += amount
        if any(per_entry.values()):
            report.unbalanced_entries.append(entry.entry_id)
            report.problems.append(f"entry {entry.entry_id} does not balance: {dict(per_entry)}")
    report.totals_by_currency = dict(by_currency)
    report.account_totals = dict(accounts)
    for ccy, total in by_currency.items():
        if total:
            report.problems.append(f"journal does not sum to zero in {ccy}: {total}")
    report.stored_balances = dict(stored)
    seller_keys = {k for k in accounts if parse_seller_account(k[0])} | set(stored)
    for key in sorted(seller_keys):
        kept, posted = stored.get(key, 0), accounts.get(key, 0)
        if kept != posted:
            report.balance_mismatches.append(f"{key[0]} {key[1]}")
            report.problems.append(f"balance {key[0]} {key[1]} is {kept} but its postings sum to {posted}")
    return report


def audit_ledger(store: Storage) -> LedgerReport:
    return check_ledger(store.journal.entries(), store.journal.stored_balances())
