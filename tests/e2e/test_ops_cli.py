"""The ops command-line tool against the running local stack, as people run it: the installed
console script ``payouts-ops`` (pyproject.toml), and ``python -m tools.ops`` for --watch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from shared.topology import TOPIC_SWEEPER
from stand_ins.sample_sellers import seller_body
from tests.conftest import ROOT
from tests.e2e.conftest import eventually
from tests.support.commands import VENV_BIN, run_command

pytestmark = pytest.mark.e2e


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli(stack):
    """``payouts-ops ARGS...`` against the session's stack (found by its state directory)."""

    def run(*args) -> Ran:
        result = run_command(
            [str(VENV_BIN / "payouts-ops"), *map(str, args)], env={"STACK_STATE_DIR": str(stack.state_dir)}
        )
        return Ran(result.returncode, result.stdout, result.stderr)

    return run


@pytest.fixture
def seller(ops, uid):
    """A freshly onboarded FR seller: (seller_id, the body it was onboarded with)."""
    seller_id = f"s-{uid}"
    body = seller_body("FR", int(uid, 16) % 100000)
    resp = ops.call("PUT", "sellers-api", f"/sellers/{seller_id}", body)
    assert resp.status_code == 201, resp.text
    return seller_id, body


def test_seller_show_masks_the_bank_account(seller, cli):
    seller_id, body = seller
    iban = body["bank_account"]["iban"]
    shown = cli("seller", "show", seller_id)
    assert shown.exit_code == 0, shown.output
    assert f"FR••••{iban[-4:]}" in shown.stdout
    assert iban not in shown.output and iban[4:] not in shown.output
    assert "verified" in shown.stdout and "0.00 EUR" in shown.stdout
    raw = cli("seller", "show", seller_id, "--json")
    assert raw.exit_code == 0
    assert json.loads(raw.stdout)["bank_account"]["masked"] == f"FR••••{iban[-4:]}"
    assert iban not in raw.stdout


def test_a_seller_without_payouts_lists_an_empty_table(seller, cli):
    seller_id, _ = seller
    listed = cli("payouts", "list", "--seller", seller_id)
    assert listed.exit_code == 0, listed.output
    assert "payout" in listed.stdout and "status" in listed.stdout  # the header
    assert "no payouts" in listed.stdout and seller_id not in listed.stdout
    assert json.loads(cli("payouts", "list", "--seller", seller_id, "--json").stdout) == {
        "data": [],
        "next_page_token": None,
    }
    history = cli("seller", "history", seller_id, "--all")
    assert history.exit_code == 0 and "no payouts" in history.stdout


