"""Privacy: after an end-to-end run, no log of the stack holds a full bank account, a token or a
secret, and no API response shows more than a masked account.

The flow onboards a seller per bank-account scheme (IBAN, US ABA, JP Zengin), sends their order
events through both the webhook and Pub/Sub, pays each on demand until the provider says paid,
and reads everything back. Then every file under ``<state dir>/logs/`` (each function, the
emulators, the relay, the sandbox provider) is searched.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from local_stack import local_env
from local_stack.client import StackClient
from shared.topology import FUNCTIONS, TOPIC_ORDER_EVENTS
from stand_ins.sample_sellers import minor_units, seller_body
from tests.e2e.conftest import eventually
from tests.security.helpers import settled

pytestmark = pytest.mark.e2e

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")


class RecordingClient(StackClient):
    """A stack client that keeps every response it received."""

    responses: list[requests.Response]

    def call(self, *args: Any, **kwargs: Any) -> requests.Response:
        resp = super().call(*args, **kwargs)
        self.responses.append(resp)
        return resp


def _full_numbers(body: dict[str, Any]) -> list[str]:
    account = body["bank_account"]
    if "iban" in account:
        iban = account["iban"]
        return [iban, " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))]
    return [account["account_number"]]


def _occurs(number: str, text: str) -> bool:
    """The number as a whole (not inside a longer run of digits or letters)."""
    return re.search(rf"(?<![0-9A-Za-z]){re.escape(number)}(?![0-9A-Za-z])", text) is not None


def _flow(api: RecordingClient, sellers: dict[str, dict[str, Any]]) -> None:
    for seller_id, body in sellers.items():
        assert api.call("PUT", "sellers-api", f"/sellers/{seller_id}", body).status_code == 201
        ccy = body["currency"]
        gross = minor_units(body["country"], 500)
        now = datetime.now(UTC).isoformat()
        base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": f"ol-{seller_id}"}
        paid = {
            **base,
            "event_id": f"e1-{seller_id}",
            "type": "order_line.paid",
            "data": {
                "gross": {"amount": gross, "currency": ccy},
                "commission": {"amount": gross // 10, "currency": ccy},
            },
        }
        closed = {
            **base,
            "event_id": f"e2-{seller_id}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        }
        assert api.post_order_event(paid).status_code == 202  # the webhook
        api.publish(TOPIC_ORDER_EVENTS, closed)  # Pub/Sub, through the push relay
        available = gross - gross // 10

        def funded(seller_id: str = seller_id, available: int = available) -> bool:
            return (
                api.call("GET", "sellers-api", f"/sellers/{seller_id}").json()["balances"][0]["available"]
                == available
            )

        eventually(funded)
        created = api.call(
            "POST",
            "payouts-api",
            "/payouts",
            {"seller_id": seller_id, "amount": {"amount": available, "currency": ccy}},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        settled(api, created.json()["payout_id"], "paid")
        api.call("GET", "payouts-api", f"/payouts?seller_id={seller_id}")
        api.call("GET", "sellers-api", f"/sellers/{seller_id}")


def test_no_log_holds_an_account_number_a_token_or_a_secret(client, stack, sandbox_defaults):
    api = RecordingClient(
        client.urls, client.project, client.state_dir, client.pubsub_host, "ops", client.sandbox_url
    )
    api.responses = []
    tag = uuid.uuid4().hex[:8]
    n = int(tag, 16) % 90000
    sellers = {f"priv-{c.lower()}-{tag}": seller_body(c, n) for c in ("FR", "GB", "US", "JP")}
    _flow(api, sellers)
    time.sleep(1.5)  # let the provider's webhooks, the outbox relay and the log buffers settle

    numbers = [number for body in sellers.values() for number in _full_numbers(body)]
    secrets_json = local_env.local_secrets(client.state_dir)
    secrets = [
        str(v) for value in secrets_json.values() for v in (value if isinstance(value, list) else [value])
    ]

    # Every API response of the flow: masked accounts only.
    assert api.responses
    for resp in api.responses:
        leaked = [x for x in numbers if _occurs(x, resp.text)]
        assert not leaked, (resp.request.method, resp.url, leaked)
        body = resp.json()
        if isinstance(body, dict) and "bank_account" in body:
            account = body["bank_account"]
            assert "••••" in account["masked"], account
            assert not {"iban", "account_number", "routing_number", "bic"} & set(account), account

    # Every log of the stack.
    logs = sorted((stack.state_dir / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"sellers-api", "payouts-api", "order-events", "push-relay", "sandbox"}
    found: dict[str, list[str]] = {}
    for path in logs:
        text = path.read_text(errors="replace")
        hits = [f"account {x[:4]}…" for x in numbers if _occurs(x, text)]
        hits += [f"secret {s[:4]}…" for s in secrets if s in text]
        hits += [f"token {m.group(0)[:12]}…" for m in _JWT.finditer(text)][:3]
        if hits:
            found[path.name] = hits
    assert not found, found


def test_no_log_holds_a_refused_credential_and_its_words_stay_readable(client, stack):
    """Redact values, not words (issue 13, item 11): an opaque bearer credential (not a JWT, so
    the JWT pattern above cannot find it) sent to every OIDC-guarded function is in no log, while
    the refusal's own words ("missing bearer token") are logged as they are."""
    opaque = secrets.token_hex(24)
    guarded = [spec for spec in FUNCTIONS if not spec.public and spec.name != "order-events-webhook"]
    logs = sorted((stack.state_dir / "logs").glob("*.log"))
    start = {path: path.stat().st_size for path in logs}  # what this test adds is read below
    for spec in guarded:
        path = f"/projects/{client.project}/topics/{spec.topic}" if spec.topic else "/"
        for headers in ({"Authorization": f"Bearer {opaque}"}, {}):
            resp = requests.post(client.urls[spec.name] + path, data=b"{}", headers=headers, timeout=30)
            assert resp.status_code == 401, (spec.name, resp.text[:200])
            assert opaque not in resp.text
    time.sleep(1.0)  # the log buffers
    texts = {}
    for path in logs:
        with path.open("rb") as f:
            f.seek(start[path])
            texts[path.stem] = f.read().decode(errors="replace")
    assert not [name for name, text in texts.items() if opaque in text]
    for spec in guarded:
        if spec.iap:  # the console reads IAP's assertion, never a bearer token
            continue
        assert "missing bearer token" in texts[spec.name], spec.name
        assert "missing bearer [redacted]" not in texts[spec.name], spec.name
