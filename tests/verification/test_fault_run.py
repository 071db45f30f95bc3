"""The seeded fault-injection run as a command (python -m verification.faults): its plan is
reproducible and covers every kind of fault, and a short run against a stack of its own passes
the audit."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.commands import run_module

# Its own stack, beside the session's one (and beside a second stack moved by STACK_PORT_OFFSET).
OFFSET = int(os.environ.get("FAULTS_PORT_OFFSET", str(int(os.environ.get("STACK_PORT_OFFSET", "0")) + 500)))
FAILING = {"account_closed", "no_account", "invalid_account_number", "account_frozen", "declined",
           "insufficient_platform_funds"}  # fmt: skip
SKIPPED = {"on_hold", "kyc_pending", "below_minimum"}


def plan(tmp_path, seed: int, sellers: int, *flags: str) -> tuple[str, dict]:
    """(the printed summary, the plan as JSON) of ``--plan-only``: nothing is started."""
    out = tmp_path / f"plan-{seed}-{sellers}-{'-'.join(flags)}.json"
    result = run_module("verification.faults", "--seed", seed, "--sellers", sellers, *flags,
                        "--plan-only", "--plan-out", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(out.read_text())


def test_the_same_seed_draws_the_same_plan_and_another_seed_another(tmp_path):
    summary, first = plan(tmp_path, 7, 200)
    again_summary, again = plan(tmp_path, 7, 200)
    _, other = plan(tmp_path, 8, 200)
    assert first == again and summary == again_summary
    assert first != other
    assert summary.startswith("plan (seed 7): 200 sellers in 11 countries")
    assert "rails: mixed (SE via Adyen, PL via Stripe" in summary
    sandbox_only, only = plan(tmp_path, 7, 200, "--sandbox-only")
    assert (
        sandbox_only.startswith("plan (seed 7): 200 sellers in 9 countries") and only["rail_outage"] is None
    )


def test_a_plan_onboards_every_country_and_injects_every_kind_of_fault(tmp_path):
    _, p = plan(tmp_path, 3, 1000)
    assert len(p["sellers"]) == 1000 and len({s["country"] for s in p["sellers"]}) == 11
    assert {"SE", "PL"} <= {s["country"] for s in p["sellers"]} and p["mixed_rails"]
    assert p["rail_outage"]["rail"] == "adyen" and 0 < p["rail_outage"]["at"] < 1
    assert FAILING | {"returned", "paid"} | SKIPPED <= {s["profile"] for s in p["sellers"]}
    assert len(p["events"]) + len(p["hot_events"]) >= 5000
    assert len(p["hot_events"]) >= 200
    assert set(p["routes"].values()) == {"pubsub", "webhook", "push_burst"}
    assert p["late_redeliveries"] and p["webhook_dups"] and p["inflight_refunds"]
    assert all(2 <= d["copies"] <= 10 for d in p["transfer_dups"])
    assert {d["mode"] for d in p["transfer_dups"]} == {"concurrent", "sequential", "mixed"}
    assert {k["function"] for k in p["kills"]} >= {"run-shard-worker", "transfer-worker"}
    assert (
        p["bursts"]
        and p["sandbox"]["drop_webhook_rate"] > 0
        and p["sandbox"]["timeout_after_accept_rate"] > 0
    )
    assert p["run_trigger"]["api_starts"] >= 2 and p["second_run_events"]


def test_a_short_plan_is_smaller_but_keeps_every_kind(tmp_path):
    _, short = plan(tmp_path, 3, 60, "--short")
    _, full = plan(tmp_path, 3, 60)
    assert len(short["hot_events"]) < len(full["hot_events"]) and len(short["kills"]) < len(full["kills"])
    assert short["transfer_dups"] and short["inflight_refunds"] and short["bursts"]
    assert not short["second_run_events"]


def test_a_plan_sells_some_lines_on_another_storefront_without_changing_its_other_draws(tmp_path):
    """Issue 17: the FX knob draws from its own generator; its lines' refunds are in their currency."""
    summary, fx = plan(tmp_path, 5, 200)
    _, plain = plan(tmp_path, 5, 200, "--fx-share", "0")
    assert "FX: 20% of the order lines on another storefront" in summary
    country = {s["seller_id"]: s["country"] for s in fx["sellers"]}
    home = {"FR": "EUR", "DE": "EUR", "ES": "EUR", "IT": "EUR", "NL": "EUR", "BE": "EUR", "GB": "GBP",
            "US": "USD", "JP": "JPY", "SE": "SEK", "PL": "PLN"}  # fmt: skip
    paid = [e for e in fx["events"] if e["type"] == "order_line.paid"]
    foreign = [e for e in paid if e["data"]["gross"]["currency"] != home[country[e["seller_id"]]]]
    assert 0.1 < len(foreign) / len(paid) < 0.3
    assert {e["data"]["gross"]["currency"] for e in foreign} == {"EUR", "GBP"}
    currency_of = {e["order_line_id"]: e["data"]["gross"]["currency"] for e in paid}
    refunds = [
        e for e in fx["events"] + [r for r in fx["inflight_refunds"]] if e["type"] == "order_line.refunded"
    ]
    assert all(e["data"]["amount"]["currency"] == currency_of[e["order_line_id"]] for e in refunds)
    assert not [e for e in plain["events"] if e["type"] == "order_line.paid"
                and e["data"]["gross"]["currency"] != home[country[e["seller_id"]]]]  # fmt: skip
    same = ("sellers", "routes", "late_redeliveries", "hot_seller", "transfer_dups", "kills", "bursts")
    assert all(fx[k] == plain[k] for k in same)
    assert [e["event_id"] for e in fx["events"]] == [e["event_id"] for e in plain["events"]]


