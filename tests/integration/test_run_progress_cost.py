"""What GET /runs/{id} costs on Firestore: one batched read of the run and its counter shards,
whatever the size of the run; no aggregation. And the counters equal a count of the run's
payouts and items, after every page and transition (the emulator, in this process)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud.firestore import FieldFilter

from shared import metrics
from shared.adapters.firestore import FirestoreStore
from shared.adapters.firestore.documents import PAYOUT_RUNS, PAYOUTS, RUN_COUNTER_SHARDS, RUN_ITEMS
from shared.domain.countries import load_country_rules
from shared.domain.order_events import parse_order_event
from shared.domain.payouts import PayoutStatus
from shared.domain.sellers import SellerIn
from shared.settings import Settings
from shared.usecases import payout_runs as runs
from shared.usecases.order_events import ingest_order_event
from shared.usecases.payouts import PayoutService
from shared.usecases.ports import PayoutPolicy
from shared.usecases.sellers import put_seller
from stand_ins.sample_sellers import seller_body
from tests.fakes.outside import FakeProvider, FakeProviders, FakePublisher, FakeTaskQueue

pytestmark = pytest.mark.integration
RULES = load_country_rules()
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # a Tuesday: French sellers are paid


@pytest.fixture
def world(stack, firestore_project):
    store = FirestoreStore(Settings(), project=firestore_project)
    tasks = FakeTaskQueue()
    svc = PayoutService(
        store,
        RULES,
        tasks,
        FakePublisher(),
        FakeProviders(FakeProvider()),
        PayoutPolicy(run_buckets=4, run_page_size=5),
    )
    for n in range(12):
        seller_id = f"s-{n}"
        body = seller_body("FR", n + 1, kyc_status="pending" if n % 4 == 0 else "verified")
        put_seller(
            store,
            RULES,
            seller_id,
            SellerIn.model_validate_json(json.dumps(body)),
            now=NOW - timedelta(days=30),
        )
        for kind, data in (
            (
                "paid",
                {
                    "gross": {"amount": 3000 + n, "currency": "EUR"},
                    "commission": {"amount": 300, "currency": "EUR"},
                },
            ),
            ("return_window_closed", {"closed_at": (NOW - timedelta(days=1)).isoformat()}),
        ):
            event = {
                "event_id": f"{seller_id}-{kind}",
                "type": f"order_line.{kind}",
                "occurred_at": (NOW - timedelta(days=2)).isoformat(),
                "seller_id": seller_id,
                "order_line_id": f"{seller_id}-ol",
                "data": data,
            }
            ingest_order_event(store, RULES, parse_order_event(json.dumps(event)), source="test", now=NOW)
    return store, svc, tasks


def drain(svc, tasks):
    while tasks.to("run-shard-worker"):
        task = next(t for t in tasks.tasks if t.function == "run-shard-worker")
        tasks.tasks.remove(task)
        runs.process_page(svc, task.payload["run_id"], task.payload["page_id"], now=NOW)


def counted(fn):
    metrics.enable()
    before = metrics.snapshot()
    result = fn()
    return result, metrics.delta(metrics.snapshot(), before)


def counted_by_query(store, run_id):
    client = store.client
    payouts = [
        s.to_dict()
        for s in client.collection(PAYOUTS).where(filter=FieldFilter("run_id", "==", run_id)).stream()
    ]
    items = [
        s.to_dict() for s in client.collection(PAYOUT_RUNS).document(run_id).collection(RUN_ITEMS).stream()
    ]
    by_status: dict[str, int] = {}
    for p in payouts:
        by_status[p["status"]] = by_status.get(p["status"], 0) + 1
    skips: dict[str, int] = {}
    for i in items:
        if i.get("skip_reason"):
            skips[i["skip_reason"]] = skips.get(i["skip_reason"], 0) + 1
    return by_status, skips, len(items)


def test_a_progress_request_reads_the_run_and_its_counter_shards_once(world):
    store, svc, tasks = world
    run_id = runs.start_run(svc, NOW.date(), dry_run=False, requested_by="test", now=NOW).progress.run.run_id
    drain(svc, tasks)
    progress, ops = counted(lambda: runs.run_progress(svc, run_id))
    assert ops == {
        "firestore.reads": 1 + RUN_COUNTER_SHARDS,
        "firestore.reads_missing": ops.get("firestore.reads_missing", 0),
    }
    assert "firestore.aggregations" not in ops and "firestore.queries" not in ops
    by_status, skips, seen = counted_by_query(store, run_id)
    assert (progress.payouts_by_status, progress.skip_reasons, progress.sellers_seen) == (
        by_status,
        skips,
        seen,
    )
    assert progress.all_pages_done and by_status == {"pending": 9} and skips == {"kyc_pending": 3}


def test_the_counters_follow_transitions_on_firestore(world):
    store, svc, tasks = world
    run_id = runs.start_run(svc, NOW.date(), dry_run=False, requested_by="test", now=NOW).progress.run.run_id
    drain(svc, tasks)
    payout_ids = [d["payout_id"] for d in (s.to_dict() for s in store.client.collection(PAYOUTS).stream())]
    for n, payout_id in enumerate(payout_ids):
        svc.send_transfer(payout_id, now=NOW)
        target = (PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.RETURNED)[n % 3]
        svc.apply_state(payout_id, target, cause="test", actor="test", now=NOW)
    progress = runs.run_progress(svc, run_id)
    by_status, _, _ = counted_by_query(store, run_id)
    assert progress.payouts_by_status == by_status == {"paid": 3, "failed": 3, "returned": 3}
    assert runs.complete_runs(svc, now=NOW) == [run_id]
