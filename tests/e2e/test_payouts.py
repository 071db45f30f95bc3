"""Payouts end to end: the API, the transfer worker, the sandbox provider and its webhooks."""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud.firestore import FieldFilter

from local_stack import local_env
from shared.adapters.firestore_store import OUTBOX, PROVIDER_EVENTS
from shared.adapters.providers import ConfiguredProviders
from shared.adapters.providers.sandbox import SandboxProvider
from shared.adapters.pubsub import Publisher
from shared.adapters.tasks import TaskQueue
from shared.domain.countries import load_country_rules
from shared.domain.ledger import parse_seller_account
from shared.settings import Settings
from shared.topology import TOPIC_PAYOUT_RUNS
from shared.usecases.payouts import PayoutService
from stand_ins.sample_sellers import seller_body
from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e
FINAL = ("paid", "failed", "returned", "canceled")


@pytest.fixture
def sandbox_faults(client):
    """Set sandbox provider faults for one test; defaults come back afterwards."""

    def set_faults(**config):
        resp = client.sandbox(
            "POST", "/v1/_config", {"settle_delay_ms": 300, "return_delay_ms": 600, **config}
        )
        assert resp.status_code == 200, resp.text

    yield set_faults
    client.sandbox("POST", "/v1/_config", {})


def fund(client, seller_id: str, country: str = "FR", outcome: str = "paid", gross: int = 50000) -> int:
    """Onboard a seller and give it ``gross`` minus 10% commission of available balance."""
    body = seller_body(country, int(uuid.uuid4().int % 90000), outcome)
    assert client.call("PUT", "sellers-api", f"/sellers/{seller_id}", body).status_code == 201
    now = datetime.now(UTC).isoformat()
    ccy = body["currency"]
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
    assert client.post_order_event(paid).status_code == 202
    assert client.post_order_event(closed).status_code == 202
    return gross - gross // 10


def balance(client, seller_id):
    return client.call("GET", "sellers-api", f"/sellers/{seller_id}").json()["balances"][0]


