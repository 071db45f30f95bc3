"""The real rails in a fault run (issue 15): the Adyen and Stripe stand-ins get the sandbox's
fault knobs, Adyen's API goes away mid-run (an outage: its Prism front is killed, so calls are
refused and payouts fail over), and every rail's transfers are read back for the auditor in the
sandbox's shape, so "at most one accepted transfer per payout" is checked over all rails together.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import requests

from local_stack import local_env
from verification.faults.context import Breach, FaultContext

JSON = dict[str, Any]
# The stand-ins' own status words are the sandbox engine's: processing, paid, failed, returned.
OUR_REVERSAL = "bank_payout_failed"  # shared/adapters/providers/stripe_connect.py:RECOVERY_REASON


def _call(ctx: FaultContext, rail: str, method: str, path: str, body: Any = None) -> requests.Response:
    secrets = local_env.local_secrets(ctx.stack.state_dir)
    if rail == "adyen":
        url, headers = (
            ctx.stack.env["ADYEN_STAND_IN_URL"] + path,
            {"x-api-key": str(secrets["adyen_api_key"])},
        )
    else:
        url = ctx.stack.env["STRIPE_API_URL"] + "/v1" + path
        headers = {"Authorization": f"Bearer {secrets['stripe_secret_key']}"}
    return requests.request(method, url, json=body, headers=headers, timeout=30)


def configure_rails(ctx: FaultContext, config: JSON) -> None:
    """The same fault knobs on the Adyen and Stripe stand-ins as on the sandbox."""
    for rail in ("adyen", "stripe"):
        resp = _call(ctx, rail, "POST", "/_config", config)
        if resp.status_code != 200:
            raise Breach(f"{rail} config refused: {resp.text[:300]}")


def rail_outage(ctx: FaultContext, outage: JSON) -> None:
    """Adyen's API unreachable for a while: its Prism front is SIGKILLed (connections refused, a
    certain "not accepted", so new payouts fail over to the next rail of their route), then
    started again. The stand-in behind keeps its transfers and sends their webhooks meanwhile."""
    ctx.say(f"rail outage: adyen's API down for {outage['seconds']} s")
    ctx.stack.kill_process("prism-adyen")
    ctx.fault("rail_outage_adyen")
    time.sleep(float(outage["seconds"]))
    with ctx.restarts:
        ctx.stack.restart_process("prism-adyen")
    ctx.say("adyen's API is back")


def rail_transfers(ctx: FaultContext) -> list[JSON]:
    """Every transfer the platform made on any rail, as the auditor reads the sandbox's:
    ``{id, reference, amount, currency, status, rail}``. A Stripe payout is its platform transfer,
    with its bank payout's status (failed when our own reversal took the money back)."""
    out = [t | {"rail": "sandbox"} for t in ctx.client.sandbox_transfers()]
    for record in _records(ctx, "adyen"):
        out.append(_shape(record, "adyen", str(record["status"])))
    stripe = _records(ctx, "stripe")
    bank_payouts: dict[str, list[JSON]] = defaultdict(list)
    for record in stripe:
        if record.get("kind") == "payout":
            bank_payouts[str(record["reference"])].append(record)
    for record in stripe:
        if record.get("kind") != "transfer":
            continue
        out.append(_shape(record, "stripe", _stripe_status(record, bank_payouts[str(record["reference"])])))
    return out


def _records(ctx: FaultContext, rail: str) -> list[JSON]:
    resp = _call(ctx, rail, "GET", "/_records")
    if resp.status_code != 200:
        raise Breach(f"{rail} records unreadable: {resp.status_code} {resp.text[:200]}")
    return list(resp.json()["data"])


def _shape(record: JSON, rail: str, status: str) -> JSON:
    return {
        "id": record["id"],
        "reference": record["reference"],
        "amount": int(record["amount"]),
        "currency": str(record["currency"]).upper(),
        "status": status,
        "rail": rail,
    }


def _stripe_status(transfer: JSON, bank_payouts: list[JSON]) -> str:
    reversals = transfer.get("reversals") or []
    ours = sum(int(r["amount"]) for r in reversals if (r.get("metadata") or {}).get("reason") == OUR_REVERSAL)
    if int(transfer.get("amount_reversed") or 0) > ours:
        return "returned"  # reversed by someone else: the money came back after the seller had it
    if (transfer.get("metadata") or {}).get("bank_payout") == "account_schedule":
        return "paid"
    if len(bank_payouts) > 1:
        return "processing"  # two bank payouts for one payout: never agrees with a final payout
    status = str(bank_payouts[0]["status"]) if bank_payouts else "processing"
    if status in ("failed", "returned") and ours < int(transfer["amount"]):
        # The bank payout failed but the money is still in the connected account: for the
        # platform it has left (a payout booked failed then is money that can be paid twice).
        return "paid"
    return status


def observe_rails(ctx: FaultContext) -> None:
    """Which rail paid each payout, and how many moved on from a rail and why (the outage)."""
    for doc in ctx.store.client.collection("payouts").stream():
        payout = doc.to_dict() or {}
        ctx.observed[f"payouts_via_{payout.get('provider') or 'none'}"] += 1
        for attempt in payout.get("rail_attempts") or []:
            ctx.observed[f"rail_passed_{attempt.get('rail')}_{attempt.get('outcome')}"] += 1
