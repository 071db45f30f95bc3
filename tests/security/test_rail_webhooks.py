"""Adyen's and Stripe's webhooks through the running provider-webhook function: a bad or stale
signature is 401, a malformed, duplicate-key, too deep or off-contract body a 400 naming the field,
a too large one 413, an event the platform does not follow 200 and ignored, a transfer no payout
made 200 and kept for ops; always a JSON answer, never a 5xx, and nothing applied. Bodies come
from the vendors' own examples (Adyen's notification spec, Stripe's fixtures)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest

from local_stack import local_env
from shared.adapters.firestore import documents as d
from shared.adapters.providers import contracts
from shared.entrypoints import signing

pytestmark = pytest.mark.e2e


def adyen_example(name: str = "02.payout-booked") -> dict[str, Any]:
    for event_type in ("balancePlatform.transfer.created", "balancePlatform.transfer.updated"):
        for found, body in contracts.webhook_examples(event_type):
            if found == name:
                return json.loads(json.dumps(body))
    raise KeyError(name)


def stripe_event(reference: str) -> dict[str, Any]:
    transfer = contracts.stripe_fixture("transfer") | {
        "id": f"tr_{uuid.uuid4().hex[:14]}",
        "transfer_group": reference,
        "metadata": {"payout_id": reference, "bank_payout": "per_payout"},
    }
    return contracts.stripe_fixture("event") | {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "type": "transfer.created",
        "created": int(time.time()),
        "data": {"object": transfer},
    }


class Rail:
    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name
        self.secrets = local_env.local_secrets(client.state_dir)

    def sign(self, body: bytes, at: int | None = None) -> dict[str, str]:
        if self.name == "adyen":
            key = self.secrets["adyen_hmac_keys"][0]  # type: ignore[index]
            digest = hmac.new(bytes.fromhex(key), body, hashlib.sha256).digest()
            return {"HmacSignature": base64.b64encode(digest).decode()}
        secret = self.secrets["stripe_webhook_secrets"][0]  # type: ignore[index]
        return {"Stripe-Signature": signing.sign(secret, at or int(time.time()), body)}

    def valid(self, reference: str) -> dict[str, Any]:
        if self.name == "adyen":
            data = adyen_example()
            data["data"]["reference"] = reference
            return data
        return stripe_event(reference)

    def post(self, body: bytes, headers: dict[str, str]):
        return self.client.http.post(
            f"{self.client.urls['provider-webhook']}/{self.name}",
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=30,
        )


@pytest.fixture(params=["adyen", "stripe"])
def rail(request, client) -> Rail:
    return Rail(client, request.param)


def answered(resp, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    return dict(resp.json())


def test_a_missing_wrong_or_stale_signature_is_401(rail):
    body = json.dumps(rail.valid(f"po_{uuid.uuid4().hex[:12]}")).encode()
    assert answered(rail.post(body, {}), 401)["error"]["code"] == "invalid_webhook"
    forged = {k: v[:-6] + "AAAAAA" for k, v in rail.sign(body).items()}
    assert answered(rail.post(body, forged), 401)["error"]["code"] == "invalid_webhook"
    tampered = body.replace(b"po_", b"pX_")
    assert answered(rail.post(tampered, rail.sign(body)), 401)["error"]["code"] == "invalid_webhook"
    if rail.name == "stripe":  # Stripe signs a time: older than the tolerance is refused
        stale = rail.sign(body, at=int(time.time()) - 3600)
        assert answered(rail.post(body, stale), 401)["error"]["code"] == "invalid_webhook"


def bad_bodies(rail: Rail) -> list[tuple[str, bytes, str]]:
    valid = rail.valid(f"po_{uuid.uuid4().hex[:12]}")
    text = json.dumps(valid)
    if rail.name == "adyen":
        off = json.loads(text)
        off["data"]["amount"]["value"] = "10000"
        duplicated = text.replace('"sequenceNumber": 3', '"sequenceNumber": 3, "sequenceNumber": 4')
        off_field, dup_field = "data.amount.value", "data.sequenceNumber"
    else:
        off = json.loads(text)
        off["data"]["object"]["amount"] = "1000"
        duplicated = text.replace(
            '"type": "transfer.created"', '"type": "transfer.created", "type": "payout.paid"'
        )
        off_field, dup_field = "data.object.amount", "type"
    deep = "[" * 200 + "]" * 200
    return [
        ("malformed", text[:-7].encode(), ""),
        ("duplicate key", duplicated.encode(), dup_field),
        ("off contract", json.dumps(off).encode(), off_field),
        ("too deep", deep.encode(), ""),
        ("not an object", b"[1, 2, 3]", ""),
    ]


def test_a_signed_but_bad_body_is_a_400_naming_the_field_and_applies_nothing(rail, stack_store):
    for case, body, field in bad_bodies(rail):
        error = answered(rail.post(body, rail.sign(body)), 400)["error"]
        assert error["code"] == "invalid_webhook", case
        if field:
            assert field in [x["field"] for x in error["details"]], (case, error)


def test_a_body_too_large_is_413(rail):
    body = b'{"pad": "' + b"x" * (70 * 1024) + b'"}'
    assert answered(rail.post(body, rail.sign(body)), 413)["error"]["code"] == "body_too_large"


def test_an_event_type_the_platform_does_not_follow_is_acknowledged_and_ignored(rail):
    data = rail.valid(f"po_{uuid.uuid4().hex[:12]}")
    data["type"] = "balancePlatform.balanceAccount.updated" if rail.name == "adyen" else "charge.succeeded"
    body = json.dumps(data).encode()
    assert answered(rail.post(body, rail.sign(body)), 200)["result"] == "ignored"


def test_a_transfer_no_payout_made_is_acknowledged_and_kept_for_ops(rail, stack_store):
    reference = f"po_ghost_{uuid.uuid4().hex[:12]}"
    body = json.dumps(rail.valid(reference)).encode()
    assert answered(rail.post(body, rail.sign(body)), 200)["result"] == "unknown_payout"
    letters = stack_store.client.collection(d.DEAD_LETTERS).where("code", "==", "unknown_transfer").stream()
    mine = [x.to_dict() for x in letters if reference in (x.to_dict() or {}).get("reason", "")]
    assert len(mine) == 1 and mine[0]["source"] == f"provider-webhook:{rail.name}"


def test_a_stripe_transfer_made_outside_the_platform_is_kept_for_ops(client, stack_store):
    """A platform transfer without our metadata (made from Stripe's dashboard): unknown to us."""
    rail = Rail(client, "stripe")
    transfer_id = f"tr_dash{uuid.uuid4().hex[:10]}"
    data = stripe_event("unused")
    data["data"]["object"] |= {"id": transfer_id, "transfer_group": None, "metadata": {}}
    body = json.dumps(data).encode()
    assert answered(rail.post(body, rail.sign(body)), 200)["result"] == "unknown_payout"
    letters = stack_store.client.collection(d.DEAD_LETTERS).where("code", "==", "unknown_transfer").stream()
    assert [x for x in letters if transfer_id in (x.to_dict() or {}).get("reason", "")]
