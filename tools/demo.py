"""The main job, end to end on the local stack: a real payout cycle.

1. Onboard a few hundred sellers in every supported country, some of whom will fail (a closed
   account, a frozen one, a bank that returns the money), some below the minimum, on hold, or
   waiting for KYC.
2. Publish their order events: through Pub/Sub and the signed webhook, with duplicates.
3. Release funds past their holding period, and trigger a payout run through Pub/Sub.
4. Follow the transfers as they settle through the sandbox provider, with a progress bar.
5. Print payouts by status and currency, skip reasons, a ledger check and a reconciliation
   against the provider's own list of transfers. Exit 0 when everything agrees.
6. The real rails (``tools/demo_rails.py``): SE sellers paid through Adyen (through Prism), PL
   sellers through Stripe Connect, Adyen drained by ops mid-section and its new payouts moving to
   Stripe; at most one accepted transfer per payout over all rails together.
7. The SEPA bank files (``tools/demo_sepa.py``): IE sellers paid through a pain.001 in the
   outbound bucket, the bank stand-in's pain.002 / camt.054 / camt.053 answers settling them (a
   rejection, a return), and the bank-file rail in the reconciliation tables (zero breaks).

8b. FX (``tools/demo_fx.py``, issue 17): a Swedish seller selling in EUR paid in SEK, a Polish
   seller paid in PLN, a seller holding EUR and GBP; each conversion (rate, source, both amounts)
   and the ledger per currency with the FX accounts.

Run it with ``./scripts/demo`` (which installs what it needs and starts the stack).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from local_stack.client import StackClient
from local_stack.stack import Stack
from shared.adapters.firestore_store import FirestoreStore
from shared.domain.countries import load_country_rules
from shared.domain.ledger_replay import replay_order_events
from shared.domain.money import Money
from shared.domain.order_events import parse_order_event
from shared.settings import Settings
from shared.topology import TOPIC_ORDER_EVENTS, TOPIC_PAYOUT_RUNS, TOPIC_RELEASE_FUNDS, TOPIC_SWEEPER
from shared.usecases.ledger_audit import audit_ledger
from stand_ins.sample_run_dates import run_date_for
from stand_ins.sample_sellers import COUNTRIES, CURRENCIES, minor_units, seller_body
from tools.demo_dac7 import dac7_report
from tools.demo_funding import hold_then_fund, leave_the_account_short
from tools.demo_fx import run_fx_section
from tools.demo_rails import run_rails_section
from tools.demo_sepa import run_sepa_section

ROOT = Path(__file__).resolve().parent.parent
console = Console()
RULES = load_country_rules()

# What happens to the i-th seller of each country (the rest are simply paid).
PROFILES = {
    1: "account_closed", 2: "returned", 3: "declined", 4: "no_account", 5: "account_frozen",
    6: "on_hold", 7: "kyc_pending", 8: "below_minimum",
}  # fmt: skip
EXPECTED = {
    "paid": ("paid", None), "account_closed": ("failed", "account_closed"), "returned": ("returned", None),
    "declined": ("failed", "declined"), "no_account": ("failed", "no_account"),
    "account_frozen": ("failed", "account_frozen"), "on_hold": (None, "on_hold"),
    "kyc_pending": (None, "kyc_pending"), "below_minimum": (None, "below_minimum"),
}  # fmt: skip


def profile_of(i: int) -> str:
    return PROFILES.get(i % 15, "paid")


def order_events(
    rng: random.Random, seller_id: str, country: str, profile: str, now: datetime
) -> list[dict[str, Any]]:
    ccy = CURRENCIES[country]
    events: list[dict[str, Any]] = []

    def ev(kind: str, line: str, data: dict[str, Any], at: datetime) -> None:
        events.append(
            {
                "event_id": f"evt-{seller_id}-{line}-{kind.split('.')[-1]}",
                "type": kind,
                "occurred_at": at.isoformat(),
                "seller_id": seller_id,
                "order_line_id": f"{seller_id}-{line}",
                "data": data,
            }
        )

    lines = [(0, 40), (1, 35), (2, 1)]  # (line, days since delivery): the last is still held
    for i, days_ago in lines:
        gross = minor_units(country, 1 if profile == "below_minimum" else rng.randint(80, 900))
        commission = gross * 12 // 100
        paid_at = now - timedelta(days=days_ago + 3)
        ev(
            "order_line.paid",
            f"ol{i}",
            {
                "gross": {"amount": gross, "currency": ccy},
                "commission": {"amount": commission, "currency": ccy},
            },
            paid_at,
        )
        delivered_at = now - timedelta(days=days_ago)
        ev("order_line.delivered", f"ol{i}", {"delivered_at": delivered_at.isoformat()}, delivered_at)
        if i == 1 and profile != "below_minimum":
            ev(
                "order_line.refunded",
                f"ol{i}",
                {"refund_id": f"rf-{seller_id}", "amount": {"amount": gross // 4, "currency": ccy}},
                delivered_at + timedelta(days=2),
            )
    return events


def expected_available(events: list[dict[str, Any]], now: datetime) -> dict[str, int]:
    """Each seller's available balance after release, by the same pure rules, no cloud."""
    replayed = replay_order_events(
        (parse_order_event(json.dumps(raw)) for raw in events),
        lambda seller_id: RULES.get(seller_id.split("-")[1]),  # d<tag>-<country>-<n>
        now,
    )
    return replayed.available_by_seller()


