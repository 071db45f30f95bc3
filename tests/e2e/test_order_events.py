"""Order events through the running stack: the signed webhook, Pub/Sub push, and release."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.firestore_store import DEAD_LETTERS, ORDER_EVENTS
from shared.topology import TOPIC_ORDER_EVENTS, TOPIC_RELEASE_FUNDS
from stand_ins.sample_sellers import seller_body
from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e
NOW = datetime.now(UTC)


def paid_event(uid: str, n: int = 1, gross: int = 30000, seller: str | None = None, **data_overrides):
    data = {"gross": {"amount": gross, "currency": "EUR"}, "commission": {"amount": 3000, "currency": "EUR"}}
    data.update(data_overrides)
    return {
        "event_id": f"evt-{uid}-{n}",
        "type": "order_line.paid",
        "occurred_at": NOW.isoformat(),
        "seller_id": seller or f"s-{uid}",
        "order_line_id": f"ol-{uid}-{n}",
        "data": data,
    }


@pytest.fixture
def seller(client, uid) -> str:
    resp = client.call("PUT", "sellers-api", f"/sellers/s-{uid}", seller_body("FR", 7))
    assert resp.status_code == 201, resp.text
    return f"s-{uid}"


def balances(client, seller_id):
    return client.call("GET", "sellers-api", f"/sellers/{seller_id}").json()["balances"][0]


def test_a_signed_webhook_event_is_applied_once_and_a_replay_changes_nothing(client, seller, uid):
    event = paid_event(uid)
    first = client.post_order_event(event)
    assert first.status_code == 202, first.text
    again = client.post_order_event(event)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert balances(client, seller)["pending"] == 27000


def test_the_previous_secret_still_verifies_during_rotation(client, seller, uid):
    from local_stack import local_env

    previous = local_env.local_secrets(client.state_dir)["order_webhook_secrets"][1]
    assert client.post_order_event(paid_event(uid), secret=previous).status_code == 202


@pytest.mark.parametrize("case", ["missing", "forged", "stale", "future", "tampered"])
def test_bad_signatures_are_refused_and_write_nothing(client, stack_store, seller, uid, case):
    event = paid_event(uid)
    body = json.dumps(event).encode()
    if case == "missing":
        resp = client.post_order_event(body, signature="")
    elif case == "forged":
        resp = client.post_order_event(body, secret="not-the-secret")
    elif case == "stale":
        resp = client.post_order_event(body, timestamp=int(time.time()) - 301)
    elif case == "future":
        resp = client.post_order_event(body, timestamp=int(time.time()) + 301)
    else:
        from shared.entrypoints import signing

        header = signing.sign(client.webhook_secret(), int(time.time()), body)
        resp = client.post_order_event(body.replace(b"30000", b"90000"), signature=header)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "invalid_signature"
    assert stack_store.get(ORDER_EVENTS, event["event_id"]) is None


BAD_EVENTS = [
    ("float amount", lambda e: e["data"]["gross"].update(amount=300.5), 422, "data.gross.amount"),
    ("negative amount", lambda e: e["data"]["gross"].update(amount=-1), 422, "data.gross.amount"),
    ("zero amount", lambda e: e["data"]["gross"].update(amount=0), 422, "data.gross.amount"),
    ("over the limit", lambda e: e["data"]["gross"].update(amount=10**12), 422, "data.gross.amount"),
    ("string amount", lambda e: e["data"]["gross"].update(amount="300"), 422, "data.gross.amount"),
    ("unknown currency", lambda e: e["data"]["gross"].update(currency="XYZ"), 422, "data.gross.currency"),
    (
        "not the seller's currency",
        lambda e: (e["data"]["gross"].update(currency="USD"), e["data"]["commission"].update(currency="USD")),
        422,
        "data.gross.currency",
    ),
    ("unknown seller", lambda e: e.update(seller_id="nobody-at-all"), 422, "seller_id"),
    ("unknown type", lambda e: e.update(type="order_line.teleported"), 422, "type"),
    ("naive timestamp", lambda e: e.update(occurred_at="2026-11-20T10:00:00"), 422, "occurred_at"),
]


@pytest.mark.parametrize(("case", "change", "status", "field"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_bad_events_get_a_field_path_and_write_nothing(
    client, stack_store, seller, uid, case, change, status, field
):
    event = paid_event(uid)
    change(event)
    resp = client.post_order_event(event)
    assert resp.status_code == status, resp.text
    fields = [d["field"] for d in resp.json()["error"]["details"]]
    assert any(f.startswith(field) for f in fields), fields
    assert stack_store.get(ORDER_EVENTS, event["event_id"]) is None
    assert balances(client, seller)["pending"] == 0


def test_malformed_json_on_the_webhook_is_a_400(client, seller):
    resp = client.post_order_event(b'{"event_id": ')
    assert resp.status_code == 400


def test_an_event_id_reused_with_another_body_is_a_409_conflict(client, seller, uid):
    assert client.post_order_event(paid_event(uid)).status_code == 202
    resp = client.post_order_event(paid_event(uid, gross=50000))
    assert resp.status_code == 409
    assert balances(client, seller)["pending"] == 27000


def test_pubsub_events_are_applied_and_redeliveries_change_nothing(client, seller, uid):
    event = paid_event(uid)
    for _ in range(3):
        client.publish(TOPIC_ORDER_EVENTS, event)
    eventually(lambda: balances(client, seller)["pending"] == 27000)
    time.sleep(1.0)
    assert balances(client, seller)["pending"] == 27000


def test_a_poison_message_is_stored_for_ops_and_acknowledged(client, stack_store, uid):
    message_id = client.publish(TOPIC_ORDER_EVENTS, b'{"event_id": "x", "type": 3}')
    letter = eventually(lambda: stack_store.get(DEAD_LETTERS, f"order-events-{message_id}"))
    assert letter["code"] == "invalid_event"
    assert any(d["field"] for d in letter["details"])


def test_release_tick_makes_delivered_funds_available_after_the_holding_period(client, seller, uid):
    client.post_order_event(paid_event(uid))
    delivered = {
        "event_id": f"evt-{uid}-d",
        "type": "order_line.delivered",
        "occurred_at": NOW.isoformat(),
        "seller_id": seller,
        "order_line_id": f"ol-{uid}-1",
        "data": {"delivered_at": (NOW - timedelta(days=30)).isoformat()},
    }
    assert client.post_order_event(delivered).status_code == 202
    client.publish(TOPIC_RELEASE_FUNDS, {"reason": "test"})
    eventually(lambda: balances(client, seller)["available"] == 27000)
    assert balances(client, seller)["pending"] == 0
