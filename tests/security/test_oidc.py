"""Every OIDC-guarded function refuses every bad token, and nothing happens behind the refusal.

Three kinds of callers present Google-style ID tokens: API callers (sellers-api, payouts-api),
Cloud Tasks (run-shard-worker, transfer-worker) and Pub/Sub push (order-events, release-funds,
payout-runs, payout-sweeper; locally through local_stack/push_relay.py). Each test sends one request
that would change something with every bad token (tests/security/helpers.py lists them), reads
Firestore or the API to show that nothing changed, then shows that the genuine caller does
change it, so the check had something to catch.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from google.cloud.firestore import FieldFilter

from shared.adapters.firestore_store import DEAD_LETTERS, ORDER_EVENTS, PAYOUTS, RUN_ITEMS, RUN_PAGES
from shared.topology import (
    QUEUE_RUN_SHARDS,
    QUEUE_TRANSFERS,
    TOPIC_ORDER_EVENTS,
    TOPIC_PAYOUT_RUNS,
    TOPIC_RELEASE_FUNDS,
    TOPIC_SWEEPER,
)
from stand_ins.sample_sellers import seller_body
from tests.e2e.conftest import eventually
from tests.security.helpers import (
    API_CALLER,
    PUSH_CALLER,
    TASKS_CALLER,
    balance,
    fund,
    onboard,
    paused_queue,
    pay,
    post,
    push_envelope,
    refused_everywhere,
    settled,
)

pytestmark = pytest.mark.e2e


def _unique_date() -> date:
    """A run date no other test uses."""
    return date(2090, 1, 1) + timedelta(days=random.randrange(20000))


# --- API callers ---------------------------------------------------------------------------------


def test_sellers_api_refuses_bad_tokens_and_creates_no_seller(client, ops, uid):
    url = client.urls["sellers-api"] + f"/sellers/s-{uid}"
    body = json.dumps(seller_body("FR", 31)).encode()
    refused_everywhere(
        client, "sellers-api", API_CALLER, lambda h: client.http.put(url, data=body, headers=h)
    )
    assert ops.call("GET", "sellers-api", f"/sellers/s-{uid}").status_code == 404
    assert ops.call("PUT", "sellers-api", f"/sellers/s-{uid}", body).status_code == 201


def test_payouts_api_refuses_bad_tokens_and_pays_nothing(client, ops, uid, sandbox_defaults):
    seller = f"s-{uid}"
    onboard(ops, seller)
    available = fund(ops, seller)
    body = json.dumps({"seller_id": seller, "amount": {"amount": 10000, "currency": "EUR"}}).encode()

    def send(headers):
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}
        return client.http.post(client.urls["payouts-api"] + "/payouts", data=body, headers=headers)

    refused_everywhere(client, "payouts-api", API_CALLER, send)
    assert ops.call("GET", "payouts-api", f"/payouts?seller_id={seller}").json()["data"] == []
    assert balance(ops, seller)["available"] == available
    assert pay(ops, seller, 10000).status_code == 201


# --- Cloud Tasks targets -------------------------------------------------------------------------


def test_transfer_worker_refuses_bad_tokens_and_sends_nothing(
    client, ops, stack, stack_store, uid, sandbox_defaults
):
    seller = f"s-{uid}"
    onboard(ops, seller)
    fund(ops, seller)
    with paused_queue(stack, QUEUE_TRANSFERS):  # the genuine task waits; only our requests arrive
        created = pay(ops, seller, 20000)
        assert created.status_code == 201, created.text
        payout_id = created.json()["payout_id"]
        body = json.dumps({"payout_id": payout_id}).encode()
        refused_everywhere(
            client,
            "transfer-worker",
            TASKS_CALLER,
            lambda h: post(client.urls["transfer-worker"], body, h),
        )
        stored = stack_store.get(PAYOUTS, payout_id)
        assert stored["status"] == "pending" and stored.get("transfer_started_at") is None
        assert client.sandbox("GET", f"/v1/transfers?reference={payout_id}").json()["data"] == []
    assert settled(ops, payout_id, "paid")["status"] == "paid"  # the queued task does send it


def test_run_shard_worker_refuses_bad_tokens_and_decides_nothing(client, ops, stack, stack_store):
    with paused_queue(stack, QUEUE_RUN_SHARDS):
        run = ops.call(
            "POST", "payouts-api", "/runs", {"run_date": _unique_date().isoformat(), "dry_run": True}
        )
        assert run.status_code == 202, run.text
        run_ref = stack_store.run_ref(run.json()["run_id"])
        body = json.dumps({"run_id": run.json()["run_id"], "page_id": "b0000-p00000"}).encode()
        refused_everywhere(
            client,
            "run-shard-worker",
            TASKS_CALLER,
            lambda h: post(client.urls["run-shard-worker"], body, h),
        )
        assert run_ref.collection(RUN_PAGES).document("b0000-p00000").get().to_dict()["status"] == "queued"
        assert list(run_ref.collection(RUN_ITEMS).limit(1).stream()) == []
    eventually(
        lambda: run_ref.collection(RUN_PAGES).document("b0000-p00000").get().to_dict()["status"] == "done"
    )


# --- Pub/Sub push targets, called directly ---------------------------------------------------------


def _paid_event(seller: str, tag: str) -> dict:
    return {
        "event_id": f"evt-{tag}",
        "type": "order_line.paid",
        "occurred_at": datetime.now(UTC).isoformat(),
        "seller_id": seller,
        "order_line_id": f"ol-{tag}",
        "data": {
            "gross": {"amount": 30000, "currency": "EUR"},
            "commission": {"amount": 3000, "currency": "EUR"},
        },
    }


def test_order_events_refuses_pushes_without_a_good_token_and_applies_nothing(client, ops, stack_store, uid):
    seller = f"s-{uid}"
    onboard(ops, seller)
    event = _paid_event(seller, uid)
    path, body = push_envelope(client, TOPIC_ORDER_EVENTS, event)
    message_id = json.loads(body)["message"]["messageId"]
    refused_everywhere(
        client, "order-events", PUSH_CALLER, lambda h: post(client.urls["order-events"] + path, body, h)
    )
    assert stack_store.get(ORDER_EVENTS, event["event_id"]) is None
    assert stack_store.get(DEAD_LETTERS, f"order-events-{message_id}") is None
    assert balance(ops, seller)["pending"] == 0
    client.publish(TOPIC_ORDER_EVENTS, event)  # through Pub/Sub and the relay: applied
    eventually(lambda: balance(ops, seller)["pending"] == 27000)


def test_release_funds_refuses_pushes_without_a_good_token_and_releases_nothing(client, ops, uid):
    seller = f"s-{uid}"
    onboard(ops, seller)
    event = _paid_event(seller, uid)
    assert ops.post_order_event(event).status_code == 202
    delivered = {
        **event,
        "event_id": f"evt-{uid}-d",
        "type": "order_line.delivered",
        "data": {"delivered_at": (datetime.now(UTC) - timedelta(days=30)).isoformat()},
    }
    assert ops.post_order_event(delivered).status_code == 202
    path, body = push_envelope(client, TOPIC_RELEASE_FUNDS, {"reason": "attacker"})
    refused_everywhere(
        client, "release-funds", PUSH_CALLER, lambda h: post(client.urls["release-funds"] + path, body, h)
    )
    assert balance(ops, seller)["available"] == 0
    client.publish(TOPIC_RELEASE_FUNDS, {"reason": "test"})
    eventually(lambda: balance(ops, seller)["available"] == 27000)


def test_payout_runs_refuses_pushes_without_a_good_token_and_starts_no_run(client, stack_store):
    run_date = _unique_date().isoformat()
    path, body = push_envelope(client, TOPIC_PAYOUT_RUNS, {"run_date": run_date, "dry_run": True})

    def runs():
        query = stack_store.client.collection("payout_runs").where(
            filter=FieldFilter("run_date", "==", run_date)
        )
        return list(query.stream())

    refused_everywhere(
        client, "payout-runs", PUSH_CALLER, lambda h: post(client.urls["payout-runs"] + path, body, h)
    )
    assert runs() == []
    client.publish(TOPIC_PAYOUT_RUNS, {"run_date": run_date, "dry_run": True})
    eventually(runs)


def test_payout_sweeper_refuses_pushes_without_a_good_token_and_completes_nothing(client, ops, stack_store):
    run = ops.call("POST", "payouts-api", "/runs", {"run_date": _unique_date().isoformat(), "dry_run": True})
    run_id = run.json()["run_id"]
    pages = stack_store.run_ref(run_id).collection(RUN_PAGES)
    eventually(lambda: all(p.to_dict()["status"] == "done" for p in pages.stream()), timeout=60)
    path, body = push_envelope(client, TOPIC_SWEEPER, {"reason": "attacker"})
    refused_everywhere(
        client, "payout-sweeper", PUSH_CALLER, lambda h: post(client.urls["payout-sweeper"] + path, body, h)
    )
    assert ops.call("GET", "payouts-api", f"/runs/{run_id}").json()["status"] == "fanned_out"

    def completed():
        client.publish(TOPIC_SWEEPER, {"reason": "test"})
        return ops.call("GET", "payouts-api", f"/runs/{run_id}").json()["status"] == "completed"

    eventually(completed, timeout=60, interval=1.0)


# --- body size caps ------------------------------------------------------------------------------

_HUGE = "x" * (70 * 1024)  # MAX_BODY_BYTES is 64 KiB


def test_an_oversized_body_is_a_413_and_writes_nothing_on_every_function_kind(client, ops, stack_store, uid):
    seller = f"s-{uid}"
    big_seller = {**seller_body("FR", 41), "display_name": _HUGE}
    assert ops.call("PUT", "sellers-api", f"/sellers/{seller}", big_seller).status_code == 413
    # Without a Content-Length (chunked), the cap holds while reading.
    chunked = client.http.put(
        client.urls["sellers-api"] + f"/sellers/{seller}",
        data=iter([json.dumps(big_seller).encode()]),
        headers={"Authorization": f"Bearer {ops.token('sellers-api')}", "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413, chunked.text
    assert ops.call("GET", "sellers-api", f"/sellers/{seller}").status_code == 404

    onboard(ops, seller)
    event = {**_paid_event(seller, uid), "padding": _HUGE}
    assert ops.post_order_event(event).status_code == 413
    big_payout = {"seller_id": seller, "amount": {"amount": 100, "currency": "EUR"}, "note": _HUGE}
    resp = ops.call(
        "POST", "payouts-api", "/payouts", big_payout, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert resp.status_code == 413
    worker = client.as_identity(TASKS_CALLER)
    assert worker.call("POST", "transfer-worker", "/", {"payout_id": "p", "pad": _HUGE}).status_code == 413
    assert ops.http.post(client.urls["provider-webhook"] + "/sandbox", data=_HUGE.encode()).status_code == 413

    path, body = push_envelope(client, TOPIC_ORDER_EVENTS, {**_paid_event(seller, uid), "padding": _HUGE * 3})
    pusher = client.as_identity(PUSH_CALLER)
    headers = {"Authorization": f"Bearer {pusher.token('order-events')}"}
    resp = post(client.urls["order-events"] + path, body, headers)
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "body_too_large"
    assert stack_store.get(ORDER_EVENTS, f"evt-{uid}") is None
    assert balance(ops, seller)["pending"] == 0
