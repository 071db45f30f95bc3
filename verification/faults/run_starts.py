"""Every start of the same payout run at the same instant: API calls, Pub/Sub publishes, and one
message pushed several times concurrently with its message id. One run must come of it, soon,
and every API call must answer."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import Future
from datetime import date
from typing import Any

import requests

from shared.topology import TOPIC_PAYOUT_RUNS
from verification.faults.context import Breach, FaultContext

JSON = dict[str, Any]


def start_run(ctx: FaultContext, run_date: date, trigger: JSON) -> str:
    run_id = f"run-{run_date.isoformat()}"
    parties = trigger["api_starts"] + trigger["publishes"] + trigger["push_copies"]
    api_codes: list[int] = []
    t = time.monotonic()
    calls = _start_all_at_once(ctx, run_date, trigger, api_codes)
    ctx.fault("run_start_concurrent", parties - 1)
    ctx.fault("run_trigger_same_message_id", trigger["push_copies"] - 1)
    limit = 120 if ctx.plan.short else 600
    try:
        ctx.wait_for(lambda: ctx.reads.run_exists(run_id), f"{run_id} created", limit, 0.25)
    except Breach as exc:
        ctx.findings["run-start-contention"].append(str(exc))
        raise
    created_after = time.monotonic() - t
    for call in calls[: trigger["api_starts"]]:
        call.result(timeout=180)
    api_codes.sort()
    ctx.observed[f"{run_id}_created_after_seconds"] = round(created_after)
    ctx.say(f"{run_id} started {parties} times at once: created after {created_after:.1f} s, API {api_codes}")
    _judge_starts(ctx, run_id, parties, created_after, api_codes)
    return run_id


def _start_all_at_once(
    ctx: FaultContext, run_date: date, trigger: JSON, api_codes: list[int]
) -> list[Future[Any]]:
    """Spawn every start behind one barrier; the API calls come first in the returned list."""
    message = {"run_date": run_date.isoformat()}
    barrier = threading.Barrier(trigger["api_starts"] + trigger["publishes"] + trigger["push_copies"])
    mid = f"run-{uuid.uuid4().hex[:12]}"

    def api() -> None:
        barrier.wait()
        try:
            code = ctx.ops.call("POST", "payouts-api", "/runs", message, timeout=120).status_code
        except requests.RequestException:
            code = 0  # no answer in 120 s
        with ctx.lock:
            api_codes.append(code)

    def pub() -> None:
        barrier.wait()
        ctx.delivery.publish(TOPIC_PAYOUT_RUNS, message).result(timeout=60)

    def push() -> None:
        barrier.wait()
        ctx.delivery.push("payout-runs", TOPIC_PAYOUT_RUNS, message, mid)

    calls = [ctx.spawn(api) for _ in range(trigger["api_starts"])]
    calls += [ctx.spawn(pub) for _ in range(trigger["publishes"])]
    calls += [ctx.spawn(push) for _ in range(trigger["push_copies"])]
    return calls


def _judge_starts(
    ctx: FaultContext, run_id: str, parties: int, created_after: float, api_codes: list[int]
) -> None:
    if api_codes.count(202) > 1:
        ctx.breaches.append(f"{run_id}: {api_codes.count(202)} API calls created the run")
    failed = [c for c in api_codes if c not in (200, 202)]
    if failed or created_after > 30:
        line = (
            f"{parties} concurrent starts of {run_id}: the run existed only after {created_after:.0f} s "
            f"and POST /runs answered {api_codes} (0 = no answer in 120 s)"
        )
        ctx.breaches.append(line)
        ctx.findings["run-start-contention"].append(line)
