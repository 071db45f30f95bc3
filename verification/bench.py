"""Benchmark of the payout platform on the local stack (a command, not a timed test).

    .venv/bin/python -m verification.bench [--sizes 1000,10000] [--large] [--out bench-results/]
        [--concurrency 1,8,32] [--parts e2e,workers,http] [--keep]

It starts its own stack (``--port-offset 600``, state in ``/tmp/bench-stack``) with
``PAYOUTS_METRICS_FILE`` set, so every function process counts its operations at the adapter
boundary (``shared/metrics.py``), runs the parts below, stops the stack, prints tables (rich)
and writes everything to ``<out>/bench-<UTC time>.json``. The numbers of a 2-core machine shared
with other work are noisy; compare shapes and ratios, and rerun for absolute figures.

1. **End-to-end runs** (``e2e``), at each size N (default 1,000 and 10,000; 50,000 with
   ``--large``): the Firestore project is wiped and the sandbox reset, N sellers in nine
   countries are onboarded and funded **in-process through the use cases** against the stack's
   Firestore project (``put_seller``, then ``ingest_order_event`` for an ``order_line.paid`` and an
   ``order_line.return_window_closed`` event per seller, 16 threads: the same code the
   ``sellers-api`` and ``order-events`` functions run, without the HTTP hop). The sandbox's
   ``settle_delay_ms`` is set low (``--settle-delay-ms``, default 200: long enough that the
   transfer worker records ``processing`` before ``paid`` arrives, as with a real provider).
   An unrecorded warm-up run (``--warmup``, 100 sellers) first lets the emulators' JVMs and the
   functions warm up. Then the run is triggered through Pub/Sub as Cloud Scheduler would, and
   the bench polls Firestore. Phases, each timed from the trigger: eligibility and fan-out (every shard page
   done), transfers (every payout ``processing`` or beyond), settlement by webhook (every payout
   final). Throughput = payouts settled / seconds from trigger to the last final payout.
2. **Workers driven directly** (``workers``), at each concurrency (default 1, 8, 32), with both
   Cloud Tasks queues paused: ``transfer-worker`` gets POSTs exactly as Cloud Tasks sends them
   (``X-CloudTasks-TaskName/QueueName/TaskRetryCount/TaskExecutionCount``, the JSON body, an OIDC
   token of the ``tasks-invoker`` identity) for pending payouts created in-process with
   ``PayoutService.create_in_tx`` (nothing enqueued); the provider is told not to settle during
   the measure. ``run-shard-worker`` gets the pages of a run document written in-process
   (``--shard-buckets`` buckets, so that concurrency has pages to work on); a full page's next
   page is posted when it appears.
3. **Baselines, side by side**: for each transfer-worker level, bare Firestore transactions of
   the same shape as one transfer-worker call (the transactions, in-transaction reads and writes,
   plain reads and writes it was *counted* doing) at the same concurrency, with the raw client
   and no application code: the ratio is app payouts/s / bare units/s. And (``http``)
   ``POST /payouts`` latency under concurrent load against a no-op HTTP function served by an
   extra functions-framework process started with the stack's flags (``--host 127.0.0.1``, no
   ``--debug``): p50 and p99 ratios.
4. **Operations per payout**, counted: Firestore document reads and writes, transactions and
   their retries, Cloud Tasks created, Pub/Sub messages, provider calls, per settled payout
   (summed over every function process) and per order event ingested (in the bench process,
   same adapters). From them, an estimated GCP cost per 1,000,000 payouts at list prices (table
   ``PRICES`` below, printed with the result) beside a hosted provider's payout fee.
5. **Scaling**: time and operations at each size, and the growth exponent between sizes
   (log-log slope: 1.0 is linear).
6. **Memory**: peak RSS of each process group (gunicorn master + worker, emulators) sampled
   every 0.5 s during the largest run, and each process's VmHWM at the end. CPU seconds of
   each process during each run come from ``/proc/<pid>/stat``.

Minimum document writes per settled payout that the ledger and state-machine design needs
(each transition is one transaction that writes the payout, its postings and its outbox event):

- creation (run shard):   payout, journal entry, balance shard (available -> in_flight, one
                          shard with two increments), outbox ``payout.created``, run item   = 5
- processing (transfer):  payout, outbox ``payout.processing``                               = 2
- paid (webhook):         payout, journal entry, balance shard (in_flight out), outbox
                          ``payout.paid``, provider-event dedupe document                    = 5
- outbox ``published`` marks, one per event                                                  = 3
                                                                                       total = 15

The code also writes, by design, the transfer claim (``transfer_started_at``, which makes cancel
impossible once the provider may have been called) and, per page of up to 100 sellers, the page
document (created, then marked done). The bench prints what the code actually wrote per settled
payout, per function, against this minimum, and the ratio.

JSON (``schema`` ``payouts-bench/1``)::

    {"schema", "started_at", "finished_at", "host": {cpus, loadavg_start, loadavg_end, python},
     "args": {...}, "prices": {...},
     "e2e": [{"sellers", "run_id", "payouts", "settled", "timed_out", "seconds", "payouts_per_s",
              "phases": {"fan_out"|"transfers"|"settlement": {"at_s", "per_s"}},
              "seed": {"sellers_per_s", "events", "events_per_s", "ops_per_event": {...}},
              "ops": {...totals}, "ops_per_payout": {...}, "ops_by_function": {fn: {...}},
              "writes_vs_minimum": {"minimum", "actual", "ratio", "by_function": {...}},
              "invocations_per_payout", "cpu_seconds": {process: s}, "machine_cpu_busy",
              "function_cpu_seconds_per_payout", "cost": {...}}],
     "scaling": [{"from", "to", "time_exponent", "ops_exponent", "reads_exponent", "writes_exponent"}],
     "workers": {"transfer": [{"concurrency", "calls", "seconds", "per_s", "p50_ms", "p99_ms",
                               "statuses", "ops_per_call", "bare": {"shape", "units", "per_s"},
                               "ratio_to_bare"}],
                 "shard": [{"concurrency", "pages", "payouts", "seconds", "payouts_per_s",
                            "pages_per_s", "p50_ms", "p99_ms", "statuses", "ops_per_payout"}]},
     "http": [{"concurrency", "requests", "payouts_api": {p50_ms, p99_ms, per_s, statuses},
               "noop": {...}, "p50_ratio", "p99_ratio"}],
     "memory": {"window", "processes": {name: {"peak_rss_mb", "vmhwm_mb": {pid: mb}}}},
     "cost": {...the largest run's estimate}}
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import itertools
import json
import math
import os
import platform
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from google.cloud.firestore import FieldFilter
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from local_stack.client import StackClient
from local_stack.stack import HOST, Stack, StackError, http_answers, port_free
from shared import metrics
from shared.adapters.firestore_store import PAYOUTS, RUN_PAGES, FirestoreStore, Tx
from shared.adapters.pubsub import Publisher
from shared.adapters.tasks import TaskQueue
from shared.domain.countries import CountryRegistry, load_country_rules
from shared.domain.order_events import parse_order_event
from shared.domain.payouts import PayoutStatus
from shared.domain.sellers import SellerIn
from shared.settings import Settings
from shared.topology import QUEUE_RUN_SHARDS, QUEUE_TRANSFERS, QUEUES, TOPIC_PAYOUT_RUNS
from shared.usecases.order_events import ingest_order_event
from shared.usecases.payout_runs import _page_id
from shared.usecases.payouts import PayoutService
from shared.usecases.sellers import put_seller
from stand_ins.sample_run_dates import run_date_for
from stand_ins.sample_sellers import COUNTRIES, CURRENCIES, minor_units, seller_body

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=None if sys.stdout.isatty() else 150)
JSON = dict[str, Any]

# Writes per settled payout the design needs (see the module docstring), and where they happen.
MINIMUM_WRITES = {
    "run-shard-worker": 5 + 1,  # creation + the payout.created published mark
    "transfer-worker": 2 + 1,  # processing + its published mark
    "provider-webhook": 5 + 1,  # paid + its published mark
}
MINIMUM_WRITES_TOTAL = sum(MINIMUM_WRITES.values())  # 15
FINAL = [
    s.value for s in (PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.RETURNED, PayoutStatus.CANCELED)
]

# List prices in USD (public pricing pages as last known; check them before quoting). Free tiers
# are ignored: this is the marginal cost at volume.
PRICES: JSON = {
    "firestore": {
        "table": "Firestore Native, regional us-central1 (nam5 multi-region is about 2x)",
        "per_100k_reads": 0.03,
        "per_100k_writes": 0.09,
    },
    "cloud_tasks": {
        "table": "Cloud Tasks, per billable operation (API call or push delivery attempt)",
        "per_million_operations": 0.40,
        "operations_per_task": 2,  # create + one delivery
    },
    "pubsub": {
        "table": "Pub/Sub throughput (publish and each delivery), 1 KB minimum per message",
        "per_tib": 40.0,
        "min_bytes_per_message": 1000,
        "deliveries_per_message": 1,  # one subscriber of payout-events assumed
    },
    "functions": {
        "table": "Cloud Run functions (2nd gen) = Cloud Run request-based, Tier 1",
        "per_million_invocations": 0.40,
        "per_vcpu_second": 0.000024,
        "per_gib_second": 0.0000025,
        "vcpu": 1.0,
        "gib": 0.5,
        "billing_granularity_s": 0.1,
    },
    "hosted_provider": {
        "table": "Stripe Connect payouts (platform-managed pricing, US list): 0.25% + USD 0.25 per payout "
        "(plus USD 2 per monthly active account, not counted)",
        "per_payout": 0.25,
        "percent": 0.25,
    },
}


# ---- the stack and its parts -----------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    stack: Stack
    metrics_base: Path
    store: FirestoreStore
    registry: CountryRegistry
    svc: PayoutService
    ops: StackClient
    sampler: MemorySampler

    # -- resets --
    def wipe(self) -> None:
        """Empty the stack's Firestore project (the emulator's own endpoint) and the sandbox."""
        host = self.stack.env["FIRESTORE_EMULATOR_HOST"]
        url = f"http://{host}/emulator/v1/projects/{self.stack.project}/databases/(default)/documents"
        requests.delete(url, timeout=120).raise_for_status()
        self.ops.sandbox("POST", "/v1/_reset").raise_for_status()

    def sandbox_config(self, **config: int) -> None:
        self.ops.sandbox("POST", "/v1/_config", config).raise_for_status()

    def queues(self, action: str) -> None:
        """pause / resume / purge both Cloud Tasks queues of the emulator."""
        import grpc
        from google.cloud import tasks_v2
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        channel = grpc.insecure_channel(self.stack.env["CLOUD_TASKS_EMULATOR_HOST"])
        try:
            client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
            for q in QUEUES:
                name = f"projects/{self.stack.project}/locations/{self.stack.location}/queues/{q}"
                getattr(client, f"{action}_queue")(name=name, timeout=10)
        finally:
            channel.close()

    # -- counters of the function processes --
    def function_counters(self) -> dict[str, dict[str, int]]:
        return metrics.totals_by_function(metrics.read_dumps(self.metrics_base))

    def quiet_counters(self, timeout: float = 30) -> dict[str, dict[str, int]]:
        """The function processes' counters once they stop moving (files are rewritten twice a second)."""
        deadline = time.monotonic() + timeout
        previous: dict[str, dict[str, int]] | None = None
        while True:
            time.sleep(metrics.DUMP_INTERVAL * 2 + 0.2)
            current = self.function_counters()
            if current == previous or time.monotonic() > deadline:
                return current
            previous = current