def print_checks(title: str, checks: list[tuple[str, bool, str]]) -> int:
    """A section's checks as a table; 0 when every one is ok, else 1."""
    table = Table(title=title)
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for name, ok, detail in checks:
        table.add_row(name, "[green]ok" if ok else "[red]FAILED", detail)
    console.print(table)
    return 0 if all(ok for _, ok, _ in checks) else 1


def step(title: str) -> None:
    console.rule(f"[bold]{title}")


def run(stack: Stack, per_country: int, seed: int) -> int:
    rng = random.Random(seed)
    client = StackClient.from_stack(stack, identity="marketplace")
    ops = client.as_identity("ops")
    store = FirestoreStore(Settings(), project=stack.project)
    now = datetime.now(UTC)
    demo_window_start = now.replace(microsecond=0) - timedelta(seconds=1)  # reconciled at the end
    tag = f"{int(time.time()) % 100000:05d}"
    started = time.monotonic()
    sellers = [(f"d{tag}-{c}-{i:03d}", c, profile_of(i)) for c in COUNTRIES for i in range(per_country)]
    pool = ThreadPoolExecutor(max_workers=8)

    step(f"1. Onboard {len(sellers)} sellers in {len(COUNTRIES)} countries")

    def onboard(item: tuple[str, str, str]) -> int:
        seller_id, country, profile = item
        outcome = (
            profile
            if profile in ("account_closed", "returned", "declined", "no_account", "account_frozen")
            else "paid"
        )
        body = seller_body(
            country,
            int(seller_id[-3:]) + 1000 * int(tag[-2:]),
            outcome,
            payout_schedule={"interval": "daily"},
            kyc_status="pending" if profile == "kyc_pending" else "verified",
            payout_hold={"held": True, "reason": "fraud review"} if profile == "on_hold" else {"held": False},
        )
        resp = client.call("PUT", "sellers-api", f"/sellers/{seller_id}", body)
        return resp.status_code

    codes = Counter(pool.map(onboard, sellers))
    if set(codes) != {201}:
        console.print(f"[red]onboarding answered {dict(codes)}")
        return 1
    console.print(
        f"{len(sellers)} sellers onboarded: "
        + ", ".join(f"{n} {p}" for p, n in sorted(Counter(p for _, _, p in sellers).items()))
    )

    step("2. Order events: Pub/Sub and the signed webhook, with duplicate deliveries")
    events = [e for sid, c, p in sellers for e in order_events(rng, sid, c, p, now)]
    topic = client.publisher().topic_path(stack.project, TOPIC_ORDER_EVENTS)
    sent = Counter[str]()
    applied = 0
    # In business time, payments come days before deliveries and refunds: send them in that order.
    for kind in ("order_line.paid", "order_line.delivered", "order_line.refunded"):
        wave = [e for e in events if e["type"] == kind]
        webhook = wave[::4]
        pubsub = [e for i, e in enumerate(wave) if i % 4]
        futures = [client.publisher().publish(topic, json.dumps(e).encode()) for e in pubsub + pubsub[:15]]
        sent.update(str(r.status_code) for r in pool.map(client.post_order_event, webhook))
        for f in futures:
            f.result(timeout=60)
        applied += len(wave)
        wait_for(
            lambda n=applied: store.count(store.client.collection("order_events")) >= n,
            f"{kind} applied",
            300,
        )
        console.print(
            f"  {kind}: {len(webhook)} signed webhooks, {len(pubsub)} Pub/Sub messages (+15 duplicates)"
        )
    console.print(f"{len(events)} events applied; webhook answers {dict(sent)}, duplicates changed nothing")

    step("3. Release funds past their holding period")
    expected = expected_available(events, now)
    client.publish(TOPIC_RELEASE_FUNDS, {"reason": "demo"})

    def available(sid: str) -> int:
        return int(client.call("GET", "sellers-api", f"/sellers/{sid}").json()["balances"][0]["available"])

    wait_for(
        lambda: all(
            a == expected.get(s, 0)
            for s, a in zip(
                [s for s, _, _ in sellers], pool.map(available, [s for s, _, _ in sellers]), strict=True
            )
        ),
        "balances released",
        180,
    )
    console.print("every seller's available balance equals the ledger rules computed offline")

    run_date = run_date_for(now)
    run_id = f"run-{run_date.isoformat()}"
    step(f"4. Payout run {run_id}, triggered through Pub/Sub (twice: one run), on a short account")
    leave_the_account_short(ops)  # issue 16: the run's funding check holds it (tools/demo_funding.py)
    client.publish(TOPIC_PAYOUT_RUNS, {"run_date": run_date.isoformat()})
    client.publish(TOPIC_PAYOUT_RUNS, {"run_date": run_date.isoformat()})
    wait_for(lambda: ops.call("GET", "payouts-api", f"/runs/{run_id}").status_code == 200, "run created", 60)
    funding_code = print_checks("Checks: the funding check", hold_then_fund(client, ops, console, run_id))

    expected_final = {sid: EXPECTED[p] for sid, _, p in sellers}
    to_pay = sum(1 for st, _ in expected_final.values() if st)
    last_sweep = 0.0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("transfers settled", total=to_pay)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            view = ops.call("GET", "payouts-api", f"/runs/{run_id}").json()
            by_status = view["payouts_by_status"]
            settled = sum(by_status.get(s, 0) for s in ("paid", "failed", "returned", "canceled"))
            progress.update(
                bar,
                completed=settled,
                description=f"transfers settled ({by_status.get('returned', 0)} returned)",
            )
            returns_due = sum(1 for st, _ in expected_final.values() if st == "returned")
            if (
                settled >= to_pay
                and by_status.get("returned", 0) >= returns_due
                and view["status"] == "completed"
            ):
                break
            if time.monotonic() - last_sweep > 3:  # Cloud Scheduler's job in production
                client.publish(TOPIC_SWEEPER, {"reason": "demo"})
                last_sweep = time.monotonic()
            time.sleep(0.5)
    code = report(stack, client, ops, store, run_id, sellers, expected_final, started) or funding_code
    # Issue 18: what two payouts paid for.
    code = max(code, show_payout_documents(stack, ops, store, run_id))
    # Issue 15: the real rails, a section of its own (tools/demo_rails.py).
    step("7. Real rails: Adyen (through Prism) and Stripe Connect by route, and a drain mid-run")
    rail_checks = run_rails_section(stack, client, ops, console, max(2, min(per_country, 5)))
    code = code or print_checks("Checks: real rails", rail_checks)
    # Issue 16: the SEPA bank-file rail, a section of its own (tools/demo_sepa.py).
    code = max(code, sepa_section(stack, client, ops, max(3, min(per_country, 6))))
    # Reconciliation (issue 16): the ledger against every rail's own records over the demo's window.
    code = reconciliation_tables(ops, demo_window_start) or code
    # Issue 17: sellers paid in another currency than they sell in (tools/demo_fx.py).
    code = max(code, fx_section(client, store))
    # Issue 18: the year's DAC7 report and its file (tools/demo_dac7.py).
    step("9. DAC7: the year's report of sellers' sales, and its DPI file for the tax authority")
    out = ROOT / ".local" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    return dac7_report(client, ops, out, console) or code


