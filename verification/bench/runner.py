"""The benchmark's run: its stack, the parts asked for in order, the JSON result, the tables."""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_stack.client import StackClient
from local_stack.stack import StackError
from shared import metrics
from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.providers import ConfiguredProviders
from shared.adapters.pubsub import Publisher
from shared.adapters.tasks import TaskQueue
from shared.domain.countries import load_country_rules
from shared.settings import Settings
from shared.usecases.payouts import PayoutService
from verification.bench.bench_stack import start_stack
from verification.bench.console import console
from verification.bench.context import Bench
from verification.bench.cost import cost_per_million
from verification.bench.e2e import e2e, per_rail
from verification.bench.http_latency import http_latency
from verification.bench.prices import MINIMUM_WRITES, MINIMUM_WRITES_TOTAL, PRICES
from verification.bench.processes import MemorySampler
from verification.bench.report import print_report
from verification.bench.scaling import scaling
from verification.bench.shard_worker import shard_workers
from verification.bench.transfer_worker import transfer_workers

JSON = dict[str, Any]


def new_result(args: argparse.Namespace, started: datetime) -> JSON:
    return {
        "schema": "payouts-bench/1",
        "started_at": started.isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
            "python": platform.python_version(),
        },
        "args": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()},
        "prices": PRICES,
        "minimum_writes_per_payout": {"total": MINIMUM_WRITES_TOTAL, "by_function": MINIMUM_WRITES},
    }


def run_parts(bench: Bench, args: argparse.Namespace, result: JSON) -> None:
    if args.warmup and args.parts & {"e2e", "workers"}:
        # The emulators' JVMs and every function's imports warm up on a small run, not recorded.
        e2e(bench, args.warmup, largest=False, record=False)
    if "e2e" in args.parts:
        result["e2e"] = [e2e(bench, n, n == args.sizes[-1]) for n in args.sizes]
        result["scaling"] = scaling(result["e2e"])
        result["memory"] = memory_of_largest_run(bench.sampler, args.sizes[-1])
    if "workers" in args.parts:
        result["workers"] = {"transfer": transfer_workers(bench), "shard": shard_workers(bench)}
    if "http" in args.parts:
        result["http"] = http_latency(bench)
    if "rails" in args.parts:
        result["rails"] = per_rail(bench, args.rail_sellers)
    if "tracing" in args.parts:
        # Issue 19: what tracing adds to POST /payouts (verification/tracing_overhead.py).
        from verification.tracing_overhead import measure

        result["tracing"] = [
            measure(bench.stack, requests_per_side=args.http_requests, concurrency=c) for c in (1, 8)
        ]
    if result.get("e2e"):
        add_cost(result, args.avg_payout_usd)


def memory_of_largest_run(sampler: MemorySampler, sellers: int) -> JSON:
    peaks = sampler.peaks.get(f"e2e run over {sellers} sellers", {})
    hwm = sampler.high_water()
    return {
        "window": f"run over {sellers:,} sellers",
        "processes": {n: {"peak_rss_mb": peaks.get(n), "vmhwm_mb": hwm.get(n, {})} for n in sampler.groups},
    }


def add_cost(result: JSON, avg_payout_usd: float) -> None:
    """The largest settled run's cost per million payouts, and each settled run's."""
    biggest = max((e for e in result["e2e"] if e["settled"]), key=lambda e: e["sellers"], default=None)
    if biggest is None:
        return
    transfer = (result.get("workers") or {}).get("transfer") or []
    c1 = next((w for w in transfer if w["concurrency"] == 1), None)
    billed = (c1["mean_ms"] / 1000) if c1 else 0.1
    result["cost"] = {
        "from_run": f"run over {biggest['sellers']:,} sellers",
        **cost_per_million(biggest, billed, avg_payout_usd),
    }
    for e in result["e2e"]:
        if e["settled"]:
            e["cost"] = cost_per_million(e, billed, avg_payout_usd)["per_million_payouts_usd"]


def make_bench(args: argparse.Namespace, metrics_base: Path) -> Bench:
    stack, _ = start_stack(args, metrics_base)
    os.environ.update(stack.env)  # this process seeds the stack's Firestore project
    settings = Settings()
    store = FirestoreStore(settings, project=stack.project)
    registry = load_country_rules()
    return Bench(
        args=args,
        stack=stack,
        metrics_base=metrics_base,
        store=store,
        registry=registry,
        svc=PayoutService(
            store, registry, TaskQueue(settings), Publisher(settings), ConfiguredProviders(settings)
        ),
        ops=StackClient.from_stack(stack, identity="ops"),
        sampler=MemorySampler({name: p.pid for name, p in stack.procs.items()}),
    )


def run_bench(args: argparse.Namespace) -> int:
    """Start the bench stack, run the parts asked for, write the JSON result, stop the stack,
    print the tables."""
    started = datetime.now(UTC)
    metrics_base = args.state_dir.resolve() / "metrics" / "counters"
    metrics_base.parent.mkdir(parents=True, exist_ok=True)
    metrics.enable()  # the bench process counts too (order events ingested in-process)
    try:
        bench = make_bench(args, metrics_base)
    except StackError as err:
        console.print(f"[red]error: {err}")
        return err.exit_code
    bench.sampler.start()
    result = new_result(args, started)
    code = 0
    try:
        run_parts(bench, args, result)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: writing what was measured")
        code = 130
    finally:
        bench.sampler.stop()
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        result["host"]["loadavg_end"] = os.getloadavg()
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        if not args.keep:
            bench.stack.stop()
            console.print("bench stack stopped")
    print_report(result)
    console.print(f"results written to {path}")
    return code
