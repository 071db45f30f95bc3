"""Hostile bodies on every write endpoint and every message type: refused in the documented JSON
shape, with the field path, and nothing written (issue 13, items 2 and 4 to 9).

Each test takes one target (an HTTP route, a signed webhook, a Cloud Tasks target or a
Pub/Sub-triggered function), waits until the stack's Firestore project is quiet, reads every
document of it (``store_snapshot``), sends every hostile case to the target, and reads every
document again: the only difference allowed is the dead letter of each Pub/Sub message that is
poison (logged, recorded, acknowledged). The classes, on every target where they can occur:

- **depth**: 10,000 nested arrays, under the size cap (was a 503 "retry later" on the APIs);
- **duplicate keys**: ``{"amount": 1000, "amount": 2000}`` (the last one silently won) at the
  place where it would matter, named by its path;
- **schema-invalid signed bodies**: the provider's ``amount: -1``, ``0``, ``"100"``, ``1.5``,
  ``2**63``, ``"eur"``, ``978`` against a paid payout (was 200 ``amount_mismatch``, a provider
  event recorded and the payout touched), and the order events' own;
- **oversized bodies on every route**, GETs and ``POST /payouts/{id}/cancel`` included;
- **framework answers**: a path with a newline, a push whose payload was not wrapped in the Pub/Sub
  envelope, an envelope too deep or with a duplicate key, a GET to a CloudEvent function;
- **impossible ids** in the path: a 422 naming the parameter (was a 404 ``seller_not_found``).
"""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from local_stack import local_env
from local_stack.client import StackClient
from shared.adapters.firestore_store import DEAD_LETTERS, FirestoreStore
from shared.adapters.providers.sandbox import SIGNATURE_HEADER as SANDBOX_HEADER
from shared.entrypoints import signing
from shared.settings import Settings
from shared.topology import (
    QUEUE_TRANSFERS,
    TOPIC_ORDER_EVENTS,
    TOPIC_PAYOUT_RUNS,
    TOPIC_RELEASE_FUNDS,
    TOPIC_SWEEPER,
)
from stand_ins.sample_sellers import seller_body
from tests.hostile.store_snapshot import changes, quiet_snapshot, snapshot
from tests.security.helpers import PUSH_CALLER, TASKS_CALLER, fund, onboard, paused_queue, pay, settled

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DEEP = b"[" * 10_000 + b"]" * 10_000  # 20 KB, far under the 64 KiB cap
HUGE = json.dumps({"pad": "x" * (70 * 1024)}).encode()  # over MAX_BODY_BYTES (64 KiB)
HUGE_PUSH = json.dumps({"pad": "x" * (120 * 1024)}).encode()  # over the push envelope's cap
IMPOSSIBLE_ID = "x" * 300
NEWLINE_ID = "a%0Ab"


def with_duplicate(doc: dict[str, Any], path: tuple[str, ...], second: Any) -> bytes:
    """``doc`` as JSON with the key at ``path`` written twice: its own value, then ``second``."""

    def dump(value: Any, at: tuple[str, ...]) -> str:
        if isinstance(value, dict):
            items = [f"{json.dumps(k)}: {dump(v, (*at, k))}" for k, v in value.items()]
            if at == path[:-1]:
                items.append(f"{json.dumps(path[-1])}: {json.dumps(second)}")
            return "{" + ", ".join(items) + "}"
        return json.dumps(value)

    return dump(doc, ()).encode()


def _unique_date() -> str:
    return (date(2090, 1, 1) + timedelta(days=random.randrange(20000))).isoformat()


@dataclass(frozen=True)
class Case:
    """One hostile request and what must come back."""

    name: str
    send: Callable[[], requests.Response]
    status: int
    code: str | None = None  # error.code (or, for a 2xx, the "result")
    field: str | None = None  # a field path that details must name
    dead_letter: str | None = None  # for poison: the dead_letters document id it must leave


