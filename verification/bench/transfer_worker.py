"""Part 2, the transfer worker driven directly: with both Cloud Tasks queues paused, POSTs exactly
as Cloud Tasks sends them for pending payouts created in-process (nothing enqueued), the provider
told not to settle during the measure; beside each level, bare transactions of the same shape."""

from __future__ import annotations

import functools
import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from shared.topology import QUEUE_TRANSFERS
from shared.usecases.ports import UnitOfWork
from verification.bench.bare_transactions import bare_transactions
from verification.bench.console import console
from verification.bench.context import Bench
from verification.bench.counters import counters_delta, ops_view, per
from verification.bench.load import Tokens, drive, task_headers, timed_post
from verification.bench.seeding import make_sellers, seed

JSON = dict[str, Any]


def create_pending(bench: Bench, sellers: list[tuple[str, str, int]], tag: str) -> list[str]:
    """Pending payouts made in-process with PayoutService.create_in_tx: no task is enqueued."""
    svc, store = bench.svc, bench.store
    now = datetime.now(UTC)

    def create(item: tuple[str, str, int]) -> str:
        seller_id = item[0]
        payout_id = f"po_bench_{tag}_{hashlib.sha256(seller_id.encode()).hexdigest()[:16]}"
        seller = store.get_seller(seller_id)
        assert seller is not None

        def body(uow: UnitOfWork) -> None:
            created = svc.create_in_tx(
                uow, seller, payout_id, amount=None, origin="on_demand", cause="bench", actor="bench", now=now
            )
            assert created.payout is not None, created.decision

        store.atomically(body)
        return payout_id

    with ThreadPoolExecutor(bench.args.seed_threads) as pool:
        return list(pool.map(create, sellers))


def transfer_workers(bench: Bench) -> list[JSON]:
    levels = bench.args.concurrency
    per_level = bench.args.worker_payouts
    console.rule(f"[bold]transfer-worker driven directly ({per_level} payouts per level)")
    bench.queues("purge")
    bench.wipe()
    bench.queues("pause")
    bench.sandbox_config(settle_delay_ms=3_600_000)  # no webhook during the measure
    sellers = make_sellers(per_level * len(levels), "tw")
    seed(bench, sellers)
    payout_ids = create_pending(bench, sellers, "tw")
    tokens = Tokens(bench.ops.as_identity("tasks-invoker"))
    url = bench.stack.url("transfer-worker") + "/"
    out = []
    for i, c in enumerate(levels):
        out.append(_level(bench, url, tokens, payout_ids[i * per_level : (i + 1) * per_level], c))
    bench.queues("purge")
    bench.queues("resume")
    return out


def _level(bench: Bench, url: str, tokens: Tokens, ids: list[str], c: int) -> JSON:
    """One concurrency level: the worker's calls, then bare transactions of its counted shape."""
    token = tokens.get("transfer-worker")
    calls = [
        functools.partial(timed_post, url, {"payout_id": pid}, task_headers(token, QUEUE_TRANSFERS, pid))
        for pid in ids
    ]
    before = bench.quiet_counters()
    row = drive(calls, c, f"transfer-worker, concurrency {c}")
    counted = counters_delta(bench.quiet_counters(), before)
    worker_ops = ops_view(counted.get("transfer-worker", {}))
    row = {"concurrency": c, **row, "ops_per_call": per(worker_ops, len(ids))}
    row["bare"] = bare_transactions(bench, worker_ops, len(ids), c)
    row["ratio_to_bare"] = round(row["per_s"] / row["bare"]["per_s"], 3) if row["bare"]["per_s"] else None
    console.print(
        f"c={c}: {row['per_s']}/s (p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms) "
        f"statuses {row['statuses']}; bare {row['bare']['per_s']}/s -> ratio {row['ratio_to_bare']}"
    )
    return row
