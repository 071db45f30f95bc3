"""What the console reads and does, in one place (functions/console.py renders it).

Reads go through the same store and use-case functions as the API (``run_view`` is the one
``GET /runs/{id}`` answers with, so the console and the API show the same numbers); bank
details only ever leave here masked. The one action so far, cancelling a pending payout, is
``PayoutService.cancel`` with the signed-in person as its actor, plus an audit record of who
asked and what came of it (``console_actions``), refusals included.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore

from shared.adapters.firestore_store import (
    DEAD_LETTERS,
    JOURNAL,
    ORDER_LINES,
    OUTBOX,
    PAYOUT_RUNS,
    PAYOUTS,
    PROVIDER_EVENTS,
    SELLERS,
    payout_from_doc,
    valid_document_id,
)
from shared.domain.errors import DomainError
from shared.domain.ledger import entry_id_for
from shared.domain.payouts import FINAL_STATES, Payout, PayoutStatus
from shared.usecases.payout_runs import RunNotFound, run_view
from shared.usecases.payouts import PayoutService, payout_view

logger = logging.getLogger(__name__)

CONSOLE_ACTIONS = "console_actions"
RUNS_PAGE = 10
PAYOUTS_PAGE = 50
SEARCH_SCAN_LIMIT = 2000  # payouts read per search when filtering beyond the indexed fields
RUN_CHART_LIMIT = 20000  # payouts of a run read for its charts
_JOURNAL_KINDS = ("created", "paid", "failed", "canceled", "returned")


class NotFound(Exception):
    pass


# ---- runs --------------------------------------------------------------------------------------


def _duration_seconds(start: Any, end: Any) -> float | None:
    if not isinstance(start, datetime):
        return None
    return round(((end if isinstance(end, datetime) else datetime.now(UTC)) - start).total_seconds(), 1)


def _progress(view: dict[str, Any]) -> dict[str, Any]:
    by_status: dict[str, int] = view.get("payouts_by_status", {})
    total = sum(by_status.values())
    final = sum(n for s, n in by_status.items() if PayoutStatus(s) in FINAL_STATES)
    pages = view.get("pages", {})
    return {
        "payouts": total,
        "final": final,
        "percent": round(100 * final / total) if total else (100 if view.get("status") == "completed" else 0),
        "pages_done": pages.get("done", 0),
        "pages_total": pages.get("total", 0),
    }


def run_summary(svc: PayoutService, run_id: str, deadline_seconds: int) -> dict[str, Any]:
    """``run_view`` (the API's numbers) plus progress, duration and the deadline."""
    snap = svc.store.run_ref(run_id).get()
    if not snap.exists:
        raise NotFound(run_id)
    doc = snap.to_dict() or {}
    try:
        view = run_view(svc, run_id)
    except RunNotFound as exc:
        raise NotFound(run_id) from exc
    duration = _duration_seconds(doc.get("created_at"), doc.get("completed_at"))
    return {
        **view,
        "progress": _progress(view),
        "completed_at": doc.get("completed_at"),
        "duration_seconds": duration,
        "deadline_seconds": deadline_seconds,
        "overdue": duration is not None and duration > deadline_seconds and view["status"] != "completed",
        "requested_by": doc.get("requested_by"),
    }


def _runs_cursor(token: str | None) -> datetime | None:
    if not token:
        return None
    try:
        return datetime.fromisoformat(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        return None


def list_runs(
    svc: PayoutService, deadline_seconds: int, page_token: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The newest runs first, a page at a time, each with the API's numbers."""
    query = svc.store.client.collection(PAYOUT_RUNS).order_by(
        "created_at", direction=firestore.Query.DESCENDING
    )
    before = _runs_cursor(page_token)
    if before is not None:
        query = query.start_after({"created_at": before})
    docs = [s.to_dict() or {} for s in query.limit(RUNS_PAGE + 1).stream()]
    page = docs[:RUNS_PAGE]
    with ThreadPoolExecutor(max_workers=4) as pool:  # each run's numbers are a few dozen counts
        runs = list(pool.map(lambda d: run_summary(svc, str(d["run_id"]), deadline_seconds), page))
    token = None
    if len(docs) > RUNS_PAGE and isinstance(page[-1].get("created_at"), datetime):
        token = base64.urlsafe_b64encode(page[-1]["created_at"].isoformat().encode()).decode()
    return runs, token


def run_detail(svc: PayoutService, run_id: str, deadline_seconds: int) -> dict[str, Any]:
    """A run: its summary, when its payouts settled, and its failures by code."""
    summary = run_summary(svc, run_id, deadline_seconds)
    payouts = (
        svc.store.client.collection(PAYOUTS)
        .where(filter=firestore.FieldFilter("run_id", "==", run_id))
        .select(["status", "updated_at", "failure_code"])
        .limit(RUN_CHART_LIMIT)
    )
    settled: dict[str, list[datetime]] = {"paid": [], "failed": [], "returned": []}
    failures: Counter[str] = Counter()
    for snap in payouts.stream():
        doc = snap.to_dict() or {}
        status, at = doc.get("status"), doc.get("updated_at")
        if status in settled and isinstance(at, datetime):
            settled[status].append(at)
        if status == PayoutStatus.FAILED.value:
            failures[str(doc.get("failure_code") or "unknown")] += 1
    failed_query = (
        svc.store.client.collection(PAYOUTS)
        .where(filter=firestore.FieldFilter("run_id", "==", run_id))
        .where(filter=firestore.FieldFilter("status", "==", PayoutStatus.FAILED.value))
    )
    return {
        **summary,
        "settled_times": settled,
        "failures_by_code": dict(failures.most_common()),
        "failed_count": svc.store.count(failed_query),
    }


# ---- payouts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutSearch:
    payout_id: str | None = None
    seller_id: str | None = None
    run_id: str | None = None
    status: str | None = None
    failure_code: str | None = None
    provider: str | None = None

    @property
    def empty(self) -> bool:
        return not any(vars(self).values())


def _cursor_encode(doc: dict[str, Any]) -> str:
    raw = json.dumps([doc["created_at"].isoformat(), doc["payout_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _cursor_decode(token: str | None) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        created, payout_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(created), str(payout_id)
    except (ValueError, TypeError):
        return None


def search_payouts(
    svc: PayoutService, search: PayoutSearch, page_token: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Payouts matching every given filter, newest first. Seller, run and status are indexed
    (``FirestoreStore.list_payouts``); failure code and rail are checked on what that returns,
    over at most ``SEARCH_SCAN_LIMIT`` payouts per page."""
    if search.payout_id:
        payout = svc.store.get_payout(search.payout_id) if valid_document_id(search.payout_id) else None
        return ([payout_view(payout)] if payout else []), None
    after = _cursor_decode(page_token)
    found: list[dict[str, Any]] = []
    scanned = 0
    more = False
    while len(found) < PAYOUTS_PAGE and scanned < SEARCH_SCAN_LIMIT:
        docs = svc.store.list_payouts(
            seller_id=search.seller_id,
            status=search.status,
            run_id=search.run_id,
            limit=200,
            after=after,
        )
        scanned += len(docs)
        for doc in docs:
            if search.failure_code and doc.get("failure_code") != search.failure_code:
                continue
            if search.provider and doc.get("provider") != search.provider:
                continue
            found.append(doc)
        more = len(docs) == 200
        if not more:
            break
        after = (docs[-1]["created_at"], docs[-1]["payout_id"])
    page = found[:PAYOUTS_PAGE]
    token = _cursor_encode(page[-1]) if page and (more or len(found) > PAYOUTS_PAGE) else None
    return [payout_view(payout_from_doc(d)) for d in page], token


def journal_entry_ids(payout_id: str) -> list[str]:
    """The entries a payout can have posted (their ids derive from their causes)."""
    return [
        entry_id_for("payout.created", payout_id),
        *(entry_id_for(f"payout.{k}", f"{payout_id}:{k}") for k in _JOURNAL_KINDS[1:]),
    ]


def payout_detail(svc: PayoutService, payout_id: str) -> dict[str, Any]:
    """A payout with its history, its seller (bank account masked), the provider's transfer and
    webhooks, its journal entries and its status events."""
    store = svc.store
    raw = store.get(PAYOUTS, payout_id) if valid_document_id(payout_id) else None
    if raw is None:
        raise NotFound(payout_id)
    payout = payout_from_doc(raw)
    seller = store.get(SELLERS, payout.seller_id) or {}
    webhooks = [
        {**(s.to_dict() or {}), "event_key": s.id}
        for s in store.client.collection(PROVIDER_EVENTS)
        .where(filter=firestore.FieldFilter("payout_id", "==", payout_id))
        .limit(100)
        .stream()
    ]
    journal = [
        s.to_dict() or {}
        for s in store.client.get_all([store.doc(JOURNAL, i) for i in journal_entry_ids(payout_id)])
        if s.exists
    ]
    outbox_refs = [store.doc(OUTBOX, f"{payout_id}-{n:06d}") for n in range(1, payout.sequence + 1)]
    events = [s.to_dict() or {} for s in store.client.get_all(outbox_refs) if s.exists]
    return {
        "payout": payout_view(payout),
        "cancellable": cancellable(payout),
        "transfer_started_at": payout.transfer_started_at,
        "stuck_reason": raw.get("stuck_reason"),
        "stuck_flagged_at": raw.get("stuck_flagged_at"),
        "trace_context": payout.trace_context,
        "seller": {
            "seller_id": payout.seller_id,
            "display_name": seller.get("display_name"),
            "country": seller.get("country"),
            "bank_account_masked": seller.get("bank_account_masked"),  # never the full account
            "bank_account_status": seller.get("bank_account_status"),
            "kyc_status": seller.get("kyc_status"),
        },
        "webhooks": sorted(webhooks, key=lambda w: str(w.get("received_at"))),
        "journal": sorted(journal, key=lambda e: str(e.get("created_at"))),
        "events": sorted(events, key=lambda e: int(e.get("sequence", 0))),
    }


def cancellable(payout: Payout) -> bool:
    """Pending, and the transfer worker has not claimed it (the provider may have it then)."""
    return payout.status is PayoutStatus.PENDING and payout.transfer_started_at is None


def record_action(
    svc: PayoutService, actor: str, action: str, target: str, outcome: str, detail: str = ""
) -> None:
    """Who did what in the console, and what came of it: a log line and an audit document."""
    at = datetime.now(UTC)
    logger.info(
        "console action %s on %s by %s: %s",
        action,
        target,
        actor,
        outcome,
        extra={"fields": {"console_action": action, "actor": actor, "target": target, "outcome": outcome}},
    )
    svc.store.client.collection(CONSOLE_ACTIONS).document(uuid.uuid4().hex).set(
        {"actor": actor, "action": action, "target": target, "outcome": outcome, "detail": detail, "at": at}
    )


def cancel_payout(svc: PayoutService, payout_id: str, actor: str) -> tuple[bool, str]:
    """Cancel a pending payout as ``actor``: (done, what happened). Recorded either way."""
    try:
        payout = svc.cancel(payout_id, actor=actor)
    except DomainError as exc:
        record_action(svc, actor, "cancel_payout", payout_id, "refused", exc.code)
        return False, exc.message
    record_action(svc, actor, "cancel_payout", payout_id, "done", payout.status.value)
    return True, "the payout was canceled and its amount is available to the seller again"


# ---- dead letters ------------------------------------------------------------------------------


def dead_letters(svc: PayoutService, limit: int = 100) -> list[dict[str, Any]]:
    """Messages that could never be applied, newest first, with their reasons."""
    query = (
        svc.store.client.collection(DEAD_LETTERS)
        .order_by("received_at", direction=firestore.Query.DESCENDING)
        .limit(limit)
    )
    return [s.to_dict() or {} for s in query.stream()]


def parked_order_events(svc: PayoutService, limit: int = 100) -> list[dict[str, Any]]:
    """Order events waiting for the payment of their order line (a line seen before it was paid)."""
    query = svc.store.client.collection(ORDER_LINES).where(filter=firestore.FieldFilter("paid", "==", False))
    out = []
    for snap in query.limit(limit).stream():
        line = snap.to_dict() or {}
        for raw in line.get("parked") or []:
            try:
                event = json.loads(raw)
            except (TypeError, ValueError):
                event = {"raw": str(raw)}
            out.append(
                {
                    "order_line_id": line.get("order_line_id"),
                    "seller_id": line.get("seller_id"),
                    "event_id": event.get("event_id"),
                    "type": event.get("type"),
                    "occurred_at": event.get("occurred_at"),
                    "reason": "waiting for the order line's payment (order_line.paid)",
                    "body": json.dumps(event, sort_keys=True)[:2048],
                }
            )
    return out