@dataclass
class World:
    stack: Any
    ops: StackClient
    tasks: StackClient
    pusher: StackClient
    store: FirestoreStore
    seller: str
    paid_payout: dict[str, Any]
    provider_secret: str


@pytest.fixture(scope="module")
def world(stack) -> Iterator[World]:
    ops = StackClient.from_stack(stack, identity="ops")
    assert (
        ops.sandbox("POST", "/v1/_config", {"settle_delay_ms": 300, "return_delay_ms": 600}).status_code
        == 200
    )
    seller = f"hx-{uuid.uuid4().hex[:10]}"
    onboard(ops, seller)
    fund(ops, seller)  # 45000 available
    created = pay(ops, seller, 20000)
    assert created.status_code == 201, created.text
    paid = settled(ops, created.json()["payout_id"], "paid")
    yield World(
        stack=stack,
        ops=ops,
        tasks=ops.as_identity(TASKS_CALLER),
        pusher=ops.as_identity(PUSH_CALLER),
        store=FirestoreStore(Settings(), project=stack.project),
        seller=seller,
        paid_payout=paid,
        provider_secret=str(local_env.local_secrets(Path(stack.state_dir))["provider_webhook_secret"]),
    )
    ops.sandbox("POST", "/v1/_config", {})


# --- how each kind of target is called ---------------------------------------------------------------


def _api(
    w: World, function: str, method: str, path: str, body: bytes | None, **headers: str
) -> Callable[[], requests.Response]:
    def send() -> requests.Response:
        return w.ops.call(
            method, function, path, body, headers={"Content-Type": "application/json", **headers}
        )

    return send


def _task(w: World, function: str, body: bytes, path: str = "/") -> Callable[[], requests.Response]:
    return lambda: w.tasks.call("POST", function, path, body, headers={"Content-Type": "application/json"})


def _order_webhook(
    w: World, body: bytes, path: str = "", signed: bool = True
) -> Callable[[], requests.Response]:
    def send() -> requests.Response:
        header = signing.sign(w.ops.webhook_secret(), int(time.time()), body) if signed else ""
        headers = {"Content-Type": "application/json", signing.HEADER: header}
        return w.ops.http.post(
            w.ops.urls["order-events-webhook"] + path, data=body, headers=headers, timeout=60
        )

    return send


def _provider_webhook(w: World, body: bytes, path: str = "/sandbox") -> Callable[[], requests.Response]:
    def send() -> requests.Response:
        headers = {
            "Content-Type": "application/json",
            SANDBOX_HEADER: signing.sign(w.provider_secret, int(time.time()), body),
        }
        return w.ops.http.post(w.ops.urls["provider-webhook"] + path, data=body, headers=headers, timeout=60)

    return send


def _envelope(data: bytes, message_id: str) -> bytes:
    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": message_id,
                "publishTime": datetime.now(UTC).isoformat(),
                "attributes": {},
            },
            "subscription": "projects/p/subscriptions/hostile",
        }
    ).encode()


def _push(
    w: World, function: str, topic: str, body: bytes, method: str = "POST", path: str = ""
) -> Callable[[], requests.Response]:
    def send() -> requests.Response:
        url = w.ops.urls[function] + (path or f"/projects/{w.stack.project}/topics/{topic}")
        headers = {"Authorization": f"Bearer {w.pusher.token(function)}", "Content-Type": "application/json"}
        return w.ops.http.request(method, url, data=body, headers=headers, timeout=60)

    return send


# --- the cases of each target -------------------------------------------------------------------------


def _body_cases(
    send: Callable[[bytes], Callable[[], requests.Response]],
    doc: dict[str, Any],
    dup: tuple[str, ...],
    second: Any,
) -> list[Case]:
    """The JSON classes every endpoint that reads a body refuses with 400 malformed_json."""
    return [
        Case("nested 10,000 deep", send(DEEP), 400, "malformed_json", "$"),
        Case(
            f"duplicate {'.'.join(dup)}",
            send(with_duplicate(doc, dup, second)),
            400,
            "malformed_json",
            ".".join(dup),
        ),
        Case(
            "duplicate at the top",
            send(with_duplicate(doc, (next(iter(doc)),), "x")),
            400,
            "malformed_json",
            next(iter(doc)),
        ),
        Case("NaN", send(b'{"a": NaN}'), 400, "malformed_json", "$"),
        Case("not JSON", send(b"{"), 400, "malformed_json", "$"),
        Case("over the size cap", send(HUGE), 413, "body_too_large"),
    ]