def pay(client, seller_id, amount, ccy="EUR", key=None):
    return client.call(
        "POST",
        "payouts-api",
        "/payouts",
        {"seller_id": seller_id, "amount": {"amount": amount, "currency": ccy}},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


def payout(client, payout_id):
    return client.call("GET", "payouts-api", f"/payouts/{payout_id}").json()


def settled(client, payout_id, status=None, timeout=40):
    def check():
        p = payout(client, payout_id)
        return p if (p["status"] == status if status else p["status"] in FINAL) else None

    return eventually(check, timeout=timeout)


def transfers_for(client, payout_id):
    return client.sandbox("GET", f"/v1/transfers?reference={payout_id}").json()["data"]


def assert_books_agree(stack_store, seller_id):
    """The seller's stored balances equal the sum of its postings, and entries balance."""
    sums = defaultdict(int)
    for entry in stack_store.journal_entries(seller_id):
        per_ccy = defaultdict(int)
        for p in entry["postings"]:
            per_ccy[p["currency"]] += p["amount"]
            parsed = parse_seller_account(p["account"])
            if parsed and parsed[0] == seller_id:
                sums[parsed[1].value] += p["amount"]
        assert not any(per_ccy.values()), entry
    stored = stack_store.balances(seller_id)[0]
    assert (stored.pending, stored.available, stored.in_flight) == (
        sums["pending"],
        sums["available"],
        sums["in_flight"],
    )


def test_an_on_demand_payout_is_sent_paid_and_booked(client, stack_store, uid, sandbox_faults):
    sandbox_faults()
    seller = f"s-{uid}"
    available = fund(client, seller)
    resp = pay(client, seller, 30000)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["status"] == "pending"
    done = settled(client, created["payout_id"], "paid")
    assert [h["to"] for h in done["history"]] == ["pending", "processing", "paid"]
    assert done["provider_ref"].startswith("tr_")
    bal = balance(client, seller)
    assert (bal["available"], bal["in_flight"]) == (available - 30000, 0)
    assert len(transfers_for(client, created["payout_id"])) == 1
    outbox = [stack_store.get(OUTBOX, f"{created['payout_id']}-{n:06d}") for n in (1, 2, 3)]
    assert [o["type"] for o in outbox] == ["payout.created", "payout.processing", "payout.paid"]
    eventually(
        lambda: all(
            stack_store.get(OUTBOX, f"{created['payout_id']}-{n:06d}")["published"] for n in (1, 2, 3)
        )
    )
    assert_books_agree(stack_store, seller)


def test_an_idempotency_key_replays_the_first_response_and_refuses_another_body(client, uid, sandbox_faults):
    sandbox_faults()
    seller = f"s-{uid}"
    fund(client, seller)
    key = f"key-{uid}"
    first = pay(client, seller, 20000, key=key)
    again = pay(client, seller, 20000, key=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["payout_id"] == again.json()["payout_id"]
    assert first.json() == again.json()
    other = pay(client, seller, 20001, key=key)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    payouts = client.call("GET", "payouts-api", f"/payouts?seller_id={seller}").json()["data"]
    assert len(payouts) == 1


def test_a_payout_cannot_exceed_available_or_go_under_the_minimum(client, uid):
    seller = f"s-{uid}"
    available = fund(client, seller)
    too_much = pay(client, seller, available + 1)
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "insufficient_available_balance"
    too_little = pay(client, seller, 1)
    assert too_little.json()["error"]["code"] == "below_minimum"
    assert balance(client, seller)["available"] == available


@pytest.mark.parametrize(
    "code",
    [
        "account_closed",
        "no_account",
        "invalid_account_number",
        "account_frozen",
        "declined",
        "insufficient_platform_funds",
    ],
)
def test_each_failure_code_fails_the_payout_and_puts_the_money_back(
    client, stack_store, uid, code, sandbox_faults
):
    sandbox_faults()
    seller = f"s-{uid}"
    available = fund(client, seller, outcome=code)
    created = pay(client, seller, 20000).json()
    done = settled(client, created["payout_id"], "failed")
    assert done["failure_code"] == code
    bal = balance(client, seller)
    assert (bal["available"], bal["in_flight"]) == (available, 0)
    account = client.call("GET", "sellers-api", f"/sellers/{seller}").json()["bank_account"]
    assert account["status"] == ("invalid" if code in ("account_closed", "no_account") else "valid")
    expected_transfers = 0 if code == "invalid_account_number" else 1  # refused before any transfer
    assert len(transfers_for(client, created["payout_id"])) == expected_transfers
    assert_books_agree(stack_store, seller)


def test_a_paid_payout_returned_by_the_bank_puts_the_money_back(client, stack_store, uid, sandbox_faults):
    sandbox_faults()
    seller = f"s-{uid}"
    available = fund(client, seller, outcome="returned")
    created = pay(client, seller, 20000).json()
    done = settled(client, created["payout_id"], "returned")
    assert [h["to"] for h in done["history"]][-2:] == ["paid", "returned"]
    assert balance(client, seller)["available"] == available
    assert_books_agree(stack_store, seller)


def test_duplicate_and_out_of_order_webhooks_change_nothing_twice(client, stack_store, uid, sandbox_faults):
    sandbox_faults(duplicate_webhook_rate=1.0, out_of_order_rate=1.0)
    sellers = {f"s-{uid}-r": "returned", f"s-{uid}-p": "paid"}
    ids = {}
    for seller, outcome in sellers.items():
        fund(client, seller, outcome=outcome)
        ids[seller] = pay(client, seller, 20000).json()["payout_id"]
    assert settled(client, ids[f"s-{uid}-r"], "returned")["status"] == "returned"
    assert settled(client, ids[f"s-{uid}-p"], "paid")["status"] == "paid"
    time.sleep(1.5)  # let the duplicates land
    for seller in sellers:
        assert_books_agree(stack_store, seller)
        p = payout(client, ids[seller])
        assert len([h for h in p["history"] if h["to"] == p["status"]]) == 1
    client.sandbox(
        "POST", "/v1/_replay_webhooks", {"transfer_id": transfers_for(client, ids[f"s-{uid}-r"])[0]["id"]}
    )
    time.sleep(1.0)
    assert payout(client, ids[f"s-{uid}-r"])["status"] == "returned"
    assert_books_agree(stack_store, f"s-{uid}-r")


def test_a_provider_timeout_after_acceptance_makes_exactly_one_transfer(
    client, stack_store, uid, sandbox_faults
):
    sandbox_faults(timeout_after_accept_rate=1.0, timeout_sleep_ms=4000)
    seller = f"s-{uid}"
    fund(client, seller)
    created = pay(client, seller, 20000).json()
    done = settled(client, created["payout_id"], "paid", timeout=60)
    assert done["status"] == "paid"
    assert len(transfers_for(client, created["payout_id"])) == 1
    assert_books_agree(stack_store, seller)


def test_the_same_transfer_task_delivered_at_once_makes_one_transfer(
    client, stack_store, uid, sandbox_faults
):
    sandbox_faults(latency_ms=200)
    seller = f"s-{uid}"
    fund(client, seller)
    created = pay(client, seller, 20000).json()
    worker = client.as_identity("tasks-invoker")
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(
            pool.map(
                lambda _: worker.call("POST", "transfer-worker", "/", {"payout_id": created["payout_id"]}),
                range(5),
            )
        )
    assert all(a.status_code in (200, 503) for a in answers), [a.text for a in answers]
    settled(client, created["payout_id"], "paid")
    assert len(transfers_for(client, created["payout_id"])) == 1
    assert_books_agree(stack_store, seller)


def test_cancel_racing_the_transfer_worker_has_exactly_one_winner(client, stack_store, uid, sandbox_faults):
    sandbox_faults(latency_ms=100)
    seller = f"s-{uid}"
    available = fund(client, seller)
    created = pay(client, seller, 20000).json()
    worker = client.as_identity("tasks-invoker")
    with ThreadPoolExecutor(max_workers=2) as pool:
        cancel = pool.submit(client.call, "POST", "payouts-api", f"/payouts/{created['payout_id']}/cancel")
        send = pool.submit(worker.call, "POST", "transfer-worker", "/", {"payout_id": created["payout_id"]})
        cancel_resp, _ = cancel.result(), send.result()
    final = settled(client, created["payout_id"])
    transfers = transfers_for(client, created["payout_id"])
    if final["status"] == "canceled":
        assert cancel_resp.status_code == 200 and transfers == []
        assert balance(client, seller)["available"] == available
    else:
        assert cancel_resp.status_code == 409 and len(transfers) == 1
    assert_books_agree(stack_store, seller)


def test_a_paid_payout_cannot_be_canceled(client, uid, sandbox_faults):
    sandbox_faults()
    seller = f"s-{uid}"
    fund(client, seller)
    created = pay(client, seller, 20000).json()
    settled(client, created["payout_id"], "paid")
    resp = client.call("POST", "payouts-api", f"/payouts/{created['payout_id']}/cancel")
    assert resp.status_code == 409


def test_payouts_are_listed_by_seller_with_a_cursor(client, uid, sandbox_faults):
    sandbox_faults()
    seller = f"s-{uid}"
    fund(client, seller, gross=100000)
    ids = {pay(client, seller, 10000 + n).json()["payout_id"] for n in range(3)}
    first = client.call("GET", "payouts-api", f"/payouts?seller_id={seller}&limit=2").json()
    assert len(first["data"]) == 2 and first["next_page_token"]
    second = client.call(
        "GET", "payouts-api", f"/payouts?seller_id={seller}&limit=2&page_token={first['next_page_token']}"
    ).json()
    assert {p["payout_id"] for p in first["data"] + second["data"]} == ids
    assert second["next_page_token"] is None
    assert client.call("GET", "payouts-api", "/payouts?limit=abc").status_code == 422


def test_the_same_run_started_twice_is_one_run(client, ops):
    # A Sunday (a different one each session): the run fans out, and every seller is skipped.
    from datetime import date, timedelta

    run_date = (date(2020, 1, 5) + timedelta(weeks=uuid.uuid4().int % 300)).isoformat()
    first = ops.call("POST", "payouts-api", "/runs", {"run_date": run_date})
    second = ops.call("POST", "payouts-api", "/runs", {"run_date": run_date})
    ops.publish(TOPIC_PAYOUT_RUNS, {"run_date": run_date})
    assert (first.status_code, second.status_code) == (202, 200)  # 200: it already existed
    assert first.json()["run_id"] == second.json()["run_id"] == f"run-{run_date}"
    view = eventually(
        lambda: (
            (v := ops.call("GET", "payouts-api", f"/runs/run-{run_date}").json())["pages"]["done"]
            == v["pages"]["total"]
            and v
        )
    )
    assert view["payouts_by_status"] == {}
    assert set(view["skip_reasons"]) <= {"not_a_payout_day"}


def test_a_dry_run_lists_payouts_and_reasons_without_moving_money(client, ops, uid):
    seller = f"s-{uid}"
    available = fund(client, seller)
    held = f"s-{uid}-held"
    fund(client, held)
    client.call(
        "PATCH", "sellers-api", f"/sellers/{held}", {"payout_hold": {"held": True, "reason": "review"}}
    )
    # 2026-11-17 is a Tuesday, France's default payout day.
    run = ops.call("POST", "payouts-api", "/runs", {"run_date": "2026-11-17", "dry_run": True}).json()
    assert run["run_id"].startswith("dry-2026-11-17")

    def items():
        data = ops.call("GET", "payouts-api", f"/runs/{run['run_id']}/items?seller_id={seller}").json()[
            "data"
        ]
        held_items = ops.call("GET", "payouts-api", f"/runs/{run['run_id']}/items?seller_id={held}").json()[
            "data"
        ]
        return (data, held_items) if data and held_items else None

    mine, theirs = eventually(items)
    assert mine[0]["would_pay"] == available and mine[0]["skip_reason"] is None
    assert theirs[0]["skip_reason"] == "on_hold"
    assert balance(client, seller)["available"] == available
    assert client.call("GET", "payouts-api", f"/payouts?seller_id={seller}").json()["data"] == []


def test_a_forged_provider_webhook_is_refused(client, uid):
    body = json.dumps(
        {
            "id": "evt_x",
            "type": "transfer.paid",
            "created": int(time.time()),
            "data": {
                "transfer": {
                    "id": "tr_x",
                    "reference": "po_x",
                    "amount": 1,
                    "currency": "EUR",
                    "status": "paid",
                }
            },
        }
    ).encode()
    from shared.entrypoints import signing

    resp = client.http.post(
        client.urls["provider-webhook"] + "/sandbox",
        data=body,
        timeout=10,
        headers={"X-Sandbox-Signature": signing.sign("wrong", int(time.time()), body)},
    )
    assert resp.status_code == 401
    assert (
        client.http.post(client.urls["provider-webhook"] + "/sandbox", data=body, timeout=10).status_code
        == 401
    )


def test_provider_events_are_applied_once(stack_store, client, uid, sandbox_faults):
    sandbox_faults(duplicate_webhook_rate=1.0)
    seller = f"s-{uid}"
    fund(client, seller)
    created = pay(client, seller, 20000).json()
    settled(client, created["payout_id"], "paid")
    time.sleep(1.0)
    applied = [
        d.to_dict()
        for d in stack_store.client.collection(PROVIDER_EVENTS)
        .where(filter=FieldFilter("payout_id", "==", created["payout_id"]))
        .stream()
    ]
    assert len(applied) == 1 and applied[0]["status"] == "paid"


def test_a_return_whose_webhook_never_came_is_booked_by_the_sweepers_return_watch(
    client, stack_store, uid, sandbox_faults, monkeypatch
):
    """Found by the fault harness: a lost ``transfer.returned`` webhook used to leave the payout
    paid for ever, and the seller's money out of its balance."""
    sandbox_faults(return_delay_ms=2500)
    seller = f"s-{uid}"
    available = fund(client, seller, outcome="returned")
    pid = pay(client, seller, 20000).json()["payout_id"]
    settled(client, pid, "paid")
    sandbox_faults(return_delay_ms=2500, drop_webhook_rate=1.0)  # the return's webhook is lost
    eventually(lambda: transfers_for(client, pid)[0]["status"] == "returned", timeout=30)
    time.sleep(1.0)
    assert payout(client, pid)["status"] == "paid"
    sandbox_faults()

    # The sweeper, in this process, a day and a bit later (RETURN_CHECK_AFTER_SECONDS = 86400).
    key = str(local_env.local_secrets(client.state_dir)["provider_api_key"])
    settings = Settings(SANDBOX_URL=client.sandbox_url, SANDBOX_API_KEY=key)
    sweeper = PayoutService(
        stack_store,
        load_country_rules(),
        TaskQueue(settings),
        Publisher(settings),
        ConfiguredProviders(settings, {"sandbox": SandboxProvider}),
    )
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    for _ in range(20):  # other tests' paid payouts are due too, 500 a sweep
        counts = sweeper.recheck_returns(later)
        if counts["returned"] or not counts["return_checked"]:
            break
    done = payout(client, pid)
    assert done["status"] == "returned"
    assert done["history"][-1]["actor"] == "sweeper"
    assert balance(client, seller)["available"] == available
    assert_books_agree(stack_store, seller)
    # Checked again later, it stays returned and books nothing twice.
    sweeper.recheck_returns(later + timedelta(days=3))
    assert payout(client, pid)["sequence"] == done["sequence"]
