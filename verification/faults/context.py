"""What every phase of a fault run shares: the stack and its clients, the plan, the seeded
runtime choices, the faults injected and observed, the breaches found, and the background work."""

from __future__ import annotations

import contextlib
import random
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from local_stack.client import StackClient
from local_stack.stack import Stack
from shared.adapters.firestore_store import FirestoreStore
from shared.settings import Settings
from verification.auditor import journal_fingerprints
from verification.faults.delivery import Delivery
from verification.faults.plan import Plan
from verification.faults.seller_profiles import EXPECTED_SKIP
from verification.faults.store_reads import StoreReads

JSON = dict[str, Any]


class Breach(Exception):
    """A failure that stops the run; it is reported with the others."""


class FaultContext:
    def __init__(self, stack: Stack, plan: Plan, say: Callable[[str], None] = print) -> None:
        self.stack = stack
        self.plan = plan
        self.say_out = say
        self.t0 = time.monotonic()
        self.client = StackClient.from_stack(stack, identity="marketplace")
        self.ops = self.client.as_identity("ops")
        self.worker = self.client.as_identity("tasks-invoker")
        self.store = FirestoreStore(Settings(), project=stack.project)
        self.reads = StoreReads(self.store)
        self.delivery = Delivery(stack, self.client)
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
        self.inflight_checks: list[tuple[JSON, str, str]] = []
        self.lost_sellers = 0
        # Run 1 should pay every seller but those the plan skips: progress is measured against it.
        self.expected_payouts = sum(1 for s in plan.sellers if s.profile not in EXPECTED_SKIP)

    def say(self, text: str) -> None:
        self.say_out(f"[{time.monotonic() - self.t0:6.1f}s] {text}")

    def fault(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.faults[kind] += n

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run in the background; a failure becomes a note, never a silent loss."""
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
        """A fingerprint of the journal: the audit checks every entry is still there, unchanged."""
        snap = journal_fingerprints(self.store)
        self.snapshots.append(snap)
        self.say(f"journal checkpoint {len(self.snapshots)} ({label}): {len(snap)} entries")

    def set_sandbox(self, config: JSON) -> None:
        """The provider's fault knobs; with mixed rails, the Adyen and Stripe stand-ins' too."""
        resp = self.client.sandbox("POST", "/v1/_config", config)
        if resp.status_code != 200:
            raise Breach(f"sandbox config refused: {resp.text}")
        if self.plan.mixed_rails:
            from verification.faults.rails import configure_rails

            configure_rails(self, config)