def sellers_put(w: World) -> list[Case]:
    new = f"hx-new-{uuid.uuid4().hex[:8]}"
    body = seller_body("FR", 77)
    other_iban = seller_body("FR", 78)["bank_account"]["iban"]
    return [
        *_body_cases(
            lambda b: _api(w, "sellers-api", "PUT", f"/sellers/{new}", b),
            body,
            ("bank_account", "iban"),
            other_iban,
        ),
        Case(
            "a 300-character id",
            _api(w, "sellers-api", "PUT", f"/sellers/{IMPOSSIBLE_ID}", json.dumps(body).encode()),
            422,
            "validation_failed",
            "seller_id",
        ),
        Case(
            "an id with a newline",
            _api(w, "sellers-api", "PUT", f"/sellers/{NEWLINE_ID}", json.dumps(body).encode()),
            422,
            "validation_failed",
            "seller_id",
        ),
        Case(
            "an id of the form __x__",
            _api(w, "sellers-api", "PUT", "/sellers/__x__", json.dumps(body).encode()),
            422,
            "validation_failed",
            "seller_id",
        ),
    ]


def sellers_patch(w: World) -> list[Case]:
    body = {"display_name": "Changed", "payout_hold": {"held": False}}
    path = f"/sellers/{w.seller}"
    return [
        *_body_cases(lambda b: _api(w, "sellers-api", "PATCH", path, b), body, ("payout_hold", "held"), True),
        Case(
            "a 300-character id",
            _api(w, "sellers-api", "PATCH", f"/sellers/{IMPOSSIBLE_ID}", json.dumps(body).encode()),
            422,
            "validation_failed",
            "seller_id",
        ),
    ]


def sellers_get(w: World) -> list[Case]:
    return [
        Case(
            "over the size cap",
            _api(w, "sellers-api", "GET", f"/sellers/{w.seller}", HUGE),
            413,
            "body_too_large",
        ),
        Case(
            "a 300-character id",
            _api(w, "sellers-api", "GET", f"/sellers/{IMPOSSIBLE_ID}", None),
            422,
            "validation_failed",
            "seller_id",
        ),
        Case(
            "an id with a newline",
            _api(w, "sellers-api", "GET", f"/sellers/{NEWLINE_ID}", None),
            422,
            "validation_failed",
            "seller_id",
        ),
    ]


def payouts_post(w: World) -> list[Case]:
    body = {"seller_id": w.seller, "amount": {"amount": 1000, "currency": "EUR"}}

    def send(raw: bytes) -> Callable[[], requests.Response]:
        return _api(w, "payouts-api", "POST", "/payouts", raw, **{"Idempotency-Key": uuid.uuid4().hex})

    def amount(value: Any) -> bytes:
        return json.dumps({**body, "amount": {"amount": value, "currency": "EUR"}}).encode()

    return [
        *_body_cases(send, body, ("amount", "amount"), 2000),
        Case("amount 2**63", send(amount(2**63)), 422, "validation_failed", "amount.amount"),
        Case("amount 1.5", send(amount(1.5)), 422, "validation_failed", "amount.amount"),
        Case("amount '100'", send(amount("100")), 422, "validation_failed", "amount.amount"),
    ]


