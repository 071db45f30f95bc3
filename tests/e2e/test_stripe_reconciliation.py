"""Stripe reconciled end to end on the local stack (issue 16): PL sellers, whose route puts Stripe
first, are paid (one bank payout paid, one failed and taken back by our reversal); Stripe's
records of the window (its transfers, their bank payouts, the balance's fees) agree with the
ledger: zero breaks. A fee Stripe takes is booked once however often the window is reconciled,
and a transfer the platform never made is then exactly one ``unknown_to_us`` break."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from local_stack import local_env
from stand_ins.sample_sellers import stripe_account_for
from tests.e2e.conftest import eventually
from tests.e2e.test_rail_routes import onboard_and_fund, pay

pytestmark = pytest.mark.e2e

API = "reconciliation-api"


def _next_second() -> datetime:
    """A window edge strictly after anything created so far (Stripe keeps creation to the second)."""
    edge = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(max(0.0, (edge - datetime.now(UTC)).total_seconds()) + 0.05)
    return edge


def _final(client, payout_id: str, status: str) -> dict:
    def check():
        payout = client.call("GET", "payouts-api", f"/payouts/{payout_id}").json()
        return payout if payout["status"] == status else None

    return eventually(check, timeout=60)


def _reconcile(ops, start: datetime) -> dict:
    end = _next_second()
    resp = ops.call(
        "POST", API, "/reconciliations", {"rail": "stripe", "from": start.isoformat(), "to": end.isoformat()}
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def _lines(report: dict) -> dict[tuple[str, str], int]:
    return {(x["class"], x["currency"]): x["count"] for x in report["lines"]}


def test_stripe_reconciles_to_zero_breaks_then_finds_a_transfer_we_never_made(client, ops, stack, uid):
    stripe_url = stack.env["STRIPE_API_URL"]
    auth = {"Authorization": f"Bearer {local_env.local_secrets(stack.state_dir)['stripe_secret_key']}"}
    start = _next_second()
    paid_seller, failed_seller = f"pl-rc-{uid}", f"pl-rcf-{uid}"
    onboard_and_fund(
        client, paid_seller, "PL", 500_000, rail_accounts={"stripe": stripe_account_for("PL", 1)}
    )
    onboard_and_fund(
        client, failed_seller, "PL", 500_000,
        rail_accounts={"stripe": stripe_account_for("PL", 2, "account_closed")},
    )  # fmt: skip
    paid = _final(client, pay(client, paid_seller, 200_000, "PLN"), "paid")
    failed = _final(client, pay(client, failed_seller, 300_000, "PLN"), "failed")
    assert paid["provider"] == failed["provider"] == "stripe"

    report = _reconcile(ops, start)
    assert report["breaks"] == 0, report
    assert _lines(report) == {("matched", "PLN"): 2}, report
    assert report["rail_records"] == 2 and report["ledger_payouts"] == 2

    fee = requests.post(
        f"{stripe_url}/v1/_fees", json={"amount": 125, "currency": "pln"}, headers=auth, timeout=10
    )
    assert fee.status_code == 200, fee.text
    first, again = _reconcile(ops, start), _reconcile(ops, start)
    assert first["breaks"] == again["breaks"] == 0
    assert _lines(first)[("fee", "PLN")] == _lines(again)[("fee", "PLN")] == 1
    assert (first["fees_posted"], again["fees_posted"]) == (1, 0)  # the fee posts once

    planted = requests.post(
        f"{stripe_url}/v1/transfers",
        data={"amount": "777", "currency": "pln", "destination": stripe_account_for("PL", 9)},
        headers=auth,
        timeout=10,
    )
    assert planted.status_code == 200, planted.text
    found = _reconcile(ops, start)
    assert found["breaks"] == 1 and found["new_breaks"] == 1, found
    listing = ops.call("GET", API, "/reconciliation-breaks?rail=stripe&state=open&limit=50").json()["data"]
    ours = [b for b in listing if [r["record_id"] for r in b["rail_records"]] == [planted.json()["id"]]]
    assert len(ours) == 1 and ours[0]["class"] == "unknown_to_us", listing
    assert ours[0]["amount"] == {"amount": 777, "currency": "PLN"} and ours[0]["ledger"] is None
