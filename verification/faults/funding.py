"""A short account (issue 16, the funding check): before the first run starts, the sandbox's
funds in the plan's currency are set to 1 minor unit. The run's funding check must hold it whole:
``awaiting_funding``, and not one of its payouts beyond ``pending`` while it waits (a breach
otherwise), through at least one sweep that checks it again. Once it has waited its planned
seconds, treasury tops up; the run must be released and finish like any other, and the audit then
finds every payout paid once."""

from __future__ import annotations

import time
from typing import Any

from verification.faults.context import Breach, FaultContext

JSON = dict[str, Any]
WELL_FUNDED = 10**13
SENT = ("processing", "paid", "failed", "returned", "canceled")


def set_funds(ctx: FaultContext, currency: str, balance: int) -> None:
    resp = ctx.client.sandbox("POST", "/v1/_funding", {"currency": currency, "balance": balance})
    if resp.status_code != 200:
        raise Breach(f"sandbox funding refused: {resp.text[:300]}")


class ShortFunding:
    """Followed by the payout phase of the first run, one status at a time."""

    def __init__(self, ctx: FaultContext, fault: JSON | None) -> None:
        self.ctx = ctx
        self.fault = fault
        self.held_since: float | None = None
        self.sweeps_while_held = 0

    @property
    def pending(self) -> bool:
        return self.fault is not None

    def before_the_run(self) -> None:
        if self.fault is not None:
            set_funds(self.ctx, self.fault["currency"], 1)
            self.ctx.say(f"short funding: the sandbox holds 1 minor unit of {self.fault['currency']}")

    def swept(self) -> None:
        if self.held_since is not None:
            self.sweeps_while_held += 1

    def follow(self, status: JSON) -> None:
        fault, ctx = self.fault, self.ctx
        if fault is None:
            return
        state = status.get("funding")
        if self.held_since is None:
            if state == "awaiting_funding":
                self.held_since = time.monotonic()
                ctx.fault("short_funding")
                ctx.say("short funding: the run awaits funding; nothing may be sent")
            elif state == "released":
                self.top_up()
                ctx.breaches.append("the run was released although its funds were short")
            return
        sent = sum(status["by_status"].get(s, 0) for s in SENT)
        if sent:
            ctx.breaches.append(f"a run held for funding has {sent} payouts past pending")
        if time.monotonic() - self.held_since >= fault["hold_seconds"] and self.sweeps_while_held:
            ctx.observed["funding_held_seconds"] = round(time.monotonic() - self.held_since)
            ctx.observed["funding_sweeps_while_held"] = self.sweeps_while_held
            self.top_up()
            ctx.say(
                f"short funding: topped up after {ctx.observed['funding_held_seconds']} s "
                f"and {self.sweeps_while_held} sweeps held it"
            )

    def top_up(self) -> None:
        if self.fault is not None:
            set_funds(self.ctx, self.fault["currency"], WELL_FUNDED)
            self.fault = None
