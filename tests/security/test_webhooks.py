"""The HMAC-signed webhooks: forged, tampered, stale, future and replayed deliveries change nothing;
a secret rotation accepts both secrets while it runs and only the new one after it ends."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import UTC, datetime

import pytest

from local_stack import local_env
from shared.adapters.firestore_store import ORDER_EVENTS, PROVIDER_EVENTS
from shared.adapters.providers.sandbox import SIGNATURE_HEADER as SANDBOX_HEADER
from shared.entrypoints import signing
from tests.security.helpers import balance, fund, onboard, pay, settled

pytestmark = pytest.mark.e2e

BAD_SIGNATURES = ["missing", "malformed", "forged", "tampered body", "stale", "future"]


def _signed(case: str, secret: str, body: bytes) -> tuple[bytes, str]:
    """The (body, signature header) an attacker would send, for one case."""
    now = int(time.time())
    if case == "missing":
        return body, ""
    if case == "malformed":
        return body, "sha256=" + signing.compute(secret, now, body)
    if case == "forged":
        return body, signing.sign(secrets.token_hex(32), now, body)
    if case == "tampered body":
        return body.replace(b"30000", b"90000").replace(b'"returned"', b'"paid"'), signing.sign(
            secret, now, body
        )
    if case == "stale":
        return body, signing.sign(secret, now - 301, body)
    if case == "future":
        return body, signing.sign(secret, now + 301, body)
    raise AssertionError(case)


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


# --- the order-event webhook ---------------------------------------------------------------------


@pytest.mark.parametrize("case", BAD_SIGNATURES)
def test_order_webhook_refuses_bad_signatures_and_applies_nothing(client, stack_store, uid, case):
    seller = f"s-{uid}"
    onboard(client, seller)
    event = _paid_event(seller, uid)
    body, header = _signed(case, client.webhook_secret(), json.dumps(event).encode())
    resp = client.post_order_event(body, signature=header)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "invalid_signature"
    assert stack_store.get(ORDER_EVENTS, event["event_id"]) is None
    assert balance(client, seller)["pending"] == 0


def test_order_webhook_replayed_after_it_was_processed_changes_nothing(client, stack_store, uid):
    seller = f"s-{uid}"
    onboard(client, seller)
    body = json.dumps(_paid_event(seller, uid)).encode()
    header = signing.sign(client.webhook_secret(), int(time.time()), body)
    assert client.post_order_event(body, signature=header).status_code == 202
    for _ in range(3):  # the very same request, captured and sent again
        again = client.post_order_event(body, signature=header)
        assert again.status_code == 200 and again.json()["duplicate"] is True
    assert balance(client, seller)["pending"] == 27000
    assert len(list(stack_store.journal_entries(seller))) == 1


def test_rotation_accepts_both_secrets_while_it_runs_and_only_the_new_one_after(client, stack, uid):
    """Rotate: start with [new, current], end with [new]. The stack's secrets.json is the source;
    the webhook function reads it at (re)start, as a deployment reads Secret Manager."""
    seller = f"s-{uid}"
    onboard(client, seller)
    path = stack.state_dir / "secrets.json"
    original = path.read_text()
    current = client.webhook_secret()
    new = secrets.token_hex(32)

    def rotate_to(active: list[str]) -> None:
        path.write_text(json.dumps({**json.loads(original), "order_webhook_secrets": active}))
        stack.restart_function("order-events-webhook")

    try:
        rotate_to([new, current])
        assert client.post_order_event(_paid_event(seller, f"{uid}-1"), secret=current).status_code == 202
        assert client.post_order_event(_paid_event(seller, f"{uid}-2"), secret=new).status_code == 202
        rotate_to([new])
        old = client.post_order_event(_paid_event(seller, f"{uid}-3"), secret=current)
        assert old.status_code == 401, old.text
        assert client.post_order_event(_paid_event(seller, f"{uid}-4"), secret=new).status_code == 202
        assert balance(client, seller)["pending"] == 3 * 27000  # events 1, 2 and 4
    finally:
        path.write_text(original)
        stack.restart_function("order-events-webhook")
    assert client.post_order_event(_paid_event(seller, f"{uid}-5")).status_code == 202


# --- the provider webhook ------------------------------------------------------------------------


def _provider_event(payout: dict, status: str) -> bytes:
    """A webhook as the sandbox provider sends it (stand_ins/sandbox_provider.py)."""
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:16]}",
            "type": f"transfer.{status}",
            "created": int(time.time()),
            "data": {
                "transfer": {
                    "id": payout["provider_ref"],
                    "reference": payout["payout_id"],
                    "status": status,
                    "amount": payout["amount"]["amount"],
                    "currency": payout["amount"]["currency"],
                    "failure_code": "account_closed" if status == "returned" else None,
                }
            },
        },
        separators=(",", ":"),
    ).encode()


def _post_provider(client, body: bytes, header: str):
    headers = {"Content-Type": "application/json", SANDBOX_HEADER: header}
    return client.http.post(
        client.urls["provider-webhook"] + "/sandbox", data=body, headers=headers, timeout=30
    )


@pytest.fixture
def paid_payout(client, uid, sandbox_defaults):
    seller = f"s-{uid}"
    onboard(client, seller)
    available = fund(client, seller)
    created = pay(client, seller, 20000)
    assert created.status_code == 201, created.text
    return seller, available, settled(client, created.json()["payout_id"], "paid")


def _provider_secret(client) -> str:
    return str(local_env.local_secrets(client.state_dir)["provider_webhook_secret"])


@pytest.mark.parametrize("case", BAD_SIGNATURES)
def test_provider_webhook_refuses_bad_signatures_and_moves_no_payout(client, paid_payout, case):
    seller, available, payout = paid_payout
    body, header = _signed(case, _provider_secret(client), _provider_event(payout, "returned"))
    resp = _post_provider(client, body, header)
    assert resp.status_code == 401, resp.text
    after = client.call("GET", "payouts-api", f"/payouts/{payout['payout_id']}").json()
    assert after["status"] == "paid" and after["history"] == payout["history"]
    assert balance(client, seller)["available"] == available - 20000


def test_provider_webhook_replayed_after_it_was_processed_changes_nothing(client, stack_store, paid_payout):
    seller, available, payout = paid_payout
    body = _provider_event(payout, "returned")
    header = signing.sign(_provider_secret(client), int(time.time()), body)
    first = _post_provider(client, body, header)
    assert first.status_code == 200 and first.json()["result"] == "applied", first.text
    for _ in range(3):
        again = _post_provider(client, body, header)
        assert again.status_code == 200 and again.json()["result"] == "duplicate", again.text
    after = client.call("GET", "payouts-api", f"/payouts/{payout['payout_id']}").json()
    assert [h["to"] for h in after["history"]].count("returned") == 1
    assert balance(client, seller)["available"] == available  # returned once, credited back once
    assert stack_store.get(PROVIDER_EVENTS, f"sandbox-{json.loads(body)['id']}")["result"] == "applied"


def test_a_webhook_about_a_transfer_no_payout_made_is_kept_for_ops_and_acknowledged(client, stack_store):
    """Money the rail says it moved that the platform cannot explain: nothing moves, ops see it
    at once as an ``unknown_transfer`` dead letter (reconciliation also finds it later)."""
    from shared.adapters.firestore import documents as d

    ghost = {
        "payout_id": f"po_ghost_{uuid.uuid4().hex[:12]}",
        "provider_ref": f"tr_ghost_{uuid.uuid4().hex[:8]}",
        "amount": {"amount": 4321, "currency": "EUR"},
    }
    body = _provider_event(ghost, "paid")
    header = signing.sign(_provider_secret(client), int(time.time()), body)
    for _ in range(2):  # the rail delivers it twice: one letter
        resp = _post_provider(client, body, header)
        assert resp.status_code == 200 and resp.json()["result"] == "unknown_payout", resp.text
    letter = stack_store.get(
        d.DEAD_LETTERS, d.dead_letter_id("provider-webhook:sandbox", json.loads(body)["id"])
    )
    assert letter is not None and letter["code"] == "unknown_transfer"
    assert ghost["payout_id"] in letter["reason"] and ghost["provider_ref"] in letter["reason"]
    assert stack_store.get(PROVIDER_EVENTS, f"sandbox-{json.loads(body)['id']}") is None
