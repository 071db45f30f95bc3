"""The SEPA bank-file rail through the running stack: IE sellers (route sepa_file, sandbox) are paid
by a payout run through a pain.001 in the outbound bucket (valid against the XSD), the bank stand-in answers in the
inbound bucket (pain.002, camt.054, a return later, a camt.053 statement), the Eventarc stand-in
delivers each file to bank-files-inbound, and the payouts end paid, failed and returned with the
ledger balanced; a bank file delivered twice changes nothing."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.adapters.bank_files.sepa_credit_transfer import validate_pain001
from shared.adapters.cloud_storage import CloudStorage
from shared.domain.countries import load_country_rules
from shared.domain.schedule import is_business_day
from shared.settings import Settings
from shared.topology import TOPIC_SWEEPER
from tests.e2e.conftest import eventually
from tests.e2e.test_payouts import assert_books_agree
from tests.e2e.test_rail_routes import onboard_and_fund, pay

pytestmark = pytest.mark.e2e


def bank(stack, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the stack's own bank stand-in
        stack.env["BANK_URL"] + path, data=data, method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return dict(json.loads(resp.read() or b"{}"))


def a_sepa_run_date(seed: str) -> date:
    rules = load_country_rules().get("IE")
    day = date(2020, 3, 2) + timedelta(days=random.Random(f"sepa-{seed}").randrange(1800))
    while not is_business_day(rules, day):
        day -= timedelta(days=1)
    return day


def payout(client, payout_id: str) -> dict:
    return dict(client.call("GET", "payouts-api", f"/payouts/{payout_id}").json())


def in_status(client, payout_id: str, status: str, timeout: float = 60) -> dict:
    return eventually(lambda: (p := payout(client, payout_id))["status"] == status and p, timeout=timeout)


def test_sepa_payouts_go_out_in_a_file_and_the_banks_answers_settle_them_once(
    stack, client, ops, stack_store, uid
):
    objects = CloudStorage(
        Settings(GOOGLE_CLOUD_PROJECT=stack.project, STORAGE_EMULATOR_HOST=stack.env["STORAGE_EMULATOR_HOST"])
    )
    outbound, inbound = stack.env["BANK_OUTBOUND_BUCKET"], stack.env["BANK_INBOUND_BUCKET"]
    sellers = {outcome: f"ie-{outcome}-{uid}" for outcome in ("paid", "account_closed", "returned")}
    for outcome, seller_id in sellers.items():
        onboard_and_fund(
            client, seller_id, "IE", 100_000, outcome=outcome, payout_schedule={"interval": "daily"}
        )
    # A payout run (a past IE business day of its own, as test_tracing does): one payout per seller.
    run_date = a_sepa_run_date(uid)
    assert ops.call("POST", "payouts-api", "/runs", {"run_date": run_date.isoformat()}).status_code in (
        200,
        202,
    )

    def of_seller(seller_id: str) -> str | None:
        found = client.call("GET", "payouts-api", f"/payouts?seller_id={seller_id}").json()["data"]
        return str(found[0]["payout_id"]) if found else None

    ids = {
        outcome: eventually(lambda s=seller_id: of_seller(s), timeout=60)
        for outcome, seller_id in sellers.items()
    }
    amount = payout(client, ids["paid"])["amount"]["amount"]
    assert payout(client, ids["paid"])["run_id"] == f"run-{run_date.isoformat()}"
    for payout_id in ids.values():  # queued for a file by the transfer worker: no file yet
        queued = eventually(lambda p=payout_id: (x := payout(client, p))["provider"] == "sepa_file" and x)
        assert queued["status"] == "pending"

    last_tick = [0.0]

    def our_file() -> tuple[str, bytes] | None:
        # The writer's tick, every few seconds as Cloud Scheduler's (the run's transfers are
        # released by its funding check once its last page is done, so they may be queued for a
        # file after a first tick).
        if time.monotonic() - last_tick[0] > 3:
            ops.publish(TOPIC_SWEEPER, {"reason": "test_sepa_files"})
            last_tick[0] = time.monotonic()
        for obj in objects.list(outbound, "pain.001/"):
            content = objects.get(outbound, obj.name) or b""
            if all(p.replace("_", "/").encode() in content for p in ids.values()):
                return obj.name, content
        return None

    name, content = eventually(our_file, timeout=60)
    validate_pain001(content)  # what left is valid against the XSD sepaxml ships
    paid = in_status(client, ids["paid"], "paid")
    assert f"in bank file {name}" in [h["cause"] for h in paid["history"]]
    failed = in_status(client, ids["account_closed"], "failed")
    assert failed["failure_code"] == "account_closed"
    in_status(client, ids["returned"], "returned")  # booked, then the return's camt.054 (AC04)

    # The day's statement (camt.053) repeats what the notifications said: nothing moves.
    before = {k: payout(client, p) for k, p in ids.items()}
    bank(stack, "/v1/_statements", {"date": datetime.now(UTC).date().isoformat()})
    # A bank file delivered twice (the connector resends it under another name): nothing moves.
    answered = [o.name for o in objects.list(inbound) if not o.name.endswith("-again.xml")]
    for answer in answered[-4:]:
        again = objects.get(inbound, answer) or b""
        objects.put_if_absent(inbound, answer.replace(".xml", "-again.xml"), again, "application/xml")
    time.sleep(3)  # the Eventarc stand-in delivers within a second; nothing may change after
    assert {k: payout(client, p) for k, p in ids.items()} == before
    for seller_id in sellers.values():
        assert_books_agree(stack_store, seller_id)
    balances = {
        k: client.call("GET", "sellers-api", f"/sellers/{s}").json()["balances"][0]
        for k, s in sellers.items()
    }
    assert [balances[k]["in_flight"] for k in sellers] == [0, 0, 0]
    assert balances["account_closed"]["available"] == balances["returned"]["available"]  # money back
    assert balances["paid"]["available"] == balances["returned"]["available"] - amount


def test_the_bank_file_rail_is_reconciled_from_the_banks_statements_with_no_unexplained_break(
    stack, client, ops, uid
):
    seller_id = f"ie-recon-{uid}"
    onboard_and_fund(client, seller_id, "IE", 100_000)
    payout_id = pay(client, seller_id, 30_000, "EUR")
    eventually(lambda: payout(client, payout_id)["provider"] == "sepa_file")
    ops.publish(TOPIC_SWEEPER, {"reason": "test_sepa_files"})
    in_status(client, payout_id, "paid")
    today = datetime.now(UTC).date()
    bank(stack, "/v1/_statements", {"date": today.isoformat()})
    start = datetime(today.year, today.month, today.day, tzinfo=UTC)
    window = {"rail": "sepa_file", "from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()}

    def reconciled() -> dict | None:
        resp = ops.call("POST", "reconciliation-api", "/reconciliations", window)
        assert resp.status_code == 201, resp.text
        report = dict(resp.json())
        return report if report["rail_records"] >= 1 else None

    report = eventually(reconciled, timeout=30, interval=1)  # the statement reaches the bucket
    lines = {(x["class"], x["currency"]) for x in report["lines"]}
    assert lines == {("matched", "EUR")}, report
    assert report["breaks"] == 0, report


def test_what_bank_files_inbound_cannot_read_is_a_dead_letter_and_a_stranger_is_refused(
    stack, stack_store, uid
):
    import requests

    from local_stack import local_env
    from local_stack.eventarc import TRIGGER_IDENTITY, cloud_event
    from shared.adapters.firestore import documents as d

    objects = CloudStorage(
        Settings(GOOGLE_CLOUD_PROJECT=stack.project, STORAGE_EMULATOR_HOST=stack.env["STORAGE_EMULATOR_HOST"])
    )
    inbound = stack.env["BANK_INBOUND_BUCKET"]
    # A file dropped in the inbound bucket that is no bank file: delivered by Eventarc, dead-lettered.
    name = f"camt.054/2026-12-02/garbage-{uid}.xml"
    put = objects.put_if_absent(
        inbound, name, b"<Document>IBAN DE89370400440532013000</Document>", "text/xml"
    )
    headers, _ = cloud_event({"bucket": inbound, "name": name, "generation": put.generation})
    letter_id = d.dead_letter_id("bank-files-inbound", headers["ce-id"])
    letter = eventually(lambda: stack_store.get(d.DEAD_LETTERS, letter_id), timeout=30)
    assert letter["code"] == "bank_file_unreadable"
    assert "DE89370400440532013000" not in json.dumps(letter, default=str)  # never the content

    url = stack.urls["bank-files-inbound"]
    event_headers = {**headers, "ce-id": f"9{uid.encode().hex()[:12]}"}

    def post(identity: str, body: dict) -> requests.Response:
        token = local_env.mint_token(
            stack.state_dir, email=local_env.identity(identity, stack.project), audience=url, ttl=300
        )
        return requests.post(
            url,
            data=json.dumps(body),
            headers={**event_headers, "Authorization": f"Bearer {token}"},
            timeout=30,
        )

    # Someone else than the trigger's identity: refused before anything is read.
    refused = post("pubsub-push", {"bucket": inbound, "name": name, "generation": "1"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    # The trigger, with an event that is no object resource: acknowledged, a dead letter.
    assert post(TRIGGER_IDENTITY, {"bucket": inbound}).status_code in (200, 204)
    bad = stack_store.get(d.DEAD_LETTERS, d.dead_letter_id("bank-files-inbound", event_headers["ce-id"]))
    assert bad is not None and bad["code"] == "bad_event"
