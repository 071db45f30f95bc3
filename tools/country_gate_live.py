"""The country gate's live part (issue 17): a country's synthetic sellers paid through a local
stack, through each rail of its route.

On a stack (its own, started by ``tools.country_gate --live``, or a running one):

1. onboard synthetic sellers of the country (``stand_ins/sample_sellers.py``) on a daily
   schedule, one more per further rail of its route (with the ids that rail needs);
2. fund them through order events: sales in the country's currency and on the euro storefront
   (so every payout also converts, at the stack's rate source);
3. a dry run for a business day of the country: every seller would be paid, with the rates shown;
4. a live run for that day (the latest business day of the country no live run has taken on this
   stack): every run seller paid through the route's first rail;
5. each further rail of the route: the rails before it drained (resumed afterwards), one
   on-demand payout that must go through it and be paid;
6. the ledger audited: every currency sums to zero, stored balances equal their postings, money
   conserved per currency with the FX accounts.

Each step is a check of the go/no-go checklist (``tools/country_gate.py`` prints it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from local_stack.client import StackClient
from shared.adapters.firestore_store import FirestoreStore
from shared.domain.countries import CountryRules
from shared.domain.ledger_invariants import money_flows
from shared.domain.schedule import is_business_day, local_date
from shared.settings import Settings
from shared.topology import TOPIC_SWEEPER
from shared.usecases.ledger_audit import audit_ledger
from stand_ins.sample_sellers import minor_units, seller_body, stripe_account_for

LiveCheck = tuple[str, bool, str]  # (name, ok, detail)
DRAIN_WAIT_SECONDS = 6  # the senders' cache of the drain switches is 5 s (tools/demo_rails.py)
FINAL = ("paid", "failed", "returned", "canceled")


def _wait(check: Callable[[], Any], timeout: float, nudge: Callable[[], None] | None = None) -> Any:
    deadline, last_nudge = time.monotonic() + timeout, 0.0
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        if nudge is not None and time.monotonic() - last_nudge > 3:
            nudge()  # the sweeper, as Cloud Scheduler would
            last_nudge = time.monotonic()
        time.sleep(0.5)


def run_date_for_gate(rules: CountryRules, ops: StackClient, now: datetime) -> date:
    """The latest business day of the country, begun there, that no live run has taken yet."""
    day = local_date(rules, now)
    for _ in range(400):
        if (
            is_business_day(rules, day)
            and ops.call("GET", "payouts-api", f"/runs/run-{day}").status_code == 404
        ):
            return day
        day -= timedelta(days=1)
    raise RuntimeError(f"no free business day of {rules.country} in the last 400 days")


def _seller_body(rules: CountryRules, n: int, rail: str) -> dict[str, Any]:
    body = seller_body(rules.country, n, payout_schedule={"interval": "daily"})
    if rail == "stripe":
        body["rail_accounts"] = {"stripe": stripe_account_for(rules.country, n)}
    return body


def _fund(client: StackClient, seller_id: str, rules: CountryRules) -> None:
    now = datetime.now(UTC).isoformat()
    sales = [(minor_units(rules.country, 150), rules.currency)]
    if rules.currency != "EUR":
        sales.append((6_000, "EUR"))  # the euro storefront: the payout converts it
    for i, (gross, ccy) in enumerate(sales):
        line = f"gate-{seller_id}-{i}"
        base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": line}
        money = {
            "gross": {"amount": gross, "currency": ccy},
            "commission": {"amount": gross // 10, "currency": ccy},
        }
        for event in (
            {**base, "event_id": f"p-{line}", "type": "order_line.paid", "data": money},
            {
                **base,
                "event_id": f"c-{line}",
                "type": "order_line.return_window_closed",
                "data": {"closed_at": now},
            },
        ):
            resp = client.post_order_event(event)
            if resp.status_code != 202:
                raise RuntimeError(f"order event for {seller_id}: {resp.status_code} {resp.text[:200]}")


def live_gate(
    rules: CountryRules, client: StackClient, store: FirestoreStore, *, sellers: int = 2
) -> list[LiveCheck]:
    """Run the live part for ``rules`` (as the stack loads them) and answer its checks."""
    ops = client.as_identity("ops")
    tag = uuid.uuid4().hex[:6]
    route = rules.rails
    checks: list[LiveCheck] = []
    # 1. onboard: the run's sellers, then one per further rail.
    run_sellers = [f"gate{tag}-{rules.country.lower()}-run-{i}" for i in range(sellers)]
    rail_sellers = {rail: f"gate{tag}-{rules.country.lower()}-{rail}" for rail in route[1:]}
    onboarded = []
    for n, (sid, rail) in enumerate(
        [(s, route[0]) for s in run_sellers] + [(s, r) for r, s in rail_sellers.items()]
    ):
        resp = client.call("PUT", "sellers-api", f"/sellers/{sid}", _seller_body(rules, 21 + n, rail))
        onboarded.append((sid, resp.status_code, resp.text[:200]))
    bad = [f"{sid}: {code} {text}" for sid, code, text in onboarded if code != 201]
    checks.append(("live: onboard synthetic sellers", not bad, "; ".join(bad) or f"{len(onboarded)} sellers"))
    if bad:
        return checks
    # 2. fund through order events (the rail sellers after the run, which would pay them too).
    for sid in run_sellers:
        _fund(client, sid, rules)
    ok = _funded(client, run_sellers)
    checks.append(("live: fund through order events", ok, f"sales in {rules.currency} and EUR, released"))
    if not ok:
        return checks
    # 3. dry run.
    run_date = run_date_for_gate(rules, ops, datetime.now(UTC))
    dry = ops.call("POST", "payouts-api", "/runs", {"run_date": run_date.isoformat(), "dry_run": True})
    dry_id = dry.json().get("run_id", "") if dry.status_code == 202 else ""
    items = _run_items(ops, dry_id, run_sellers) if dry_id else {}
    would = {sid: i.get("would_pay") for sid, i in items.items()}
    rates = ops.call("GET", "payouts-api", f"/runs/{dry_id}").json().get("fx_rates", []) if dry_id else []
    ok = len(would) == len(run_sellers) and all(would.values())
    checks.append(
        (
            "live: dry run",
            ok,
            f"{dry_id}: would pay {would}; {len(rates)} rates fixed"
            if dry_id
            else f"HTTP {dry.status_code} {dry.text[:200]}",
        )
    )
    # 4. live run through the route's first rail.
    live = ops.call("POST", "payouts-api", "/runs", {"run_date": run_date.isoformat()})
    run_id = live.json().get("run_id", "") if live.status_code == 202 else ""

    def paid_in_run() -> dict[str, dict[str, Any]] | None:
        found = {sid: _payouts_of(ops, sid, run_id) for sid in run_sellers}
        done = all(p and p[0]["status"] in FINAL for p in found.values())
        return {sid: p[0] for sid, p in found.items()} if done else None

    def nudge() -> None:
        client.publish(TOPIC_SWEEPER, {"reason": "country gate"})

    outcome = _wait(paid_in_run, 120, nudge) if run_id else None
    statuses = {
        sid: (p["status"], p["provider"], len(p["conversions"])) for sid, p in (outcome or {}).items()
    }
    ok = bool(outcome) and all(s == "paid" and rail == route[0] for s, rail, _ in statuses.values())
    checks.append(
        (
            f"live: run through {route[0]}",
            ok,
            f"{run_id}: {statuses}" if run_id else f"HTTP {live.status_code} {live.text[:200]}",
        )
    )
    # 5. every further rail: the rails before it drained, one on-demand payout through it.
    for sid in rail_sellers.values():
        _fund(client, sid, rules)
    if rail_sellers and not _funded(client, list(rail_sellers.values())):
        checks.append(("live: fund the rail sellers", False, "their balances did not become available"))
        return checks
    for position, (rail, sid) in enumerate(rail_sellers.items(), start=1):
        checks.append(_through_rail(client, ops, rules, rail, route[:position], sid, nudge))
    # 6. the ledger.
    report = audit_ledger(store)
    flows = money_flows(report.account_totals, report.stored_balances)
    conserved = all(f.conserved for f in flows.values())
    checks.append(
        (
            "live: ledger zero per currency, FX included",
            report.ok and conserved,
            f"{report.entries} entries, {len(flows)} currencies"
            + ("" if report.ok and conserved else f": {report.problems[:3]}"),
        )
    )
    return checks


def _funded(client: StackClient, sellers: list[str]) -> bool:
    def funded() -> bool:
        views = [client.call("GET", "sellers-api", f"/sellers/{sid}").json() for sid in sellers]
        return all(v.get("expected_payout", {}).get("total", {}).get("amount", 0) > 0 for v in views)

    return bool(_wait(funded, 30))


def _through_rail(
    client: StackClient,
    ops: StackClient,
    rules: CountryRules,
    rail: str,
    before: tuple[str, ...],
    seller_id: str,
    nudge: Callable[[], None],
) -> LiveCheck:
    name = f"live: on demand through {rail}"
    drained: list[str] = []
    try:
        for other in before:
            resp = ops.call(
                "POST", "payouts-api", f"/rails/{other}/drain", {"reason": f"country gate: {rail}"}
            )
            if resp.status_code != 200:
                return (name, False, f"could not drain {other}: {resp.status_code} {resp.text[:200]}")
            drained.append(other)
        time.sleep(DRAIN_WAIT_SECONDS if drained else 0)
        view = client.call("GET", "sellers-api", f"/sellers/{seller_id}").json()
        body = {"seller_id": seller_id, "amount": view["expected_payout"]["total"]}
        created = client.call(
            "POST", "payouts-api", "/payouts", body, headers={"Idempotency-Key": f"gate-{seller_id}"}
        )
        if created.status_code != 201:
            return (name, False, f"HTTP {created.status_code} {created.text[:200]}")
        pid = created.json()["payout_id"]

        def final() -> dict[str, Any] | None:
            p = dict(client.call("GET", "payouts-api", f"/payouts/{pid}").json())
            return p if p["status"] in FINAL else None

        payout = _wait(final, 90, nudge)
    finally:
        for other in drained:
            ops.call("POST", "payouts-api", f"/rails/{other}/resume", {"reason": "country gate done"})
    if not payout:
        return (name, False, f"{pid} not final in time")
    ok = payout["status"] == "paid" and payout["provider"] == rail
    return (name, ok, f"{pid}: {payout['status']} through {payout['provider']} ({', '.join(before)} drained)")


def _run_items(ops: StackClient, run_id: str, sellers: list[str]) -> dict[str, dict[str, Any]]:
    def found() -> dict[str, dict[str, Any]] | None:
        out = {}
        for sid in sellers:
            resp = ops.call("GET", "payouts-api", f"/runs/{run_id}/items?seller_id={sid}")
            data = resp.json().get("data", []) if resp.status_code == 200 else []
            if data:
                out[sid] = data[0]
        return out if len(out) == len(sellers) else None

    return dict(_wait(found, 60) or {})


def _payouts_of(ops: StackClient, seller_id: str, run_id: str) -> list[dict[str, Any]]:
    resp = ops.call("GET", "payouts-api", f"/payouts?seller_id={seller_id}&run_id={run_id}")
    return list(resp.json().get("data", [])) if resp.status_code == 200 else []


def stack_store(project: str) -> FirestoreStore:
    return FirestoreStore(Settings(), project=project)
