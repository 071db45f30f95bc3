"""A payout run under faults, followed until every payout is final and every fault planned for
it has happened: transfer tasks delivered again and refunds sent as soon as their payout exists,
functions killed at their point of progress, provider 5xx bursts, settled transfers' webhooks
replayed past 60 %, and sweeper ticks as Cloud Scheduler sends them (some twice at once)."""

from __future__ import annotations

import time
from typing import Any

from shared.domain.payouts import run_payout_id
from shared.topology import TOPIC_SWEEPER
from verification.faults.context import FaultContext
from verification.faults.funding import ShortFunding
from verification.faults.inflight_refunds import refund_in_flight
from verification.faults.process_kills import kill_and_restart
from verification.faults.store_reads import OPEN
from verification.faults.transfer_duplicates import deliver_transfer_task
from verification.faults.webhook_replays import replay_some

JSON = dict[str, Any]


class PayoutPhase:
    def __init__(self, ctx: FaultContext, run_id: str, first: bool) -> None:
        plan = ctx.plan
        self.ctx = ctx
        self.run_id = run_id
        self.first = first
        # Faults of the first run only; the second runs clean.
        self.dups = {run_payout_id(run_id, d["seller_id"]): d for d in plan.transfer_dups} if first else {}
        self.refunds = (
            {run_payout_id(run_id, e["seller_id"]): e for e in plan.inflight_refunds} if first else {}
        )
        self.kills = [k for k in plan.kills if k["function"] != "order-events"] if first else []
        self.bursts = list(plan.bursts) if first else []
        self.outage = plan.rail_outage if first else None  # issue 15: a rail's API goes away
        self.replay_done = not first
        self.baseline = dict(plan.sandbox)
        self.burst_until = 0.0
        self.last_tick = time.monotonic()
        self.shard_kill_missed = False
        # Issue 16: the first run waits for funds (verification/faults/funding.py).
        self.funding = ShortFunding(ctx, plan.short_funding if first else None)

    def run(self, timeout: float) -> JSON:
        ctx = self.ctx
        deadline = time.monotonic() + timeout
        while True:
            status = ctx.reads.run_status(self.run_id, ctx.expected_payouts if self.first else 0)
            self.funding.follow(status)
            self.redeliver_when_created(status)
            self.kill_when_due(status)
            self.burst_when_due(status)
            self.outage_when_due(status)
            if not self.replay_done and status["fraction"] >= 0.6:
                self.replay_done = True
                ctx.spawn(replay_some, ctx, self.run_id)
            self.sweeper_tick(status["fraction"])
            if self.finished(status) and all(f.done() for f in ctx.background):
                break
            if time.monotonic() > deadline:
                ctx.breaches.append(f"{self.run_id} did not finish in {timeout:.0f} s: {status}")
                break
            time.sleep(0.5)
        self.wrap_up(status)
        return status

    def redeliver_when_created(self, status: JSON) -> None:
        """Transfer tasks again, and refunds in flight, as soon as their payout exists (the
        transfer tasks once the run's funding check has released it: Cloud Tasks only ever
        holds a payout's task from then on)."""
        ctx, refunds = self.ctx, self.refunds
        dups = self.dups if status.get("funding") == "released" else {}
        wanted = dups | refunds
        if not wanted:
            return
        for data in ctx.reads.existing_payouts(wanted):
            pid = str(data["payout_id"])
            if pid in dups:
                d = dups.pop(pid)
                ctx.spawn(deliver_transfer_task, ctx, pid, d["copies"], d["mode"])
            if pid in refunds and data["status"] in OPEN:
                ctx.spawn(refund_in_flight, ctx, refunds.pop(pid), pid, data["status"])
            elif pid in refunds:
                ctx.notes.append(f"refund target {pid} was already {data['status']}; refund not in flight")
                ctx.spawn(refund_in_flight, ctx, refunds.pop(pid), pid, data["status"])

    def kill_when_due(self, status: JSON) -> None:
        """The shard worker once pages exist; a transfer kill once its percentage is settled."""
        for k in list(self.kills):
            done, total = status["pages"]
            if k["when"] == "mid_shard" and total and (status["payouts"] or done) and done <= total:
                self.shard_kill_missed = done == total
                self.kills.remove(k)
                self.ctx.spawn(kill_and_restart, self.ctx, k)
            elif (
                k["when"].startswith("mid_transfer_")
                and status["payouts"]
                and status["fraction"] * 100 >= int(k["when"].rsplit("_", 1)[1])
            ):
                self.kills.remove(k)
                self.ctx.spawn(kill_and_restart, self.ctx, k)

    def burst_when_due(self, status: JSON) -> None:
        """The provider answers 5xx at the burst's rate for its seconds, then recovers."""
        frac = status["fraction"]
        bursts = self.bursts
        if bursts and status["payouts"] and frac >= bursts[0]["at"] and time.monotonic() > self.burst_until:
            b = bursts.pop(0)
            self.ctx.set_sandbox({**self.baseline, "error_rate": b["error_rate"]})
            self.burst_until = time.monotonic() + b["seconds"]
            self.ctx.fault("sandbox_5xx_burst")
            self.ctx.say(
                f"sandbox 5xx burst: {b['error_rate']:.0%} for {b['seconds']} s at {frac:.0%} settled"
            )
        elif self.burst_until and time.monotonic() > self.burst_until:
            self.ctx.set_sandbox(self.baseline)
            self.burst_until = 0.0

    def outage_when_due(self, status: JSON) -> None:
        """Adyen's API goes away once its fraction of payouts is settled (verification/faults/rails.py)."""
        if self.outage is not None and status["payouts"] and status["fraction"] >= self.outage["at"]:
            from verification.faults.rails import rail_outage

            self.ctx.spawn(rail_outage, self.ctx, self.outage)
            self.outage = None

    def sweeper_tick(self, frac: float) -> None:
        """Every 10 s (3 s near the end); one tick in five is delivered twice at once."""
        if time.monotonic() - self.last_tick <= (3 if frac >= 0.95 else 10):
            return
        ctx = self.ctx
        self.last_tick = time.monotonic()
        futures = [ctx.delivery.publish(TOPIC_SWEEPER, {"reason": "faults"})]
        self.funding.swept()
        if ctx.rng.random() < 0.2:
            futures.append(ctx.delivery.publish(TOPIC_SWEEPER, {"reason": "faults"}))
            ctx.fault("sweeper_tick_concurrent_duplicate")
        for f in futures:
            f.result(timeout=60)

    def finished(self, status: JSON) -> bool:
        return (
            status["status"] == "completed"
            and status["settled"] == status["payouts"]
            and not (self.dups or self.kills or self.bursts or self.burst_until or self.outage)
            and not self.funding.pending
            and self.replay_done
        )

    def wrap_up(self, status: JSON) -> None:
        ctx = self.ctx
        if self.funding.pending:  # never left short for what follows
            self.funding.top_up()
            ctx.breaches.append(f"{self.run_id} was never held for its short funding")
        if self.shard_kill_missed:
            ctx.notes.append("every shard was done before the shard worker could be killed mid-shard")
        if self.refunds:
            ctx.notes.append(f"refund targets never got a payout: {sorted(self.refunds)}")
        ctx.wait_background()
        settled = f"{status['payouts']} payouts settled ({status['by_status']})"
        ctx.say(f"{self.run_id}: {settled}, run {status['status']}")