def payouts_reads(w: World) -> list[Case]:
    payout_id = w.paid_payout["payout_id"]
    return [
        Case(
            "list over the size cap", _api(w, "payouts-api", "GET", "/payouts", HUGE), 413, "body_too_large"
        ),
        Case(
            "list limit=0",
            _api(w, "payouts-api", "GET", "/payouts?limit=0", None),
            422,
            "validation_failed",
            "query.limit",
        ),
        Case(
            "list limit=x",
            _api(w, "payouts-api", "GET", "/payouts?limit=x", None),
            422,
            "validation_failed",
            "query.limit",
        ),
        Case(
            "list bad seller_id",
            _api(w, "payouts-api", "GET", "/payouts?seller_id=a%20b", None),
            422,
            "validation_failed",
            "query.seller_id",
        ),
        Case(
            "one over the size cap",
            _api(w, "payouts-api", "GET", f"/payouts/{payout_id}", HUGE),
            413,
            "body_too_large",
        ),
        Case(
            "one, a 300-character id",
            _api(w, "payouts-api", "GET", f"/payouts/{IMPOSSIBLE_ID}", None),
            422,
            "validation_failed",
            "payout_id",
        ),
        Case(
            "one, an id with a newline",
            _api(w, "payouts-api", "GET", f"/payouts/{NEWLINE_ID}", None),
            422,
            "validation_failed",
            "payout_id",
        ),
        Case(
            "run over the size cap",
            _api(w, "payouts-api", "GET", "/runs/run-2030-01-01", HUGE),
            413,
            "body_too_large",
        ),
        Case(
            "run, a 300-character id",
            _api(w, "payouts-api", "GET", f"/runs/{IMPOSSIBLE_ID}", None),
            422,
            "validation_failed",
            "run_id",
        ),
        Case(
            "run items over the size cap",
            _api(w, "payouts-api", "GET", "/runs/run-2030-01-01/items", HUGE),
            413,
            "body_too_large",
        ),
        Case(
            "run items, an id with a newline",
            _api(w, "payouts-api", "GET", f"/runs/{NEWLINE_ID}/items", None),
            422,
            "validation_failed",
            "run_id",
        ),
    ]


def payouts_cancel(w: World) -> list[Case]:
    """The pending payout's own cancel is in test_a_cancel_over_the_size_cap_cancels_nothing."""
    payout_id = w.paid_payout["payout_id"]
    return [
        Case(
            "5 MB on a paid payout",
            _api(w, "payouts-api", "POST", f"/payouts/{payout_id}/cancel", b"x" * (5 * 1024 * 1024)),
            413,
            "body_too_large",
        ),
        Case(
            "a 300-character id",
            _api(w, "payouts-api", "POST", f"/payouts/{IMPOSSIBLE_ID}/cancel", None),
            422,
            "validation_failed",
            "payout_id",
        ),
        Case(
            "an id with a newline",
            _api(w, "payouts-api", "POST", f"/payouts/{NEWLINE_ID}/cancel", None),
            422,
            "validation_failed",
            "payout_id",
        ),
    ]


def runs_post(w: World) -> list[Case]:
    body = {"run_date": _unique_date(), "dry_run": True}
    return _body_cases(lambda b: _api(w, "payouts-api", "POST", "/runs", b), body, ("dry_run",), False)


def _paid_event(seller: str, amount: int = 1000) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    return {
        "event_id": f"hx-{tag}",
        "type": "order_line.paid",
        "occurred_at": datetime.now(UTC).isoformat(),
        "seller_id": seller,
        "order_line_id": f"ol-hx-{tag}",
        "data": {
            "gross": {"amount": amount, "currency": "EUR"},
            "commission": {"amount": 0, "currency": "EUR"},
        },
    }


def order_events_webhook(w: World) -> list[Case]:
    event = _paid_event(w.seller)

    def gross(value: Any) -> bytes:
        return json.dumps(
            {**event, "data": {**event["data"], "gross": {"amount": value, "currency": "EUR"}}}
        ).encode()

    return [
        *_body_cases(lambda b: _order_webhook(w, b), event, ("data", "gross", "amount"), 3000),
        Case("gross -1", _order_webhook(w, gross(-1)), 422, "validation_failed", "data.gross.amount"),
        Case("gross 2**63", _order_webhook(w, gross(2**63)), 422, "validation_failed", "data.gross.amount"),
        Case("gross 1.5", _order_webhook(w, gross(1.5)), 422, "validation_failed", "data.gross.amount"),
        Case(
            "a path with a newline, unsigned",
            _order_webhook(w, json.dumps(event).encode(), "/a%0Ab", signed=False),
            401,
            "invalid_signature",
        ),
    ]


