"""Sellers and their money: onboarded and funded in-process through the use cases (``put_seller``,
``ingest_order_event``) against the stack's Firestore project, the same code the functions run."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.progress import Progress

from shared import metrics
from shared.domain.order_events import parse_order_event
from shared.domain.sellers import SellerIn
from shared.usecases.order_events import ingest_order_event
from shared.usecases.sellers import put_seller
from stand_ins.sample_sellers import COUNTRIES, CURRENCIES, minor_units, seller_body, stripe_account_for
from verification.bench.console import bar_columns, console
from verification.bench.context import Bench
from verification.bench.counters import ops_view, per

JSON = dict[str, Any]


def make_sellers(n: int, tag: str, countries: tuple[str, ...] = COUNTRIES) -> list[tuple[str, str, int]]:
    """(seller_id, country, index within its country), spread over ``countries`` (the nine of the
    sandbox by default; one country for a rail of its own: SE for Adyen, PL for Stripe)."""
    return [
        (
            f"bench-{tag}-{countries[i % len(countries)]}-{i // len(countries):06d}",
            countries[i % len(countries)],
            i // len(countries),
        )
        for i in range(n)
    ]


def funding_events(seller_id: str, country: str, now: datetime, major: int) -> list[bytes]:
    ccy = CURRENCIES[country]
    gross = minor_units(country, major)
    line = f"{seller_id}-ol1"
    base = {"seller_id": seller_id, "order_line_id": line}
    paid = {
        **base,
        "event_id": f"{seller_id}-paid",
        "type": "order_line.paid",
        "occurred_at": (now - timedelta(days=20)).isoformat(),
        "data": {
            "gross": {"amount": gross, "currency": ccy},
            "commission": {"amount": gross * 12 // 100, "currency": ccy},
        },
    }
    closed_at = (now - timedelta(days=1)).isoformat()
    closed = {
        **base,
        "event_id": f"{seller_id}-closed",
        "type": "order_line.return_window_closed",
        "occurred_at": closed_at,
        "data": {"closed_at": closed_at},
    }
    return [json.dumps(paid).encode(), json.dumps(closed).encode()]


def seed(bench: Bench, sellers: list[tuple[str, str, int]], major: int = 500) -> JSON:
    """Onboard and fund sellers in-process through the use cases; count the events' operations."""
    store, registry = bench.store, bench.registry
    now = datetime.now(UTC)
    threads = bench.args.seed_threads

    def onboard(item: tuple[str, str, int]) -> None:
        seller_id, country, n = item
        body = seller_body(country, n, "paid", payout_schedule={"interval": "daily"})
        if country == "PL":  # PL routes to Stripe first: a connected account each
            body["rail_accounts"] = {"stripe": stripe_account_for(country, n, "paid")}
        put_seller(store, registry, seller_id, SellerIn.model_validate_json(json.dumps(body)), now=now)

    def fund(item: tuple[str, str, int]) -> None:
        seller_id, country, _ = item
        for raw in funding_events(seller_id, country, now, major):
            ingest_order_event(store, registry, parse_order_event(raw), source="bench", now=now)

    with Progress(*bar_columns(), console=console, transient=True) as progress:
        t0 = time.monotonic()
        bar = progress.add_task("onboarding sellers", total=len(sellers))
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(onboard, sellers):
                progress.advance(bar)
        onboarded_s = time.monotonic() - t0
        before = metrics.snapshot()
        t1 = time.monotonic()
        bar = progress.add_task("funding (2 order events each)", total=len(sellers))
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(fund, sellers):
                progress.advance(bar)
        funded_s = time.monotonic() - t1
        counted = metrics.delta(metrics.snapshot(), before)
    events = 2 * len(sellers)
    return {
        "how": f"in-process use cases (put_seller, ingest_order_event), {threads} threads",
        "sellers": len(sellers),
        "sellers_per_s": round(len(sellers) / onboarded_s, 1),
        "events": events,
        "events_per_s": round(events / funded_s, 1),
        "ops_per_event": per(ops_view(counted), events),
    }
