"""Reconciliation end to end on the local stack: a payout paid through the sandbox and a transfer
the platform never made; ``POST /reconciliations`` over the window finds exactly that one break,
keeps the report and the break, and ops resolve it under maker-checker over the API and the CLI
(the checker is finance, another person); a second run keeps ops' state."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from local_stack import local_env
from shared.adapters.firestore import documents as d
from shared.domain.ledger import entry_id_for
from tests.e2e.test_payouts import fund, pay, settled
from tests.support.commands import VENV_BIN, run_command

pytestmark = pytest.mark.e2e

API = "reconciliation-api"


def _window_start() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)


def test_a_transfer_we_never_made_is_one_break_resolved_under_maker_checker(
    client, ops, stack, stack_store, uid
):
    start = _window_start()
    seller_id = f"s-rc-{uid}"
    fund(client, seller_id)
    created = pay(client, seller_id, 2500)
    assert created.status_code == 201, created.text
    payout_id = created.json()["payout_id"]
    settled(client, payout_id, "paid")
    key = local_env.local_secrets(stack.state_dir)["provider_api_key"]
    stranger = requests.post(
        ops.sandbox_url + "/v1/transfers",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"stranger-{uid}"},
        timeout=30,
        json={
            "amount": 777,
            "currency": "EUR",
            "reference": f"po_stranger{uid}",
            "destination": {
                "scheme": "iban",
                "country": "FR",
                "holder_name": "Someone Else",
                "iban": "FR7630006000011234567890189",
            },
        },
    )
    assert stranger.status_code == 201, stranger.text
    time.sleep(1.1)  # the sandbox keeps creation times to the second
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    window = {"rail": "sandbox", "from": start.isoformat(), "to": end.isoformat()}

    # The marketplace may call payouts-api, not reconciliation-api.
    assert client.call("POST", API, "/reconciliations", window).status_code == 403

    resp = ops.call("POST", API, "/reconciliations", window)
    assert resp.status_code == 201, resp.text
    report = resp.json()
    lines = {(x["class"], x["currency"]): (x["count"], x["total"]) for x in report["lines"]}
    # The window is this test's; the stack is shared, so another test's transfer created in the
    # same second (the sandbox keeps seconds) or a return still on its way may be in it too: the
    # assertions are about this test's own payout and stranger.
    assert lines[("unknown_to_us", "EUR")][0] >= 1, report
    assert lines[("matched", "EUR")][0] >= 1, report
    assert report["breaks"] >= 1 and report["new_breaks"] >= 1
    assert ops.call("GET", API, f"/reconciliations/{report['report_id']}").json() == report

    listing = ops.call(
        "GET", API, "/reconciliation-breaks?rail=sandbox&class=unknown_to_us&state=open"
    ).json()
    (brk,) = [b for b in listing["data"] if b["rail_records"][0]["reference"] == f"po_stranger{uid}"]
    every = ops.call("GET", API, "/reconciliation-breaks?rail=sandbox&limit=200").json()["data"]
    assert not [b for b in every if (b["ledger"] or {}).get("payout_id") == payout_id]  # ours matched
    assert brk["ledger"] is None and brk["amount"] == {"amount": 777, "currency": "EUR"}
    break_id = brk["break_id"]
    assert stack_store.get("outbox", f"{break_id}-found")["type"] == "reconciliation.break_found"

    acked = ops.call(
        "POST", API, f"/reconciliation-breaks/{break_id}/acknowledge", {"note": "PSP test transfer"}
    )
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    postings = [
        {"account": "platform:payouts", "amount": 777, "currency": "EUR"},
        {"account": "platform:commission", "amount": -777, "currency": "EUR"},
    ]
    proposed = ops.call(
        "POST",
        API,
        f"/reconciliation-breaks/{break_id}/propose",
        {"reason": "money left", "postings": postings},
    )
    assert proposed.status_code == 200, proposed.text
    same = ops.call("POST", API, f"/reconciliation-breaks/{break_id}/approve", {"note": ""})
    assert same.status_code == 409 and same.json()["error"]["code"] == "same_maker_and_checker"
    unbalanced = ops.call(
        "POST",
        API,
        f"/reconciliation-breaks/{break_id}/propose",
        {"reason": "x", "postings": [postings[0], {**postings[1], "amount": -1}]},
    )
    assert unbalanced.status_code in (409, 422)
    approved = ops.as_identity("finance").call(
        "POST", API, f"/reconciliation-breaks/{break_id}/approve", {"note": "checked"}
    )
    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert done["state"] == "corrected"
    assert [(a["action"], a["actor"].split("@")[0]) for a in done["history"]] == [
        ("detected", "reconciliation:sandbox"),
        ("acknowledged", "ops"),
        ("correction_proposed", "ops"),
        ("correction_approved", "finance"),
    ]
    entry = stack_store.get(d.JOURNAL, entry_id_for("reconciliation.correction", f"{break_id}:1"))
    assert entry is not None and sum(p["amount"] for p in entry["postings"]) == 0

    again = ops.call("POST", API, "/reconciliations", window).json()
    assert again["new_breaks"] == 0 and again["breaks"] >= 1
    assert ops.call("GET", API, f"/reconciliation-breaks/{break_id}").json()["state"] == "corrected"

    # The CLI reads the same (payouts-ops recon ...).
    env = {"STACK_STATE_DIR": str(stack.state_dir)}
    cli = run_command([str(VENV_BIN / "payouts-ops"), "recon", "show", break_id, "--json"], env=env)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["state"] == "corrected"
    table = run_command([str(VENV_BIN / "payouts-ops"), "recon", "breaks", "--rail", "sandbox"], env=env)
    assert table.returncode == 0 and break_id in table.stdout


def test_the_cli_runs_a_day_and_ops_and_finance_act_on_a_break(ops, stack, uid):
    env = {"STACK_STATE_DIR": str(stack.state_dir)}
    day = datetime.now(UTC).date().isoformat()

    def cli(*args, identity="ops"):
        ran = run_command(
            [str(VENV_BIN / "payouts-ops"), "--local-identity", identity, "recon", *args],
            env=env,
        )
        return ran

    ran = cli("run", "sandbox", day, "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["report_id"] == f"sandbox-{day}"
    reports = cli("reports", "--rail", "sandbox", "--json")
    assert f"sandbox-{day}" in [r["report_id"] for r in json.loads(reports.stdout)["data"]]
    # An unknown break id is a 404 the CLI reports with the API's message.
    missing = cli("ack", f"brk_{uuid.uuid4().hex[:24]}", "--note", "x")
    assert missing.returncode == 1 and "break_not_found" in missing.stdout + missing.stderr
