"""A seeded fault-injection run of the whole payout cycle, judged by the auditor.

    .venv/bin/python -m verification.faults --seed 7 [--sellers 1000] [--short] [--keep]

It starts its own stack (port offset and state directory of its own, never the usual one),
onboards sellers in every supported country (some with bank accounts the sandbox fails or
returns), sends thousands of order events, runs payout runs, and meanwhile injects faults, all
drawn from ``random.Random(seed)``: the same seed gives the same plan (written to
``<state-dir>/plan.json`` and summarised at the start).

Faults: Pub/Sub redeliveries of order events and run triggers, some concurrent with the same
message id; the same transfer task delivered 2-10 times, at once or one after another; sandbox
5xx bursts, latency, timeouts after accepting, duplicate, out-of-order and dropped webhooks,
webhooks replayed "days later"; two starts of the same run at the same instant; SIGKILL of a
function mid-shard, mid-transfer, mid-flood; a hot seller flooded with hundreds of events; refunds
landing while the seller's payout is in flight. Then it drains (sweeper ticks, as Cloud Scheduler
would send them) until every payout is final, and audits (verification/auditor.py).

It prints the seed, the faults injected per kind, the payouts, ``double payouts``, ``lost
payouts`` and ``ledger imbalance``, and exits 1 on any breach.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from google.cloud import firestore

from local_stack import local_env
from local_stack.client import StackClient
from local_stack.stack import Stack
from shared.adapters.firestore_store import (
    DEAD_LETTERS,
    ORDER_EVENTS,
    PAYOUTS,
    RUN_ITEMS,
    RUN_PAGES,
    FirestoreStore,
)
from shared.domain.countries import load_country_rules
from shared.domain.ledger import PlatformAccount
from shared.domain.order_events import apply_order_event, parse_order_event, release_line
from shared.domain.payouts import run_payout_id
from shared.domain.schedule import is_business_day
from shared.settings import Settings
from shared.topology import (
    TOPIC_ORDER_EVENTS,
    TOPIC_PAYOUT_RUNS,
    TOPIC_RELEASE_FUNDS,
    TOPIC_SWEEPER,
    subscription_for,
)
from shared.topology import function as function_spec
from stand_ins.sample_sellers import COUNTRIES, CURRENCIES, minor_units, seller_body
from verification.auditor import AuditReport, audit, journal_fingerprints

ROOT = Path(__file__).resolve().parent.parent
RULES = load_country_rules()
FINAL = ("paid", "failed", "canceled", "returned")
OPEN = ("pending", "processing")
JSON = dict[str, Any]

# Seller k (k modulo 50) gets a profile; the others are simply paid.
PROFILES = {
    1: "account_closed",
    2: "no_account",
    3: "invalid_account_number",
    4: "account_frozen",
    5: "declined",
    6: "insufficient_platform_funds",
    7: "returned",
    8: "on_hold",
    9: "kyc_pending",
    10: "below_minimum",
}
FAILING = {
    "account_closed",
    "no_account",
    "invalid_account_number",
    "account_frozen",
    "declined",
    "insufficient_platform_funds",
}
EXPECTED_SKIP = {"on_hold": "on_hold", "kyc_pending": "kyc_pending", "below_minimum": "below_minimum"}
NOTHING_DUE = ("no_available_balance", "below_minimum", "negative_balance")


# Product bugs this harness has found, by key; all fixed. A breach that matches one is printed
# with its key, to name the regression; it is still a breach (the run exits 1).
FINDINGS = {
    "returned-not-reconciled": (
        "a transfer.returned webhook that never arrives left the payout paid for ever: the sweeper "
        "only asked the provider about open payouts. Fixed by the return watch "
        "(next_return_check in shared/domain/payouts.py, PayoutService.recheck_returns)"
    ),
    "run-start-contention": (
        "concurrent starts of one run contended on payout_runs/{run_id}: start_run's read-then-set "
        "transaction hit the emulator's lock timeouts, starters retried and failed, and the run "
        "existed only after minutes. Fixed: a plain create() (shared/usecases/payout_runs.py start_run)"
    ),
}


# --- the plan: everything random, drawn up front from the seed --------------------------------


@dataclass
class SellerPlan:
    seller_id: str
    country: str
    n: int  # feeds the bank account number
    profile: str


@dataclass
class Plan:
    seed: int
    short: bool
    run_tag: str  # the prefix of every seller id: f<seed>
    sellers: list[SellerPlan]
    events: list[JSON]  # the initial order events, in business order
    routes: dict[str, str]  # event id -> pubsub | webhook | push_burst
    push_burst_copies: dict[str, int]  # event id -> concurrent pushes with one message id
    webhook_dups: dict[str, int]  # event id -> concurrent webhook deliveries
    late_redeliveries: list[str]  # event ids published again after everything was applied
    hot_seller: str
    hot_events: list[JSON]
    inflight_refunds: list[JSON]  # refund events, sent once the seller's payout is in flight
    transfer_dups: list[JSON]  # {"seller_id", "copies", "mode": concurrent | sequential | mixed}
    sandbox: JSON  # the fault config during payouts
    bursts: list[JSON]  # {"at": fraction settled, "error_rate", "seconds"}
    kills: list[JSON]  # {"function", "when", "down_seconds"}
    run_trigger: JSON  # {"publishes", "push_copies", "api_starts"}
    replay_sample: int  # transfers whose webhooks are replayed mid-run
    second_run_events: list[JSON]
    stuck_after_seconds: int

    def summary(self) -> list[str]:
        profiles = Counter(s.profile for s in self.sellers)
        modes = Counter(d["mode"] for d in self.transfer_dups)
        return [
            f"plan (seed {self.seed}{', short' if self.short else ''}): {len(self.sellers)} sellers in "
            f"{len({s.country for s in self.sellers})} countries ("
            + ", ".join(f"{n} {p}" for p, n in sorted(profiles.items()))
            + ")",
            f"  order events: {len(self.events)} initial (routes "
            + ", ".join(f"{n} {r}" for r, n in sorted(Counter(self.routes.values()).items()))
            + f"), hot seller {self.hot_seller} +{len(self.hot_events)} at once, "
            f"{len(self.second_run_events)} before the second run",
            f"  redeliveries: {len(self.late_redeliveries)} late, {len(self.push_burst_copies)} concurrent "
            f"same-id bursts ({sum(self.push_burst_copies.values())} pushes), "
            f"{len(self.webhook_dups)} concurrent webhook duplicates",
            f"  run trigger: {self.run_trigger}",
            f"  transfer tasks: {len(self.transfer_dups)} payouts delivered "
            f"{sum(d['copies'] for d in self.transfer_dups)} extra times "
            f"({', '.join(f'{n} {m}' for m, n in sorted(modes.items()))})",
            f"  sandbox: {self.sandbox}",
            "  5xx bursts: "
            + ", ".join(f"{b['error_rate']:.0%} for {b['seconds']} s at {b['at']:.0%}" for b in self.bursts),
            "  SIGKILL: "
            + ", ".join(f"{k['function']} {k['when']} (down {k['down_seconds']} s)" for k in self.kills),
            f"  refunds in flight: {[e['seller_id'] for e in self.inflight_refunds]}; webhook replays: "
            f"{self.replay_sample} transfers mid-run, all of them at the end",
        ]

    def as_json(self) -> JSON:
        return asdict(self)


def make_plan(seed: int, n_sellers: int = 1000, short: bool = False, now: datetime | None = None) -> Plan:
    """Every random choice of the run. The same (seed, sizes) gives the same plan; ``now`` only
    dates the events."""
    rng = random.Random(seed)
    now = now or datetime(2026, 1, 1, tzinfo=UTC)
    tag = f"f{seed}"
    sellers = []
    for k in range(n_sellers):
        country = COUNTRIES[k % len(COUNTRIES)]
        i = k // len(COUNTRIES)
        sellers.append(SellerPlan(f"{tag}-{country}-{i:04d}", country, k + 1, PROFILES.get(k % 50, "paid")))
    paid_sellers = [s for s in sellers if s.profile == "paid"]

    lines: dict[str, list[JSON]] = defaultdict(list)  # seller -> paid events of its released lines
    waves: dict[str, list[JSON]] = {"paid": [], "release": [], "refund": []}
    for s in sellers:
        for j in range(rng.randint(2, 4)):
            line = f"{s.seller_id}-ol{j}"
            major = 1 if s.profile == "below_minimum" else rng.randint(40, 600)
            gross = minor_units(s.country, major)
            paid = _event(
                s.seller_id,
                line,
                "paid",
                _paid_data(s.country, gross, rng.randint(8, 15)),
                now - timedelta(days=45),
            )
            waves["paid"].append(paid)
            mode = rng.choices(["closed", "delivered_old", "held"], weights=[6, 3, 1])[0]
            if mode != "held":
                lines[s.seller_id].append(paid)
            if mode == "closed":
                waves["release"].append(
                    _event(
                        s.seller_id,
                        line,
                        "return_window_closed",
                        {"closed_at": _iso(now - timedelta(days=2))},
                        now - timedelta(days=2),
                    )
                )
            else:
                at = now - timedelta(days=40 if mode == "delivered_old" else 1)
                waves["release"].append(
                    _event(s.seller_id, line, "delivered", {"delivered_at": _iso(at)}, at)
                )
            if s.profile != "below_minimum" and rng.random() < 0.15:
                amount = gross // rng.choice([4, 5, 10])
                waves["refund"].append(
                    _event(
                        s.seller_id,
                        line,
                        "refunded",
                        _refund_data(s.country, f"rf-{line}", amount),
                        now - timedelta(days=44),
                    )
                )
    events = waves["paid"] + waves["release"] + waves["refund"]

    routes: dict[str, str] = {}
    bursts_copies: dict[str, int] = {}
    webhook_dups: dict[str, int] = {}
    for e in events:
        r = rng.random()
        routes[e["event_id"]] = "webhook" if r < 0.2 else "push_burst" if r < 0.26 else "pubsub"
        if routes[e["event_id"]] == "push_burst":
            bursts_copies[e["event_id"]] = rng.randint(2, 5)
        elif routes[e["event_id"]] == "webhook" and rng.random() < 0.15:
            webhook_dups[e["event_id"]] = rng.randint(2, 3)
    late = sorted(rng.sample([e["event_id"] for e in events], k=min(len(events), max(10, len(events) // 25))))

    hot = rng.choice(paid_sellers)
    hot_events: list[JSON] = []
    for j in range(30 if short else 150):
        line = f"{hot.seller_id}-hot{j:03d}"
        gross = minor_units(hot.country, rng.randint(5, 60))
        hot_events.append(
            _event(hot.seller_id, line, "paid", _paid_data(hot.country, gross, 10), now - timedelta(days=3))
        )
        hot_events.append(
            _event(
                hot.seller_id,
                line,
                "return_window_closed",
                {"closed_at": _iso(now - timedelta(hours=1))},
                now - timedelta(hours=1),
            )
        )

    # Sellers the run will pay: something released, and a profile that is not skipped.
    payable = [s for s in sellers if lines[s.seller_id] and s.profile not in EXPECTED_SKIP]
    candidates = [s for s in payable if s.profile in ("paid", "declined", "returned") and s != hot]
    refund_sellers = rng.sample(candidates, k=min(len(candidates), 2 if short else 4))
    inflight = []
    for s in refund_sellers:
        paid = rng.choice(lines[s.seller_id])
        gross = paid["data"]["gross"]["amount"]
        inflight.append(
            _event(
                s.seller_id,
                paid["order_line_id"],
                "refunded",
                _refund_data(s.country, f"rf-inflight-{paid['order_line_id']}", gross // 2),
                now,
                "-inflight",
            )
        )

    dup_pool = [s for s in payable if s not in refund_sellers]
    transfer_dups = [
        {
            "seller_id": s.seller_id,
            "copies": rng.randint(2, 10),
            "mode": rng.choice(["concurrent", "sequential", "mixed"]),
        }
        for s in rng.sample(dup_pool, k=min(len(dup_pool), 8 if short else 40))
    ]
    sandbox = {
        "latency_ms": rng.choice([10, 30, 60]),
        "timeout_after_accept_rate": round(rng.uniform(0.01, 0.04), 3),
        "timeout_sleep_ms": 4000,  # past the functions' 3 s provider timeout
        "duplicate_webhook_rate": round(rng.uniform(0.1, 0.3), 2),
        "out_of_order_rate": round(rng.uniform(0.5, 1.0), 2),
        "drop_webhook_rate": round(rng.uniform(0.03, 0.08), 3),
        "settle_delay_ms": 300,
        "return_delay_ms": 1500,
        "seed": seed,
    }
    bursts = sorted(
        (
            {
                "at": round(rng.uniform(0.05, 0.7), 2),
                "error_rate": round(rng.uniform(0.5, 0.9), 2),
                "seconds": rng.randint(2, 4),
            }
            for _ in range(2 if short else 3)
        ),
        key=lambda b: b["at"],
    )
    kills = [
        {
            "function": "run-shard-worker",
            "when": "mid_shard",
            "down_seconds": round(rng.uniform(0.5, 2.0), 1),
        },
        {
            "function": "transfer-worker",
            "when": f"mid_transfer_{rng.randint(20, 50)}",
            "down_seconds": round(rng.uniform(0.5, 2.0), 1),
        },
    ]
    if not short:
        kills += [
            {
                "function": "order-events",
                "when": "mid_flood",
                "down_seconds": round(rng.uniform(0.5, 2.0), 1),
            },
            {
                "function": "transfer-worker",
                "when": f"mid_transfer_{rng.randint(55, 80)}",
                "down_seconds": round(rng.uniform(0.5, 2.0), 1),
            },
            {
                "function": "provider-webhook",
                "when": f"mid_transfer_{rng.randint(30, 70)}",
                "down_seconds": round(rng.uniform(1.0, 3.0), 1),
            },
        ]
    run_trigger = {"publishes": rng.randint(2, 4), "push_copies": rng.randint(2, 4), "api_starts": 2}

    second: list[JSON] = []
    if not short:
        for s in rng.sample(paid_sellers, k=max(1, len(paid_sellers) // 10)):
            line = f"{s.seller_id}-r2"
            gross = minor_units(s.country, rng.randint(40, 300))
            second.append(
                _event(s.seller_id, line, "paid", _paid_data(s.country, gross, 12), now - timedelta(days=5))
            )
            second.append(_event(s.seller_id, line, "return_window_closed", {"closed_at": _iso(now)}, now))

    return Plan(
        seed=seed,
        short=short,
        run_tag=tag,
        sellers=sellers,
        events=events,
        routes=routes,
        push_burst_copies=bursts_copies,
        webhook_dups=webhook_dups,
        late_redeliveries=late,
        hot_seller=hot.seller_id,
        hot_events=hot_events,
        inflight_refunds=inflight,
        transfer_dups=transfer_dups,
        sandbox=sandbox,
        bursts=bursts,
        kills=kills,
        run_trigger=run_trigger,
        replay_sample=5 if short else 25,
        second_run_events=second,
        stuck_after_seconds=10 if short else 20,
    )


def _iso(at: datetime) -> str:
    return at.isoformat()


def _event(seller_id: str, line: str, kind: str, data: JSON, at: datetime, suffix: str = "") -> JSON:
    return {
        "event_id": f"evt-{line}-{kind}{suffix}",
        "type": f"order_line.{kind}",
        "occurred_at": _iso(at),
        "seller_id": seller_id,
        "order_line_id": line,
        "data": data,
    }


def _paid_data(country: str, gross: int, commission_pct: int) -> JSON:
    ccy = CURRENCIES[country]
    return {
        "gross": {"amount": gross, "currency": ccy},
        "commission": {"amount": gross * commission_pct // 100, "currency": ccy},
    }


def _refund_data(country: str, refund_id: str, amount: int) -> JSON:
    return {"refund_id": refund_id, "amount": {"amount": amount, "currency": CURRENCIES[country]}}


def run_dates(now: datetime, count: int) -> list[date]:
    """The latest dates that have begun everywhere and are business days in every country."""
    day = (now - timedelta(hours=14)).date()
    found: list[date] = []
    while len(found) < count:
        if all(is_business_day(RULES.get(c), day) for c in COUNTRIES):
            found.append(day)
        day -= timedelta(days=1)
    return found


def expected_ledger(
    events: list[JSON], countries: dict[str, str], now: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """By the same pure rules, no cloud: (available per seller after release, collected per currency)."""
    lines: dict[str, Any] = {}
    available: dict[str, int] = defaultdict(int)
    collected: dict[str, int] = defaultdict(int)
    entries = []
    for raw in events:
        event = parse_order_event(json.dumps(raw))
        line, results = apply_order_event(
            lines.get(event.order_line_id), event, RULES.get(countries[raw["seller_id"]])
        )
        lines[event.order_line_id] = line
        entries += [e for r in results for e in r.entries]
    for line in lines.values():
        if line.release_at is not None and line.release_at <= now:
            _, entry = release_line(line)
            if entry:
                entries.append(entry)
    for entry in entries:
        for p in entry.postings:
            if p.account.endswith(":available"):
                available[p.account.split(":")[1]] += p.amount.amount
            if p.account == PlatformAccount.CUSTOMER_FUNDS.value:
                collected[p.amount.currency] -= p.amount.amount
    return dict(available), dict(collected)


# --- running it ---------------------------------------------------------------------------------


@contextlib.contextmanager
def function_env_overrides(**overrides: str) -> Iterator[None]:
    """Extra environment for every function the stack (re)starts: local_stack.local_env builds it."""
    original = local_env.function_env

    def patched(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {**original(*args, **kwargs), **overrides}

    local_env.function_env = patched
    try:
        yield
    finally:
        local_env.function_env = original


@dataclass
class Outcome:
    report: AuditReport | None
    breaches: list[str]  # every breach, explained or not
    figures: JSON
    lines: list[str] = field(default_factory=list)
    findings: dict[str, list[str]] = field(default_factory=dict)  # known product bug -> its breaches

    @property
    def ok(self) -> bool:
        return not self.breaches

    @property
    def unexplained(self) -> list[str]:
        explained = {b for found in self.findings.values() for b in found}
        return [b for b in self.breaches if b not in explained]


class Breach(Exception):
    pass


class FaultRun:
    def __init__(self, stack: Stack, plan: Plan, say: Callable[[str], None] = print) -> None:
        self.stack = stack
        self.plan = plan
        self.say_out = say
        self.t0 = time.monotonic()
        self.client = StackClient.from_stack(stack, identity="marketplace")
        self.ops = self.client.as_identity("ops")
        self.worker = self.client.as_identity("tasks-invoker")
        self.store = FirestoreStore(Settings(), project=stack.project)
        self.rng = random.Random(plan.seed * 7919 + 1)  # runtime choices (replay picks), still seeded
        self.faults: Counter[str] = Counter()
        self.observed: Counter[str] = Counter()
        self.breaches: list[str] = []
        self.findings: dict[str, list[str]] = defaultdict(list)
        self.returned_but_paid: dict[str, str] = {}  # payout id -> the breach line, if the auditor agrees
        self.notes: list[str] = []
        self.snapshots: list[dict[str, str]] = []
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="faults")
        self.restarts = threading.Lock()
        self.background: list[Future[Any]] = []
        self.lock = threading.Lock()
        self.countries = {s.seller_id: s.country for s in plan.sellers}
        self.sent_events: dict[str, JSON] = {}
        self.answers: Counter[str] = Counter()
        self.relay = f"http://{stack.procs['push-relay'].address}"
        self.inflight_checks: list[tuple[JSON, str, str]] = []
        self.lost_sellers = 0
        # Run 1 should pay every seller but those the plan skips: progress is measured against it.
        self.expected_payouts = sum(1 for s in plan.sellers if s.profile not in EXPECTED_SKIP)

    # --- small helpers ------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.say_out(f"[{time.monotonic() - self.t0:6.1f}s] {text}")

    def fault(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.faults[kind] += n

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future = self.pool.submit(self._guarded, fn, *args)
        self.background.append(future)
        return future

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            self.notes.append(f"background {getattr(fn, '__name__', fn)} failed: {exc!r}")
            self.say(f"background {getattr(fn, '__name__', fn)} failed: {exc!r}\n{traceback.format_exc()}")
            return None

    def wait_background(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        for f in list(self.background):
            with contextlib.suppress(Exception):
                f.result(timeout=max(0.1, deadline - time.monotonic()))

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float, interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise Breach(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def checkpoint(self, label: str) -> None:
        snap = journal_fingerprints(self.store)
        self.snapshots.append(snap)
        self.say(f"journal checkpoint {len(self.snapshots)} ({label}): {len(snap)} entries")

    def publish(self, topic: str, data: JSON) -> Future[Any]:
        publisher = self.client.publisher()
        future: Future[Any] = publisher.publish(
            publisher.topic_path(self.stack.project, topic), json.dumps(data).encode()
        )
        return future

    def publish_and_wait(self, topic: str, data: JSON) -> Any:
        return self.publish(topic, data).result(timeout=60)

    def push(self, function: str, topic: str, data: JSON, message_id: str) -> int:
        """Deliver a message as Pub/Sub push does (through the relay), with a given message id."""
        spec = function_spec(function)
        envelope = {
            "message": {
                "data": base64.b64encode(json.dumps(data).encode()).decode(),
                "messageId": message_id,
                "publishTime": datetime.now(UTC).isoformat(),
                "attributes": {},
            },
            "subscription": f"projects/{self.stack.project}/subscriptions/{subscription_for(spec)}",
        }
        url = f"{self.relay}/push/{function}/projects/{self.stack.project}/topics/{topic}"
        for attempt in range(30):  # Pub/Sub redelivers what is not acknowledged
            try:
                resp = requests.post(url, json=envelope, timeout=60)
            except requests.RequestException:
                resp = None
            if resp is not None and 200 <= resp.status_code < 300:
                return resp.status_code
            time.sleep(min(0.2 * 2**attempt, 5))
        return resp.status_code if resp is not None else 0

    def post_event(self, event: JSON) -> int:
        for attempt in range(30):  # the order service retries until acknowledged
            try:
                code = self.client.post_order_event(event).status_code
            except requests.RequestException:
                code = 0
            with self.lock:
                self.answers[f"webhook {code}"] += 1
            if code in (200, 202):
                return code
            time.sleep(min(0.2 * 2**attempt, 5))
        return code

    def count(self, query: Any) -> int:
        return self.store.count(query)

    # --- phases -------------------------------------------------------------------------------

    def onboard(self) -> None:
        def put(s: SellerPlan) -> int:
            outcome = s.profile if s.profile in FAILING or s.profile == "returned" else "paid"
            body = seller_body(
                s.country,
                s.n,
                outcome,
                payout_schedule={"interval": "daily"},
                kyc_status="pending" if s.profile == "kyc_pending" else "verified",
                payout_hold={"held": True, "reason": "fraud review"}
                if s.profile == "on_hold"
                else {"held": False},
            )
            return self.client.call("PUT", "sellers-api", f"/sellers/{s.seller_id}", body).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = Counter(pool.map(put, self.plan.sellers))
        if set(codes) != {201}:
            raise Breach(f"onboarding answered {dict(codes)}")
        self.say(
            f"{len(self.plan.sellers)} sellers onboarded in {len(set(self.countries.values()))} countries"
        )

    def send_events(self, events: list[JSON], label: str, kill: JSON | None = None) -> None:
        """Each event through its planned route; a kill of order-events lands in the flood."""
        plan = self.plan
        futures: list[Future[Any]] = []
        for e in events:
            self.sent_events[e["event_id"]] = e
        kill_at = len(events) // 3 if kill else -1
        with ThreadPoolExecutor(max_workers=12) as pool:
            for i, e in enumerate(events):
                if i == kill_at and kill is not None:
                    self.spawn(self.kill_and_restart, kill)
                route = plan.routes.get(e["event_id"], "pubsub")
                if route == "webhook":
                    copies = plan.webhook_dups.get(e["event_id"], 1)
                    if copies > 1:
                        self.fault("order_event_concurrent_webhook_duplicate", copies - 1)
                    futures += [pool.submit(self.post_event, e) for _ in range(copies)]
                elif route == "push_burst":
                    copies = plan.push_burst_copies[e["event_id"]]
                    self.fault("order_event_concurrent_same_message_id", copies - 1)
                    mid = f"burst-{uuid.uuid4().hex[:12]}"
                    futures += [
                        pool.submit(self.push, "order-events", TOPIC_ORDER_EVENTS, e, mid)
                        for _ in range(copies)
                    ]
                else:
                    futures.append(self.publish(TOPIC_ORDER_EVENTS, e))
            for f in futures:
                f.result(timeout=600)
        self.say(f"{label}: {len(events)} events sent")

    def wait_applied(self, label: str, timeout: float = 600) -> None:
        want = len(self.sent_events)
        col = self.store.client.collection(ORDER_EVENTS)
        self.wait_for(lambda: self.count(col) >= want, f"{want} order events applied ({label})", timeout, 1.0)
        parked = self.count(col.where(filter=firestore.FieldFilter("outcome", "==", "parked")))
        if parked:
            self.wait_for(
                lambda: not self.count(col.where(filter=firestore.FieldFilter("outcome", "==", "parked"))),
                "parked events resolved",
                60,
            )
        self.say(f"{label}: {want} distinct order events applied once each")

    def release(self) -> None:
        """Release funds past their holding period, the tick delivered three times at once."""
        futures = [self.publish(TOPIC_RELEASE_FUNDS, {"reason": "faults"}) for _ in range(3)]
        for f in futures:
            f.result(timeout=60)
        self.fault("release_tick_concurrent_duplicate", 2)
        deadline = time.monotonic() + 300
        next_tick = time.monotonic() + 30
        while self.store.due_order_lines(datetime.now(UTC), 1):
            if time.monotonic() > deadline:
                raise Breach("timed out after 300 s waiting for funds released")
            if time.monotonic() > next_tick:  # the next scheduled tick (hourly in production)
                self.publish(TOPIC_RELEASE_FUNDS, {"reason": "faults-next-tick"}).result(timeout=60)
                next_tick += 30
            time.sleep(1.0)
        self.say("funds past their holding period released")

    def late_redeliveries(self) -> None:
        futures = [
            self.publish(TOPIC_ORDER_EVENTS, self.sent_events[eid]) for eid in self.plan.late_redeliveries
        ]
        for f in futures:
            f.result(timeout=60)
        self.fault("order_event_late_redelivery", len(futures))
        hot = self.plan.hot_seller
        self.say(f"{len(futures)} order events redelivered late; flooding hot seller {hot}")

    def flood_hot_seller(self) -> None:
        events = self.plan.hot_events
        for e in events:
            self.sent_events[e["event_id"]] = e
        t = time.monotonic()
        with ThreadPoolExecutor(max_workers=24) as pool:
            futures = [
                pool.submit(self.post_event, e)
                if i % 2
                else pool.submit(self.publish_and_wait, TOPIC_ORDER_EVENTS, e)
                for i, e in enumerate(events)
            ]
            for f in futures:
                f.result(timeout=600)
        self.fault("hot_seller_events_at_once", len(events))
        self.say(f"hot seller: {len(events)} events sent at once in {time.monotonic() - t:.1f} s")

    def kill_and_restart(self, kill: JSON) -> None:
        name = kill["function"]
        self.say(f"SIGKILL {name} ({kill['when']})")
        self.stack.kill_function(name)
        self.fault(f"sigkill_{name.replace('-', '_')}")
        time.sleep(float(kill["down_seconds"]))
        with self.restarts:  # one restart at a time: each waits for its own process's health
            self.stack.restart_function(name)
        self.say(f"{name} restarted")

    def set_sandbox(self, config: JSON) -> None:
        resp = self.client.sandbox("POST", "/v1/_config", config)
        if resp.status_code != 200:
            raise Breach(f"sandbox config refused: {resp.text}")

    # --- a payout run under faults ------------------------------------------------------------

    def start_run(self, run_date: date, trigger: JSON) -> str:
        """Every start of the same run at the same instant: API calls, publishes, and one Pub/Sub
        message pushed several times concurrently with its message id. One run must come of it,
        soon; every API call must answer."""
        run_id = f"run-{run_date.isoformat()}"
        message = {"run_date": run_date.isoformat()}
        parties = trigger["api_starts"] + trigger["publishes"] + trigger["push_copies"]
        barrier = threading.Barrier(parties)
        mid = f"run-{uuid.uuid4().hex[:12]}"
        api_codes: list[int] = []

        def api() -> None:
            barrier.wait()
            try:
                code = self.ops.call("POST", "payouts-api", "/runs", message, timeout=120).status_code
            except requests.RequestException:
                code = 0  # no answer in 120 s
            with self.lock:
                api_codes.append(code)

        def pub() -> None:
            barrier.wait()
            self.publish(TOPIC_PAYOUT_RUNS, message).result(timeout=60)

        def push() -> None:
            barrier.wait()
            self.push("payout-runs", TOPIC_PAYOUT_RUNS, message, mid)

        t = time.monotonic()
        calls = [self.spawn(api) for _ in range(trigger["api_starts"])]
        calls += [self.spawn(pub) for _ in range(trigger["publishes"])]
        calls += [self.spawn(push) for _ in range(trigger["push_copies"])]
        self.fault("run_start_concurrent", parties - 1)
        self.fault("run_trigger_same_message_id", trigger["push_copies"] - 1)
        limit = 120 if self.plan.short else 600
        try:
            self.wait_for(lambda: self.store.run_ref(run_id).get().exists, f"{run_id} created", limit, 0.25)
        except Breach as exc:
            self.findings["run-start-contention"].append(str(exc))
            raise
        created_after = time.monotonic() - t
        for call in calls[: trigger["api_starts"]]:
            call.result(timeout=180)
        api_codes.sort()
        self.observed[f"{run_id}_created_after_seconds"] = round(created_after)
        self.say(
            f"{run_id} started {parties} times at once: created after {created_after:.1f} s, API {api_codes}"
        )
        if api_codes.count(202) > 1:
            self.breaches.append(f"{run_id}: {api_codes.count(202)} API calls created the run")
        failed = [c for c in api_codes if c not in (200, 202)]
        if failed or created_after > 30:
            line = (
                f"{parties} concurrent starts of {run_id}: the run existed only after {created_after:.0f} s "
                f"and POST /runs answered {api_codes} (0 = no answer in 120 s)"
            )
            self.breaches.append(line)
            self.findings["run-start-contention"].append(line)
        return run_id

    def run_status(self, run_id: str, expected: int = 0) -> JSON:
        col = self.store.client.collection(PAYOUTS)
        q = col.where(filter=firestore.FieldFilter("run_id", "==", run_id))
        by = {
            s: self.count(q.where(filter=firestore.FieldFilter("status", "==", s))) for s in (*OPEN, *FINAL)
        }
        ref = self.store.run_ref(run_id)
        snap = ref.get()
        pages = ref.collection(RUN_PAGES)
        total = self.count(pages)
        done = self.count(pages.where(filter=firestore.FieldFilter("status", "==", "done")))
        payouts = sum(by.values())
        settled = sum(by[s] for s in FINAL)
        return {
            "exists": snap.exists,
            "status": (snap.to_dict() or {}).get("status") if snap.exists else None,
            "pages": (done, total),
            "by_status": by,
            "payouts": payouts,
            "settled": settled,
            "fraction": settled / max(payouts, expected) if payouts else 0.0,
        }

    def deliver_transfer_task(self, payout_id: str, copies: int, mode: str) -> None:
        def once() -> int:
            try:
                code = self.worker.call(
                    "POST", "transfer-worker", "/", {"payout_id": payout_id}, timeout=60
                ).status_code
            except requests.RequestException:
                code = 0
            with self.lock:
                self.answers[f"transfer task {code}"] += 1
            return code

        if mode == "concurrent":
            with ThreadPoolExecutor(max_workers=copies) as pool:
                list(pool.map(lambda _: once(), range(copies)))
        elif mode == "sequential":
            for _ in range(copies):
                once()
        else:  # the first alone, the rest at once after it finished
            once()
            with ThreadPoolExecutor(max_workers=copies) as pool:
                list(pool.map(lambda _: once(), range(copies - 1)))
        self.fault(f"transfer_task_duplicate_{mode}", copies)

    def refund_in_flight(self, event: JSON, payout_id: str, status: str) -> None:
        self.sent_events[event["event_id"]] = event
        code = self.post_event(event)
        self.fault("refund_while_payout_in_flight")
        self.inflight_checks.append((event, payout_id, status))
        self.say(f"refund {event['event_id']} sent while {payout_id} was {status} (answered {code})")

    def replay_some(self, run_id: str) -> None:
        col = self.store.client.collection(PAYOUTS)
        settled = [
            d.to_dict() or {}
            for d in col.where(filter=firestore.FieldFilter("run_id", "==", run_id))
            .where(filter=firestore.FieldFilter("status", "in", ["paid", "returned", "failed"]))
            .stream()
        ]
        refs = sorted(p["provider_ref"] for p in settled if p.get("provider_ref"))
        picked = self.rng.sample(refs, k=min(len(refs), self.plan.replay_sample))
        replayed = 0
        for ref in picked:
            resp = self.client.sandbox("POST", "/v1/_replay_webhooks", {"transfer_id": ref})
            replayed += int(resp.json().get("replayed", 0)) if resp.status_code == 200 else 0
        self.fault("webhook_replay_mid_run", replayed)
        self.say(f"replayed {replayed} webhooks of {len(picked)} settled transfers")

    def payout_phase(self, run_id: str, first: bool, timeout: float) -> JSON:
        plan = self.plan
        dups = {run_payout_id(run_id, d["seller_id"]): d for d in plan.transfer_dups} if first else {}
        refunds = {run_payout_id(run_id, e["seller_id"]): e for e in plan.inflight_refunds} if first else {}
        kills = [k for k in plan.kills if k["function"] != "order-events"] if first else []
        bursts = list(plan.bursts) if first else []
        replay_done = not first
        baseline = dict(plan.sandbox)
        burst_until = 0.0
        last_tick = time.monotonic()
        deadline = time.monotonic() + timeout
        shard_kill_missed = False
        status: JSON = {}
        while True:
            status = self.run_status(run_id, self.expected_payouts if first else 0)
            frac = status["fraction"]
            # transfer tasks again, as soon as their payout exists
            wanted = dups | refunds
            if wanted:
                snaps = self.store.client.get_all([self.store.doc(PAYOUTS, pid) for pid in wanted])
                for snap in snaps:
                    if not snap.exists:
                        continue
                    data = snap.to_dict() or {}
                    pid = str(data["payout_id"])
                    if pid in dups:
                        d = dups.pop(pid)
                        self.spawn(self.deliver_transfer_task, pid, d["copies"], d["mode"])
                    if pid in refunds and data["status"] in OPEN:
                        self.spawn(self.refund_in_flight, refunds.pop(pid), pid, data["status"])
                    elif pid in refunds:
                        self.notes.append(
                            f"refund target {pid} was already {data['status']}; refund not in flight"
                        )
                        self.spawn(self.refund_in_flight, refunds.pop(pid), pid, data["status"])
            for k in list(kills):
                done, total = status["pages"]
                if k["when"] == "mid_shard" and total and (status["payouts"] or done) and done <= total:
                    shard_kill_missed = done == total
                    kills.remove(k)
                    self.spawn(self.kill_and_restart, k)
                elif (
                    k["when"].startswith("mid_transfer_")
                    and status["payouts"]
                    and frac * 100 >= int(k["when"].rsplit("_", 1)[1])
                ):
                    kills.remove(k)
                    self.spawn(self.kill_and_restart, k)
            if bursts and status["payouts"] and frac >= bursts[0]["at"] and time.monotonic() > burst_until:
                b = bursts.pop(0)
                self.set_sandbox({**baseline, "error_rate": b["error_rate"]})
                burst_until = time.monotonic() + b["seconds"]
                self.fault("sandbox_5xx_burst")
                self.say(
                    f"sandbox 5xx burst: {b['error_rate']:.0%} for {b['seconds']} s at {frac:.0%} settled"
                )
            elif burst_until and time.monotonic() > burst_until:
                self.set_sandbox(baseline)
                burst_until = 0.0
            if not replay_done and frac >= 0.6:
                replay_done = True
                self.spawn(self.replay_some, run_id)
            if time.monotonic() - last_tick > (3 if frac >= 0.95 else 10):
                last_tick = time.monotonic()
                futures = [self.publish(TOPIC_SWEEPER, {"reason": "faults"})]
                if self.rng.random() < 0.2:
                    futures.append(self.publish(TOPIC_SWEEPER, {"reason": "faults"}))
                    self.fault("sweeper_tick_concurrent_duplicate")
                for f in futures:
                    f.result(timeout=60)
            finished = (
                status["status"] == "completed"
                and status["settled"] == status["payouts"]
                and not (dups or kills or bursts or burst_until)
                and replay_done
            )
            if finished and all(f.done() for f in self.background):
                break
            if time.monotonic() > deadline:
                self.breaches.append(f"{run_id} did not finish in {timeout:.0f} s: {status}")
                break
            time.sleep(0.5)
        if shard_kill_missed:
            self.notes.append("every shard was done before the shard worker could be killed mid-shard")
        if refunds:
            self.notes.append(f"refund targets never got a payout: {sorted(refunds)}")
        self.wait_background()
        self.say(
            f"{run_id}: {status['payouts']} payouts settled ({status['by_status']}), run {status['status']}"
        )
        return status

    def converge(self, timeout: float) -> None:
        """Sweep until the provider and the ledger agree: returns due, deliveries done, all relayed.
        Gives up early when nothing has moved for three stuck-after periods and only final
        payouts disagree with the provider (the return watch would have asked by then)."""
        deadline = time.monotonic() + timeout
        stable_since = time.monotonic()
        last: tuple[Any, ...] = ()
        while True:
            self.publish(TOPIC_SWEEPER, {"reason": "faults-drain"}).result(timeout=60)
            open_payouts = self.count(
                self.store.client.collection(PAYOUTS).where(
                    filter=firestore.FieldFilter("status", "in", list(OPEN))
                )
            )
            unpublished = len(self.store.unpublished_outbox_ids(10))
            transfers = {t["reference"]: t["status"] for t in self.client.sandbox_transfers()}
            snaps = self.store.client.collection(PAYOUTS).select(["status"]).stream()
            statuses = {snap.id: str((snap.to_dict() or {}).get("status")) for snap in snaps}
            differ = sorted(pid for pid, s in transfers.items() if statuses.get(pid) != s)
            if not open_payouts and not unpublished and not differ:
                return
            now = (open_payouts, unpublished, tuple(differ))
            if now != last:
                stable_since, last = time.monotonic(), now
            stuck = time.monotonic() - stable_since > 3 * self.plan.stuck_after_seconds + 10
            if time.monotonic() > deadline or (stuck and not open_payouts and not unpublished):
                self.say(
                    f"not converged: {open_payouts} open, {unpublished}+ unpublished, "
                    f"{len(differ)} differ from the provider {differ[:3]}"
                )
                return
            time.sleep(3)

    def replay_all(self) -> None:
        """Days later: the provider sends every delivered webhook again (fresh signatures)."""
        before = self.payout_states()
        resp = self.client.sandbox("POST", "/v1/_replay_webhooks", {})
        replayed = int(resp.json()["replayed"])
        self.fault("webhook_replay_days_later", replayed)

        def delivered() -> bool:
            # Each replayed delivery ends in exactly one "delivered" or "gave_up" entry of the
            # (append-only) log; a "retry_scheduled" entry stays there after its retry succeeds.
            log = self.client.sandbox("GET", "/v1/_webhooks").json()["data"]
            done = sum(1 for e in log if e["replay"] and e["result"] in ("delivered", "gave_up"))
            return done >= self.faults["webhook_replay_days_later"] + self.faults["webhook_replay_mid_run"]

        self.wait_for(delivered, "replayed webhooks delivered", 180, 1.0)
        after = self.payout_states()
        changed = sorted(pid for pid in before if before[pid] != after.get(pid))
        if changed:
            self.breaches.append(f"replayed webhooks changed {len(changed)} payouts: {changed[:3]}")
        self.say(f"replayed all {replayed} delivered webhooks: {len(changed)} payouts changed")

    def payout_states(self) -> dict[str, tuple[str, int]]:
        return {
            str(d["payout_id"]): (str(d["status"]), int(d["sequence"]))
            for d in (s.to_dict() or {} for s in self.store.client.collection(PAYOUTS).stream())
        }

    # --- checks beyond the auditor ------------------------------------------------------------

    def check_run_outcomes(self, run_id: str, expected_available: dict[str, int]) -> None:
        """Every seller has an item; each ended as its profile says, paid what the ledger rules say."""
        items = {s.id: s.to_dict() or {} for s in self.store.run_ref(run_id).collection(RUN_ITEMS).stream()}
        payouts = {
            str(d["seller_id"]): d
            for d in (
                s.to_dict() or {}
                for s in self.store.client.collection(PAYOUTS)
                .where(filter=firestore.FieldFilter("run_id", "==", run_id))
                .stream()
            )
        }
        refund_sellers = {e["seller_id"] for e in self.plan.inflight_refunds}
        wrong: list[str] = []
        missing = [s.seller_id for s in self.plan.sellers if s.seller_id not in items]
        if missing:
            self.breaches.append(f"{run_id}: {len(missing)} sellers have no run item, e.g. {missing[:3]}")
        unpaid: list[str] = []
        for s in self.plan.sellers:
            p = payouts.get(s.seller_id)
            item = items.get(s.seller_id, {})
            if s.profile in EXPECTED_SKIP:
                expected = {EXPECTED_SKIP[s.profile]}
                if s.profile == "below_minimum" and not expected_available.get(s.seller_id, 0):
                    expected.add("no_available_balance")  # every line still in its holding period
                if p is not None or item.get("skip_reason") not in expected:
                    wrong.append(
                        f"{s.seller_id} ({s.profile}): payout {p and p['status']}, "
                        f"skip {item.get('skip_reason')}"
                    )
                continue
            due = expected_available.get(s.seller_id, 0)
            if due < RULES.get(s.country).minimum_payout and s.seller_id not in refund_sellers:
                # Nothing released yet (every line still in its holding period), or too little.
                if p is not None or item.get("skip_reason") not in NOTHING_DUE:
                    wrong.append(f"{s.seller_id}: {due} due, payout {p and p['status']}, item {item}")
                continue
            if p is None:
                unpaid.append(f"{s.seller_id} ({s.profile}): no payout, skip {item.get('skip_reason')}")
                continue
            want = "failed" if s.profile in FAILING else s.profile
            code = p.get("failure_code")
            if s.profile == "returned" and p["status"] == "paid":
                # Judged with the auditor's view of the provider (see outcome()).
                self.returned_but_paid[str(p["payout_id"])] = (
                    f"{run_id}: {s.seller_id} (returned) is still paid"
                )
            elif p["status"] != want or (want == "failed" and code != s.profile):
                wrong.append(f"{s.seller_id} ({s.profile}): {p['status']} {code or ''}")
            if s.seller_id not in refund_sellers and p["amount"] != expected_available.get(s.seller_id):
                wrong.append(
                    f"{s.seller_id}: paid {p['amount']}, "
                    f"the ledger rules say {expected_available.get(s.seller_id)}"
                )
        if unpaid:
            self.lost_sellers += len(unpaid)
            self.breaches.append(f"{run_id}: {len(unpaid)} sellers due a payout got none: {unpaid[:3]}")
        if wrong:
            self.breaches.append(
                f"{run_id}: {len(wrong)} sellers did not end as their profile says: {wrong[:3]}"
            )
        self.say(
            f"{run_id}: {len(items)} sellers decided, {len(payouts)} payouts, "
            f"{len(wrong) + len(unpaid)} unexpected"
        )

    def check_inflight_refunds(self) -> None:
        landed = 0
        for event, payout_id, _ in self.inflight_checks:
            doc = self.store.get(ORDER_EVENTS, event["event_id"]) or {}
            payout = self.store.get(PAYOUTS, payout_id) or {}
            received = doc.get("received_at")
            finals = [h["at"] for h in payout.get("history", []) if h["to"] in FINAL]
            if doc.get("outcome") != "applied":
                self.breaches.append(
                    f"refund {event['event_id']} was {doc.get('outcome')}: {doc.get('reason')}"
                )
            elif received is not None and (not finals or finals[0] > received):
                landed += 1
        self.observed["refunds_applied_while_in_flight"] = landed
        if self.inflight_checks and not landed:
            self.notes.append("no refund landed while its payout was in flight (timing)")

    def check_events(self) -> None:
        col = self.store.client.collection(ORDER_EVENTS)
        applied = self.count(col)
        if applied != len(self.sent_events):
            self.breaches.append(f"{applied} order events recorded, {len(self.sent_events)} distinct sent")
        rejected = self.count(col.where(filter=firestore.FieldFilter("outcome", "==", "rejected")))
        if rejected:
            self.breaches.append(f"{rejected} valid order events were rejected")
        dead = self.count(self.store.client.collection(DEAD_LETTERS))
        if dead:
            self.breaches.append(f"{dead} dead letters for valid messages")

    def observe_sandbox(self) -> None:
        log = self.client.sandbox("GET", "/v1/_webhooks").json()["data"]
        first_attempts: dict[str, int] = Counter()
        first_seen: dict[tuple[str, str], int] = {}
        for i, e in enumerate(log):
            if e["result"] == "dropped":
                self.observed["webhooks_dropped"] += 1
            if e["result"] == "retry_scheduled":
                self.observed["webhook_deliveries_retried"] += 1
            if e["attempt"] == 1 and not e["replay"]:
                first_attempts[e["event_id"]] += 1
                first_seen.setdefault((e["transfer_id"], e["type"]), i)
        self.observed["webhooks_duplicated"] = sum(n - 1 for n in first_attempts.values() if n > 1)
        self.observed["webhooks_out_of_order"] = sum(
            1
            for (tid, kind), i in first_seen.items()
            if kind == "transfer.returned" and i < first_seen.get((tid, "transfer.paid"), -1)
        )
        logs = Path(self.stack.procs["transfer-worker"].log).read_text(errors="replace")
        self.observed["provider_5xx_seen_by_worker"] = logs.count("provider answered 50")
        self.observed["provider_timeouts_seen_by_worker"] = logs.count("provider timed out")

    # --- the whole run ------------------------------------------------------------------------

    def run(self) -> Outcome:
        plan = self.plan
        self.lost_sellers = 0
        self.inflight_checks = []
        now = datetime.now(UTC)
        dates = run_dates(now, 2)
        report: AuditReport | None = None
        try:
            self.set_sandbox({"seed": plan.seed})
            self.onboard()
            flood_kill = next((k for k in plan.kills if k["function"] == "order-events"), None)
            self.send_events(plan.events, "order events", flood_kill)
            self.wait_background()
            self.wait_applied("initial events")
            self.late_redeliveries()
            self.flood_hot_seller()
            self.wait_applied("hot seller and redeliveries")
            self.release()
            self.checkpoint("events applied and released")
            pre_run = list(self.sent_events.values())
            available, _ = expected_ledger(pre_run, self.countries, datetime.now(UTC))

            self.set_sandbox(plan.sandbox)
            self.say(f"sandbox faults on: {plan.sandbox}")
            run1 = self.start_run(dates[0], plan.run_trigger)
            self.checkpoint("run started")
            self.payout_phase(run1, first=True, timeout=900 if not plan.short else 240)
            self.check_run_outcomes(run1, available)
            self.checkpoint(f"{run1} settled")
            runs = [run1]
            if plan.second_run_events:
                self.send_events(plan.second_run_events, "events before the second run")
                self.wait_applied("second wave")
                run2 = self.start_run(dates[1], {"publishes": 1, "push_copies": 1, "api_starts": 0})
                self.payout_phase(run2, first=False, timeout=600)
                runs.append(run2)
            self.set_sandbox({**plan.sandbox, "error_rate": 0.0, "timeout_after_accept_rate": 0.0})
            self.converge(300 if not plan.short else 120)
            self.checkpoint("drained")
            self.replay_all()
            self.converge(60)
            self.check_inflight_refunds()
            self.check_events()
            self.observe_sandbox()
            _, collected = expected_ledger(list(self.sent_events.values()), self.countries, datetime.now(UTC))
            report = audit(
                self.store,
                self.client.sandbox_transfers(),
                journal_snapshots=self.snapshots,
                expected_collected=collected,
            )
        except Breach as exc:
            self.breaches.append(str(exc))
        finally:
            self.wait_background(30)
            self.pool.shutdown(wait=False, cancel_futures=True)
        return self.outcome(report)

    def classify(self, report: AuditReport) -> None:
        """Name the breaches a known product bug explains (FINDINGS)."""
        returned: dict[str, str] = {}
        for line in report.check("provider_agrees").breaches:
            pid, _, rest = line.partition(" ")
            if rest == "is paid but its transfer is returned":
                returned[pid] = f"provider_agrees: {line}"
        if not returned and not self.returned_but_paid:
            return
        found = self.findings["returned-not-reconciled"]
        found += returned.values()
        unreturned: dict[str, int] = defaultdict(int)
        for pid in returned:
            doc = self.store.get(PAYOUTS, pid) or {}
            unreturned[str(doc.get("currency"))] += int(doc.get("amount", 0))
        for line in report.check("ledger_matches_provider").breaches:
            ccy, _, rest = line.partition(": ")
            ours, theirs = (int(part.split()[-1]) for part in rest.split(", "))
            if ours - theirs == unreturned.get(ccy):
                found.append(f"ledger_matches_provider: {line}")
        for pid, line in self.returned_but_paid.items():
            self.breaches.append(line)
            if pid in returned:
                found.append(line)

    def outcome(self, report: AuditReport | None) -> Outcome:
        if report is not None:
            self.classify(report)
        breaches = list(self.breaches)
        if report is None:
            breaches.append("the audit did not run")
        else:
            breaches += report.breaches
        findings = {k: v for k, v in self.findings.items() if v}
        lines = ["", f"seed: {self.plan.seed}", "faults injected (per kind):"]
        lines += [f"  {k}: {n}" for k, n in sorted(self.faults.items())]
        lines += ["observed at the provider and in the logs:"]
        lines += [f"  {k}: {n}" for k, n in sorted(self.observed.items())]
        lines += [f"answers: {dict(sorted(self.answers.items()))}"]
        if report is not None:
            lines += ["", "audit:"] + [f"  {line}" for line in report.lines()]
        if self.notes:
            lines += ["notes:"] + [f"  {n}" for n in self.notes]
        if self.breaches:
            lines += ["harness breaches:"] + [f"  BREACH {b}" for b in self.breaches]
        for key, found in sorted(findings.items()):
            lines += [f"BREACH [{key}] regression of a fixed bug: {FINDINGS[key]}"]
            lines += [f"  explains: {b}" for b in found]
        double = report.double_payouts if report else -1
        lost = (report.lost_payouts if report else -1) + self.lost_sellers
        imbalance = report.ledger_imbalance if report else -1
        payouts = sum(report.payouts_by_status.values()) if report else 0
        figures = {
            "seed": self.plan.seed,
            "sellers": len(self.plan.sellers),
            "events": len(self.sent_events),
            "payouts": payouts,
            "payouts_by_status": report.payouts_by_status if report else {},
            "faults": dict(self.faults),
            "observed": dict(self.observed),
            "double_payouts": double,
            "lost_payouts": lost,
            "ledger_imbalance": imbalance,
            "wall_seconds": round(time.monotonic() - self.t0, 1),
            "findings": sorted(findings),
        }
        lines += [
            "",
            f"seed: {self.plan.seed}",
            f"sellers: {figures['sellers']}, order events: {figures['events']}, "
            f"payouts: {payouts} {figures['payouts_by_status']}",
            f"faults injected: {sum(self.faults.values())} in {len(self.faults)} kinds",
            f"double payouts: {double}",
            f"lost payouts: {lost}",
            f"ledger imbalance: {imbalance}",
            f"wall time: {figures['wall_seconds']} s",
            "RESULT: " + ("PASS" if not breaches else f"BREACH ({len(breaches)})"),
        ]
        return Outcome(report, breaches, figures, lines, findings)


# --- entry points -------------------------------------------------------------------------------

CLIENT_ENV = (
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "CLOUD_TASKS_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
)


def run_fault_injection(
    seed: int,
    sellers: int = 1000,
    *,
    short: bool = False,
    port_offset: int = 400,
    state_dir: Path | None = None,
    keep: bool = False,
    say: Callable[[str], None] = print,
) -> Outcome:
    """Start an isolated stack, run the seeded plan against it, audit, stop the stack."""
    t0 = time.monotonic()
    plan = make_plan(seed, sellers, short, now=datetime.now(UTC))
    state_dir = (state_dir or Path(tempfile.gettempdir()) / f"faults-stack-{port_offset}").resolve()
    if state_dir == (ROOT / ".local").resolve():
        raise SystemExit("refusing to use the usual stack's state directory")
    shutil.rmtree(state_dir, ignore_errors=True)  # a fresh provider and Pub/Sub state
    state_dir.mkdir(parents=True)
    (state_dir / "plan.json").write_text(json.dumps(plan.as_json(), indent=1, default=str))
    for line in plan.summary():
        say(line)
    say(f"plan written to {state_dir / 'plan.json'}")
    saved = {k: os.environ.get(k) for k in (*CLIENT_ENV, "PAYOUTS_PROJECT")}
    # A project of its own: this process caches one Firestore client per project.
    os.environ["PAYOUTS_PROJECT"] = f"faults-{port_offset}-{uuid.uuid4().hex[:6]}"
    stack: Stack | None = None
    try:
        with function_env_overrides(
            STUCK_AFTER_SECONDS=str(plan.stuck_after_seconds),
            RETURN_CHECK_AFTER_SECONDS=str(plan.stuck_after_seconds),
        ):
            stack = Stack.start(ROOT, port_offset=port_offset, state_dir=state_dir)
            say(
                f"stack up in {stack.startup_seconds:.1f} s "
                f"(offset {port_offset}, state {state_dir}, project {stack.project})"
            )
            os.environ.update({k: stack.env[k] for k in CLIENT_ENV})
            outcome = FaultRun(stack, plan, say).run()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if stack is not None and not keep:
            stack.stop()
    outcome.figures["wall_seconds"] = round(time.monotonic() - t0, 1)
    for line in outcome.lines:
        say(line)
    (state_dir / "outcome.json").write_text(json.dumps(outcome.figures, indent=1))
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verification.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--sellers", type=int, default=None, help="default 1000 (120 with --short)")
    parser.add_argument("--short", action="store_true", help="fewer faults of each kind, no second run")
    parser.add_argument("--port-offset", type=int, default=400)
    parser.add_argument("--state-dir", type=Path, default=None, help="default /tmp/faults-stack-<offset>")
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    parser.add_argument("--plan-only", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)
    sellers = args.sellers or (120 if args.short else 1000)
    if args.plan_only:
        plan = make_plan(args.seed, sellers, args.short)
        print("\n".join(plan.summary()))
        return 0
    outcome = run_fault_injection(
        args.seed,
        sellers,
        short=args.short,
        port_offset=args.port_offset,
        state_dir=args.state_dir,
        keep=args.keep,
    )
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
