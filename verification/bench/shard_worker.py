"""Part 2, the run-shard worker driven directly: the pages of a run document written in-process
(``--shard-buckets`` buckets, so that concurrency has pages to work on) are posted as Cloud Tasks
would, a full page's next page when it appears; the queues stay paused."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from google.cloud.firestore import FieldFilter

from shared.adapters.firestore_store import PAYOUTS, RUN_PAGES
from shared.domain.runs import page_id_for as _page_id
from shared.topology import QUEUE_RUN_SHARDS
from stand_ins.sample_run_dates import run_date_for
from verification.bench.console import console
from verification.bench.context import Bench
from verification.bench.counters import counters_delta, ops_view, per
from verification.bench.load import Tokens, latency_stats, task_headers, timed_post
from verification.bench.seeding import make_sellers, seed

JSON = dict[str, Any]


def shard_workers(bench: Bench) -> list[JSON]:
    levels = bench.args.concurrency
    n = bench.args.shard_sellers
    buckets = bench.args.shard_buckets
    console.rule(f"[bold]run-shard-worker driven directly ({n} sellers, {buckets} buckets, per level)")
    tokens = Tokens(bench.ops.as_identity("tasks-invoker"))
    url = bench.stack.url("run-shard-worker") + "/"
    out = []
    for c in levels:
        bench.queues("purge")
        bench.wipe()
        bench.queues("pause")  # the transfers and next pages it enqueues stay queued
        seed(bench, make_sellers(n, f"sh{c}"))
        run_id = f"bench-shards-c{c}-{uuid.uuid4().hex[:6]}"
        write_run_pages(bench, run_id, buckets)
        out.append(_level(bench, url, tokens, run_id, n, c))
    bench.queues("purge")
    bench.queues("resume")
    return out


def write_run_pages(bench: Bench, run_id: str, buckets: int) -> None:
    """The run document and the first page of each bucket: what start_run writes, without
    enqueueing the tasks."""
    run_date = run_date_for(datetime.now(UTC))
    now = datetime.now(UTC)
    run_ref = bench.store.run_ref(run_id)
    run_ref.set(
        {
            "run_id": run_id,
            "run_date": run_date.isoformat(),
            "dry_run": False,
            "status": "fanned_out",
            "buckets": buckets,
            "created_at": now,
            "requested_by": "bench",
        }
    )
    pages = run_ref.collection(RUN_PAGES)
    batch = bench.store.client.batch()
    for b in range(buckets):
        page_id = _page_id(b, 0)
        batch.set(
            pages.document(page_id),
            {
                "page_id": page_id,
                "bucket": b,
                "page": 0,
                "start_after": None,
                "status": "queued",
                "created_at": now,
            },
        )
    batch.commit()


def _level(bench: Bench, url: str, tokens: Tokens, run_id: str, n: int, c: int) -> JSON:
    before = bench.quiet_counters()
    row = drive_pages(bench, url, tokens, run_id, bench.args.shard_buckets, c)
    counted = counters_delta(bench.quiet_counters(), before)
    payouts = bench.store.count(
        bench.store.client.collection(PAYOUTS).where(filter=FieldFilter("run_id", "==", run_id))
    )
    worker_ops = ops_view(counted.get("run-shard-worker", {}))
    row.update(
        {
            "concurrency": c,
            "sellers": n,
            "payouts": payouts,
            "payouts_per_s": round(payouts / row["seconds"], 1) if row["seconds"] else 0.0,
            "ops_per_payout": per(worker_ops, payouts),
        }
    )
    console.print(
        f"c={c}: {row['pages']} pages, {payouts} payouts created at {row['payouts_per_s']}/s "
        f"(page p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms) statuses {row['statuses']}"
    )
    return row


def drive_pages(bench: Bench, url: str, tokens: Tokens, run_id: str, buckets: int, c: int) -> JSON:
    """Post every page of the run to the shard worker with ``c`` in flight; a full page's next
    page (which the worker wrote before answering) is posted after it."""
    todo: queue.Queue[tuple[int, int] | None] = queue.Queue()
    for b in range(buckets):
        todo.put((b, 0))
    pages = bench.store.run_ref(run_id).collection(RUN_PAGES)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    outstanding = [buckets]

    def worker() -> None:
        while True:
            item = todo.get()
            if item is None:
                return
            bucket, page = item
            page_id = _page_id(bucket, page)
            headers = task_headers(tokens.get("run-shard-worker"), QUEUE_RUN_SHARDS, f"{run_id}-{page_id}")
            seconds, code, _ = timed_post(url, {"run_id": run_id, "page_id": page_id}, headers)
            try:
                nxt = pages.document(_page_id(bucket, page + 1)).get().exists
            except Exception:  # never leave the other threads waiting for this page
                nxt, code = False, -1
            with lock:
                latencies.append(seconds)
                statuses[str(code)] += 1
                outstanding[0] += int(nxt) - 1
                if nxt:
                    todo.put((bucket, page + 1))
                if outstanding[0] == 0:
                    for _ in range(c):
                        todo.put(None)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "pages": len(latencies),
        "seconds": round(wall, 2),
        "pages_per_s": round(len(latencies) / wall, 1),
        **latency_stats(latencies),
        "statuses": dict(statuses),
    }