def report(
    stack: Stack,
    client: StackClient,
    ops: StackClient,
    store: FirestoreStore,
    run_id: str,
    sellers: list[tuple[str, str, str]],
    expected_final: dict[str, tuple[str | None, str | None]],
    started: float,
) -> int:
    step("5. Summary")
    view = ops.call("GET", "payouts-api", f"/runs/{run_id}").json()
    payouts: list[dict[str, Any]] = []
    token = None
    while True:
        page = ops.call(
            "GET",
            "payouts-api",
            f"/payouts?run_id={run_id}&limit=200" + (f"&page_token={token}" if token else ""),
        ).json()
        payouts += page["data"]
        token = page["next_page_token"]
        if not token:
            break

    table = Table(title=f"Payouts of {run_id} ({view['status']})")
    for col in ("currency", "status", "payouts", "amount"):
        table.add_column(col, justify="right" if col in ("payouts", "amount") else "left")
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for p in payouts:
        groups[(p["amount"]["currency"], p["status"])].append(p["amount"]["amount"])
    for (ccy, status), amounts in sorted(groups.items()):
        table.add_row(ccy, status, str(len(amounts)), str(Money(sum(amounts), ccy)))
    console.print(table)
    skips = Table(title="Sellers not paid, and why")
    skips.add_column("reason")
    skips.add_column("sellers", justify="right")
    for reason, n in sorted(view["skip_reasons"].items()):
        skips.add_row(reason, str(n))
    console.print(skips)

    checks: list[tuple[str, bool, str]] = []
    by_seller = {p["seller_id"]: p for p in payouts}
    wrong = []
    for sid, (want_status, want_code) in expected_final.items():
        got = by_seller.get(sid)
        if want_status is None:
            if got is not None:
                wrong.append(f"{sid} was paid but should be skipped ({want_code})")
        elif (
            got is None
            or got["status"] != want_status
            or (want_status == "failed" and got["failure_code"] != want_code)
        ):
            found = got and (got["status"], got["failure_code"])
            wrong.append(f"{sid}: expected {want_status} {want_code or ''}, got {found}")
    checks.append(("every seller ended as its profile says", not wrong, "; ".join(wrong[:3])))
    checks.append(
        ("one payout per seller in this run", len(by_seller) == len(payouts), f"{len(payouts)} payouts")
    )

    ids = by_id(payouts)
    transfers = [t for t in client.sandbox_transfers() if t["reference"] in ids]
    refs = Counter(t["reference"] for t in transfers)
    settled = [p for p in payouts if p["status"] in ("paid", "failed", "returned")]
    checks.append(
        (
            "transfers at the provider = paid + failed + returned payouts",
            len(transfers) == len(settled),
            f"{len(transfers)} transfers, {len(settled)} payouts",
        )
    )
    checks.append(
        (
            "no payout has two transfers",
            all(n == 1 for n in refs.values()),
            f"max {max(refs.values(), default=0)} per payout",
        )
    )
    amounts_ok = all(t["amount"] == ids[t["reference"]]["amount"]["amount"] for t in transfers)
    checks.append(("provider amounts equal payout amounts", amounts_ok, ""))
    audit = audit_ledger(store)
    totals = ", ".join(f"{c} {v}" for c, v in sorted(audit.totals_by_currency.items()))
    checks.append(
        (
            "ledger: every entry and currency sums to zero; balances equal postings",
            audit.ok,
            totals + ("; " + "; ".join(audit.problems[:3]) if audit.problems else ""),
        )
    )

    result = Table(title="Checks")
    result.add_column("check")
    result.add_column("result")
    result.add_column("detail")
    for name, ok, detail in checks:
        result.add_row(name, "[green]ok" if ok else "[red]FAILED", detail)
    console.print(result)
    n_settled = len(settled)
    console.print(
        f"Settled {n_settled} payouts ({len(payouts)} created) for {len(sellers)} sellers "
        f"in {time.monotonic() - started:.1f} s."
    )
    return 0 if all(ok for _, ok, _ in checks) else 1


