"""The sandbox payment provider, in process: Flask test clients, a fake clock and a fake webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from flask import Flask, request
from schwifty import IBAN

from shared.entrypoints.signing import SignatureError, verify
from stand_ins.sandbox_provider import (
    SIGNATURE_HEADER,
    Config,
    Sandbox,
    Worker,
    create_app,
    event_id,
    main,
)

API_KEY = "sk_test_sandbox"
SECRET = "whsec_sandbox"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
START = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Receiver:
    """Our provider-webhook endpoint, faked: checks the signature, records events, answers as told."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.answers: list[int] = []  # statuses to answer next; 200 once exhausted
        self.received: list[dict[str, Any]] = []
        self.signed_at: list[int] = []
        self.raw: list[bytes] = []
        app = Flask("receiver")

        @app.post("/hook")
        def hook() -> tuple[str, int]:
            try:
                self.signed_at.append(
                    verify(
                        request.headers.get(SIGNATURE_HEADER),
                        request.get_data(),
                        [SECRET],
                        now=int(self.clock()),
                    )
                )
            except SignatureError:
                return "bad signature", 400
            self.raw.append(request.get_data())
            self.received.append(json.loads(request.get_data()))
            return "", self.answers.pop(0) if self.answers else 200

        self.client = app.test_client()

    def __call__(self, url: str, body: bytes, headers: Any) -> int:
        assert url == "http://receiver.test/hook"
        return self.client.post("/hook", data=body, headers=dict(headers)).status_code

    def types(self) -> list[str]:
        return [e["type"] for e in self.received]


class Env:
    def __init__(self, tmp_path: Any, config: dict[str, Any] | None = None) -> None:
        self.clock = Clock()
        self.receiver = Receiver(self.clock)
        self.state_file = tmp_path / "sandbox.json"
        self.config = {"settle_delay_ms": 1000, "return_delay_ms": 5000, **(config or {})}
        self.save_interval = 0.0
        self.app = self.make_app()

    def make_app(self) -> Flask:
        self.app = create_app(
            self.config,
            API_KEY,
            SECRET,
            "http://receiver.test/hook",
            self.state_file,
            clock=self.clock,
            sender=self.receiver,
            save_interval=self.save_interval,
        )
        self.client: Any = self.app.test_client()  # responses' .json is Any
        self.sandbox: Sandbox = self.app.extensions["sandbox"]
        return self.app

    def create(self, key: str = "key-1", **changes: Any) -> Any:
        return self.client.post(
            "/v1/transfers", json=transfer(**changes), headers={**AUTH, "Idempotency-Key": key}
        )

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.sandbox.settle_due(self.clock.now)
        self.sandbox.deliver_due(self.clock.now)

    def set_config(self, **config: Any) -> Any:
        response = self.client.post("/v1/_config", json=config, headers=AUTH)
        assert response.status_code == 200, response.json
        return response


def de_iban(last6: str) -> str:
    return str(IBAN.generate("DE", bank_code="37040044", account_code=f"0000{last6}"))


def transfer(
    account: str = "123456", scheme: str = "iban", reference: str = "po_1", amount: Any = 1234, **extra: Any
) -> dict[str, Any]:
    destinations = {
        "iban": {"country": "DE", "iban": de_iban(account), "bic": "COBADEFFXXX"},
        "us_aba": {"country": "US", "routing_number": "011000015", "account_number": f"0001{account}"},
        "jp_zengin": {
            "country": "JP",
            "bank_code": "0005",
            "branch_code": "123",
            "account_number": f"0{account}",
        },
    }
    destination = {"scheme": scheme, "holder_name": "Alex Martin", **destinations[scheme]}
    return {"amount": amount, "currency": "EUR", "reference": reference, "destination": destination, **extra}


@pytest.fixture
def env(tmp_path: Any) -> Env:
    return Env(tmp_path)