def test_dry_run_started_then_shown_as_json(seller, cli):
    seller_id, _ = seller
    started = cli("run", "start", "2026-11-17", "--dry-run")  # a past Tuesday: FR sellers' payout day
    assert started.exit_code == 0, started.output
    match = re.search(r"dry-2026-11-17-[0-9a-f]{8}", started.stdout)
    assert match, started.stdout
    assert "dry run" in started.stdout
    run_id = match.group()
    shown = cli("run", "show", run_id, "--json")
    assert shown.exit_code == 0, shown.output
    run = json.loads(shown.stdout)
    assert (run["run_id"], run["run_date"], run["dry_run"]) == (run_id, "2026-11-17", True)
    assert run["pages"]["total"] >= 1 and "would_pay" in run

    def item():  # why wasn't our seller paid? nothing available
        result = cli("run", "items", run_id, "--seller", seller_id, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    [outcome] = eventually(item)
    assert outcome["skip_reason"] == "no_available_balance"
    table = cli("run", "items", run_id, "--skip-reason", "no_available_balance", "--seller", seller_id)
    assert seller_id in table.stdout and "no_available_balance" in table.stdout


def test_run_show_watch_follows_the_run_until_completed(stack, ops, cli):
    started = cli("run", "start", "2026-12-02", "--dry-run", "--json")
    assert started.exit_code == 0, started.output
    run_id = json.loads(started.stdout)["run_id"]
    watch = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools.ops",
            "run",
            "show",
            run_id,
            "--watch",
            "--json",
            "--interval",
            "0.3",
        ],
        cwd=ROOT,
        env={**os.environ, "STACK_STATE_DIR": str(stack.state_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while watch.poll() is None:  # the payout-sweeper marks finished runs completed
            assert time.monotonic() < deadline, "the run never completed"
            ops.publish(TOPIC_SWEEPER, {"reason": "test_ops_cli"})
            time.sleep(1)
        out, err = watch.communicate(timeout=10)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    views = [json.loads(line) for line in out.splitlines()]
    assert views[-1]["run_id"] == run_id and views[-1]["status"] == "completed"
    assert views[-1]["pages"]["done"] == views[-1]["pages"]["total"]
    table = cli("run", "show", run_id, "--watch")  # completed: one view, then it returns
    assert table.exit_code == 0 and "completed" in table.stdout and "dry run" in table.stdout


def test_unknown_payout_exits_non_zero_with_the_api_message(uid, cli):
    shown = cli("payouts", "show", f"po_unknown_{uid}")
    assert shown.exit_code == 1
    assert f"payout po_unknown_{uid} does not exist" in shown.stderr
    assert shown.stdout == ""
    assert cli("payouts", "cancel", f"po_unknown_{uid}").exit_code == 1
    missing_run = cli("run", "show", f"run-nope-{uid}")
    assert missing_run.exit_code == 1 and "does not exist" in missing_run.stderr


def test_create_refused_shows_the_key_and_the_reason(seller, cli):
    seller_id, _ = seller
    refused = cli("payouts", "create", seller_id, "5.00", "EUR")
    assert refused.exit_code == 1
    assert re.search(r"Idempotency-Key: ops-[0-9a-f]{32}", refused.stdout)
    assert "exceeds the available 0 (0.00 EUR)" in refused.stderr
    too_precise = cli("payouts", "create", seller_id, "5.001", "EUR")
    assert too_precise.exit_code == 1 and "EUR has 2 decimal" in too_precise.stderr


def test_on_demand_payout_created_then_shown_with_its_history(client, ops, uid, cli):
    seller_id = f"s-{uid}"
    body = seller_body("FR", int(uid, 16) % 100000)
    assert ops.call("PUT", "sellers-api", f"/sellers/{seller_id}", body).status_code == 201
    now = datetime.now(UTC).isoformat()
    base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": f"ol-{seller_id}"}
    money = {"gross": {"amount": 10000, "currency": "EUR"}, "commission": {"amount": 1000, "currency": "EUR"}}
    events = [
        {**base, "event_id": f"e1-{seller_id}", "type": "order_line.paid", "data": money},
        {
            **base,
            "event_id": f"e2-{seller_id}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        },
    ]
    for event in events:
        assert client.post_order_event(event).status_code == 202

    def available():
        view = json.loads(cli("seller", "show", seller_id, "--json").stdout)
        return view["balances"][0]["available"] == 9000

    eventually(available)
    assert "90.00 EUR" in cli("seller", "show", seller_id).stdout
    key = f"ops-test-{uuid.uuid4().hex[:12]}"
    created = cli("payouts", "create", seller_id, "40.00", "EUR", "--key", key, "--json")
    assert created.exit_code == 0, created.output
    assert key in created.stderr
    payout = json.loads(created.stdout)
    assert payout["amount"] == {"amount": 4000, "currency": "EUR"}
    again = cli("payouts", "create", seller_id, "40.00", "EUR", "--key", key, "--json")
    assert json.loads(again.stdout)["payout_id"] == payout["payout_id"]  # the same key: the same payout

    shown = cli("payouts", "show", payout["payout_id"])
    assert shown.exit_code == 0, shown.output
    assert "40.00 EUR" in shown.stdout and "→ pending" in shown.stdout
    history = cli("seller", "history", seller_id)
    assert payout["payout_id"] in history.stdout and "40.00 EUR" in history.stdout


def test_production_target_needs_both_urls(cli):
    result = cli("--base-url-sellers", "https://sellers.example", "seller", "show", "s-1")
    assert result.exit_code == 1
    assert "give both --base-url-sellers and --base-url-payouts" in result.stderr


def test_statement_commands_show_a_seller_s_movements_and_what_a_payout_paid_for(client, ops, uid, cli):
    """``payouts-ops statement seller|payout`` (issue 18): tables, JSON and CSV."""
    seller_id = f"s-st-{uid}"
    assert ops.call("PUT", "sellers-api", f"/sellers/{seller_id}", seller_body("FR", 4711)).status_code == 201
    now = datetime.now(UTC).isoformat()
    base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": f"ol-{seller_id}"}
    money = {"gross": {"amount": 10000, "currency": "EUR"}, "commission": {"amount": 1000, "currency": "EUR"}}
    for event in (
        {**base, "event_id": f"e1-{seller_id}", "type": "order_line.paid", "data": money},
        {
            **base,
            "event_id": f"e2-{seller_id}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        },
    ):
        assert client.post_order_event(event).status_code == 202
    eventually(
        lambda: (
            json.loads(cli("seller", "show", seller_id, "--json").stdout)["balances"][0]["available"] == 9000
        )
    )
    payout = json.loads(cli("payouts", "create", seller_id, "90.00", "EUR", "--json").stdout)

    shown = cli("statement", "payout", payout["payout_id"])
    assert shown.exit_code == 0, shown.output
    assert (
        "sale" in shown.stdout and "100.00 EUR" in shown.stdout and "lines sum to 90.00 EUR" in shown.stdout
    )
    as_csv = cli("statement", "payout", payout["payout_id"], "--csv")
    assert (
        as_csv.stdout.splitlines()[0].startswith('"payout_id","line","kind"') and '"-10.00"' in as_csv.stdout
    )

    today = datetime.now(UTC).date().isoformat()
    seller = cli("statement", "seller", seller_id, "--from", today, "--to", today, "--json")
    assert seller.exit_code == 0, seller.output
    kinds = {m["kind"] for m in json.loads(seller.stdout)["data"]}
    assert {"order_line.paid", "funds.released", "payout.created"} <= kinds
    table = cli("statement", "seller", seller_id, "--from", today, "--to", today)
    assert f"Statement of {seller_id}" in table.stdout and "funds.released" in table.stdout
    reversed_range = cli("statement", "seller", seller_id, "--from", today, "--to", "2020-01-01")
    assert reversed_range.exit_code == 1 and "statement_range_reversed" in reversed_range.output