def sepa_section(stack: Stack, client: StackClient, ops: StackClient, n: int) -> int:
    """7b. IE sellers paid through SEPA bank files (issue 16 §2)."""
    step("7b. SEPA bank files: a pain.001 out, the bank's pain.002 / camt.054 / camt.053 back")
    checks = run_sepa_section(stack, client, ops, console, n)
    return print_checks("Checks: SEPA bank files", checks)


def reconciliation_tables(ops: StackClient, window_start: datetime) -> int:
    """8. Reconcile every rail the stack reconciles (RECONCILED_RAILS) over the demo's window,
    through reconciliation-api as ops would: one table per rail, zero unexplained breaks."""
    step("8. Reconciliation: the ledger against each rail's own records")
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    time.sleep(2)  # the window's end has passed: nothing of it is still being written
    failed = 0
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for rail in ("sandbox", "adyen", "stripe", "sepa_file"):
        body = {"rail": rail, "from": window_start.isoformat(), "to": end.isoformat()}
        if rail == "sepa_file":  # a bank statement books by day: the bank's rail is read per UTC day
            body = {"rail": rail, "from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
        resp = ops.call("POST", "reconciliation-api", "/reconciliations", body)
        if resp.status_code != 201:
            console.print(f"[red]{rail}: reconciliation answered {resp.status_code}: {resp.text[:300]}")
            failed = 1
            continue
        rep = resp.json()
        table = Table(title=f"Reconciliation {rep['report_id']}: {rep['breaks']} unexplained breaks")
        for col in ("class", "currency", "movements", "total"):
            table.add_column(col, justify="right" if col in ("movements", "total") else "left")
        for line in rep["lines"]:
            total = str(Money(line["total"], line["currency"]))
            table.add_row(line["class"], line["currency"], str(line["count"]), total)
        if not rep["lines"]:
            table.add_row("(no movements on this rail)", "", "0", "")
        console.print(table)
        if rep["breaks"]:
            failed = 1
            listing = ops.call("GET", "reconciliation-api", f"/reconciliation-breaks?rail={rail}&state=open")
            for brk in listing.json().get("data", [])[:5]:
                console.print(f"[red]  {brk['class']}: {brk['note']} ({brk['break_id']})")
    return failed


# ---- what payouts pay for: statements and remittance advice (issue 18) -------------------------


def show_payout_documents(stack: Stack, ops: StackClient, store: FirestoreStore, run_id: str) -> int:
    """For two paid payouts of the run: the statement, whose lines sum to the paid amount, and the
    remittance advice PDF, from the documents bucket to .local/demo/."""
    from shared.adapters.cloud_storage import CloudStorage

    step("6. What two payouts paid for: statements and remittance advice")
    listed = ops.call("GET", "payouts-api", f"/payouts?run_id={run_id}&status=paid&limit=50").json()["data"]
    chosen = sorted(listed, key=lambda p: p["seller_id"])[:2]
    if len(chosen) < 2:
        console.print("[red]fewer than two paid payouts to show")
        return 1
    out = ROOT / ".local" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    objects = CloudStorage(Settings())
    ok = True
    for payout in chosen:
        pid, amount = payout["payout_id"], payout["amount"]
        st = ops.call("GET", "payouts-api", f"/payouts/{pid}/statement?limit=500").json()
        table = Table(
            title=f"{pid} of {payout['seller_id']}: paid {Money(amount['amount'], amount['currency'])}"
        )
        for column in ("#", "kind", "order line", "reference", "amount"):
            table.add_column(column)
        for line in st["data"]:
            money = Money(line["amount"]["amount"], line["amount"]["currency"])
            table.add_row(
                str(line["line"]), line["kind"], line["order_line_id"] or "", line["ref"] or "", str(money)
            )
        total = sum(line["amount"]["amount"] for line in st["data"])
        sums = total == amount["amount"]
        ok = ok and sums
        console.print(table)
        console.print(
            f"  lines sum to {Money(total, amount['currency'])}: "
            + ("[green]the paid amount" if sums else "[red]NOT the paid amount")
        )
        event_id = f"{pid}-remittance"
        wait_for(lambda e=event_id: (store.get("outbox", e) or {}).get("published"), "remittance advice", 180)
        uri = store.get("outbox", event_id)["data"]["remittance_advice"]["uri"]  # type: ignore[index]
        bucket, name = uri.removeprefix("gs://").split("/", 1)
        pdf = objects.get(bucket, name)
        ok = ok and pdf is not None
        path = out / f"remittance-{pid}.pdf"
        path.write_bytes(pdf or b"")
        console.print(f"  remittance advice: {uri} (payout.remittance_ready) -> {path.relative_to(ROOT)}")
    return 0 if ok else 1


def fx_section(client: StackClient, store: FirestoreStore) -> int:
    """8b. Issue 17: a Swedish seller selling in EUR paid in SEK, a Polish seller paid in PLN, a
    seller holding EUR and GBP; the conversions and the ledger per currency with FX."""
    step("8b. FX: sellers paid in another currency than they sell in, converted at payout creation")
    checks = run_fx_section(client, store, console)
    return print_checks("Checks: FX payouts", checks)


def by_id(payouts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["payout_id"]: p for p in payouts}


def wait_for(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sellers-per-country", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = parser.parse_args()
    t0 = time.monotonic()
    stack = Stack.start(ROOT)
    os.environ.update(stack.env)  # this process reads the emulators too (the ledger check)
    console.print(f"Local stack up in {time.monotonic() - t0:.1f} s (logs in {stack.state_dir / 'logs'})")
    console.print(f"Console: {stack.console_url} (local sign-in as {stack.console_sign_in})")
    try:
        return run(stack, args.sellers_per_country, args.seed)
    finally:
        if not args.keep:
            stack.stop()
            console.print("stack stopped")


if __name__ == "__main__":
    sys.exit(main())