def provider_webhook(w: World) -> list[Case]:
    payout = w.paid_payout
    event = {
        "id": f"evt_hx_{uuid.uuid4().hex[:12]}",
        "type": "transfer.paid",
        "created": int(time.time()),
        "data": {
            "transfer": {
                "id": payout["provider_ref"],
                "reference": payout["payout_id"],
                "status": "paid",
                "amount": payout["amount"]["amount"],
                "currency": payout["amount"]["currency"],
                "failure_code": None,
            }
        },
    }

    def transfer(**changed: Any) -> bytes:
        return json.dumps({**event, "data": {"transfer": {**event["data"]["transfer"], **changed}}}).encode()

    def refused(name: str, raw: bytes, field: str) -> Case:
        return Case(name, _provider_webhook(w, raw), 400, "invalid_webhook", field)

    cases = [
        c if c.status == 413 else Case(c.name, c.send, 400, "invalid_webhook", c.field)
        for c in _body_cases(lambda b: _provider_webhook(w, b), event, ("data", "transfer", "amount"), 1)
    ]
    return [
        *cases,
        *(
            refused(f"amount {v!r}", transfer(amount=v), "data.transfer.amount")
            for v in (-1, 0, "100", 1.5, 2**63, None)
        ),
        *(
            refused(f"currency {v!r}", transfer(currency=v), "data.transfer.currency")
            for v in ("eur", 978, "XXX", "EURO")
        ),
        refused("reference __x__", transfer(reference="__x__"), "data.transfer.reference"),
        refused("reference ''", transfer(reference=""), "data.transfer.reference"),
        refused("status contradicting type", transfer(status="returned"), "data.transfer.status"),
        refused("an unknown type", json.dumps({**event, "type": "transfer.bogus"}).encode(), "type"),
        refused("created 10**17", json.dumps({**event, "created": 10**17}).encode(), "created"),
        refused("no transfer", json.dumps({**event, "data": {}}).encode(), "data.transfer"),
        Case(
            "a path with a newline",
            _provider_webhook(w, json.dumps(event).encode(), "/sandbox%0A"),
            404,
            "unknown_provider",
            "provider",
        ),
    ]


def run_shard_worker(w: World) -> list[Case]:
    body = {"run_id": "run-2030-01-01", "page_id": "p0"}
    send = lambda b: _task(w, "run-shard-worker", b)  # noqa: E731
    return [
        Case("nested 10,000 deep", send(DEEP), 200, "invalid_task_dropped", "$"),
        Case(
            "duplicate page_id",
            send(with_duplicate(body, ("page_id",), "p1")),
            200,
            "invalid_task_dropped",
            "page_id",
        ),
        Case("NaN", send(b'{"run_id": NaN}'), 200, "invalid_task_dropped", "$"),
        Case("over the size cap", send(HUGE), 413, "body_too_large"),
        Case(
            "a path with a newline",
            _task(w, "run-shard-worker", DEEP, "/a%0Ab"),
            200,
            "invalid_task_dropped",
            "$",
        ),
    ]


def transfer_worker(w: World) -> list[Case]:
    body = {"payout_id": w.paid_payout["payout_id"]}
    send = lambda b: _task(w, "transfer-worker", b)  # noqa: E731
    return [
        Case("nested 10,000 deep", send(DEEP), 200, "invalid_task_dropped", "$"),
        Case(
            "duplicate payout_id",
            send(with_duplicate(body, ("payout_id",), "po_other")),
            200,
            "invalid_task_dropped",
            "payout_id",
        ),
        Case("over the size cap", send(HUGE), 413, "body_too_large"),
    ]


