"""Refunds that land while the seller's payout is in flight: each must apply (netted from a later
payout), never be lost or rejected."""

from __future__ import annotations

from typing import Any

from verification.faults.context import FaultContext
from verification.faults.store_reads import FINAL

JSON = dict[str, Any]


def refund_in_flight(ctx: FaultContext, event: JSON, payout_id: str, status: str) -> None:
    ctx.sent_events[event["event_id"]] = event
    code = ctx.delivery.post_event(event)
    ctx.fault("refund_while_payout_in_flight")
    ctx.inflight_checks.append((event, payout_id, status))
    ctx.say(f"refund {event['event_id']} sent while {payout_id} was {status} (answered {code})")


def check_inflight_refunds(ctx: FaultContext) -> None:
    landed = 0
    for event, payout_id, _ in ctx.inflight_checks:
        doc = ctx.reads.order_event(event["event_id"])
        payout = ctx.reads.payout(payout_id)
        received = doc.get("received_at")
        finals = [h["at"] for h in payout.get("history", []) if h["to"] in FINAL]
        if doc.get("outcome") != "applied":
            ctx.breaches.append(f"refund {event['event_id']} was {doc.get('outcome')}: {doc.get('reason')}")
        elif received is not None and (not finals or finals[0] > received):
            landed += 1
    ctx.observed["refunds_applied_while_in_flight"] = landed
    if ctx.inflight_checks and not landed:
        ctx.notes.append("no refund landed while its payout was in flight (timing)")
