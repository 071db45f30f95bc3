"""The seeded fault-injection run (verification/faults.py): its plan is reproducible, and a short run
against a stack of its own passes the audit."""

from __future__ import annotations

import os

import pytest

from verification.faults import EXPECTED_SKIP, FAILING, make_plan, run_fault_injection

# Its own stack, beside the session's one (and beside a second stack moved by STACK_PORT_OFFSET).
OFFSET = int(os.environ.get("FAULTS_PORT_OFFSET", str(int(os.environ.get("STACK_PORT_OFFSET", "0")) + 500)))


def test_the_same_seed_draws_the_same_plan_and_another_seed_another():
    assert make_plan(7, 200).as_json() == make_plan(7, 200).as_json()
    assert make_plan(7, 200).as_json() != make_plan(8, 200).as_json()


def test_a_plan_onboards_every_country_and_injects_every_kind_of_fault():
    plan = make_plan(3, 1000)
    assert len(plan.sellers) == 1000 and len({s.country for s in plan.sellers}) == 9
    profiles = {s.profile for s in plan.sellers}
    assert FAILING | {"returned", "paid"} | set(EXPECTED_SKIP) <= profiles
    assert len(plan.events) + len(plan.hot_events) >= 5000
    assert len(plan.hot_events) >= 200
    assert set(plan.routes.values()) == {"pubsub", "webhook", "push_burst"}
    assert plan.late_redeliveries and plan.webhook_dups and plan.inflight_refunds
    assert all(2 <= d["copies"] <= 10 for d in plan.transfer_dups)
    assert {d["mode"] for d in plan.transfer_dups} == {"concurrent", "sequential", "mixed"}
    assert {k["function"] for k in plan.kills} >= {"run-shard-worker", "transfer-worker"}
    assert (
        plan.bursts
        and plan.sandbox["drop_webhook_rate"] > 0
        and plan.sandbox["timeout_after_accept_rate"] > 0
    )
    assert plan.run_trigger["api_starts"] >= 2 and plan.second_run_events


def test_a_short_plan_is_smaller_but_keeps_every_kind():
    short, full = make_plan(3, 60, short=True), make_plan(3, 60)
    assert len(short.hot_events) < len(full.hot_events) and len(short.kills) < len(full.kills)
    assert short.transfer_dups and short.inflight_refunds and short.bursts and not short.second_run_events


@pytest.mark.e2e
@pytest.mark.timeout(420)
def test_a_short_seeded_fault_run_passes_the_audit(tmp_path):
    lines: list[str] = []
    outcome = run_fault_injection(
        11, 60, short=True, port_offset=OFFSET, state_dir=tmp_path / "stack", say=lines.append
    )
    log = "\n".join(lines)
    assert outcome.report is not None, log
    assert not outcome.unexplained, log
    assert outcome.figures["double_payouts"] == 0, log
    assert outcome.figures["ledger_imbalance"] == 0, log
    faults = outcome.figures["faults"]
    for kind in ("transfer_task_duplicate", "sigkill_", "sandbox_5xx_burst", "order_event_late_redelivery",
                 "refund_while_payout_in_flight", "webhook_replay_days_later", "run_start_concurrent"):  # fmt: skip
        assert any(k.startswith(kind) for k in faults), (kind, faults)
    assert not outcome.findings, log  # regressions of the bugs it found (verification/faults.py FINDINGS)
    assert outcome.figures["lost_payouts"] == 0, log
    assert outcome.report.ok and outcome.ok, log