PUBSUB = {
    # function: (topic, dead-letter source, a valid message, the key to duplicate, its second value)
    "order-events": (TOPIC_ORDER_EVENTS, "order-events", None, ("data", "gross", "amount"), 3000),
    "payout-runs": (
        TOPIC_PAYOUT_RUNS,
        "payout-runs",
        {"run_date": "2030-01-01", "dry_run": True},
        ("dry_run",),
        False,
    ),
    "release-funds": (TOPIC_RELEASE_FUNDS, "release-funds", {"reason": "hostile"}, ("reason",), "again"),
    "payout-sweeper": (TOPIC_SWEEPER, "payout-sweeper", {"reason": "hostile"}, ("reason",), "again"),
}


def _pubsub(function: str) -> Callable[[World], list[Case]]:
    topic, source, message, dup, second = PUBSUB[function]

    def cases(w: World) -> list[Case]:
        doc = message if message is not None else _paid_event(w.seller)
        if function == "payout-runs":
            doc = {**doc, "run_date": _unique_date()}

        def poison(name: str, data: bytes, code: str, field: str, path: str = "") -> Case:
            mid = f"hx-{uuid.uuid4().hex[:12]}"
            return Case(
                name,
                _push(w, function, topic, _envelope(data, mid), path=path),
                200,
                code,
                field,
                f"{source}-{mid}",
            )

        def refused(
            name: str, body: bytes, status: int, code: str, field: str | None = None, method: str = "POST"
        ) -> Case:
            return Case(name, _push(w, function, topic, body, method), status, code, field)

        invalid_code = "invalid_event" if function == "order-events" else "invalid_message"
        out = [
            poison("data nested 10,000 deep", DEEP, "malformed_json", "$"),
            poison(
                f"data with a duplicate {'.'.join(dup)}",
                with_duplicate(doc, dup, second),
                "malformed_json",
                ".".join(dup),
            ),
            poison("data NaN", b'{"a": NaN}', "malformed_json", "$"),
            poison("data not JSON", b"tick", "malformed_json", "$"),
            poison(
                "data with an unknown field",
                json.dumps({**doc, "surprise": 1}).encode(),
                invalid_code,
                "surprise",
            ),
            poison(
                "a topic path with a newline, data not JSON",
                b"{",
                "malformed_json",
                "$",
                path=f"/projects/{w.stack.project}/topics/a%0Ab",
            ),
            refused(
                "the payload without its envelope", json.dumps(doc).encode(), 400, "malformed_envelope", "$"
            ),
            refused("an envelope nested 10,000 deep", DEEP, 400, "malformed_json", "$"),
            refused(
                "an envelope with a duplicate messageId",
                _envelope(json.dumps(doc).encode(), "hx-1").replace(
                    b'"messageId": "hx-1"', b'"messageId": "hx-1", "messageId": "hx-2"'
                ),
                400,
                "malformed_json",
                "message.messageId",
            ),
            refused("an envelope over the size cap", HUGE_PUSH, 413, "body_too_large"),
            refused("a GET", b"", 405, "method_not_allowed", method="GET"),
        ]
        if function == "order-events":
            gross = {**doc, "data": {**doc["data"], "gross": {"amount": -1, "currency": "EUR"}}}
            out.append(poison("gross -1", json.dumps(gross).encode(), "invalid_event", "data.gross.amount"))
        return out

    return cases


TARGETS: dict[str, Callable[[World], list[Case]]] = {
    "PUT /sellers/{id}": sellers_put,
    "PATCH /sellers/{id}": sellers_patch,
    "GET /sellers/{id}": sellers_get,
    "POST /payouts": payouts_post,
    "GET /payouts, /payouts/{id}, /runs/{id}, /runs/{id}/items": payouts_reads,
    "POST /payouts/{id}/cancel": payouts_cancel,
    "POST /runs": runs_post,
    "order-events-webhook": order_events_webhook,
    "provider-webhook": provider_webhook,
    "run-shard-worker": run_shard_worker,
    "transfer-worker": transfer_worker,
    **{f"pubsub {name}": _pubsub(name) for name in PUBSUB},
}


