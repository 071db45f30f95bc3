"""The ``ConsoleReads`` port in memory, over a ``FakeStore``'s tables (its contract suite for the
sellers' reads: tests/contract/test_console_reads_contract.py). Documents come back in the shape
the console displays, bank data masked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.domain.ledger import DatedEntry
from shared.domain.order_events import OrderLine, ReleaseState
from shared.domain.runs import PayoutRun
from shared.domain.sellers import Seller
from shared.usecases.ports import RunPayoutPoint
from tests.fakes.storage import FakeStore


class FakeConsoleReads:
    def __init__(self, store: FakeStore) -> None:
        self.s = store
        self.actions: list[dict[str, Any]] = []  # console_actions, in the order recorded

    def runs_newest_first(self, limit: int, before: datetime | None) -> list[PayoutRun]:
        runs = sorted(self.s.t.runs.values(), key=lambda r: r.created_at, reverse=True)
        return [r for r in runs if before is None or r.created_at < before][:limit]

    def run_payout_points(self, run_id: str, limit: int) -> list[RunPayoutPoint]:
        return [
            RunPayoutPoint(p.status.value, p.updated_at, p.failure_code.value if p.failure_code else None)
            for p in self.s.t.payouts.values()
            if p.run_id == run_id
        ][:limit]

    def payout_document(self, payout_id: str) -> dict[str, Any] | None:
        payout = self.s.t.payouts.get(payout_id)
        if payout is None:
            return None
        return {"payout_id": payout_id, "status": payout.status.value, **self._stuck(payout_id)}

    def _stuck(self, payout_id: str) -> dict[str, Any]:
        reason = self.s.t.stuck.get(payout_id)
        return {"stuck_reason": reason} if reason else {}

    def seller_document(self, seller_id: str) -> dict[str, Any] | None:
        seller = self.s.t.sellers.get(seller_id)
        if seller is None:
            return None
        return {
            "seller_id": seller.seller_id,
            "display_name": seller.display_name,
            "country": seller.country,
            "bank_account_masked": seller.bank_account.masked,
            "bank_account_status": seller.bank_account_status.value,
            "kyc_status": seller.kyc_status.value,
        }

    def provider_events_of(self, payout_id: str, limit: int) -> list[dict[str, Any]]:
        found = [vars(e) for e in self.s.t.provider_events.values() if e.payout_id == payout_id]
        return found[:limit]

    def journal_documents(self, entry_ids: Sequence[str]) -> list[dict[str, Any]]:
        out = []
        for entry_id in entry_ids:
            if entry_id in self.s.t.journal:
                entry, at = self.s.t.journal[entry_id]
                postings = [
                    {"account": p.account, "amount": p.amount.amount, "currency": p.amount.currency}
                    for p in entry.postings
                ]
                out.append({"entry_id": entry_id, "kind": entry.kind, "created_at": at, "postings": postings})
        return out

    def outbox_documents(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        return [{"event_id": i, "type": self.s.t.outbox[i].type} for i in event_ids if i in self.s.t.outbox]

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        letters = sorted(self.s.t.dead_letters.values(), key=lambda x: x.received_at, reverse=True)
        return [vars(x) for x in letters[:limit]]

    def unpaid_order_lines(self, limit: int) -> list[dict[str, Any]]:
        return []  # the fake keeps no parked events of unpaid lines

    def record_action(self, record: dict[str, Any]) -> None:
        self.actions.append(dict(record))

    def find_sellers(self, prefix: str, limit: int) -> list[Seller]:
        found = [
            s
            for s in self.s.t.sellers.values()
            if s.seller_id.startswith(prefix) or s.display_name.startswith(prefix)
        ]
        return sorted(found, key=lambda s: s.seller_id)[:limit]

    def seller_entries_newest_first(self, seller_id: str, limit: int) -> list[DatedEntry]:
        found = [DatedEntry(e, at) for e, at in self.s.t.journal.values() if e.seller_id == seller_id]
        return sorted(found, key=lambda e: e.key, reverse=True)[:limit]

    def unreleased_order_lines(self, seller_id: str, limit: int) -> list[OrderLine]:
        found = [
            line
            for line in self.s.t.order_lines.values()
            if line.seller_id == seller_id and line.release_state is not ReleaseState.RELEASED
        ][:limit]
        return sorted(found, key=lambda x: (x.release_at is None, x.release_at, x.order_line_id))
