"""Draining: sweeper ticks until the provider and the ledger agree (returns due, deliveries done,
every outbox event relayed), as Cloud Scheduler would keep sending them."""

from __future__ import annotations

import time
from typing import Any

from shared.topology import TOPIC_SWEEPER
from verification.faults.context import FaultContext


def converge(ctx: FaultContext, timeout: float) -> None:
    """Gives up early when nothing has moved for three stuck-after periods and only final
    payouts disagree with the provider (the return watch would have asked by then)."""
    deadline = time.monotonic() + timeout
    stable_since = time.monotonic()
    last: tuple[Any, ...] = ()
    while True:
        ctx.delivery.publish(TOPIC_SWEEPER, {"reason": "faults-drain"}).result(timeout=60)
        open_payouts = ctx.reads.open_payouts()
        unpublished = ctx.reads.unpublished_outbox_events()
        transfers = {t["reference"]: t["status"] for t in ctx.client.sandbox_transfers()}
        statuses = ctx.reads.payout_statuses()
        differ = sorted(pid for pid, s in transfers.items() if statuses.get(pid) != s)
        if not open_payouts and not unpublished and not differ:
            return
        now = (open_payouts, unpublished, tuple(differ))
        if now != last:
            stable_since, last = time.monotonic(), now
        stuck = time.monotonic() - stable_since > 3 * ctx.plan.stuck_after_seconds + 10
        if time.monotonic() > deadline or (stuck and not open_payouts and not unpublished):
            ctx.say(
                f"not converged: {open_payouts} open, {unpublished}+ unpublished, "
                f"{len(differ)} differ from the provider {differ[:3]}"
            )
            return
        time.sleep(3)