def test_health_needs_no_auth_but_the_api_does(env: Env) -> None:
    assert env.client.get("/healthz").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
        response = env.client.get("/v1/transfers", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    assert (
        env.client.post("/v1/transfers", json=transfer(), headers={"Idempotency-Key": "k"}).status_code == 401
    )
    assert env.client.get("/v1/_config").status_code == 401
    assert env.client.get("/v1/transfers", headers=AUTH).status_code == 200


def test_create_is_idempotent(env: Env) -> None:
    first = env.create("key-1")
    assert first.status_code == 201
    created = first.json
    assert created["id"].startswith("tr_") and created["status"] == "processing"
    assert created["failure_code"] is None and created["amount"] == 1234 and created["reference"] == "po_1"
    second = env.create("key-1")
    assert second.status_code == 200 and second.json == created
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(env.client.get("/v1/transfers", headers=AUTH).json["data"]) == 1
    env.advance(1)
    replayed = env.create("key-1")  # the transfer as it is now
    assert (
        replayed.status_code == 200
        and replayed.json["id"] == created["id"]
        and replayed.json["status"] == "paid"
    )


def test_key_reused_with_another_body_is_a_conflict(env: Env) -> None:
    assert env.create("key-1").status_code == 201
    response = env.create("key-1", amount=999)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("key", [None, "", "k" * 65])
def test_idempotency_key_is_required(env: Env, key: str | None) -> None:
    headers = AUTH if key is None else {**AUTH, "Idempotency-Key": key}
    response = env.client.post("/v1/transfers", json=transfer(), headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_idempotency_key"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": 12.5}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"currency": "eur"}, "currency"),
        ({"reference": ""}, "reference"),
        ({"surprise": 1}, "surprise"),
        ({"metadata": {"a": 1}}, "metadata"),
        (
            {"destination": {"scheme": "iban", "country": "DE", "holder_name": "A", "iban": "DE00"}},
            "destination.iban",
        ),
        ({"destination": {"scheme": "swift", "country": "DE", "holder_name": "A"}}, "destination.scheme"),
        (
            {"destination": {"scheme": "iban", "country": "DE", "iban": de_iban("123456")}},
            "destination.holder_name",
        ),
        (
            {
                "destination": {
                    "scheme": "us_aba",
                    "country": "US",
                    "holder_name": "A",
                    "routing_number": "12",
                    "account_number": "12345",
                }
            },
            "destination.routing_number",
        ),
        (
            {
                "destination": {
                    "scheme": "iban",
                    "country": "DE",
                    "holder_name": "A",
                    "iban": de_iban("1"),
                    "account_number": "1",
                }
            },
            "destination.account_number",
        ),
    ],
)
def test_invalid_bodies_are_refused_and_not_stored(env: Env, changes: dict[str, Any], field: str) -> None:
    response = env.create("key-1", **changes)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_request"
    assert response.json["error"]["field"] == field
    assert env.client.get("/v1/transfers", headers=AUTH).json["data"] == []
    assert env.create("key-1").status_code == 201  # the key was not burnt