@pytest.mark.e2e
@pytest.mark.timeout(480)
def test_a_short_seeded_fault_run_passes_the_audit(tmp_path):
    state = tmp_path / "stack"
    result = run_module("verification.faults", "--seed", 11, "--sellers", 60, "--short",
                        "--port-offset", OFFSET, "--state-dir", state, timeout=450)  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    for line in ("double payouts: 0", "lost payouts: 0", "ledger imbalance: 0", "RESULT: PASS"):
        assert line in result.stdout.splitlines(), (line, log)
    assert "audit:" in result.stdout and "BREACH" not in result.stdout, log
    figures = json.loads((state / "outcome.json").read_text())
    assert (figures["double_payouts"], figures["lost_payouts"], figures["ledger_imbalance"]) == (0, 0, 0)
    assert not figures["findings"], log  # regressions of the bugs it found (verification/faults/findings.py)
    for kind in ("transfer_task_duplicate", "sigkill_", "sandbox_5xx_burst", "order_event_late_redelivery",
                 "refund_while_payout_in_flight", "webhook_replay_days_later", "run_start_concurrent",
                 "rail_outage_adyen"):  # fmt: skip
        assert any(k.startswith(kind) for k in figures["faults"]), (kind, figures["faults"])
    # Issue 16: the planted reconciliation faults, each found as its class and nothing else; the
    # proposer's own approvals refused, finance's approved; the ledger checks green after them.
    for kind in ("reconciliation_unknown_transfer", "reconciliation_rail_amount_differs",
                 "reconciliation_silent_return", "reconciliation_rail_fee", "bank_file_duplicated"):  # fmt: skip
        assert figures["faults"].get(kind), (kind, figures["faults"])
    observed = figures["observed"]
    assert observed["reconciliation_planted_found"] == 3, observed
    assert observed["reconciliation_corrections_approved"] == 3, observed
    assert observed["reconciliation_fee_posted_once"] >= 1, observed
    assert observed["bank_files_resent_unchanged"] >= 3, observed
    assert observed["ledger_checks_after_corrections"] == 4, observed
    assert json.loads((state / "plan.json").read_text())["seed"] == 11
