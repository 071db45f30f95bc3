"""Ledger checks over the whole store: every entry balances per currency, and every stored
seller balance equals the sum of that seller's postings."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from shared.adapters.firestore_store import BALANCE_SHARDS, FirestoreStore
from shared.domain.ledger import Bucket, parse_seller_account, seller_account


@dataclass
class LedgerReport:
    entries: int = 0
    totals_by_currency: dict[str, int] = field(default_factory=dict)  # must all be 0
    account_totals: dict[tuple[str, str], int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_ledger(store: FirestoreStore) -> LedgerReport:
    report = LedgerReport()
    by_currency: dict[str, int] = defaultdict(int)
    accounts: dict[tuple[str, str], int] = defaultdict(int)
    for entry in store.journal_entries():
        report.entries += 1
        per_entry: dict[str, int] = defaultdict(int)
        for posting in entry["postings"]:
            per_entry[posting["currency"]] += posting["amount"]
            by_currency[posting["currency"]] += posting["amount"]
            accounts[(posting["account"], posting["currency"])] += posting["amount"]
        if any(per_entry.values()):
            report.problems.append(f"entry {entry['entry_id']} does not balance: {dict(per_entry)}")
    report.totals_by_currency = dict(by_currency)
    report.account_totals = dict(accounts)
    for ccy, total in by_currency.items():
        if total:
            report.problems.append(f"journal does not sum to zero in {ccy}: {total}")

    stored: dict[tuple[str, str], int] = defaultdict(int)
    for shard in store.client.collection_group(BALANCE_SHARDS).stream():
        data = shard.to_dict() or {}
        for bucket in Bucket:
            account = seller_account(data["seller_id"], bucket)
            stored[(account, data["currency"])] += int(data.get(bucket.value, 0))
    seller_keys = {k for k in accounts if parse_seller_account(k[0])} | set(stored)
    for key in sorted(seller_keys):
        kept, posted = stored.get(key, 0), accounts.get(key, 0)
        if kept != posted:
            report.problems.append(f"balance {key[0]} {key[1]} is {kept} but its postings sum to {posted}")
    return report