def test_non_json_body_is_a_400(env: Env) -> None:
    response = env.client.post(
        "/v1/transfers",
        data="{not json",
        headers={**AUTH, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert response.status_code == 400


MAGIC = [
    ("999901", ["failed"], "account_closed"),
    ("999902", ["failed"], "no_account"),
    ("999904", ["failed"], "account_frozen"),
    ("999905", ["failed"], "declined"),
    ("999906", ["failed"], "insufficient_platform_funds"),
    ("999907", ["paid", "returned"], "account_closed"),
    ("123456", ["paid"], None),
    ("999908", ["paid"], None),
]


@pytest.mark.parametrize("scheme", ["iban", "us_aba", "jp_zengin"])
@pytest.mark.parametrize(("account", "statuses", "failure_code"), MAGIC)
def test_magic_accounts(
    env: Env, scheme: str, account: str, statuses: list[str], failure_code: str | None
) -> None:
    created = env.create("key-1", account=account, scheme=scheme)
    assert created.status_code == 201, created.json
    tid = created.json["id"]
    env.advance(0.999)
    assert env.client.get(f"/v1/transfers/{tid}", headers=AUTH).json["status"] == "processing"
    assert env.receiver.received == []
    env.advance(0.001)
    assert env.client.get(f"/v1/transfers/{tid}", headers=AUTH).json["status"] == statuses[0]
    env.advance(5)
    final = env.client.get(f"/v1/transfers/{tid}", headers=AUTH).json
    assert final["status"] == statuses[-1] and final["failure_code"] == failure_code
    assert env.receiver.types() == [f"transfer.{s}" for s in statuses]
    assert [e["data"]["transfer"]["status"] for e in env.receiver.received] == statuses


def test_french_iban_account_code_is_used() -> None:
    iban = str(IBAN.generate("FR", bank_code="2004101005", account_code="00000999905"))
    assert IBAN(iban).account_code.endswith("999905")


@pytest.mark.parametrize("scheme", ["iban", "us_aba", "jp_zengin"])
def test_invalid_account_number_is_refused_synchronously_and_stored(env: Env, scheme: str) -> None:
    first = env.create("key-1", account="999903", scheme=scheme)
    assert first.status_code == 422
    assert first.json["error"]["code"] == "invalid_account_number"
    assert env.client.get("/v1/transfers", headers=AUTH).json["data"] == []
    again = env.create("key-1", account="999903", scheme=scheme)
    assert again.status_code == 422 and again.json == first.json
    assert env.create("key-1", account="123456", scheme=scheme).status_code == 409
    env.advance(10)
    assert env.receiver.received == []


def test_webhook_payload_and_signature(env: Env) -> None:
    tid = env.create("key-1", reference="po_42", metadata={"seller": "s_1"}).json["id"]
    env.advance(1)
    assert len(env.receiver.received) == 1
    event = env.receiver.received[0]
    assert event["id"] == event_id(tid, "paid") and event["id"].startswith("evt_")
    assert event["type"] == "transfer.paid"
    assert event["created"] == int(START + 1)
    sent = event["data"]["transfer"]
    assert sent == env.client.get(f"/v1/transfers/{tid}", headers=AUTH).json
    assert sent["status"] == "paid" and sent["reference"] == "po_42" and sent["metadata"] == {"seller": "s_1"}
    assert env.receiver.signed_at == [int(START + 1)]
    with pytest.raises(SignatureError):  # the fake receiver really checks signatures
        verify(f"t={int(START)},v1=00", env.receiver.raw[0], [SECRET], now=int(START))
    log = env.client.get("/v1/_webhooks", query_string={"transfer_id": tid}, headers=AUTH).json["data"]
    assert [(e["attempt"], e["status_code"], e["result"]) for e in log] == [(1, 200, "delivered")]


def test_failed_deliveries_are_retried_with_backoff_and_fresh_signatures(tmp_path: Any) -> None:
    env = Env(tmp_path, {"webhook_retry_base_ms": 2000, "webhook_max_attempts": 8})
    env.receiver.answers = [500, 503, 404]
    tid = env.create().json["id"]
    env.advance(1)  # attempt 1 at +1 s, next after 2 s
    env.advance(1.9)
    assert len(env.receiver.received) == 1
    env.advance(0.1)  # attempt 2 at +3 s, next after 4 s
    env.advance(3.9)
    assert len(env.receiver.received) == 2
    env.advance(0.1)  # attempt 3 at +7 s, next after 8 s
    env.advance(8)  # attempt 4 at +15 s: delivered
    env.advance(100)
    assert len(env.receiver.received) == 4
    assert len({e["id"] for e in env.receiver.received}) == 1
    assert env.receiver.signed_at == [int(START + s) for s in (1, 3, 7, 15)]
    log = env.client.get("/v1/_webhooks", query_string={"transfer_id": tid}, headers=AUTH).json["data"]
    assert [(e["attempt"], e["status_code"], e["result"]) for e in log] == [
        (1, 500, "retry_scheduled"),
        (2, 503, "retry_scheduled"),
        (3, 404, "retry_scheduled"),
        (4, 200, "delivered"),
    ]


def test_unreachable_endpoint_is_retried_then_given_up(tmp_path: Any) -> None:
    env = Env(tmp_path, {"webhook_retry_base_ms": 10, "webhook_max_attempts": 3})
    calls: list[str] = []

    def refused(url: str, body: bytes, headers: Any) -> int:
        calls.append(headers[SIGNATURE_HEADER])
        raise ConnectionError("connection refused")

    env.sandbox.sender = refused
    env.create()
    for _ in range(10):
        env.advance(1)
    log = env.client.get("/v1/_webhooks", headers=AUTH).json["data"]
    assert len(calls) == 3
    assert [e["result"] for e in log] == ["retry_scheduled", "retry_scheduled", "gave_up"]
    assert all(e["status_code"] is None and "connection refused" in e["error"] for e in log)
    assert env.sandbox.deliveries == []


def test_error_rate_creates_nothing_and_does_not_burn_the_key(env: Env) -> None:
    env.set_config(error_rate=1.0)
    statuses = {env.create("key-1").status_code for _ in range(20)}
    assert statuses == {500, 503}
    assert env.client.get("/v1/transfers", headers=AUTH).json["data"] == []
    env.set_config(error_rate=0.0)
    assert env.create("key-1").status_code == 201


def test_timeout_after_accept_creates_the_transfer_then_answers_late(env: Env) -> None:
    env.set_config(timeout_after_accept_rate=1.0, timeout_sleep_ms=50)
    started = time.monotonic()
    response = env.create("key-1")
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 201
    retry = env.create("key-1")  # the client timed out and retries with the same key
    assert retry.status_code == 200 and retry.json["id"] == response.json["id"]


def test_latency_is_added_to_transfer_calls(env: Env) -> None:
    env.set_config(latency_ms=40)
    started = time.monotonic()
    env.client.get("/v1/transfers", headers=AUTH)
    assert time.monotonic() - started >= 0.04


def test_duplicate_webhooks_carry_the_same_id(env: Env) -> None:
    env.set_config(duplicate_webhook_rate=1.0, settle_delay_ms=1000)
    env.create()
    env.advance(1)
    assert env.receiver.types() == ["transfer.paid", "transfer.paid"]
    assert env.receiver.raw[0] == env.receiver.raw[1]


def test_out_of_order_delivers_the_later_event_first(env: Env) -> None:
    env.set_config(out_of_order_rate=1.0, settle_delay_ms=1000, return_delay_ms=5000)
    tid = env.create(account="999907").json["id"]
    env.advance(1)
    assert env.client.get(f"/v1/transfers/{tid}", headers=AUTH).json["status"] == "paid"
    assert env.receiver.received == []  # held back
    env.advance(5)
    env.advance(1)
    assert env.receiver.types() == ["transfer.returned", "transfer.paid"]
    assert [e["id"] for e in env.receiver.received] == [event_id(tid, "returned"), event_id(tid, "paid")]


def test_out_of_order_leaves_single_event_transfers_alone(env: Env) -> None:
    env.set_config(out_of_order_rate=1.0, settle_delay_ms=1000)
    env.create(account="999901")
    env.advance(1)
    assert env.receiver.types() == ["transfer.failed"]


def test_dropped_webhooks_are_never_sent(env: Env) -> None:
    env.set_config(drop_webhook_rate=1.0, settle_delay_ms=1000)
    tid = env.create().json["id"]
    env.advance(1)
    env.advance(60)
    assert env.receiver.received == []
    assert env.client.get(f"/v1/transfers/{tid}", headers=AUTH).json["status"] == "paid"
    log = env.client.get("/v1/_webhooks", headers=AUTH).json["data"]
    assert [e["result"] for e in log] == ["dropped"]


def test_faults_are_reproducible_from_the_seed(env: Env) -> None:
    def run() -> list[int]:
        env.client.post("/v1/_reset", headers=AUTH)
        env.set_config(error_rate=0.5, seed=7)
        return [env.create(f"k{i}").status_code for i in range(30)]

    first = run()
    assert first == run()
    assert 201 in first and {500, 503} & set(first)


def test_list_by_reference_and_pagination(env: Env) -> None:
    ids = [env.create(f"k{i}", reference="po_A" if i in (1, 3) else f"po_{i}").json["id"] for i in range(5)]
    by_ref = env.client.get("/v1/transfers", query_string={"reference": "po_A"}, headers=AUTH).json
    assert [t["id"] for t in by_ref["data"]] == [ids[1], ids[3]] and by_ref["has_more"] is False
    pages, cursor = [], None
    while True:
        query = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = env.client.get("/v1/transfers", query_string=query, headers=AUTH).json
        pages.append([t["id"] for t in page["data"]])
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    assert env.client.get("/v1/transfers", headers=AUTH).json["has_more"] is False
    for query in ({"limit": 0}, {"limit": "x"}, {"limit": 101}, {"starting_after": "tr_nope"}):
        assert env.client.get("/v1/transfers", query_string=query, headers=AUTH).status_code == 422
    assert env.client.get("/v1/transfers/tr_nope", headers=AUTH).status_code == 404


def test_state_survives_a_restart(env: Env) -> None:
    paid = env.create("key-1").json["id"]
    env.advance(1)
    pending = env.create("key-2", account="999907").json["id"]
    refused = env.create("key-3", account="999903").json
    env.make_app()  # a new process on the same state file
    assert env.client.get(f"/v1/transfers/{paid}", headers=AUTH).json["status"] == "paid"
    assert env.create("key-1").json["id"] == paid
    assert env.create("key-1", amount=1).status_code == 409
    assert env.create("key-3", account="999903").json == refused
    env.advance(1)
    env.make_app()
    env.advance(5)
    assert env.client.get(f"/v1/transfers/{pending}", headers=AUTH).json["status"] == "returned"
    assert env.receiver.types() == ["transfer.paid", "transfer.paid", "transfer.returned"]
    assert len(env.client.get("/v1/_webhooks", headers=AUTH).json["data"]) == 3


def test_with_snapshots_what_the_api_acknowledged_survives_a_crash(env: Env) -> None:
    env.save_interval = 60.0  # the local stack's mode: snapshots, plus a WAL for creates
    env.make_app()
    first = env.create("key-1").json["id"]
    refused = env.create("key-2", account="999903").json
    env.advance(1)
    assert env.receiver.types() == ["transfer.paid"]
    env.make_app()  # killed before any snapshot: the WAL holds what was acknowledged
    assert env.create("key-1").json["id"] == first
    assert env.create("key-2", account="999903").json == refused
    assert [t["id"] for t in env.client.get("/v1/transfers", headers=AUTH).json["data"]] == [first]
    env.advance(1)  # the status change lost with the snapshot is redone; its webhook sent again
    assert env.client.get(f"/v1/transfers/{first}", headers=AUTH).json["status"] == "paid"
    assert env.receiver.types() == ["transfer.paid", "transfer.paid"]
    env.sandbox.flush()
    assert not env.state_file.with_name("sandbox.json.wal").exists()
    env.make_app()
    assert env.client.get(f"/v1/transfers?reference={env.sandbox.transfers[first]['reference']}",
                          headers=AUTH).json["data"][0]["id"] == first  # fmt: skip


def test_replay_resends_delivered_events_with_fresh_signatures(env: Env) -> None:
    first = env.create("key-1").json["id"]
    second = env.create("key-2", account="999901").json["id"]
    env.advance(1)
    env.clock.now += 3 * 86400  # days later
    response = env.client.post("/v1/_replay_webhooks", json={"transfer_id": first}, headers=AUTH)
    assert response.status_code == 200 and response.json == {"replayed": 1}
    env.advance(0)
    replayed = [event_id(first, "paid"), event_id(second, "failed"), event_id(first, "paid")]
    assert [e["id"] for e in env.receiver.received] == replayed
    assert env.receiver.raw[2] == env.receiver.raw[0]
    assert env.receiver.signed_at[2] == int(START + 1 + 3 * 86400)
    assert env.client.post("/v1/_replay_webhooks", headers=AUTH).json == {"replayed": 2}
    env.advance(0)
    assert len(env.receiver.received) == 5
    assert env.client.get("/v1/_webhooks", headers=AUTH).json["data"][-1]["replay"] is True
    missing = env.client.post("/v1/_replay_webhooks", json={"transfer_id": "tr_nope"}, headers=AUTH)
    assert missing.status_code == 404


def test_config_read_replace_and_reset(env: Env) -> None:
    config = env.client.get("/v1/_config", headers=AUTH).json
    assert (
        config["settle_delay_ms"] == 1000
        and config["webhook_max_attempts"] == 8
        and config["error_rate"] == 0
    )
    replaced = env.set_config(drop_webhook_rate=0.25).json
    assert replaced["drop_webhook_rate"] == 0.25 and replaced["settle_delay_ms"] == 500  # omitted -> default
    for bad in ({"error_rate": 1.5}, {"error_rate": "x"}, {"nope": 1}, {"settle_delay_ms": 1.5}, [1]):
        assert env.client.post("/v1/_config", json=bad, headers=AUTH).status_code == 422
    env.create()
    assert env.client.post("/v1/_reset", headers=AUTH).status_code == 200
    assert env.client.get("/v1/transfers", headers=AUTH).json["data"] == []
    assert env.create().status_code == 201  # keys are forgotten too
    assert Config.parse({"seed": 3}) == Config(seed=3)


def test_worker_settles_and_delivers_in_the_background(tmp_path: Any) -> None:
    received = threading.Event()

    def sender(url: str, body: bytes, headers: Any) -> int:
        received.set()
        return 200

    app = create_app({"settle_delay_ms": 0}, API_KEY, SECRET, "http://x", tmp_path / "s.json", sender=sender)
    worker = Worker(app.extensions["sandbox"], poll_seconds=0.01)
    worker.start()
    try:
        client: Any = app.test_client()
        tid = client.post("/v1/transfers", json=transfer(), headers={**AUTH, "Idempotency-Key": "k"}).json[
            "id"
        ]
        assert received.wait(5)
        assert client.get(f"/v1/transfers/{tid}", headers=AUTH).json["status"] == "paid"
    finally:
        worker.stop()


def test_cli_refuses_to_start_without_secrets(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("SANDBOX_API_KEY", raising=False)
    monkeypatch.setenv("SANDBOX_WEBHOOK_SECRET", "x")
    assert main(["--webhook-url", "http://127.0.0.1:1/hook"]) == 2
    assert "SANDBOX_API_KEY" in capsys.readouterr().err
    monkeypatch.setenv("SANDBOX_API_KEY", "x")
    assert main(["--webhook-url", "http://127.0.0.1:1/hook", "--config", '{"error_rate": 2}']) == 2


def test_the_transfer_list_is_bounded_by_creation_time_and_paged_for_reconciliation(tmp_path):
    """``created_gte``/``created_lt`` (Unix seconds) give a day's transfers, not the history; the
    cursor pages inside the bounds; SandboxRecords reads a window through them."""
    env = Env(tmp_path)
    start = int(env.clock.now)
    ids = []
    for n in range(5):
        env.clock.now = start + 10 * n
        ids.append(env.create(f"key-{n}", reference=f"po_{n}").json["id"])
    page = env.client.get(
        f"/v1/transfers?limit=2&created_gte={start + 10}&created_lt={start + 40}", headers=AUTH
    )
    assert [t["id"] for t in page.json["data"]] == ids[1:3] and page.json["has_more"] is True
    rest = env.client.get(
        f"/v1/transfers?limit=2&created_gte={start + 10}&created_lt={start + 40}&starting_after={ids[2]}",
        headers=AUTH,
    )
    assert [t["id"] for t in rest.json["data"]] == ids[3:4] and rest.json["has_more"] is False
    assert env.client.get(f"/v1/transfers?created_gte={start + 100}", headers=AUTH).json["data"] == []
    bad = env.client.get("/v1/transfers?created_lt=yesterday", headers=AUTH)
    assert bad.status_code == 422 and bad.json["error"]["field"] == "created_lt"

    from datetime import UTC, datetime
    from types import SimpleNamespace

    from shared.adapters.rail_records.sources import SandboxRecords
    from shared.domain.reconciliation import Window
    from shared.settings import Settings

    class Http:  # requests.Session over the Flask test client
        def get(self, url: str, params: dict[str, Any], headers: Any, timeout: Any) -> Any:
            answer = env.client.get(
                url.removeprefix("http://sandbox.test"), query_string=params, headers=AUTH
            )
            return SimpleNamespace(status_code=answer.status_code, json=lambda: answer.json)

    source = SandboxRecords(Settings(SANDBOX_URL="http://sandbox.test"), session=Http())  # type: ignore[arg-type]
    window = Window(datetime.fromtimestamp(start + 10, UTC), datetime.fromtimestamp(start + 40, UTC))
    records = list(source.records(window))
    assert [r.record_id for r in records] == ids[1:4]
    assert [r.reference for r in records] == ["po_1", "po_2", "po_3"]


def test_a_planted_silent_return_changes_the_record_with_no_webhook(env: Env) -> None:
    tid = env.create(account="999907").json["id"]  # paid, then returned by its plan
    env.advance(1)
    assert env.receiver.types() == ["transfer.paid"]
    amended = env.client.post(f"/v1/_records/{tid}", json={"status": "returned"}, headers=AUTH)
    assert amended.status_code == 200 and amended.json["status"] == "returned"
    env.advance(60)  # the plan's own return is dropped: nothing more is sent
    assert env.receiver.types() == ["transfer.paid"]
    listed = env.client.get("/v1/transfers?limit=10", headers=AUTH).json["data"]
    assert [(t["id"], t["status"]) for t in listed] == [(tid, "returned")]


def test_a_planted_rail_amount_shows_in_the_listing(env: Env) -> None:
    tid = env.create(amount=1234).json["id"]
    env.advance(1)
    assert env.client.post(f"/v1/_records/{tid}", json={"amount": 1240}, headers=AUTH).status_code == 200
    assert env.client.get(f"/v1/transfers/{tid}", headers=AUTH).json["amount"] == 1240


@pytest.mark.parametrize(
    "body", [{}, {"reference": "po_x"}, {"amount": 0}, {"amount": "12"}, {"status": "lost"}, None]
)
def test_a_planted_change_is_refused_unless_it_is_an_amount_or_a_status(env: Env, body: Any) -> None:
    tid = env.create().json["id"]
    answer = env.client.post(f"/v1/_records/{tid}", json=body, headers=AUTH)
    assert answer.status_code == 422, answer.json
    assert env.client.post("/v1/_records/tr_nope", json={"amount": 5}, headers=AUTH).status_code == 404
