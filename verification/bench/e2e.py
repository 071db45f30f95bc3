"""Part 1, end-to-end runs: at each size the project is wiped and seeded, the run is triggered
through Pub/Sub as Cloud Scheduler would, and Firestore is polled for the phases (fan-out done,
every payout sent, every payout final). Operations, CPU and throughput per settled payout."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from google.cloud.firestore import FieldFilter
from rich.progress import Progress

from shared.adapters.firestore_store import PAYOUTS, RUN_PAGES, FirestoreStore
from shared.domain.payouts import PayoutStatus
from shared.topology import TOPIC_PAYOUT_RUNS
from stand_ins.sample_run_dates import run_date_for
from verification.bench.console import bar_columns, console
from verification.bench.context import Bench
from verification.bench.counters import counters_delta, ops_view, per, summed, writes_vs_minimum
from verification.bench.processes import machine_cpu
from verification.bench.seeding import make_sellers, seed

JSON = dict[str, Any]
FINAL = [
    s.value for s in (PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.RETURNED, PayoutStatus.CANCELED)
]


def run_progress(store: FirestoreStore, run_id: str) -> JSON | None:
    snap = store.run_ref(run_id).get()
    if not snap.exists:
        return None
    run = snap.to_dict() or {}
    pages = snap.reference.collection(RUN_PAGES)
    payouts = store.client.collection(PAYOUTS).where(filter=FieldFilter("run_id", "==", run_id))
    status = FieldFilter
    return {
        "status": run.get("status"),
        "pages": store.count(pages),
        "pages_done": store.count(pages.where(filter=status("status", "==", "done"))),
        "payouts": store.count(payouts),
        "pending": store.count(payouts.where(filter=status("status", "==", PayoutStatus.PENDING.value))),
        "final": store.count(payouts.where(filter=status("status", "in", FINAL))),
    }


def e2e(
    bench: Bench, n: int, largest: bool, record: bool = True, countries: tuple[str, ...] | None = None
) -> JSON:
    where = f" in {', '.join(countries)}" if countries else ""
    console.rule(f"[bold]End-to-end payout run over {n:,} sellers{where}" + ("" if record else " (warm-up)"))
    seeded = _fresh_sellers(bench, n, countries)
    run_date = run_date_for(datetime.now(UTC))
    run_id = f"run-{run_date.isoformat()}"
    before = bench.quiet_counters()
    cpu_before = bench.sampler.cpu()
    machine_before = machine_cpu()
    if largest:
        bench.sampler.window = f"e2e run over {n} sellers"
    timeout = bench.args.timeout or 120 + 0.5 * n
    t0 = time.monotonic()
    bench.ops.publish(TOPIC_PAYOUT_RUNS, {"run_date": run_date.isoformat()})
    at, last = follow_run(bench, run_id, t0, timeout)
    seconds = at.get("settlement", time.monotonic() - t0)
    cpu_after = bench.sampler.cpu()
    machine_after = machine_cpu()
    if largest:
        bench.sampler.window = ""
    by_function = counters_delta(bench.quiet_counters(), before)
    cpu = {k: round(cpu_after[k] - cpu_before.get(k, 0.0), 2) for k in cpu_after}
    busy = (machine_after[0] - machine_before[0]) / max(machine_after[1] - machine_before[1], 1.0)
    result = _result(bench, n, run_id, at, last, seconds, seeded, by_function, cpu, busy)
    console.print(
        f"{result['settled']:,}/{result['payouts']:,} payouts settled in {seconds:.1f} s "
        f"({result['payouts_per_s']}/s){'  [red]TIMED OUT' if result['timed_out'] else ''}"
    )
    return result


def _fresh_sellers(bench: Bench, n: int, countries: tuple[str, ...] | None = None) -> JSON:
    """An empty project and queues, the sandbox settling fast, then n sellers seeded."""
    bench.queues("purge")
    bench.queues("resume")
    bench.wipe()
    bench.sandbox_config(settle_delay_ms=bench.args.settle_delay_ms)
    tag = f"e{n}" + ("-" + "".join(countries).lower() if countries else "")
    seeded = seed(bench, make_sellers(n, tag, countries) if countries else make_sellers(n, tag))
    console.print(
        f"seeded {n:,} sellers ({seeded['sellers_per_s']}/s) and {seeded['events']:,} order events "
        f"({seeded['events_per_s']}/s) in-process"
    )
    return seeded


def follow_run(bench: Bench, run_id: str, t0: float, timeout: float) -> tuple[dict[str, float], JSON]:
    """Poll the run until every payout is final: (seconds from the trigger to each phase, the last
    progress seen)."""
    at: dict[str, float] = {}
    last: JSON = {}
    with Progress(*bar_columns(), console=console, transient=True) as progress:
        bars = {
            "pages": progress.add_task("shard pages done", total=None),
            "sent": progress.add_task("payouts processing or beyond", total=None),
            "final": progress.add_task("payouts final (webhook)", total=None),
        }
        while time.monotonic() - t0 < timeout:
            time.sleep(0.5)
            p = run_progress(bench.store, run_id)
            if p is None:
                continue
            now = time.monotonic() - t0
            last = p
            fanned = p["status"] != "planning" and p["pages"] > 0 and p["pages_done"] == p["pages"]
            progress.update(bars["pages"], completed=p["pages_done"], total=p["pages"])
            progress.update(bars["sent"], completed=p["payouts"] - p["pending"], total=p["payouts"])
            progress.update(bars["final"], completed=p["final"], total=p["payouts"])
            if fanned:
                at.setdefault("fan_out", now)
                if p["pending"] == 0:
                    at.setdefault("transfers", now)
                if p["final"] == p["payouts"]:
                    at.setdefault("settlement", now)
                    break
    return at, last


def _result(
    bench: Bench,
    n: int,
    run_id: str,
    at: dict[str, float],
    last: JSON,
    seconds: float,
    seeded: JSON,
    by_function: dict[str, dict[str, int]],
    cpu: dict[str, float],
    machine_busy: float,
) -> JSON:
    total = summed(by_function)
    settled = int(last.get("final", 0))
    ops = ops_view(total)
    invocations = total.get("tasks.created", 0) + total.get("provider.webhooks", 0) + 1  # + payout-runs
    function_cpu = sum(v for k, v in cpu.items() if k in bench.stack.urls)
    return {
        "sellers": n,
        "run_id": run_id,
        "payouts": int(last.get("payouts", 0)),
        "settled": settled,
        "timed_out": "settlement" not in at,
        "seconds": round(seconds, 2),
        "payouts_per_s": round(settled / seconds, 2) if seconds else 0.0,
        "phases": {
            name: {"at_s": round(t, 2), "per_s": round(int(last.get("payouts", 0)) / t, 2) if t else 0.0}
            for name, t in at.items()
        },
        "seed": seeded,
        "ops": ops,
        "ops_per_payout": per(ops, settled),
        "ops_by_function": {fn: per(ops_view(c), settled) for fn, c in by_function.items()},
        "writes_vs_minimum": writes_vs_minimum(by_function, settled),
        "invocations_per_payout": round(invocations / settled, 3) if settled else 0.0,
        "cpu_seconds": cpu,
        "machine_cpu_busy": round(machine_busy, 3),
        "loadavg_after": os.getloadavg(),
        "function_cpu_seconds_per_payout": round(function_cpu / settled, 5) if settled else 0.0,
    }


# Issue 15: each rail on its own, through a country whose route starts with it.
RAIL_COUNTRIES = {"sandbox": "FR", "adyen": "SE", "stripe": "PL"}


def per_rail(bench: Bench, n: int) -> dict[str, JSON]:
    """A run of n sellers for each rail; the operations per settled payout of each."""
    return {
        rail: e2e(bench, n, largest=False, countries=(country,)) for rail, country in RAIL_COUNTRIES.items()
    }
