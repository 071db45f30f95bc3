"""The demo's funding section (issue 16 §3): the demo's run meets a short account. Before the run
starts, treasury has left the sandbox's EUR funds at 1 cent; the run's funding check holds it
(``awaiting_funding``, nothing sent, a sweep changes nothing); treasury tops up, the next sweep
releases the whole run, and the demo goes on to settle it. Called by ``tools/demo.py`` around
its run step.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

from local_stack.client import StackClient
from shared.domain.money import Money
from shared.topology import TOPIC_SWEEPER

SHORT = 1  # minor units of EUR left at the sandbox before the run
WELL_FUNDED = 10**13
Check = tuple[str, bool, str]


def _run(ops: StackClient, run_id: str) -> dict[str, Any]:
    resp = ops.call("GET", "payouts-api", f"/runs/{run_id}")
    return dict(resp.json()) if resp.status_code == 200 else {}


def _funding(ops: StackClient, run_id: str, state: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = _run(ops, run_id)
        if (view.get("funding") or {}).get("state") == state:
            return view
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for run {run_id} to be {state}")


def _table(view: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("rail", "currency", "to send", "payouts", "available", "short by"):
        table.add_column(col, justify="left" if col in ("rail", "currency") else "right")
    for x in view["funding"]["lines"]:
        ccy = x["currency"]
        table.add_row(
            x["rail"],
            ccy,
            str(Money(x["needed"], ccy)),
            str(x["payouts"]),
            "unreported" if x["unreported"] else str(Money(x["available"], ccy)),
            str(Money(x["shortfall"], ccy)) if x["shortfall"] else "",
        )
    return table


def leave_the_account_short(ops: StackClient) -> None:
    resp = ops.sandbox("POST", "/v1/_funding", {"currency": "EUR", "balance": SHORT})
    if resp.status_code != 200:
        raise SystemExit(f"could not set the sandbox's funds: {resp.text[:200]}")


def hold_then_fund(client: StackClient, ops: StackClient, console: Console, run_id: str) -> list[Check]:
    """Wait for the run to be held, show it, sweep once (still held), top up, and wait for the
    release. Returns the section's checks."""
    checks: list[Check] = []
    try:
        held = _funding(ops, run_id, "awaiting_funding", 180)
        console.print(_table(held, f"{run_id}: funding check — held, nothing sent"))
        statuses = held["payouts_by_status"]
        checks.append(
            ("a short run sends nothing", set(statuses) == {"pending"}, f"payouts by status {statuses}")
        )
        client.publish(TOPIC_SWEEPER, {"reason": "demo: still short"})
        time.sleep(3)
        still = _run(ops, run_id)
        checks.append(
            (
                "sweeps hold it while short",
                still["funding"]["state"] == "awaiting_funding"
                and set(still["payouts_by_status"]) == {"pending"},
                f"check {still['funding']['checks']}: {still['funding']['state']}",
            )
        )
    finally:  # treasury tops up (and the rest of the demo runs well funded)
        ops.sandbox("POST", "/v1/_funding", {"currency": "EUR", "balance": WELL_FUNDED})
    console.print("treasury tops up the sandbox account; the next sweep checks the run again")
    client.publish(TOPIC_SWEEPER, {"reason": "demo: funded"})
    released = _funding(ops, run_id, "released", 120)
    console.print(_table(released, f"{run_id}: funding check — released"))
    checks.append(
        (
            "released once funded",
            released["funding"]["awaiting_since"] is None,
            f"released at check {released['funding']['checks']}",
        )
    )
    return checks
