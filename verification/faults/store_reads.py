"""Everything a fault run reads from the stack's Firestore, in one place: the harness watches the
store directly (counts, progress, final states), as an operator's dashboard would."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore

from shared.adapters.firestore_store import (
    DEAD_LETTERS,
    ORDER_EVENTS,
    PAYOUTS,
    RUN_ITEMS,
    RUN_PAGES,
    FirestoreStore,
)

JSON = dict[str, Any]
FINAL = ("paid", "failed", "canceled", "returned")
OPEN = ("pending", "processing")


def _where(query: Any, field: str, op: str, value: Any) -> Any:
    return query.where(filter=firestore.FieldFilter(field, op, value))


class StoreReads:
    def __init__(self, store: FirestoreStore) -> None:
        self.store = store
        self.client = store.client

    # --- order events ---
    def order_events(self, outcome: str | None = None) -> int:
        col = self.client.collection(ORDER_EVENTS)
        return self.store.count(col if outcome is None else _where(col, "outcome", "==", outcome))

    def order_event(self, event_id: str) -> JSON:
        return self.store.get(ORDER_EVENTS, event_id) or {}

    def dead_letters(self) -> int:
        return self.store.count(self.client.collection(DEAD_LETTERS))

    def release_due(self) -> bool:
        return bool(self.store.due_order_lines(datetime.now(UTC), 1))

    # --- runs ---
    def run_exists(self, run_id: str) -> bool:
        return bool(self.store.run_ref(run_id).get().exists)

    def run_status(self, run_id: str, expected: int = 0) -> JSON:
        """Payouts of the run by status, its pages done/total, and the fraction settled (of the
        payouts there are, or of ``expected`` while fewer exist)."""
        q = _where(self.client.collection(PAYOUTS), "run_id", "==", run_id)
        by = {s: self.store.count(_where(q, "status", "==", s)) for s in (*OPEN, *FINAL)}
        ref = self.store.run_ref(run_id)
        snap = ref.get()
        pages = ref.collection(RUN_PAGES)
        total = self.store.count(pages)
        done = self.store.count(_where(pages, "status", "==", "done"))
        payouts = sum(by.values())
        settled = sum(by[s] for s in FINAL)
        run = (snap.to_dict() or {}) if snap.exists else {}
        return {
            "exists": snap.exists,
            "status": run.get("status"),
            "funding": (run.get("funding") or {}).get("state"),  # released | awaiting_funding | None
            "pages": (done, total),
            "by_status": by,
            "payouts": payouts,
            "settled": settled,
            "fraction": settled / max(payouts, expected) if payouts else 0.0,
        }

    def run_items(self, run_id: str) -> dict[str, JSON]:
        """seller id -> the run's item for it."""
        return {s.id: s.to_dict() or {} for s in self.store.run_ref(run_id).collection(RUN_ITEMS).stream()}

    # --- payouts ---
    def payout(self, payout_id: str) -> JSON:
        return self.store.get(PAYOUTS, payout_id) or {}

    def existing_payouts(self, payout_ids: Iterable[str]) -> list[JSON]:
        snaps = self.client.get_all([self.store.doc(PAYOUTS, pid) for pid in payout_ids])
        return [snap.to_dict() or {} for snap in snaps if snap.exists]

    def run_payouts_by_seller(self, run_id: str) -> dict[str, JSON]:
        q = _where(self.client.collection(PAYOUTS), "run_id", "==", run_id)
        return {str(d["seller_id"]): d for d in (s.to_dict() or {} for s in q.stream())}

    def settled_provider_refs(self, run_id: str) -> list[str]:
        """Sorted provider references of the run's paid, returned and failed payouts."""
        q = _where(self.client.collection(PAYOUTS), "run_id", "==", run_id)
        settled = [
            d.to_dict() or {} for d in _where(q, "status", "in", ["paid", "returned", "failed"]).stream()
        ]
        return sorted(p["provider_ref"] for p in settled if p.get("provider_ref"))

    def open_payouts(self) -> int:
        return self.store.count(_where(self.client.collection(PAYOUTS), "status", "in", list(OPEN)))

    def payout_statuses(self) -> dict[str, str]:
        snaps = self.client.collection(PAYOUTS).select(["status"]).stream()
        return {snap.id: str((snap.to_dict() or {}).get("status")) for snap in snaps}

    def payout_states(self) -> dict[str, tuple[str, int]]:
        """payout id -> (status, sequence)."""
        return {
            str(d["payout_id"]): (str(d["status"]), int(d["sequence"]))
            for d in (s.to_dict() or {} for s in self.client.collection(PAYOUTS).stream())
        }

    def fx_payout_statuses(self) -> dict[str, int]:
        """Issue 17: how many payouts that converted another currency ended in each status."""
        snaps = self.client.collection(PAYOUTS).select(["status", "conversions"]).stream()
        counts: dict[str, int] = {}
        for snap in snaps:
            data = snap.to_dict() or {}
            if data.get("conversions"):
                counts[str(data.get("status"))] = counts.get(str(data.get("status")), 0) + 1
        return counts

    def unpublished_outbox_events(self) -> int:
        """How many outbox events wait to be relayed (at most 10 are counted)."""
        return len(self.store.unpublished_outbox_ids(10))
