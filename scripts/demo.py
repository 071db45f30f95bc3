"""The main job, end to end on the local stack: onboard sellers, post their order events
through Pub/Sub and the signed webhook, release funds, and show the balances.

Run it with ``./scripts/demo`` (which installs what it needs and starts the stack).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from scripts.client import StackClient
from scripts.sample_data import COUNTRIES, CURRENCIES, minor_units, seller_body
from scripts.stack import Stack
from shared.domain.countries import load_country_rules
from shared.domain.ledger import Bucket, balances_from_entries, seller_account
from shared.domain.order_events import apply_order_event, parse_order_event, release_line
from shared.topology import TOPIC_ORDER_EVENTS, TOPIC_RELEASE_FUNDS

ROOT = Path(__file__).resolve().parent.parent
console = Console()


def order_events(rng: random.Random, seller_id: str, country: str, now: datetime) -> list[dict[str, Any]]:
    """Three order lines: one delivered long ago (released), one partly refunded, one recent."""
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

    for i, delivered_days_ago in enumerate((40, 35, 1)):
        line = f"ol{i}"
        gross = minor_units(country, rng.randint(80, 900))
        commission = gross * 12 // 100
        paid_at = now - timedelta(days=delivered_days_ago + 3)
        ev(
            "order_line.paid",
            line,
            {
                "gross": {"amount": gross, "currency": ccy},
                "commission": {"amount": commission, "currency": ccy},
            },
            paid_at,
        )
        delivered_at = now - timedelta(days=delivered_days_ago)
        ev("order_line.delivered", line, {"delivered_at": delivered_at.isoformat()}, delivered_at)
        if i == 1:
            ev(
                "order_line.refunded",
                line,
                {"refund_id": f"rf-{seller_id}", "amount": {"amount": gross // 4, "currency": ccy}},
                delivered_at + timedelta(days=2),
            )
    return events


def expected_balances(events: list[dict[str, Any]], now: datetime) -> dict[tuple[str, str], int]:
    """What the ledger must say, computed by the same pure rules without any cloud service."""
    rules = load_country_rules()
    lines: dict[str, Any] = {}
    entries = []
    import json

    for raw in events:
        event = parse_order_event(json.dumps(raw))
        country = raw["seller_id"].split("-")[1]
        line, results = apply_order_event(lines.get(event.order_line_id), event, rules.get(country))
        lines[event.order_line_id] = line
        entries += [e for r in results for e in r.entries]
    for line in lines.values():
        if line.release_at is not None and line.release_at <= now:
            _, entry = release_line(line)
            if entry:
                entries.append(entry)
    return dict(balances_from_entries(entries))


def run(stack: Stack, sellers_per_country: int, seed: int) -> int:
    rng = random.Random(seed)
    client = StackClient.from_stack(stack, identity="marketplace")
    now = datetime.now(UTC)
    run_tag = f"{int(time.time()) % 100000:05d}"
    started = time.monotonic()

    sellers = [(f"demo-{c}-{run_tag}-{n}", c) for c in COUNTRIES for n in range(sellers_per_country)]
    console.rule("[bold]1. Onboard sellers")
    for n, (seller_id, country) in enumerate(sellers):
        resp = client.call(
            "PUT", "sellers-api", f"/sellers/{seller_id}", seller_body(country, n + int(run_tag))
        )
        if resp.status_code not in (200, 201):
            console.print(f"[red]onboarding {seller_id} failed: {resp.status_code} {resp.text}")
            return 1
    console.print(f"{len(sellers)} sellers onboarded in {len(COUNTRIES)} countries")

    console.rule("[bold]2. Order events: half through Pub/Sub, half through the signed webhook")
    all_events: list[dict[str, Any]] = []
    for seller_id, country in sellers:
        all_events += order_events(rng, seller_id, country, now)
    via_webhook = 0
    for i, event in enumerate(all_events):
        if i % 2:
            resp = client.post_order_event(event)
            if resp.status_code >= 300:
                console.print(f"[red]webhook refused {event['event_id']}: {resp.status_code} {resp.text}")
                return 1
            via_webhook += 1
        else:
            client.publish(TOPIC_ORDER_EVENTS, event)
    # Redeliver a few on purpose: nothing may change.
    for event in all_events[:5]:
        client.publish(TOPIC_ORDER_EVENTS, event)
    console.print(
        f"{len(all_events)} events: {via_webhook} signed webhooks, "
        f"{len(all_events) - via_webhook} Pub/Sub messages, plus 5 duplicates"
    )

    console.rule("[bold]3. Wait until every event is applied, then release funds past their holding period")
    expected = expected_balances(all_events, now)

    def pending_of(seller_id: str, ccy: str) -> int:
        return expected.get((seller_account(seller_id, Bucket.PENDING), ccy), 0) + expected.get(
            (seller_account(seller_id, Bucket.AVAILABLE), ccy), 0
        )

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        views = {sid: client.call("GET", "sellers-api", f"/sellers/{sid}").json() for sid, _ in sellers}
        if all(
            sum(v["balances"][0][b] for b in ("pending", "available")) == pending_of(sid, CURRENCIES[c])
            for (sid, c), v in zip(sellers, views.values(), strict=True)
        ):
            break
        time.sleep(1)
    client.publish(TOPIC_RELEASE_FUNDS, {"reason": "demo"})

    console.rule("[bold]4. Balances read back over HTTP")
    ok = True
    deadline = time.monotonic() + 120
    while True:
        views = {sid: client.call("GET", "sellers-api", f"/sellers/{sid}").json() for sid, _ in sellers}
        mismatches = []
        for sid, country in sellers:
            bal = views[sid]["balances"][0]
            ccy = CURRENCIES[country]
            for bucket in (Bucket.PENDING, Bucket.AVAILABLE, Bucket.IN_FLIGHT):
                if bal[bucket.value] != expected.get((seller_account(sid, bucket), ccy), 0):
                    mismatches.append((sid, bucket))
        if not mismatches or time.monotonic() > deadline:
            ok = not mismatches
            break
        time.sleep(1)

    table = Table(title="Seller balances (minor units)")
    for col in (
        "seller",
        "country",
        "currency",
        "pending",
        "available",
        "in flight",
        "bank account",
        "check",
    ):
        table.add_column(col, justify="right" if col in ("pending", "available", "in flight") else "left")
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sid, country in sellers:
        v = views[sid]
        bal = v["balances"][0]
        good = all(bal[b.value] == expected.get((seller_account(sid, b), bal["currency"]), 0) for b in Bucket)
        totals[bal["currency"]][0] += bal["pending"]
        totals[bal["currency"]][1] += bal["available"]
        table.add_row(
            sid,
            country,
            bal["currency"],
            f"{bal['pending']:,}",
            f"{bal['available']:,}",
            f"{bal['in_flight']:,}",
            v["bank_account"]["masked"],
            "[green]ok" if good else "[red]MISMATCH",
        )
    console.print(table)
    for ccy, (pending, available) in sorted(totals.items()):
        console.print(f"  {ccy}: pending {pending:,}  available {available:,}")
    console.print(f"Balances equal the ledger model for every seller: {'[green]yes' if ok else '[red]NO'}")
    console.print(f"Wall time: {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sellers-per-country", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = parser.parse_args()
    t0 = time.monotonic()
    stack = Stack.start(ROOT)
    console.print(f"Local stack up in {time.monotonic() - t0:.1f} s")
    try:
        return run(stack, args.sellers_per_country, args.seed)
    finally:
        if not args.keep:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
