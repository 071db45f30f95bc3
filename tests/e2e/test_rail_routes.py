"""Routes and drains through the running stack: an SE seller (route adyen, stripe, sandbox) is
paid through Adyen (via Prism) and its webhooks; ops drain Adyen through payouts-api; the next
payout goes to Stripe; no payout has a transfer on two rails."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from stand_ins.sample_sellers import seller_body, stripe_account_for
from tests.e2e.conftest import eventually
from tests.integration.test_rails import Rails

pytestmark = pytest.mark.e2e


def onboard_and_fund(client, seller_id: str, country: str, gross: int, **extra) -> dict:
    n = int(uuid.uuid4().int % 90000)
    body = seller_body(country, n, **extra)
    assert client.call("PUT", "sellers-api", f"/sellers/{seller_id}", body).status_code == 201
    now, ccy = datetime.now(UTC).isoformat(), body["currency"]
    base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": f"ol-{seller_id}"}
    money = {
        "gross": {"amount": gross, "currency": ccy},
        "commission": {"amount": gross // 10, "currency": ccy},
    }
    paid = {**base, "event_id": f"e1-{seller_id}", "type": "order_line.paid", "data": money}
    closed = {**base, "event_id": f"e2-{seller_id}", "type": "order_line.return_window_closed"}
    assert client.post_order_event(paid).status_code == 202
    assert client.post_order_event({**closed, "data": {"closed_at": now}}).status_code == 202
    return body


def pay(client, seller_id: str, amount: int, ccy: str) -> str:
    resp = client.call(
        "POST",
        "payouts-api",
        "/payouts",
        {"seller_id": seller_id, "amount": {"amount": amount, "currency": ccy}},
        {"Idempotency-Key": f"k-{uuid.uuid4().hex}"},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["payout_id"])


def settled(client, payout_id: str) -> dict:
    def final():
        payout = client.call("GET", "payouts-api", f"/payouts/{payout_id}").json()
        return payout if payout["status"] == "paid" else None

    return eventually(final, timeout=60)


def test_a_country_pays_through_its_first_rail_and_a_drain_moves_new_payouts_to_the_next(stack, client, ops):
    rails = Rails(stack)
    seller_id = f"se-rails-{uuid.uuid4().hex[:8]}"
    onboard_and_fund(
        client, seller_id, "SE", 1_000_000, rail_accounts={"stripe": stripe_account_for("SE", 1)}
    )
    first = pay(client, seller_id, 200_000, "SEK")
    payout = settled(client, first)
    assert payout["provider"] == "adyen" and payout["rail_attempts"] == []

    drained = ops.call("POST", "payouts-api", "/rails/adyen/drain", {"reason": "e2e: Adyen incident"})
    assert drained.status_code == 200, drained.text
    try:
        time.sleep(6)  # the transfer worker's cache of the drain switches (5 s)
        second = pay(client, seller_id, 200_000, "SEK")
        payout = settled(client, second)
        assert payout["provider"] == "stripe"
        assert [(a["rail"], a["outcome"]) for a in payout["rail_attempts"]] == [("adyen", "drained")]
        listed = {r["rail"]: r for r in ops.call("GET", "payouts-api", "/rails").json()["data"]}
        assert (
            listed["adyen"]["drained"] and listed["adyen"]["last_change"]["reason"] == "e2e: Adyen incident"
        )
    finally:
        resumed = ops.call("POST", "payouts-api", "/rails/adyen/resume", {"reason": "e2e done"})
        assert resumed.status_code == 200, resumed.text
    # At most one accepted transfer per payout over all rails together.
    assert rails.adyen.fetch_transfer(first) is not None and rails.stripe.fetch_transfer(first) is None
    assert rails.stripe.fetch_transfer(second) is not None and rails.adyen.fetch_transfer(second) is None


def test_a_failed_stripe_bank_payout_takes_the_money_back_before_the_seller_is_credited(stack, client):
    """PL routes to Stripe first. The connected account's bank payout fails (account closed): the
    webhook reverses the transfer to the platform, then books the failure, crediting the seller;
    its own transfer.reversed is not taken for a return."""
    import requests

    from local_stack import local_env

    seller_id = f"pl-fail-{uuid.uuid4().hex[:8]}"
    account = stripe_account_for("PL", 5, "account_closed")
    onboard_and_fund(client, seller_id, "PL", 500_000, rail_accounts={"stripe": account})
    payout_id = pay(client, seller_id, 300_000, "PLN")

    def failed():
        payout = client.call("GET", "payouts-api", f"/payouts/{payout_id}").json()
        return payout if payout["status"] == "failed" else None

    payout = eventually(failed, timeout=60)
    assert payout["provider"] == "stripe" and payout["failure_code"] == "account_closed"
    key = local_env.local_secrets(stack.state_dir)["stripe_secret_key"]
    listed = requests.get(
        f"{stack.env['STRIPE_API_URL']}/v1/transfers",
        params={"transfer_group": payout_id},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    ).json()["data"]
    assert len(listed) == 1 and listed[0]["amount_reversed"] == 300_000
    assert [r["metadata"]["reason"] for r in listed[0]["reversals"]["data"]] == ["bank_payout_failed"]
    balances = client.call("GET", "sellers-api", f"/sellers/{seller_id}").json()["balances"]
    pln = next(b for b in balances if b["currency"] == "PLN")
    assert (pln["available"], pln["in_flight"]) == (450_000, 0)  # credited back, nothing in flight
    time.sleep(3)  # the reversal's own transfer.reversed has arrived by now: still failed
    assert client.call("GET", "payouts-api", f"/payouts/{payout_id}").json()["status"] == "failed"
