"""The marketplace's side of a fault run: sellers onboarded, order events sent by every route
with their duplicates, late redeliveries, a hot seller flooded, funds released."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from shared.topology import TOPIC_ORDER_EVENTS, TOPIC_RELEASE_FUNDS
from stand_ins.sample_sellers import seller_body, stripe_account_for
from verification.faults.context import Breach, FaultContext
from verification.faults.plan import SellerPlan
from verification.faults.process_kills import kill_and_restart
from verification.faults.seller_profiles import FAILING

JSON = dict[str, Any]


def onboard(ctx: FaultContext) -> None:
    def put(s: SellerPlan) -> int:
        outcome = s.profile if s.profile in FAILING or s.profile == "returned" else "paid"
        body = seller_body(
            s.country,
            s.n,
            outcome,
            payout_schedule={"interval": "daily"},
            kyc_status="pending" if s.profile == "kyc_pending" else "verified",
            payout_hold={"held": True, "reason": "fraud review"}
            if s.profile == "on_hold"
            else {"held": False},
            # PL routes to Stripe first: its sellers have connected accounts, whose id gives the
            # Stripe stand-in the same fate as the bank account gives the others.
            **(
                {"rail_accounts": {"stripe": stripe_account_for(s.country, s.n, outcome)}}
                if s.country == "PL"
                else {}
            ),
        )
        return ctx.client.call("PUT", "sellers-api", f"/sellers/{s.seller_id}", body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = Counter(pool.map(put, ctx.plan.sellers))
    if set(codes) != {201}:
        raise Breach(f"onboarding answered {dict(codes)}")
    ctx.say(f"{len(ctx.plan.sellers)} sellers onboarded in {len(set(ctx.countries.values()))} countries")


def _stripe_account(s: SellerPlan, outcome: str) -> JSON:
    return {"rail_accounts": {"stripe": stripe_account_for(s.country, s.n, outcome)}}


def send_events(ctx: FaultContext, events: list[JSON], label: str, kill: JSON | None = None) -> None:
    """Each event through its planned route; a kill of order-events lands in the flood."""
    for e in events:
        ctx.sent_events[e["event_id"]] = e
    kill_at = len(events) // 3 if kill else -1
    futures: list[Future[Any]] = []
    with ThreadPoolExecutor(max_workers=12) as pool:
        for i, e in enumerate(events):
            if i == kill_at and kill is not None:
                ctx.spawn(kill_and_restart, ctx, kill)
            futures += _send_by_route(ctx, pool, e)
        for f in futures:
            f.result(timeout=600)
    ctx.say(f"{label}: {len(events)} events sent")


def _send_by_route(ctx: FaultContext, pool: ThreadPoolExecutor, e: JSON) -> list[Future[Any]]:
    plan, delivery = ctx.plan, ctx.delivery
    route = plan.routes.get(e["event_id"], "pubsub")
    if route == "webhook":
        copies = plan.webhook_dups.get(e["event_id"], 1)
        if copies > 1:
            ctx.fault("order_event_concurrent_webhook_duplicate", copies - 1)
        return [pool.submit(delivery.post_event, e) for _ in range(copies)]
    if route == "push_burst":
        copies = plan.push_burst_copies[e["event_id"]]
        ctx.fault("order_event_concurrent_same_message_id", copies - 1)
        mid = f"burst-{uuid.uuid4().hex[:12]}"
        return [pool.submit(delivery.push, "order-events", TOPIC_ORDER_EVENTS, e, mid) for _ in range(copies)]
    return [delivery.publish(TOPIC_ORDER_EVENTS, e)]


def wait_applied(ctx: FaultContext, label: str, timeout: float = 600) -> None:
    want = len(ctx.sent_events)
    reads = ctx.reads
    ctx.wait_for(lambda: reads.order_events() >= want, f"{want} order events applied ({label})", timeout, 1.0)
    if reads.order_events("parked"):
        ctx.wait_for(lambda: not reads.order_events("parked"), "parked events resolved", 60)
    ctx.say(f"{label}: {want} distinct order events applied once each")


def release(ctx: FaultContext) -> None:
    """Release funds past their holding period, the tick delivered three times at once."""
    futures = [ctx.delivery.publish(TOPIC_RELEASE_FUNDS, {"reason": "faults"}) for _ in range(3)]
    for f in futures:
        f.result(timeout=60)
    ctx.fault("release_tick_concurrent_duplicate", 2)
    deadline = time.monotonic() + 300
    next_tick = time.monotonic() + 30
    while ctx.reads.release_due():
        if time.monotonic() > deadline:
            raise Breach("timed out after 300 s waiting for funds released")
        if time.monotonic() > next_tick:  # the next scheduled tick (hourly in production)
            ctx.delivery.publish(TOPIC_RELEASE_FUNDS, {"reason": "faults-next-tick"}).result(timeout=60)
            next_tick += 30
        time.sleep(1.0)
    ctx.say("funds past their holding period released")


def late_redeliveries(ctx: FaultContext) -> None:
    futures = [
        ctx.delivery.publish(TOPIC_ORDER_EVENTS, ctx.sent_events[eid]) for eid in ctx.plan.late_redeliveries
    ]
    for f in futures:
        f.result(timeout=60)
    ctx.fault("order_event_late_redelivery", len(futures))
    ctx.say(f"{len(futures)} order events redelivered late; flooding hot seller {ctx.plan.hot_seller}")


def flood_hot_seller(ctx: FaultContext) -> None:
    """Every event of the hot seller at once, half by webhook and half by Pub/Sub."""
    events = ctx.plan.hot_events
    for e in events:
        ctx.sent_events[e["event_id"]] = e
    t = time.monotonic()
    delivery = ctx.delivery
    with ThreadPoolExecutor(max_workers=24) as pool:
        futures = [
            pool.submit(delivery.post_event, e)
            if i % 2
            else pool.submit(delivery.publish_and_wait, TOPIC_ORDER_EVENTS, e)
            for i, e in enumerate(events)
        ]
        for f in futures:
            f.result(timeout=600)
    ctx.fault("hot_seller_events_at_once", len(events))
    ctx.say(f"hot seller: {len(events)} events sent at once in {time.monotonic() - t:.1f} s")
