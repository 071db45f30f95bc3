"""Scheduled payout runs: start a run for a date, fan it out through Cloud Tasks in shards of
sellers, decide for each seller (pay the whole available balance, or record why not), and
report progress. A dry run makes the same decisions and moves no money.

- ``payout_runs/{run_id}``: one per date (``run-YYYY-MM-DD``), so starting it twice finds
  the first. Dry runs get their own id each time.
- ``payout_runs/{run_id}/pages/{page_id}``: one per shard task; a full page enqueues the next.
- ``payout_runs/{run_id}/items/{seller_id}``: the payout or the skip reason of each seller.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared import log
from shared.adapters.firestore_store import (
    OUTBOX,
    PAYOUTS,
    RUN_BUCKET_SPACE,
    RUN_ITEMS,
    RUN_PAGES,
    Tx,
    run_bucket,
)
from shared.domain.eligibility import SkipReason, decide_payout
from shared.domain.payouts import OPEN_STATES, PayoutStatus, run_payout_id
from shared.keyed_lock import KeyedLocks
from shared.topology import QUEUE_RUN_SHARDS
from shared.usecases.payouts import AfterCommit, PayoutService, seller_locks

logger = logging.getLogger(__name__)
ACTOR = "payout-run"
_run_locks = KeyedLocks()  # starts of one run in this process go one after the other


class RunNotFound(Exception):
    pass


def run_id_for(run_date: date, dry_run: bool) -> str:
    if dry_run:
        return f"dry-{run_date.isoformat()}-{uuid.uuid4().hex[:8]}"
    return f"run-{run_date.isoformat()}"


def start_run(
    svc: PayoutService, run_date: date, *, dry_run: bool, requested_by: str, now: datetime | None = None
) -> dict[str, Any]:
    """Create the run (once per date) and enqueue one shard task per bucket range."""
    now = now or datetime.now(UTC)
    run_id = run_id_for(run_date, dry_run)
    buckets = svc.store.settings.run_buckets
    ref = svc.store.run_ref(run_id)

    run: dict[str, Any] = {
        "run_id": run_id,
        "run_date": run_date.isoformat(),
        "dry_run": dry_run,
        "status": "planning",
        "buckets": buckets,
        "created_at": now,
        "requested_by": requested_by,
    }
    with log.bind(run_id=run_id), _run_locks.hold(run_id):
        # A plain create, not a read-then-write transaction: concurrent starters (Scheduler's
        # redelivery, an ops call, a second trigger) must not queue on the run document's lock.
        # Exactly one create succeeds; the others read what it wrote.
        try:
            ref.create(run)
            run["created"] = True
        except gexc.AlreadyExists:
            run = {**(ref.get().to_dict() or {}), "created": False}
        if run["status"] == "planning":
            # Enqueue (again, after a crash) every first page; pages and tasks are idempotent.
            for bucket in range(int(run["buckets"])):
                _enqueue_page(svc, run_id, bucket, 0, None, now)
            ref.update({"status": "fanned_out", "fanned_out_at": datetime.now(UTC)})
            logger.info("run %s started for %s with %d shards", run_id, run_date, run["buckets"])
        else:
            logger.info("run %s already exists (%s); not started twice", run_id, run["status"])
        return {**run_view(svc, run_id), "created": run["created"]}


def _page_id(bucket: int, page: int) -> str:
    return f"b{bucket:04d}-p{page:05d}"


def _enqueue_page(
    svc: PayoutService, run_id: str, bucket: int, page: int, start_after: str | None, now: datetime
) -> None:
    page_id = _page_id(bucket, page)
    with contextlib.suppress(gexc.AlreadyExists):  # a retried fan-out finds its pages
        svc.store.run_ref(run_id).collection(RUN_PAGES).document(page_id).create(
            {
                "page_id": page_id,
                "bucket": bucket,
                "page": page,
                "start_after": start_after,
                "status": "queued",
                "created_at": now,
            }
        )
    svc.tasks.enqueue(
        QUEUE_RUN_SHARDS,
        "run-shard-worker",
        {"run_id": run_id, "page_id": page_id},
        dedupe_key=f"{run_id}-{page_id}",
    )


def process_page(
    svc: PayoutService, run_id: str, page_id: str, now: datetime | None = None
) -> dict[str, int]:
    """One shard task: decide for one page of sellers. Safe to run twice, or concurrently."""
    now = now or datetime.now(UTC)
    store = svc.store
    run_ref = store.run_ref(run_id)
    with log.bind(run_id=run_id, page_id=page_id):
        run = run_ref.get().to_dict()
        page_ref = run_ref.collection(RUN_PAGES).document(page_id)
        page = page_ref.get().to_dict()
        if run is None or page is None:
            logger.error("shard task for an unknown run or page; dropped")
            return {"unknown": 1}
        if page["status"] == "done":
            return {"duplicate": 1}
        buckets = int(run["buckets"])
        bucket = int(page["bucket"])
        lo, hi = bucket * RUN_BUCKET_SPACE // buckets, (bucket + 1) * RUN_BUCKET_SPACE // buckets
        size = store.settings.run_page_size
        sellers = store.sellers_in_buckets(lo, hi, page.get("start_after"), size)
        if len(sellers) == size:
            last = sellers[-1]
            _enqueue_page(
                svc,
                run_id,
                bucket,
                int(page["page"]) + 1,
                f"{run_bucket(last.seller_id)}/{last.seller_id}",
                now,
            )
        available = store.available_balances(sellers)
        run_date = date.fromisoformat(run["run_date"])
        counts = {"paid": 0, "skipped": 0}
        skipped = store.client.batch()
        work = AfterCommit()
        items = run_ref.collection(RUN_ITEMS)
        for seller in sellers:
            with log.bind(seller_id=seller.seller_id):
                rules = svc.registry.get(seller.country)
                decision = decide_payout(seller, rules, available[seller.seller_id], run_date, now)
                base = {
                    "seller_id": seller.seller_id,
                    "country": seller.country,
                    "currency": seller.currency,
                    "decided_at": now,
                }
                if run["dry_run"] or not decision.pays:
                    skip = decision.skip
                    skipped.set(
                        items.document(seller.seller_id),
                        {
                            **base,
                            "skip_reason": skip.value if skip else None,
                            "detail": decision.detail,
                            "would_pay": decision.amount.amount if decision.amount else None,
                        },
                    )
                    counts["skipped" if skip else "paid"] += 1
                    continue
                payout_id = run_payout_id(run_id, seller.seller_id)

                def create(tx: Tx, seller: Any = seller, payout_id: str = payout_id, base: Any = base) -> Any:
                    created = svc.create_in_tx(
                        tx,
                        seller,
                        payout_id,
                        amount=None,
                        origin="run",
                        cause=f"payout run {run_id}",
                        actor=ACTOR,
                        now=now,
                        run_id=run_id,
                    )
                    item = {
                        **base,
                        "payout_id": created.payout.payout_id if created.payout else None,
                        "skip_reason": created.decision.skip.value if created.decision.skip else None,
                        "detail": created.decision.detail,
                        "amount": created.payout.amount.amount if created.payout else None,
                    }
                    tx.set_ref(items.document(seller.seller_id), item)
                    return created

                with seller_locks.hold(seller.seller_id):
                    created = store.run(create)
                if created.payout is not None:
                    counts["paid"] += 1
                    if created.payout.status is PayoutStatus.PENDING:
                        work.transfers.append(created.payout.payout_id)
                    work.outbox.extend(created.outbox)
                else:
                    counts["skipped"] += 1
        skipped.commit()
        svc.after_commit(work)
        page_ref.update({"status": "done", "done_at": datetime.now(UTC), "sellers": len(sellers), **counts})
        logger.info(
            "shard page done: %d sellers, %d paid, %d skipped",
            len(sellers),
            counts["paid"],
            counts["skipped"],
        )
        return counts


def complete_runs(svc: PayoutService, now: datetime | None = None) -> list[str]:
    """Mark runs whose pages are all done and whose payouts are all final as completed, and
    publish ``payout_run.completed`` (through the outbox, once)."""
    now = now or datetime.now(UTC)
    store = svc.store
    completed = []
    runs = (
        store.client.collection("payout_runs")
        .where(filter=firestore.FieldFilter("status", "==", "fanned_out"))
        .limit(50)
        .stream()
    )
    for snap in runs:
        run = snap.to_dict() or {}
        run_id = run["run_id"]
        pages = snap.reference.collection(RUN_PAGES)
        if store.count(pages.where(filter=firestore.FieldFilter("status", "!=", "done"))):
            _requeue_stale_pages(svc, run_id, pages, now)
            continue
        payouts = store.client.collection(PAYOUTS).where(filter=firestore.FieldFilter("run_id", "==", run_id))
        open_count = store.count(
            payouts.where(filter=firestore.FieldFilter("status", "in", [s.value for s in OPEN_STATES]))
        )
        if open_count:
            continue
        view = run_view(svc, run_id)
        event_id = f"{run_id}-completed"

        def finish(tx: Tx, ref: Any = snap.reference, event_id: str = event_id, view: Any = view) -> bool:
            current = tx.get_ref(ref)
            if current is None or current["status"] != "fanned_out":
                return False
            tx.set_ref(ref, {"status": "completed", "completed_at": now}, merge=True)
            tx.create(
                OUTBOX,
                event_id,
                {
                    "event_id": event_id,
                    "type": "payout_run.completed",
                    "subject": view["run_id"],
                    "sequence": 1,
                    "data": view,
                    "created_at": now,
                    "published": False,
                },
            )
            return True

        if store.run(finish):
            completed.append(run_id)
            svc.relay([event_id])
            logger.info("run %s completed", run_id, extra={"fields": {"run_id": run_id}})
    return completed


def _requeue_stale_pages(svc: PayoutService, run_id: str, pages: Any, now: datetime) -> None:
    """A shard task that was lost (its queue gave up) would keep the run open forever."""
    cutoff = now - timedelta(seconds=svc.store.settings.stuck_after_seconds)
    stale = pages.where(filter=firestore.FieldFilter("status", "==", "queued")).where(
        filter=firestore.FieldFilter("created_at", "<", cutoff)
    )
    for snap in stale.limit(100).stream():
        page = snap.to_dict() or {}
        logger.warning("shard page %s still queued; enqueued again", page["page_id"])
        svc.tasks.enqueue(
            QUEUE_RUN_SHARDS,
            "run-shard-worker",
            {"run_id": run_id, "page_id": page["page_id"]},
            dedupe_key=f"{run_id}-{page['page_id']}-{int(now.timestamp())}",
        )


def run_view(svc: PayoutService, run_id: str) -> dict[str, Any]:
    """Progress of a run: payouts by status, amounts by currency and status, skip reasons."""
    store = svc.store
    snap = store.run_ref(run_id).get()
    if not snap.exists:
        raise RunNotFound(run_id)
    run = snap.to_dict() or {}
    payouts = store.client.collection(PAYOUTS).where(filter=firestore.FieldFilter("run_id", "==", run_id))
    by_status = {
        s.value: store.count(payouts.where(filter=firestore.FieldFilter("status", "==", s.value)))
        for s in PayoutStatus
    }
    amounts: dict[str, dict[str, int]] = {}
    currencies = {
        str(d.to_dict().get("currency"))
        for d in snap.reference.collection(RUN_ITEMS).select(["currency"]).limit(1000).stream()
    }
    for ccy in sorted(currencies):
        per_status = {}
        for status, n in by_status.items():
            if n:
                q = payouts.where(filter=firestore.FieldFilter("currency", "==", ccy)).where(
                    filter=firestore.FieldFilter("status", "==", status)
                )
                total = store.total(q, "amount")
                if total:
                    per_status[status] = total
        if per_status:
            amounts[ccy] = per_status
    items = snap.reference.collection(RUN_ITEMS)
    skipped = {
        r.value: store.count(items.where(filter=firestore.FieldFilter("skip_reason", "==", r.value)))
        for r in SkipReason
    }
    pages = snap.reference.collection(RUN_PAGES)
    view = {
        "run_id": run_id,
        "run_date": run["run_date"],
        "dry_run": run["dry_run"],
        "status": run["status"],
        "created_at": run["created_at"].isoformat()
        if hasattr(run["created_at"], "isoformat")
        else run["created_at"],
        "pages": {
            "total": store.count(pages),
            "done": store.count(pages.where(filter=firestore.FieldFilter("status", "==", "done"))),
        },
        "sellers_seen": store.count(items),
        "payouts_by_status": {k: v for k, v in by_status.items() if v},
        "amounts_by_currency": amounts,
        "skip_reasons": {k: v for k, v in skipped.items() if v},
    }
    if run["dry_run"]:
        would = items.where(filter=firestore.FieldFilter("skip_reason", "==", None))
        view["would_pay"] = {
            "payouts": store.count(would),
            "amounts_by_currency": {
                ccy: total
                for ccy in sorted(currencies)
                if (
                    total := store.total(
                        would.where(filter=firestore.FieldFilter("currency", "==", ccy)), "would_pay"
                    )
                )
            },
        }
    return view
