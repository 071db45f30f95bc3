"""What the console reads and does, in one place (functions/console.py renders it).

Reads go through the same ports and use-case functions as the API (``run_summary`` is what
``GET /runs/{id}`` answers with, so the console and the API show the same numbers), plus the
console's own port for what only an operator looks at (``ConsoleReads``); bank details only
ever leave here masked. The one action so far, cancelling a pending payout, is
``PayoutService.cancel`` with the signed-in person as its actor, plus an audit record of who
asked and what came of it (``console_actions``), refusals included.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.domain.errors import DomainError
from shared.domain.ledger import entry_id_for
from shared.domain.payouts import FINAL_STATES, Payout, PayoutStatus
from shared.domain.runs import RunNotFound
from shared.domain.runs import run_summary as api_run_summary
from shared.usecases.payout_runs import run_progress
from shared.usecases.payouts import PayoutService
from shared.usecases.ports import ConsoleReads

logger = logging.getLogger(__name__)

RUNS_PAGE = 10
PAYOUTS_PAGE = 50
SEARCH_SCAN_LIMIT = 2000  # payouts read per search when filtering beyond the indexed fields
RUN_CHART_LIMIT = 20000  # payouts of a run read for its charts
_JOURNAL_KINDS = ("created", "paid", "failed", "canceled", "returned")


class NotFound(Exception):
    pass


class BadForm(Exception):
    """A form the console cannot read (before any rule is asked): 422, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


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
    """The API's numbers for the run (``GET /runs/{id}``), plus progress, duration and deadline."""
    try:
        progress = run_progress(svc, run_id)
    except RunNotFound as exc:
        raise NotFound(run_id) from exc
    run = progress.run
    view = dict(api_run_summary(progress))
    duration = _duration_seconds(run.created_at, run.completed_at)
    return {
        **view,
        "progress": _progress(view),
        "completed_at": run.completed_at,
        "duration_seconds": duration,
        "deadline_seconds": deadline_seconds,
        "overdue": duration is not None and duration > deadline_seconds and view["status"] != "completed",
        "requested_by": run.requested_by,
    }


def _runs_cursor(token: str | None) -> datetime | None:
    if not token:
        return None
    try:
        return datetime.fromisoformat(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        return None


def list_runs(
    svc: PayoutService, reads: ConsoleReads, deadline_seconds: int, page_token: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The newest runs first, a page at a time, each with the API's numbers."""
    found = reads.runs_newest_first(RUNS_PAGE + 1, _runs_cursor(page_token))
    page = found[:RUNS_PAGE]
    with ThreadPoolExecutor(max_workers=4) as pool:  # each run's numbers are one batched read
        runs = list(pool.map(lambda r: run_summary(svc, r.run_id, deadline_seconds), page))
    token = None
    if len(found) > RUNS_PAGE:
        token = base64.urlsafe_b64encode(page[-1].created_at.isoformat().encode()).decode()
    return runs, token


def run_detail(svc: PayoutService, reads: ConsoleReads, run_id: str, deadline_seconds: int) -> dict[str, Any]:
    """A run: its summary, when its payouts settled, and its failures by code."""
    summary = run_summary(svc, run_id, deadline_seconds)
    settled: dict[str, list[datetime]] = {"paid": [], "failed": [], "returned": []}
    failures: Counter[str] = Counter()
    for point in reads.run_payout_points(run_id, RUN_CHART_LIMIT):
        if point.status in settled and point.updated_at is not None:
            settled[point.status].append(point.updated_at)
        if point.status == PayoutStatus.FAILED.value:
            failures[str(point.failure_code or "unknown")] += 1
    return {
        **summary,
        "settled_times": settled,
        "failures_by_code": dict(failures.most_common()),
        "failed_count": summary["payouts_by_status"].get(PayoutStatus.FAILED.value, 0),  # the run's counters
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


def _cursor_encode(payout: Payout) -> str:
    raw = json.dumps([payout.created_at.isoformat(), payout.payout_id]).encode()
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
) -> tuple[list[Payout], str | None]:
    """Payouts matching every given filter, newest first. Seller, run and status are indexed
    (``PayoutQueries.newest_first``); failure code and rail are checked on what that returns,
    over at most ``SEARCH_SCAN_LIMIT`` payouts per page."""
    if search.payout_id:
        payout = svc.store.payouts.get(search.payout_id)
        return ([payout] if payout else []), None
    after = _cursor_decode(page_token)
    found: list[Payout] = []
    scanned = 0
    more = False
    while len(found) < PAYOUTS_PAGE and scanned < SEARCH_SCAN_LIMIT:
        batch = svc.store.payouts.newest_first(
            seller_id=search.seller_id,
            status=search.status,
            run_id=search.run_id,
            limit=200,
            after=after,
        )
        scanned += len(batch)
        for payout in batch:
            code = payout.failure_code.value if payout.failure_code else None
            if search.failure_code and code != search.failure_code:
                continue
            if search.provider and payout.provider != search.provider:
                continue
            found.append(payout)
        more = len(batch) == 200
        if not more:
            break
        after = (batch[-1].created_at, batch[-1].payout_id)
    page = found[:PAYOUTS_PAGE]
    token = _cursor_encode(page[-1]) if page and (more or len(found) > PAYOUTS_PAGE) else None
    return page, token


def journal_entry_ids(payout_id: str) -> list[str]:
    """The entries a payout can have posted (their ids derive from their causes)."""
    return [
        entry_id_for("payout.created", payout_id),
        *(entry_id_for(f"payout.{k}", f"{payout_id}:{k}") for k in _JOURNAL_KINDS[1:]),
    ]


def payout_detail(svc: PayoutService, reads: ConsoleReads, payout_id: str) -> dict[str, Any]:
    """A payout with its history, its seller (bank account masked), the provider's transfer and
    webhooks, its journal entries and its status events."""
    payout = svc.store.payouts.get(payout_id)
    if payout is None:
        raise NotFound(payout_id)
    raw = reads.payout_document(payout_id) or {}
    seller = reads.seller_document(payout.seller_id) or {}
    webhooks = reads.provider_events_of(payout_id, 100)
    journal = reads.journal_documents(journal_entry_ids(payout_id))
    events = reads.outbox_documents([f"{payout_id}-{n:06d}" for n in range(1, payout.sequence + 1)])
    return {
        "payout": payout,
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
    reads: ConsoleReads, actor: str, action: str, target: str, outcome: str, detail: str = ""
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
    reads.record_action(
        {"actor": actor, "action": action, "target": target, "outcome": outcome, "detail": detail, "at": at}
    )


def cancel_payout(svc: PayoutService, reads: ConsoleReads, payout_id: str, actor: str) -> tuple[bool, str]:
    """Cancel a pending payout as ``actor``: (done, what happened). Recorded either way."""
    try:
        payout = svc.cancel(payout_id, actor=actor)
    except DomainError as exc:
        record_action(reads, actor, "cancel_payout", payout_id, "refused", exc.code)
        return False, exc.message
    record_action(reads, actor, "cancel_payout", payout_id, "done", payout.status.value)
    return True, "the payout was canceled and its amount is available to the seller again"


# ---- dead letters ------------------------------------------------------------------------------


def dead_letters(reads: ConsoleReads, limit: int = 100) -> list[dict[str, Any]]:
    """Messages that could never be applied, newest first, with their reasons."""
    return reads.dead_letters(limit)


def parked_order_events(reads: ConsoleReads, limit: int = 100) -> list[dict[str, Any]]:
    """Order events waiting for the payment of their order line (a line seen before it was paid)."""
    out = []
    for line in reads.unpaid_order_lines(limit):
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
