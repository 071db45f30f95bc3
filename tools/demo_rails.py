"""The demo's real-rails section (issue 15): payouts through Adyen (every call through Prism) and
Stripe Connect by their countries' routes, a drain of Adyen in the middle with its new payouts
moving to Stripe, and the checks: every payout paid on the rail its route says, at most one
accepted transfer per payout over all rails together, each rail's transfer amount equal to its
payout's, and no contract violation in Prism's log. Called by ``tools/demo.py`` after its run.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from local_stack import local_env
from local_stack.client import StackClient
from local_stack.stack import Stack
from shared.adapters.providers.adyen import AdyenProvider
from shared.adapters.providers.stripe_connect import StripeConnectProvider
from shared.settings import Settings
from stand_ins.sample_sellers import CURRENCIES, minor_units, seller_body, stripe_account_for

# Country -> the rail its route puts first (shared/domain/data/countries.json).
RAIL_COUNTRIES = {"SE": "adyen", "PL": "stripe"}
DRAIN_WAIT_SECONDS = 6  # the senders' cache of the drain switches is 5 s


def _rails(stack: Stack) -> tuple[AdyenProvider, StripeConnectProvider]:
    env: dict[str, Any] = {
        **local_env.rail_env(local_env.local_secrets(stack.state_dir)),
        "PROVIDER_TIMEOUT_SECONDS": "10",
    }
    env |= {k: stack.env[k] for k in ("ADYEN_TRANSFERS_URL", "STRIPE_API_URL")}
    settings = Settings(**env)
    return AdyenProvider(settings), StripeConnectProvider(settings)


def _prism_violations(stack: Stack) -> list[str]:
    with open(stack.procs["prism-adyen"].log, encoding="utf-8", errors="replace") as log:
        return [line.strip() for line in log if "✖" in line and "NO_PATH_MATCHED" not in line]


def _fund(client: StackClient, seller_id: str, country: str, n: int) -> None:
    body = seller_body(country, n, rail_accounts={"stripe": stripe_account_for(country, n)})
    resp = client.call("PUT", "sellers-api", f"/sellers/{seller_id}", body)
    if resp.status_code != 201:
        raise SystemExit(f"onboarding {seller_id}: {resp.status_code} {resp.text[:200]}")
    now, ccy = datetime.now(UTC).isoformat(), CURRENCIES[country]
    gross = minor_units(country, 2_000)
    base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": f"ol-{seller_id}"}
    money = {
        "gross": {"amount": gross, "currency": ccy},
        "commission": {"amount": gross // 10, "currency": ccy},
    }
    for event in (
        {**base, "event_id": f"e1-{seller_id}", "type": "order_line.paid", "data": money},
        {
            **base,
            "event_id": f"e2-{seller_id}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        },
    ):
        if client.post_order_event(event).status_code != 202:
            raise SystemExit(f"order event for {seller_id} refused")


def _pay(client: StackClient, seller_id: str, country: str) -> str:
    amount = minor_units(country, 300)
    resp = client.call(
        "POST",
        "payouts-api",
        "/payouts",
        {"seller_id": seller_id, "amount": {"amount": amount, "currency": CURRENCIES[country]}},
        {"Idempotency-Key": f"demo-rails-{uuid.uuid4().hex}"},
    )
    if resp.status_code != 201:
        raise SystemExit(f"payout for {seller_id}: {resp.status_code} {resp.text[:200]}")
    return str(resp.json()["payout_id"])


def _wait_paid(ops: StackClient, payout_ids: list[str], timeout: float = 120) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        for pid in payout_ids:
            if pid not in found or found[pid]["status"] != "paid":
                found[pid] = ops.call("GET", "payouts-api", f"/payouts/{pid}").json()
        if all(p["status"] == "paid" for p in found.values()):
            break
        time.sleep(0.5)
    return found


def run_rails_section(
    stack: Stack, client: StackClient, ops: StackClient, console: Console, per_country: int
) -> list[tuple[str, bool, str]]:
    """Returns the section's checks (name, ok, detail)."""
    adyen, stripe = _rails(stack)
    prism_before = len(_prism_violations(stack))
    tag = uuid.uuid4().hex[:6]
    sellers = [(f"dr{tag}-{c}-{i:03d}", c, 50_000 + i) for c in RAIL_COUNTRIES for i in range(per_country)]
    for seller_id, country, n in sellers:
        _fund(client, seller_id, country, n)
    before = {sid: _pay(client, sid, c) for sid, c, _ in sellers}
    paid_before = _wait_paid(ops, list(before.values()))
    console.print(
        f"{len(before)} payouts before the drain: "
        + ", ".join(
            f"{c}→{sorted({paid_before[before[s]]['provider'] for s, cc, _ in sellers if cc == c})}"
            for c in RAIL_COUNTRIES
        )
    )

    drained = ops.call("POST", "payouts-api", "/rails/adyen/drain", {"reason": "demo: Adyen incident"})
    console.print(
        f"ops drained adyen: HTTP {drained.status_code}; {DRAIN_WAIT_SECONDS} s for the senders' cache"
    )
    time.sleep(DRAIN_WAIT_SECONDS)
    try:
        after = {sid: _pay(client, sid, c) for sid, c, _ in sellers if c == "SE"}
        paid_after = _wait_paid(ops, list(after.values()))
    finally:
        resumed = ops.call("POST", "payouts-api", "/rails/adyen/resume", {"reason": "demo: resolved"})
        console.print(f"ops resumed adyen: HTTP {resumed.status_code}")

    every = {**paid_before, **paid_after}
    table = Table(title="Real rails: payouts by phase, country and rail")
    for column in ("phase", "country", "rail", "payouts", "paid", "passed over"):
        table.add_column(column)
    rows: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for phase, ids in (("before the drain", before), ("Adyen drained", after)):
        for sid, pid in ids.items():
            country = sid.split("-")[1]
            p = every[pid]
            rows.setdefault((phase, country, str(p["provider"])), []).append(p)
    for (phase, country, rail), ps in sorted(rows.items()):
        passes = sorted({f"{a['rail']}: {a['outcome']}" for p in ps for a in p["rail_attempts"]})
        paid = sum(p["status"] == "paid" for p in ps)
        table.add_row(phase, country, rail, str(len(ps)), str(paid), ", ".join(passes) or "-")
    console.print(table)

    checks: list[tuple[str, bool, str]] = []
    unpaid = [pid for pid, p in every.items() if p["status"] != "paid"]
    checks.append(("rails: every payout paid", not unpaid, ", ".join(unpaid[:3])))
    wrong = [
        sid
        for sid, c, _ in sellers
        if paid_before[before[sid]]["provider"] != RAIL_COUNTRIES[c]
        or (c == "SE" and every[after[sid]]["provider"] != "stripe")
    ]
    checks.append(
        (
            "rails: each payout on its route's rail; Adyen's new payouts on Stripe while drained",
            not wrong,
            ", ".join(wrong[:3]),
        )
    )
    sandbox = {t["reference"] for t in client.sandbox_transfers()}
    doubled, mismatched = [], []
    for pid, p in every.items():
        on = {"adyen": adyen.fetch_transfer(pid), "stripe": stripe.fetch_transfer(pid)}
        accepted = [rail for rail, state in on.items() if state is not None] + (
            ["sandbox"] if pid in sandbox else []
        )
        if len(accepted) != 1:
            doubled.append(f"{pid}: {accepted}")
            continue
        state = on.get(accepted[0])
        if state is not None and state.amount.amount != p["amount"]["amount"]:
            mismatched.append(pid)
    checks.append(
        (
            "rails: at most one accepted transfer per payout over all rails together",
            not doubled,
            "; ".join(doubled[:3]),
        )
    )
    checks.append(
        ("rails: each rail's transfer amount equals its payout's", not mismatched, ", ".join(mismatched[:3]))
    )
    violations = _prism_violations(stack)[prism_before:]
    checks.append(
        ("rails: Prism saw all Adyen traffic inside the contract", not violations, "; ".join(violations[:2]))
    )
    return checks
