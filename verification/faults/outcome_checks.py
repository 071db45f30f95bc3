"""Checks beyond the auditor's: every seller of the run decided and ended as its profile says,
paid what the ledger rules say; every order event recorded once, none rejected or dead-lettered."""

from __future__ import annotations

from typing import Any

from shared.domain.countries import load_country_rules
from verification.faults.context import FaultContext
from verification.faults.plan import SellerPlan
from verification.faults.seller_profiles import EXPECTED_SKIP, FAILING, NOTHING_DUE

JSON = dict[str, Any]
RULES = load_country_rules()


def check_run_outcomes(ctx: FaultContext, run_id: str, expected_available: dict[str, int]) -> None:
    """Every seller has an item; each ended as its profile says, paid what the ledger rules say."""
    items = ctx.reads.run_items(run_id)
    payouts = ctx.reads.run_payouts_by_seller(run_id)
    refund_sellers = {e["seller_id"] for e in ctx.plan.inflight_refunds}
    missing = [s.seller_id for s in ctx.plan.sellers if s.seller_id not in items]
    if missing:
        ctx.breaches.append(f"{run_id}: {len(missing)} sellers have no run item, e.g. {missing[:3]}")
    wrong: list[str] = []
    unpaid: list[str] = []
    for s in ctx.plan.sellers:
        p = payouts.get(s.seller_id)
        item = items.get(s.seller_id, {})
        due = expected_available.get(s.seller_id, 0)
        if s.profile in EXPECTED_SKIP:
            wrong += _skipped_as_planned(s, p, item, due)
        elif due < RULES.get(s.country).minimum_payout and s.seller_id not in refund_sellers:
            # Nothing released yet (every line still in its holding period), or too little.
            if p is not None or item.get("skip_reason") not in NOTHING_DUE:
                wrong.append(f"{s.seller_id}: {due} due, payout {p and p['status']}, item {item}")
        elif p is None:
            unpaid.append(f"{s.seller_id} ({s.profile}): no payout, skip {item.get('skip_reason')}")
        else:
            wrong += _paid_as_planned(ctx, run_id, s, p, expected_available, refund_sellers)
    if unpaid:
        ctx.lost_sellers += len(unpaid)
        ctx.breaches.append(f"{run_id}: {len(unpaid)} sellers due a payout got none: {unpaid[:3]}")
    if wrong:
        ctx.breaches.append(f"{run_id}: {len(wrong)} sellers did not end as their profile says: {wrong[:3]}")
    unexpected = len(wrong) + len(unpaid)
    ctx.say(f"{run_id}: {len(items)} sellers decided, {len(payouts)} payouts, {unexpected} unexpected")


def _skipped_as_planned(s: SellerPlan, p: JSON | None, item: JSON, due: int) -> list[str]:
    expected = {EXPECTED_SKIP[s.profile]}
    if s.profile == "below_minimum" and not due:
        expected.add("no_available_balance")  # every line still in its holding period
    if p is not None or item.get("skip_reason") not in expected:
        return [f"{s.seller_id} ({s.profile}): payout {p and p['status']}, skip {item.get('skip_reason')}"]
    return []


def _paid_as_planned(
    ctx: FaultContext,
    run_id: str,
    s: SellerPlan,
    p: JSON,
    expected_available: dict[str, int],
    refund_sellers: set[str],
) -> list[str]:
    wrong = []
    want = "failed" if s.profile in FAILING else s.profile
    code = p.get("failure_code")
    if s.profile == "returned" and p["status"] == "paid":
        # Judged with the auditor's view of the provider (report.classify).
        ctx.returned_but_paid[str(p["payout_id"])] = f"{run_id}: {s.seller_id} (returned) is still paid"
    elif _stripe_return_seen_first_as_failure(s, p):
        # Stripe says payout.failed both when the bank refuses a bank payout and when it sends a
        # paid one back: delivered before payout.paid (out of order), the failure is all it can
        # say. The money is back with the seller either way (the audit checks it).
        ctx.observed["stripe_returns_seen_as_failures"] += 1
    elif p["status"] != want or (want == "failed" and code != s.profile):
        wrong.append(f"{s.seller_id} ({s.profile}): {p['status']} {code or ''}")
    if s.seller_id not in refund_sellers and p["amount"] != expected_available.get(s.seller_id):
        wrong.append(
            f"{s.seller_id}: paid {p['amount']}, the ledger rules say {expected_available.get(s.seller_id)}"
        )
    return wrong


def _stripe_return_seen_first_as_failure(s: SellerPlan, p: JSON) -> bool:
    return (
        s.profile == "returned"
        and p.get("provider") == "stripe"
        and p["status"] == "failed"
        and p.get("failure_code") == "account_closed"
        and "paid" not in [h.get("to") for h in p.get("history") or []]
    )


def check_events(ctx: FaultContext) -> None:
    applied = ctx.reads.order_events()
    if applied != len(ctx.sent_events):
        ctx.breaches.append(f"{applied} order events recorded, {len(ctx.sent_events)} distinct sent")
    rejected = ctx.reads.order_events("rejected")
    if rejected:
        ctx.breaches.append(f"{rejected} valid order events were rejected")
    dead = ctx.reads.dead_letters()
    if dead:
        ctx.breaches.append(f"{dead} dead letters for valid messages")
