"""Helpers of the security tests: tokens good and bad, push deliveries, funded sellers, paused queues."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from local_stack import local_env
from local_stack.client import StackClient
from stand_ins.sample_sellers import seller_body
from tests.e2e.conftest import eventually

# The caller each kind of function admits (local_stack/local_env.ALLOWED_CALLERS).
API_CALLER = "ops"
TASKS_CALLER = "tasks-invoker"
PUSH_CALLER = local_env.PUSH_IDENTITY
FINAL = ("paid", "failed", "returned", "canceled")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(email: str, audience: str, issuer: str = local_env.LOCAL_ISSUER) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": "1234567890",
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + 600,
    }


def bad_authorizations(sc: StackClient, function: str, allowed: str) -> dict[str, tuple[str | None, int]]:
    """Every way a caller can fail authentication at ``function``: case → (Authorization, status).

    Each token is wrong in exactly one way; ``allowed`` is the identity the function admits.
    """
    state, project, audience = sc.state_dir, sc.project, sc.urls[function]
    email = local_env.identity(allowed, project)

    def mint(**kw: Any) -> str:
        return local_env.mint_token(state, **{"email": email, "audience": audience, **kw})

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        _claims(email, audience), other_key, algorithm="RS256", headers={"kid": local_env.KEY_ID}
    )
    # A stranger's genuine token, its email rewritten to the allowed caller's: the signature breaks.
    header, payload, signature = mint(email=local_env.identity("stranger", project)).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered = ".".join([header, _b64url(json.dumps({**claims, "email": email}).encode()), signature])
    unsigned = ".".join(
        [_b64url(b'{"alg":"none","typ":"JWT"}'), _b64url(json.dumps(_claims(email, audience)).encode()), ""]
    )
    bearer = "Bearer {}".format
    elsewhere = "tasks-invoker" if allowed in ("ops", "marketplace") else "ops"
    return {
        "no token": (None, 401),
        "not a bearer token": ("Basic b3BzOm9wcw==", 401),
        "expired token": (bearer(mint(issued_at=int(time.time()) - 3600, ttl=600)), 401),
        "wrong audience": (bearer(mint(audience="http://127.0.0.1:1/another-function")), 401),
        "another function's audience": (bearer(mint(audience=sc.urls["order-events-webhook"])), 401),
        "wrong issuer": (bearer(mint(issuer="https://accounts.google.com")), 401),
        "forged signature": (bearer(forged), 401),
        "tampered claims": (bearer(tampered), 401),
        "unsigned (alg none)": (bearer(unsigned), 401),
        "wrong service account": (bearer(mint(email=local_env.identity("stranger", project))), 403),
        "an account allowed elsewhere": (bearer(mint(email=local_env.identity(elsewhere, project))), 403),
    }


def refused_everywhere(
    sc: StackClient, function: str, allowed: str, send: Callable[[dict[str, str]], requests.Response]
) -> None:
    """Send the request with every bad authorization; each must be refused with the right status."""
    wrong = {}
    for case, (authorization, status) in bad_authorizations(sc, function, allowed).items():
        headers = {} if authorization is None else {"Authorization": authorization}
        resp = send(headers)
        if resp.status_code != status or resp.json()["error"]["code"] not in ("unauthenticated", "forbidden"):
            wrong[case] = (resp.status_code, resp.text[:200])
    assert not wrong, f"{function}: {wrong}"


def with_token(sc: StackClient, function: str, identity: str) -> dict[str, str]:
    token = local_env.mint_token(
        sc.state_dir, email=local_env.identity(identity, sc.project), audience=sc.urls[function]
    )
    return {"Authorization": f"Bearer {token}"}


# --- Pub/Sub push, as the push subscription would deliver it ---------------------------------------


def push_envelope(sc: StackClient, topic: str, data: dict[str, Any] | bytes) -> tuple[str, bytes]:
    """(path, body) of a push delivery of ``data`` on ``topic``, straight to the function."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    message_id = f"sec-{uuid.uuid4().hex[:12]}"
    envelope = {
        "message": {
            "data": base64.b64encode(raw).decode(),
            "messageId": message_id,
            "publishTime": datetime.now(UTC).isoformat(),
            "attributes": {},
        },
        "subscription": f"projects/{sc.project}/subscriptions/attacker",
    }
    return f"/projects/{sc.project}/topics/{topic}", json.dumps(envelope).encode()


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=30)


# --- sellers with money ----------------------------------------------------------------------------


def onboard(
    sc: StackClient, seller_id: str, country: str = "FR", n: int = 7, outcome: str = "paid"
) -> dict[str, Any]:
    body = seller_body(country, n, outcome)
    resp = sc.call("PUT", "sellers-api", f"/sellers/{seller_id}", body)
    assert resp.status_code in (200, 201), resp.text
    return body


def fund(sc: StackClient, seller_id: str, currency: str = "EUR", gross: int = 50000) -> int:
    """Paid and return-window-closed events: ``gross`` minus 10% becomes available now."""
    tag = uuid.uuid4().hex[:10]
    now = datetime.now(UTC).isoformat()
    base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": f"ol-{seller_id}-{tag}"}
    money = {
        "gross": {"amount": gross, "currency": currency},
        "commission": {"amount": gross // 10, "currency": currency},
    }
    for event in (
        {**base, "event_id": f"e1-{tag}", "type": "order_line.paid", "data": money},
        {
            **base,
            "event_id": f"e2-{tag}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        },
    ):
        resp = sc.post_order_event(event)
        assert resp.status_code == 202, resp.text
    return gross - gross // 10


def balance(sc: StackClient, seller_id: str) -> dict[str, int]:
    resp = sc.call("GET", "sellers-api", f"/sellers/{seller_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["balances"][0])


def pay(sc: StackClient, seller_id: str, amount: int, currency: str = "EUR") -> requests.Response:
    return sc.call(
        "POST",
        "payouts-api",
        "/payouts",
        {"seller_id": seller_id, "amount": {"amount": amount, "currency": currency}},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


def settled(sc: StackClient, payout_id: str, status: str = "paid", timeout: float = 40) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        got = sc.call("GET", "payouts-api", f"/payouts/{payout_id}").json()
        return got if got["status"] == status else None

    return dict(eventually(check, timeout=timeout))


# --- Cloud Tasks queues ----------------------------------------------------------------------------


@contextlib.contextmanager
def paused_queue(stack, queue: str) -> Iterator[None]:
    """Hold a queue's tasks (nothing dispatches them) while the block runs; resume them after."""
    channel = grpc.insecure_channel(stack.env["CLOUD_TASKS_EMULATOR_HOST"])
    tasks = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    name = tasks.queue_path(stack.project, stack.location, queue)
    tasks.pause_queue(name=name)
    try:
        yield
    finally:
        tasks.resume_queue(name=name)
        channel.close()
