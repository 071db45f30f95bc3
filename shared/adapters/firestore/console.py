"""The console's reads on Firestore (the ``ConsoleReads`` port in ``shared/usecases/ports.py``):
the lists and records an operator looks at, which no payout rule needs. Documents are returned
as stored, for display; bank data in them is already masked (``bank_account_masked``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.cloud import firestore

from shared.adapters.firestore import documents as d
from shared.adapters.firestore.store import FirestoreStore
from shared.domain.ledger import DatedEntry
from shared.domain.order_events import OrderLine, ReleaseState
from shared.domain.runs import PayoutRun
from shared.domain.sellers import Seller
from shared.usecases.ports import RunPayoutPoint

CONSOLE_ACTIONS = "console_actions"


class FirestoreConsoleReads:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def runs_newest_first(self, limit: int, before: datetime | None) -> list[PayoutRun]:
        """Newest first (one field ordered: the automatic single-field index, descending included)."""
        query = self.s.client.collection(d.PAYOUT_RUNS).order_by(
            "created_at", direction=firestore.Query.DESCENDING
        )
        if before is not None:
            query = query.start_after({"created_at": before})
        return [d.run_from_doc(s.to_dict() or {}) for s in self.s.calls.stream(query.limit(limit))]

    def run_payout_points(self, run_id: str, limit: int) -> list[RunPayoutPoint]:
        """Status, last change and failure code of a run's payouts (three fields read, not the
        documents)."""
        query = (
            self.s.client.collection(d.PAYOUTS)
            .where(filter=firestore.FieldFilter("run_id", "==", run_id))
            .select(["status", "updated_at", "failure_code"])
            .limit(limit)
        )
        points = []
        for snap in self.s.calls.stream(query):
            doc = snap.to_dict() or {}
            at = doc.get("updated_at")
            points.append(
                RunPayoutPoint(
                    str(doc.get("status")),
                    at if isinstance(at, datetime) else None,
                    doc.get("failure_code"),
                )
            )
        return points

    def payout_document(self, payout_id: str) -> dict[str, Any] | None:
        return self.s.read(self.s.refs.doc(d.PAYOUTS, payout_id))

    def seller_document(self, seller_id: str) -> dict[str, Any] | None:
        return self.s.read(self.s.refs.doc(d.SELLERS, seller_id))

    def provider_events_of(self, payout_id: str, limit: int) -> list[dict[str, Any]]:
        query = (
            self.s.client.collection(d.PROVIDER_EVENTS)
            .where(filter=firestore.FieldFilter("payout_id", "==", payout_id))
            .limit(limit)
        )
        return [{**(s.to_dict() or {}), "event_key": s.id} for s in self.s.calls.stream(query)]

    def _documents(self, collection: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        refs = [ref for ref in (self.s.refs.doc(collection, i) for i in ids) if ref is not None]
        if not refs:
            return []
        return [s.to_dict() or {} for s in self.s.calls.get_all(refs) if s.exists]

    def journal_documents(self, entry_ids: Sequence[str]) -> list[dict[str, Any]]:
        return self._documents(d.JOURNAL, entry_ids)

    def outbox_documents(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        return self._documents(d.OUTBOX, event_ids)

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        query = (
            self.s.client.collection(d.DEAD_LETTERS)
            .order_by("received_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [s.to_dict() or {} for s in self.s.calls.stream(query)]

    def unpaid_order_lines(self, limit: int) -> list[dict[str, Any]]:
        query = self.s.client.collection(d.ORDER_LINES).where(
            filter=firestore.FieldFilter("paid", "==", False)
        )
        return [s.to_dict() or {} for s in self.s.calls.stream(query.limit(limit))]

    def record_action(self, record: dict[str, Any]) -> None:
        self.s.calls.set(self.s.refs.writable(CONSOLE_ACTIONS, uuid.uuid4().hex), record)

    # --- sellers ---------------------------------------------------------------------------------

    def find_sellers(self, prefix: str, limit: int) -> list[Seller]:
        """Two range queries on one field each (the automatic single-field indexes): ids, then
        display names, starting with the prefix."""
        sellers = self.s.client.collection(d.SELLERS)
        found: dict[str, Seller] = {}
        for field in ("seller_id", "display_name") if prefix else ("seller_id",):
            query = sellers.order_by(field)
            if prefix:
                query = query.where(filter=firestore.FieldFilter(field, ">=", prefix)).where(
                    filter=firestore.FieldFilter(field, "<", prefix + "\uf8ff")
                )
            for snap in self.s.calls.stream(query.limit(limit)):
                seller = d.seller_from_doc(snap.to_dict() or {})
                found.setdefault(seller.seller_id, seller)
        return [found[k] for k in sorted(found)][:limit]

    def seller_entries_newest_first(self, seller_id: str, limit: int) -> list[DatedEntry]:
        """Index ``journal-seller_id-created_at-desc``."""
        query = (
            self.s.client.collection(d.JOURNAL)
            .where(filter=firestore.FieldFilter("seller_id", "==", seller_id))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        entries = [d.journal_from_doc(s.to_dict() or {}) for s in self.s.calls.stream(query)]
        return sorted(entries, key=lambda e: e.key, reverse=True)

    def unreleased_order_lines(self, seller_id: str, limit: int) -> list[OrderLine]:
        """Equality and ``in`` filters only, no order: served by merging the automatic
        single-field indexes (no composite index); sorted here."""
        query = (
            self.s.client.collection(d.ORDER_LINES)
            .where(filter=firestore.FieldFilter("seller_id", "==", seller_id))
            .where(
                filter=firestore.FieldFilter(
                    "release_state", "in", [ReleaseState.AWAITING_DELIVERY.value, ReleaseState.HOLDING.value]
                )
            )
            .limit(limit)
        )
        lines = [d.order_line_from_doc(s.to_dict() or {}) for s in self.s.calls.stream(query)]
        return sorted(lines, key=_release_order)


def _release_order(line: OrderLine) -> tuple[bool, datetime | None, str]:
    return (line.release_at is None, line.release_at, line.order_line_id)