def _mismatch(case: Case, resp: requests.Response) -> str | None:
    """What is wrong with the answer to ``case``, or None."""
    got = f"{resp.status_code} {resp.headers.get('Content-Type')} {resp.text[:200]!r}"
    if resp.status_code != case.status:
        return got
    if case.dead_letter is not None:
        return None  # a poison message is acknowledged; its dead letter is checked below
    if not resp.headers.get("Content-Type", "").startswith("application/json"):
        return got
    body = resp.json()
    if resp.status_code < 300:
        found_code, details = body.get("result"), body.get("details") or []
    else:
        error = body.get("error") or {}
        if set(error) != {"code", "message", "details"}:
            return got
        found_code, details = error["code"], error["details"]
    if case.code is not None and found_code != case.code:
        return got
    if case.field is not None and case.field not in [d.get("field") for d in details]:
        return got
    return None


@pytest.mark.parametrize("target", list(TARGETS))
def test_hostile_bodies_are_refused_with_their_path_and_write_nothing(world: World, target: str) -> None:
    cases = TARGETS[target](world)
    before = quiet_snapshot(world.stack)
    wrong = {}
    for case in cases:
        problem = _mismatch(case, case.send())
        if problem:
            wrong[case.name] = problem
    after = snapshot(world.stack)
    assert not wrong, json.dumps(wrong, indent=1)

    expected = {f"{DEAD_LETTERS}/{c.dead_letter}" for c in cases if c.dead_letter}
    assert changes(before, after) == expected, sorted(changes(before, after) ^ expected)
    for case in cases:
        if case.dead_letter:
            letter = world.store.get(DEAD_LETTERS, case.dead_letter)
            assert letter is not None, case.name
            assert letter["code"] == case.code, (case.name, letter["code"])
            assert case.field in [d["field"] for d in letter["details"]], (case.name, letter["details"])


def test_a_cancel_over_the_size_cap_cancels_nothing(world: World) -> None:
    """Item 6 where it bites: before, a 5 MB cancel of a pending payout was read as a cancel."""
    with paused_queue(world.stack, QUEUE_TRANSFERS):
        created = pay(world.ops, world.seller, 5000)
        assert created.status_code == 201, created.text
        payout_id = created.json()["payout_id"]
        before = quiet_snapshot(world.stack)
        resp = world.ops.call("POST", "payouts-api", f"/payouts/{payout_id}/cancel", b"x" * (5 * 1024 * 1024))
        assert (resp.status_code, resp.json()["error"]["code"]) == (413, "body_too_large"), resp.text[:200]
        assert changes(before, snapshot(world.stack)) == set()
        # The same cancel without the body does cancel it: the cap had something to stop.
        canceled = world.ops.call("POST", "payouts-api", f"/payouts/{payout_id}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled", canceled.text


def test_a_duplicate_amount_pays_and_credits_nothing(world: World) -> None:
    """Item 2 as reported: a payout of 2000 from a body that said 1000, an order event credited 3000."""
    before = world.ops.call("GET", "sellers-api", f"/sellers/{world.seller}").json()["balances"][0]
    body = (
        b'{"seller_id": "%s", "amount": {"amount": 1000, "currency": "EUR", "amount": 2000}}'
        % world.seller.encode()
    )
    resp = world.ops.call(
        "POST", "payouts-api", "/payouts", body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["details"][0]["field"] == "amount.amount"
    event = (
        json.dumps(_paid_event(world.seller))
        .encode()
        .replace(b'"amount": 1000,', b'"amount": 1000, "amount": 3000,')
    )
    assert b'"amount": 3000' in event
    resp = _order_webhook(world, event)()
    assert resp.status_code == 400 and resp.json()["error"]["details"][0]["field"] == "data.gross.amount", (
        resp.text
    )
    after = world.ops.call("GET", "sellers-api", f"/sellers/{world.seller}").json()["balances"][0]
    assert after == before