def counters_delta(
    after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    out = {fn: metrics.delta(c, before.get(fn, {})) for fn, c in after.items()}
    return {fn: c for fn, c in out.items() if c}


def summed(by_function: dict[str, dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in by_function.values():
        total.update(c)
    return dict(sorted(total.items()))


def ops_view(c: dict[str, int]) -> dict[str, int]:
    """The counted operations, named for the report."""
    return {
        "firestore_reads": c.get("firestore.reads", 0),
        "firestore_reads_in_tx": c.get("firestore.reads_in_tx", 0),
        "firestore_reads_missing": c.get("firestore.reads_missing", 0),
        "firestore_writes": c.get("firestore.writes", 0),
        "firestore_writes_in_tx": c.get("firestore.writes_in_tx", 0),
        "firestore_commits": c.get("firestore.commits", 0),
        "firestore_queries": c.get("firestore.queries", 0),
        "firestore_aggregations": c.get("firestore.aggregations", 0),
        "firestore_transactions": c.get("firestore.transactions", 0),
        "firestore_tx_attempts": c.get("firestore.tx_attempts", 0),
        "firestore_tx_retries": c.get("firestore.tx_attempts", 0) - c.get("firestore.transactions", 0),
        "firestore_rollbacks": c.get("firestore.rollbacks", 0),
        "tasks_created": c.get("tasks.created", 0),
        "pubsub_messages": c.get("pubsub.messages", 0),
        "pubsub_bytes": c.get("pubsub.bytes", 0),
        "provider_calls": c.get("provider.create_transfer", 0) + c.get("provider.fetch_transfer", 0),
        "provider_webhooks": c.get("provider.webhooks", 0),
    }


def per(ops: dict[str, int], n: int) -> dict[str, float]:
    return {k: round(v / n, 3) for k, v in ops.items()} if n else {}


# ---- processes: CPU and memory from /proc -------------------------------------------------------


def process_groups() -> dict[int, list[int]]:
    """Live (non-zombie) pids by process group, in one pass over /proc."""
    groups: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if fields[0] != "Z":
                groups.setdefault(int(fields[2]), []).append(int(stat.parent.name))
    return groups


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class MemorySampler:
    """Samples the RSS of every process group of the stack (and extra ones) every 0.5 s; keeps the
    peak of each group's total within the current window."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = dict(groups)
        self.window = ""
        self.peaks: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            window = self.window
            if not window:
                continue
            peaks = self.peaks.setdefault(window, {})
            groups = process_groups()
            for name, pgid in list(self.groups.items()):
                mb = sum(status_kb(pid, "VmRSS") for pid in groups.get(pgid, [])) / 1024
                peaks[name] = max(peaks.get(name, 0.0), round(mb, 1))

    def cpu(self) -> dict[str, float]:
        groups = process_groups()
        return {
            name: round(sum(cpu_seconds(pid) for pid in groups.get(pgid, [])), 2)
            for name, pgid in self.groups.items()
        }

    def high_water(self) -> dict[str, dict[str, float]]:
        groups = process_groups()
        return {
            name: {str(pid): round(status_kb(pid, "VmHWM") / 1024, 1) for pid in groups.get(pgid, [])}
            for name, pgid in self.groups.items()
        }


# ---- sellers and their money --------------------------------------------------------------------


def make_sellers(n: int, tag: str) -> list[tuple[str, str, int]]:
    """(seller_id, country, index within its country), spread over the nine countries."""
    return [
        (
            f"bench-{tag}-{COUNTRIES[i % len(COUNTRIES)]}-{i // len(COUNTRIES):06d}",
            COUNTRIES[i % len(COUNTRIES)],
            i // len(COUNTRIES),
        )
        for i in range(n)
    ]


def funding_events(seller_id: str, country: str, now: datetime, major: int) -> list[bytes]:
    ccy = CURRENCIES[country]
    gross = minor_units(country, major)
    line = f"{seller_id}-ol1"
    base = {"seller_id": seller_id, "order_line_id": line}
    paid = {
        **base,
        "event_id": f"{seller_id}-paid",
        "type": "order_line.paid",
        "occurred_at": (now - timedelta(days=20)).isoformat(),
        "data": {
            "gross": {"amount": gross, "currency": ccy},
            "commission": {"amount": gross * 12 // 100, "currency": ccy},
        },
    }
    closed_at = (now - timedelta(days=1)).isoformat()
    closed = {
        **base,
        "event_id": f"{seller_id}-closed",
        "type": "order_line.return_window_closed",
        "occurred_at": closed_at,
        "data": {"closed_at": closed_at},
    }
    return [json.dumps(paid).encode(), json.dumps(closed).encode()]


def seed(bench: Bench, sellers: list[tuple[str, str, int]], major: int = 500) -> JSON:
    """Onboard and fund sellers in-process through the use cases; count the events' operations."""
    store, registry = bench.store, bench.registry
    now = datetime.now(UTC)
    threads = bench.args.seed_threads

    def onboard(item: tuple[str, str, int]) -> None:
        seller_id, country, n = item
        body = seller_body(country, n, "paid", payout_schedule={"interval": "daily"})
        put_seller(store, registry, seller_id, SellerIn.model_validate_json(json.dumps(body)), now=now)

    def fund(item: tuple[str, str, int]) -> None:
        seller_id, country, _ = item
        for raw in funding_events(seller_id, country, now, major):
            ingest_order_event(store, registry, parse_order_event(raw), source="bench", now=now)

    with Progress(*_bar_columns(), console=console, transient=True) as progress:
        t0 = time.monotonic()
        bar = progress.add_task("onboarding sellers", total=len(sellers))
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(onboard, sellers):
                progress.advance(bar)
        onboarded_s = time.monotonic() - t0
        before = metrics.snapshot()
        t1 = time.monotonic()
        bar = progress.add_task("funding (2 order events each)", total=len(sellers))
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(fund, sellers):
                progress.advance(bar)
        funded_s = time.monotonic() - t1
        counted = metrics.delta(metrics.snapshot(), before)
    events = 2 * len(sellers)
    return {
        "how": f"in-process use cases (put_seller, ingest_order_event), {threads} threads",
        "sellers": len(sellers),
        "sellers_per_s": round(len(sellers) / onboarded_s, 1),
        "events": events,
        "events_per_s": round(events / funded_s, 1),
        "ops_per_event": per(ops_view(counted), events),
    }


def _bar_columns() -> tuple[Any, ...]:
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


# ---- 1. end-to-end runs ---------------------------------------------------------------------------


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


def e2e(bench: Bench, n: int, largest: bool, record: bool = True) -> JSON:
    console.rule(f"[bold]End-to-end payout run over {n:,} sellers" + ("" if record else " (warm-up)"))
    bench.queues("purge")
    bench.queues("resume")
    bench.wipe()
    bench.sandbox_config(settle_delay_ms=bench.args.settle_delay_ms)
    seeded = seed(bench, make_sellers(n, f"e{n}"))
    console.print(
        f"seeded {n:,} sellers ({seeded['sellers_per_s']}/s) and {seeded['events']:,} order events "
        f"({seeded['events_per_s']}/s) in-process"
    )
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
    at: dict[str, float] = {}
    last: JSON = {}
    with Progress(*_bar_columns(), console=console, transient=True) as progress:
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
    seconds = at.get("settlement", time.monotonic() - t0)
    cpu_after = bench.sampler.cpu()
    machine_after = machine_cpu()
    if largest:
        bench.sampler.window = ""
    after = bench.quiet_counters()
    by_function = counters_delta(after, before)
    total = summed(by_function)
    settled = int(last.get("final", 0))
    ops = ops_view(total)
    invocations = total.get("tasks.created", 0) + total.get("provider.webhooks", 0) + 1  # + payout-runs
    cpu = {k: round(cpu_after[k] - cpu_before.get(k, 0.0), 2) for k in cpu_after}
    function_cpu = sum(v for k, v in cpu.items() if k in bench.stack.urls)
    result = {
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
        "machine_cpu_busy": round(
            (machine_after[0] - machine_before[0]) / max(machine_after[1] - machine_before[1], 1.0), 3
        ),
        "loadavg_after": os.getloadavg(),
        "function_cpu_seconds_per_payout": round(function_cpu / settled, 5) if settled else 0.0,
    }
    console.print(
        f"{settled:,}/{result['payouts']:,} payouts settled in {seconds:.1f} s "
        f"({result['payouts_per_s']}/s){'  [red]TIMED OUT' if result['timed_out'] else ''}"
    )
    return result


def writes_vs_minimum(by_function: dict[str, dict[str, int]], settled: int) -> JSON:
    if not settled:
        return {}
    actual = sum(c.get("firestore.writes", 0) for c in by_function.values()) / settled
    rows = {}
    for fn in sorted(set(MINIMUM_WRITES) | set(by_function)):
        writes = by_function.get(fn, {}).get("firestore.writes", 0) / settled
        if writes or fn in MINIMUM_WRITES:
            rows[fn] = {"actual": round(writes, 3), "minimum": MINIMUM_WRITES.get(fn, 0)}
    return {
        "minimum": MINIMUM_WRITES_TOTAL,
        "actual": round(actual, 3),
        "ratio": round(actual / MINIMUM_WRITES_TOTAL, 3),
        "by_function": rows,
    }


# ---- 2 and 3. workers driven directly, bare transactions ------------------------------------------


class Tokens:
    """OIDC tokens of one identity per function, minted once and renewed before they expire."""

    def __init__(self, client: StackClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, str]] = {}

    def get(self, function: str) -> str:
        with self._lock:
            minted, token = self._tokens.get(function, (0.0, ""))
            if time.monotonic() - minted > 300:
                token = self.client.token(function)
                self._tokens[function] = (time.monotonic(), token)
            return token


_sessions = threading.local()


def _session() -> requests.Session:
    if not hasattr(_sessions, "s"):
        _sessions.s = requests.Session()
    session: requests.Session = _sessions.s
    return session


def timed_post(url: str, body: JSON, headers: dict[str, str]) -> tuple[float, int, str]:
    t = time.perf_counter()
    try:
        resp = _session().post(url, data=json.dumps(body), headers=headers, timeout=120)
        code, text = resp.status_code, resp.text
    except requests.RequestException as exc:
        code, text = 0, type(exc).__name__
    return time.perf_counter() - t, code, text


def latency_stats(samples: list[float]) -> JSON:
    if not samples:
        return {"p50_ms": None, "p99_ms": None}
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000, 1)

    return {"p50_ms": pct(0.50), "p99_ms": pct(0.99), "mean_ms": round(sum(ordered) / len(ordered) * 1000, 1)}


def drive(calls: Sequence[Callable[[], tuple[float, int, str]]], concurrency: int, label: str) -> JSON:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    t0 = time.perf_counter()
    with (
        Progress(*_bar_columns(), console=console, transient=True) as progress,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        bar = progress.add_task(label, total=len(calls))
        for seconds, code, _ in pool.map(lambda call: call(), calls):
            latencies.append(seconds)
            statuses[str(code)] += 1
            progress.advance(bar)
    wall = time.perf_counter() - t0
    return {
        "calls": len(calls),
        "seconds": round(wall, 2),
        "per_s": round(len(calls) / wall, 1),
        **latency_stats(latencies),
        "statuses": dict(statuses),
    }


def task_headers(token: str, queue_name: str, task_key: str) -> dict[str, str]:
    """What Cloud Tasks sends with an HTTP task (the emulator wrapper sends the same)."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Tasks",
        "X-CloudTasks-QueueName": queue_name,
        "X-CloudTasks-TaskName": hashlib.sha256(task_key.encode()).hexdigest()[:32],
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
    }


def create_pending(bench: Bench, sellers: list[tuple[str, str, int]], tag: str) -> list[str]:
    """Pending payouts made in-process with PayoutService.create_in_tx: no task is enqueued."""
    svc, store = bench.svc, bench.store
    now = datetime.now(UTC)

    def create(item: tuple[str, str, int]) -> str:
        seller_id = item[0]
        payout_id = f"po_bench_{tag}_{hashlib.sha256(seller_id.encode()).hexdigest()[:16]}"
        seller = store.get_seller(seller_id)
        assert seller is not None

        def body(tx: Tx) -> None:
            created = svc.create_in_tx(
                tx, seller, payout_id, amount=None, origin="on_demand", cause="bench", actor="bench", now=now
            )
            assert created.payout is not None, created.decision

        store.run(body)
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
        ids = payout_ids[i * per_level : (i + 1) * per_level]
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
        out.append(row)
    bench.queues("purge")
    bench.queues("resume")
    return out


def bare_shape(ops: dict[str, int], calls: int) -> dict[str, int]:
    """One transfer-worker call, as counted: its transactions, reads and writes, rounded."""

    def avg(v: int) -> int:
        return round(v / calls) if calls else 0

    return {
        "transactions": max(1, avg(ops["firestore_transactions"])),
        "tx_reads": avg(ops["firestore_reads_in_tx"]),
        "tx_writes": avg(ops["firestore_writes_in_tx"]),
        "plain_reads": avg(ops["firestore_reads"] - ops["firestore_reads_in_tx"]),
        "plain_writes": avg(ops["firestore_writes"] - ops["firestore_writes_in_tx"]),
    }


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


PAYLOAD: JSON = {
    "amount": 12345,
    "currency": "EUR",
    "status": "pending",
    "seller_id": "bench-seller",
    "origin": "run",
    "history": [{"at": "2026-01-01T00:00:00Z", "from": None, "to": "pending", "cause": "x" * 40}],
    **{f"field_{i}": "v" * 20 for i in range(10)},
}


def bare_transactions(bench: Bench, ops: dict[str, int], calls: int, concurrency: int) -> JSON:
    """Units of the transfer worker's Firestore shape, with the raw client, no application code."""
    from google.cloud import firestore

    shape = bare_shape(ops, calls)
    units = calls
    client = firestore.Client(project=f"bench-bare-{uuid.uuid4().hex[:8]}")
    docs = client.collection("bare")
    reads = _split(shape["tx_reads"], shape["transactions"])
    writes = _split(shape["tx_writes"], shape["transactions"])
    extra_reads = max(max(reads, default=0) - 1, 0)
    batch = client.batch()
    pending = 0
    for u in range(units):  # the documents each unit reads exist, as a payout does
        for k in range(1 + extra_reads):
            batch.set(docs.document(f"u{u}-r{k}"), PAYLOAD)
            pending += 1
            if pending == 450:
                batch.commit()
                batch, pending = client.batch(), 0
    if pending:
        batch.commit()

    def unit(u: int) -> tuple[float, int, str]:
        t = time.perf_counter()
        for i in range(shape["transactions"]):

            @firestore.transactional
            def body(txn: Any, i: int = i) -> None:
                for k in range(reads[i]):
                    docs.document(f"u{u}-r{k}").get(transaction=txn)
                for k in range(writes[i]):
                    ref = docs.document(f"u{u}-r0" if k == 0 else f"u{u}-t{i}-w{k}")
                    txn.set(ref, PAYLOAD)

            body(client.transaction())
        for _ in range(shape["plain_reads"]):
            docs.document(f"u{u}-r0").get()
        for k in range(shape["plain_writes"]):
            docs.document(f"u{u}-p{k}").set({"published": True})
        return time.perf_counter() - t, 200, ""

    row = drive(
        [functools.partial(unit, u) for u in range(units)],
        concurrency,
        f"bare transactions, concurrency {concurrency}",
    )
    client.close()  # type: ignore[no-untyped-call]
    return {"shape": shape, "units": units, **{k: row[k] for k in ("seconds", "per_s", "p50_ms", "p99_ms")}}


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
        run_date = run_date_for(datetime.now(UTC))
        run_id = f"bench-shards-c{c}-{uuid.uuid4().hex[:6]}"
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
        for b in range(buckets):  # what start_run writes, without enqueueing the tasks
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
        before = bench.quiet_counters()
        row = drive_pages(bench, url, tokens, run_id, buckets, c)
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
        out.append(row)
    bench.queues("purge")
    bench.queues("resume")
    return out


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


# ---- 3b. HTTP latency: POST /payouts against a no-op function ------------------------------------

NOOP_SOURCE = '''"""A no-op HTTP function: the floor of functions-framework, for the benchmark."""
import functions_framework


@functions_framework.http
def noop(request):
    request.get_data()
    return ("{}", 200, {"Content-Type": "application/json"})
'''


@contextlib.contextmanager
def noop_function(bench: Bench) -> Iterator[str]:
    port = 8320 + bench.args.port_offset
    if not port_free(port):
        raise StackError(f"port {port} for the no-op function is in use")
    folder = Path(tempfile.mkdtemp(prefix="bench-noop-"))
    (folder / "main.py").write_text(NOOP_SOURCE)
    argv = [str(ROOT / ".venv" / "bin" / "functions-framework"), "--source", str(folder / "main.py")]
    argv += ["--target", "noop", "--host", HOST, "--port", str(port)]
    log = open(bench.stack.state_dir / "logs" / "bench-noop.log", "w")  # noqa: SIM115
    popen = subprocess.Popen(
        argv,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    bench.sampler.groups["noop-function"] = popen.pid
    try:
        deadline = time.monotonic() + 30
        while not http_answers(f"http://{HOST}:{port}/"):
            if popen.poll() is not None or time.monotonic() > deadline:
                raise StackError("the no-op functions-framework process did not start; see bench-noop.log")
            time.sleep(0.1)
        yield f"http://{HOST}:{port}/"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=5)
        log.close()


def http_latency(bench: Bench) -> list[JSON]:
    levels = bench.args.concurrency
    n = bench.args.http_requests
    console.rule(f"[bold]POST /payouts vs a no-op function ({n} requests per level)")
    bench.queues("purge")
    bench.wipe()
    bench.queues("pause")  # the transfers POST /payouts enqueues stay queued
    sellers = make_sellers(n, "http")
    seed(bench, sellers)
    tokens = Tokens(bench.ops.as_identity("marketplace"))
    api = bench.stack.url("payouts-api") + "/payouts"
    out = []
    with noop_function(bench) as noop_url:
        for c in levels:
            token = tokens.get("payouts-api")

            bodies = [
                {
                    "seller_id": seller_id,
                    "amount": {
                        "amount": bench.registry.get(country).minimum_payout,
                        "currency": CURRENCIES[country],
                    },
                }
                for seller_id, country, _ in sellers
            ]
            headers = [
                {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"bench-{c}-{i:06d}",
                }
                for i in range(len(sellers))
            ]
            app_calls = [
                functools.partial(timed_post, api, b, h) for b, h in zip(bodies, headers, strict=True)
            ]
            noop_calls = [
                functools.partial(timed_post, noop_url, b, h) for b, h in zip(bodies, headers, strict=True)
            ]
            app = drive(app_calls, c, f"POST /payouts, concurrency {c}")
            noop = drive(noop_calls, c, f"no-op function, concurrency {c}")
            row = {
                "concurrency": c,
                "requests": n,
                "payouts_api": app,
                "noop": noop,
                "p50_ratio": _ratio(app["p50_ms"], noop["p50_ms"]),
                "p99_ratio": _ratio(app["p99_ms"], noop["p99_ms"]),
            }
            console.print(
                f"c={c}: POST /payouts p50 {app['p50_ms']} ms p99 {app['p99_ms']} ms ({app['statuses']}); "
                f"no-op p50 {noop['p50_ms']} ms p99 {noop['p99_ms']} ms "
                f"-> x{row['p50_ratio']} / x{row['p99_ratio']}"
            )
            out.append(row)
    bench.queues("purge")
    bench.queues("resume")
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 1) if a is not None and b else None


# ---- 4. cost, 5. scaling -----------------------------------------------------------------------


def cost_per_million(run: JSON, billed_seconds_per_invocation: float, avg_payout_usd: float) -> JSON:
    """Estimated GCP cost of 1,000,000 settled payouts from the counted operations, at PRICES."""
    p = run["ops_per_payout"]
    fs, tasks, ps, fn, hosted = (
        PRICES[k] for k in ("firestore", "cloud_tasks", "pubsub", "functions", "hosted_provider")
    )
    million = 1_000_000
    firestore_usd = million * (
        p["firestore_reads"] * fs["per_100k_reads"] / 1e5
        + p["firestore_writes"] * fs["per_100k_writes"] / 1e5
    )
    tasks_usd = (
        million * p["tasks_created"] * tasks["operations_per_task"] * tasks["per_million_operations"] / 1e6
    )
    msg_bytes = (
        max(ps["min_bytes_per_message"], p["pubsub_bytes"] / p["pubsub_messages"])
        if p["pubsub_messages"]
        else 0
    )
    pubsub_usd = (
        million
        * p["pubsub_messages"]
        * (1 + ps["deliveries_per_message"])
        * msg_bytes
        / 2**40
        * ps["per_tib"]
    )
    invocations = run["invocations_per_payout"]
    requests_usd = million * invocations * fn["per_million_invocations"] / 1e6
    per_second = fn["vcpu"] * fn["per_vcpu_second"] + fn["gib"] * fn["per_gib_second"]
    # Low: billed time = the CPU the function processes used (busy instances, concurrency > 1).
    compute_low = million * run["function_cpu_seconds_per_payout"] * per_second
    # High: request-based billing at concurrency 1: each invocation billed its latency (>= 100 ms).
    billed = max(fn["billing_granularity_s"], billed_seconds_per_invocation)
    compute_high = million * invocations * billed * per_second
    gcp_low = firestore_usd + tasks_usd + pubsub_usd + requests_usd + compute_low
    gcp_high = firestore_usd + tasks_usd + pubsub_usd + requests_usd + compute_high
    stripe = million * (hosted["per_payout"] + avg_payout_usd * hosted["percent"] / 100)
    return {
        "per_million_payouts_usd": {
            "firestore": round(firestore_usd, 2),
            "cloud_tasks": round(tasks_usd, 2),
            "pubsub": round(pubsub_usd, 2),
            "functions_invocations": round(requests_usd, 2),
            "functions_compute_low": round(compute_low, 2),
            "functions_compute_high": round(compute_high, 2),
            "total_low": round(gcp_low, 2),
            "total_high": round(gcp_high, 2),
        },
        "hosted_provider_per_million_usd": round(stripe, 2),
        "avg_payout_usd": avg_payout_usd,
        "assumptions": [
            f"{invocations} function invocations per payout "
            "(tasks created + provider webhooks + the run trigger)",
            f"functions at {fn['vcpu']} vCPU / {fn['gib']} GiB; compute low = CPU seconds the function "
            f"processes used ({run['function_cpu_seconds_per_payout']} s per payout); "
            f"high = every invocation billed {billed:.3f} s "
            "(transfer-worker mean latency at concurrency 1, at least 100 ms)",
            "Cloud Tasks: 2 billable operations per task (create + one delivery)",
            "Pub/Sub: each payout event published once and delivered to one subscriber, 1 KB minimum each",
            "free tiers and Firestore storage ignored; provider fee at the given average payout",
        ],
    }


def scaling(runs: list[JSON]) -> list[JSON]:
    def slope(a: float, b: float, na: int, nb: int) -> float | None:
        return round(math.log(b / a) / math.log(nb / na), 3) if a > 0 and b > 0 and nb != na else None

    ordered = sorted((r for r in runs if r["settled"]), key=lambda r: r["sellers"])
    out = []
    for a, b in itertools.pairwise(ordered):
        na, nb = a["sellers"], b["sellers"]

        def ops(r: JSON) -> float:
            return float(r["ops"]["firestore_reads"] + r["ops"]["firestore_writes"])

        out.append(
            {
                "from": na,
                "to": nb,
                "time_exponent": slope(a["seconds"], b["seconds"], na, nb),
                "ops_exponent": slope(ops(a), ops(b), na, nb),
                "reads_exponent": slope(a["ops"]["firestore_reads"], b["ops"]["firestore_reads"], na, nb),
                "writes_exponent": slope(a["ops"]["firestore_writes"], b["ops"]["firestore_writes"], na, nb),
            }
        )
    return out


# ---- the report ---------------------------------------------------------------------------------


def _statuses(statuses: dict[str, int]) -> str:
    return " ".join(f"{code}x{n}" for code, n in sorted(statuses.items()))


def _f(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def print_report(r: JSON) -> None:
    console.rule("[bold]Results")
    if r.get("e2e"):
        t = Table(title="End-to-end payout runs (seconds from the trigger)")
        for col in (
            "sellers",
            "settled",
            "seconds",
            "payouts/s",
            "fan-out at",
            "transfers at",
            "settled at",
            "reads",
            "writes",
            "tx",
            "tx retries",
            "tasks",
            "pubsub",
            "provider",
            "timed out",
        ):
            t.add_column(col, justify="right")
        for e in r["e2e"]:
            p, ph = e["ops_per_payout"], e["phases"]
            t.add_row(
                _f(e["sellers"]),
                _f(e["settled"]),
                _f(e["seconds"], 1),
                _f(e["payouts_per_s"], 1),
                *(_f(ph.get(k, {}).get("at_s"), 1) for k in ("fan_out", "transfers", "settlement")),
                *(
                    _f(p.get(k))
                    for k in (
                        "firestore_reads",
                        "firestore_writes",
                        "firestore_transactions",
                        "firestore_tx_retries",
                        "tasks_created",
                        "pubsub_messages",
                    )
                ),
                _f(p.get("provider_calls", 0) + p.get("provider_webhooks", 0)),
                str(e["timed_out"]),
            )
        t.caption = (
            "operations are per settled payout, summed over every function process; "
            "provider = calls + webhooks"
        )
        console.print(t)

        t = Table(title="Operations per order event ingested (in-process, same use case and adapters)")
        for col in ("sellers", "events/s", "reads", "writes", "tx", "tx retries", "commits"):
            t.add_column(col, justify="right")
        for e in r["e2e"]:
            s = e["seed"]["ops_per_event"]
            t.add_row(
                _f(e["sellers"]),
                _f(e["seed"]["events_per_s"], 1),
                *(
                    _f(s.get(k))
                    for k in (
                        "firestore_reads",
                        "firestore_writes",
                        "firestore_transactions",
                        "firestore_tx_retries",
                        "firestore_commits",
                    )
                ),
            )
        console.print(t)

        e = max(r["e2e"], key=lambda x: x["sellers"])
        w = e["writes_vs_minimum"]
        if w:
            t = Table(
                title="Firestore writes per settled payout vs the design's minimum "
                f"({e['sellers']:,} sellers)"
            )
            for col in ("function", "actual", "minimum"):
                t.add_column(col, justify="right")
            for fn, row in w["by_function"].items():
                t.add_row(fn, _f(row["actual"], 3), _f(row["minimum"]))
            t.add_row("[bold]total", f"[bold]{w['actual']:.3f}", f"[bold]{w['minimum']}")
            t.caption = f"ratio actual / minimum = {w['ratio']}"
            console.print(t)

        t = Table(
            title=f"CPU seconds during the run over {e['sellers']:,} sellers ({e['seconds']} s; the machine "
            f"({os.cpu_count()} cores) was {e['machine_cpu_busy']:.0%} busy, other work included)"
        )
        t.add_column("process")
        t.add_column("CPU s", justify="right")
        t.add_column("share of one core", justify="right")
        for name, s in sorted(e["cpu_seconds"].items(), key=lambda kv: -kv[1]):
            t.add_row(name, _f(s), f"{s / e['seconds']:.0%}" if e["seconds"] else "-")
        console.print(t)

    if r.get("scaling"):
        t = Table(title="Scaling (log-log slope between sizes; 1.0 = linear)")
        for col in ("from", "to", "time", "reads+writes", "reads", "writes"):
            t.add_column(col, justify="right")
        for s in r["scaling"]:
            t.add_row(
                _f(s["from"]),
                _f(s["to"]),
                *(
                    _f(s[k], 3)
                    for k in ("time_exponent", "ops_exponent", "reads_exponent", "writes_exponent")
                ),
            )
        console.print(t)

    workers = r.get("workers") or {}
    if workers.get("transfer"):
        t = Table(title="transfer-worker driven directly vs bare Firestore transactions of the same shape")
        for col in ("c", "calls", "payouts/s", "p50 ms", "p99 ms", "statuses", "bare units/s", "app / bare"):
            t.add_column(col, justify="right")
        for w in workers["transfer"]:
            t.add_row(
                _f(w["concurrency"]),
                _f(w["calls"]),
                _f(w["per_s"], 1),
                _f(w["p50_ms"], 1),
                _f(w["p99_ms"], 1),
                _statuses(w["statuses"]),
                _f(w["bare"]["per_s"], 1),
                _f(w["ratio_to_bare"], 3),
            )
        shape = workers["transfer"][0]["bare"]["shape"]
        t.caption = "bare unit = " + ", ".join(f"{k} {v}" for k, v in shape.items())
        console.print(t)
    if workers.get("shard"):
        t = Table(title="run-shard-worker driven directly")
        for col in (
            "c",
            "pages",
            "payouts",
            "payouts/s",
            "pages/s",
            "page p50 ms",
            "page p99 ms",
            "statuses",
        ):
            t.add_column(col, justify="right")
        for w in workers["shard"]:
            t.add_row(
                _f(w["concurrency"]),
                _f(w["pages"]),
                _f(w["payouts"]),
                _f(w["payouts_per_s"], 1),
                _f(w["pages_per_s"], 1),
                _f(w["p50_ms"], 1),
                _f(w["p99_ms"], 1),
                _statuses(w["statuses"]),
            )
        console.print(t)

    if r.get("http"):
        t = Table(title="POST /payouts vs a no-op function on functions-framework (latency)")
        for col in (
            "c",
            "requests",
            "app p50",
            "app p99",
            "app/s",
            "no-op p50",
            "no-op p99",
            "no-op/s",
            "p50 ratio",
            "p99 ratio",
            "app statuses",
        ):
            t.add_column(col, justify="right")
        for h in r["http"]:
            a, n = h["payouts_api"], h["noop"]
            t.add_row(
                _f(h["concurrency"]),
                _f(h["requests"]),
                _f(a["p50_ms"], 1),
                _f(a["p99_ms"], 1),
                _f(a["per_s"], 1),
                _f(n["p50_ms"], 1),
                _f(n["p99_ms"], 1),
                _f(n["per_s"], 1),
                _f(h["p50_ratio"], 1),
                _f(h["p99_ratio"], 1),
                _statuses(a["statuses"]),
            )
        console.print(t)

    mem = r.get("memory") or {}
    if mem.get("processes"):
        t = Table(title=f"Memory: peak RSS during the {mem['window']}; VmHWM of each pid at the end")
        for col in ("process", "peak RSS MB (group)", "VmHWM MB per pid"):
            t.add_column(col, justify="right")
        for name, m in sorted(mem["processes"].items(), key=lambda kv: -(kv[1]["peak_rss_mb"] or 0)):
            t.add_row(name, _f(m["peak_rss_mb"], 0), ", ".join(f"{v:.0f}" for v in m["vmhwm_mb"].values()))
        console.print(t)

    cost = r.get("cost")
    if cost:
        t = Table(title=f"Estimated GCP cost per 1,000,000 settled payouts ({cost['from_run']})")
        t.add_column("item")
        t.add_column("USD", justify="right")
        t.add_column("price table")
        names = {
            "firestore": "firestore",
            "cloud_tasks": "cloud_tasks",
            "pubsub": "pubsub",
            "functions_invocations": "functions",
            "functions_compute_low": "functions",
            "functions_compute_high": "functions",
        }
        for item, usd in cost["per_million_payouts_usd"].items():
            t.add_row(item, _f(usd), PRICES[names[item]]["table"] if item in names else "")
        t.add_row(
            "[bold]hosted provider fee",
            f"[bold]{cost['hosted_provider_per_million_usd']:,.0f}",
            PRICES["hosted_provider"]["table"]
            + f", at an average payout of USD {cost['avg_payout_usd']:.0f}",
        )
        t.caption = "; ".join(cost["assumptions"])
        console.print(t)


# ---- main ---------------------------------------------------------------------------------------


def _function_has_metrics(stack: Stack) -> bool:
    pid = stack.procs["transfer-worker"].pid
    with contextlib.suppress(OSError):
        return metrics.ENV.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    return False


def start_stack(args: argparse.Namespace, metrics_base: Path) -> tuple[Stack, bool]:
    """Our own stack; a healthy one already running in the state dir is reused if it counts."""
    with contextlib.suppress(FileNotFoundError):
        found = Stack.load(ROOT, args.state_dir)
        if found.healthy() and _function_has_metrics(found):
            console.print(f"reusing the bench stack already running in {args.state_dir}")
            return found, False
        if found.running():
            raise StackError(f"a stack without metrics runs in {args.state_dir}: stop it first")
    for old in metrics_base.parent.glob(metrics_base.name + ".*"):
        old.unlink()
    stack = Stack.start(
        ROOT,
        port_offset=args.port_offset,
        state_dir=args.state_dir,
        extra_env={metrics.ENV: str(metrics_base)},
    )
    console.print(
        f"bench stack up in {stack.startup_seconds:.1f} s (ports +{args.port_offset}, {args.state_dir})"
    )
    return stack, True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m verification.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000", help="sellers per end-to-end run (default 1000,10000)")
    p.add_argument("--large", action="store_true", help="add a run over 50,000 sellers")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results", help="folder of the JSON result")
    p.add_argument("--parts", default="e2e,workers,http", help="which parts to run (default all)")
    p.add_argument("--concurrency", default="1,8,32", help="levels for the workers and HTTP parts")
    p.add_argument("--worker-payouts", type=int, default=300, help="transfer-worker calls per level")
    p.add_argument("--shard-sellers", type=int, default=1000, help="sellers of each shard-worker level")
    p.add_argument("--shard-buckets", type=int, default=32, help="run buckets (parallel pages) for it")
    p.add_argument("--http-requests", type=int, default=200, help="POST /payouts per level")
    p.add_argument("--settle-delay-ms", type=int, default=200, help="sandbox settle delay in runs")
    p.add_argument("--timeout", type=float, default=0, help="per run (default 120 s + 0.5 s per seller)")
    p.add_argument("--seed-threads", type=int, default=16)
    p.add_argument("--warmup", type=int, default=100, help="sellers of an unrecorded first run (0: none)")
    p.add_argument("--avg-payout-usd", type=float, default=100.0, help="for the hosted provider's % fee")
    p.add_argument("--port-offset", type=int, default=600)
    p.add_argument("--state-dir", type=Path, default=Path("/tmp/bench-stack"))  # noqa: S108 - as asked
    p.add_argument("--keep", action="store_true", help="leave the bench stack running")
    args = p.parse_args(argv)
    args.sizes = sorted(
        {int(s) for s in args.sizes.split(",") if s.strip()} | ({50_000} if args.large else set())
    )
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.parts = {s.strip() for s in args.parts.split(",") if s.strip()}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    metrics_base = args.state_dir.resolve() / "metrics" / "counters"
    metrics_base.parent.mkdir(parents=True, exist_ok=True)
    metrics.enable()  # the bench process counts too (order events ingested in-process)
    try:
        stack, _ = start_stack(args, metrics_base)
    except StackError as err:
        console.print(f"[red]error: {err}")
        return err.exit_code
    os.environ.update(stack.env)  # this process seeds the stack's Firestore project
    settings = Settings()
    store = FirestoreStore(settings, project=stack.project)
    registry = load_country_rules()
    sampler = MemorySampler({name: p.pid for name, p in stack.procs.items()})
    sampler.start()
    bench = Bench(
        args=args,
        stack=stack,
        metrics_base=metrics_base,
        store=store,
        registry=registry,
        svc=PayoutService(store, registry, TaskQueue(settings), Publisher(settings)),
        ops=StackClient.from_stack(stack, identity="ops"),
        sampler=sampler,
    )
    result: JSON = {
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
    code = 0
    try:
        if args.warmup and args.parts & {"e2e", "workers"}:
            # The emulators' JVMs and every function's imports warm up on a small run, not recorded.
            e2e(bench, args.warmup, largest=False, record=False)
        if "e2e" in args.parts:
            result["e2e"] = [e2e(bench, n, n == args.sizes[-1]) for n in args.sizes]
            result["scaling"] = scaling(result["e2e"])
            window = f"e2e run over {args.sizes[-1]} sellers"
            peaks = sampler.peaks.get(window, {})
            hwm = sampler.high_water()
            result["memory"] = {
                "window": f"run over {args.sizes[-1]:,} sellers",
                "processes": {
                    n: {"peak_rss_mb": peaks.get(n), "vmhwm_mb": hwm.get(n, {})} for n in sampler.groups
                },
            }
        if "workers" in args.parts:
            result["workers"] = {"transfer": transfer_workers(bench), "shard": shard_workers(bench)}
        if "http" in args.parts:
            result["http"] = http_latency(bench)
        if result.get("e2e"):
            biggest = max(
                (e for e in result["e2e"] if e["settled"]), key=lambda e: e["sellers"], default=None
            )
            if biggest is not None:
                transfer = (result.get("workers") or {}).get("transfer") or []
                c1 = next((w for w in transfer if w["concurrency"] == 1), None)
                billed = (c1["mean_ms"] / 1000) if c1 else 0.1
                result["cost"] = {
                    "from_run": f"run over {biggest['sellers']:,} sellers",
                    **cost_per_million(biggest, billed, args.avg_payout_usd),
                }
                for e in result["e2e"]:
                    if e["settled"]:
                        e["cost"] = cost_per_million(e, billed, args.avg_payout_usd)[
                            "per_million_payouts_usd"
                        ]
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: writing what was measured")
        code = 130
    finally:
        sampler.stop()
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        result["host"]["loadavg_end"] = os.getloadavg()
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        if not args.keep:
            stack.stop()
            console.print("bench stack stopped")
    print_report(result)
    console.print(f"results written to {path}")
    return code


if __name__ == "__main__":
    sys.exit(main())
