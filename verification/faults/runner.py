"""The whole fault run, phase after phase, on a stack of its own, then the audit."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from local_stack import local_env
from local_stack.stack import Stack
from shared.adapters.fx_rates import fixed_table_source
from shared.domain.countries import CountryRules, load_country_rules, rules_for_sale_currency
from shared.domain.fx import convert
from shared.domain.ledger_replay import ReplayedLedger, replay_order_events
from shared.domain.money import Money
from shared.domain.order_events import OrderEvent, event_currency, parse_order_event
from shared.domain.runs import run_id_for
from stand_ins.sample_run_dates import run_dates
from verification.auditor import AuditReport, audit
from verification.faults import order_flow
from verification.faults.context import Breach, FaultContext
from verification.faults.drain import converge
from verification.faults.inflight_refunds import check_inflight_refunds
from verification.faults.observations import observe_sandbox
from verification.faults.outcome_checks import check_events, check_run_outcomes
from verification.faults.payout_phase import PayoutPhase
from verification.faults.plan import FX_SHARE, Plan, make_plan
from verification.faults.rails import observe_rails, rail_transfers
from verification.faults.reconciliation_check import check_reconciliation
from verification.faults.report import Outcome, outcome
from verification.faults.run_starts import start_run
from verification.faults.webhook_replays import replay_all

ROOT = Path(__file__).resolve().parents[2]
RULES = load_country_rules()
CLIENT_ENV = (
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "CLOUD_TASKS_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
)


def expected_ledger(ctx: FaultContext) -> ReplayedLedger:
    """The ledger the events sent so far must have produced, by the domain's own rules, offline."""
    events = (parse_order_event(json.dumps(raw)) for raw in ctx.sent_events.values())

    def rules_for_event(event: OrderEvent) -> CountryRules:  # issue 17: storefront currencies
        rules = RULES.get(ctx.countries[event.seller_id])
        currency = event_currency(event)
        return rules_for_sale_currency(rules, currency, RULES) if currency else rules

    return replay_order_events(
        events, lambda seller_id: RULES.get(ctx.countries[seller_id]), datetime.now(UTC), rules_for_event
    )


def expected_payouts(ledger: ReplayedLedger, ctx: FaultContext) -> dict[str, int]:
    """What each seller's payout must be in its country's currency (its payout currency): the
    available balance there, plus every other currency's converted at the stack's fixed table
    (issue 17), by the domain's own conversion rule."""
    rates = fixed_table_source(max_age=timedelta(days=3650))
    now = datetime.now(UTC)
    due: dict[str, int] = {}
    for seller_id, by_currency in ledger.available_by_seller_and_currency().items():
        home = RULES.get(ctx.countries[seller_id]).currency
        total = by_currency.get(home, 0)
        for currency, amount in by_currency.items():
            if currency != home and amount:
                total += convert(Money(amount, currency), rates.rate(currency, home, now)).target.amount
        due[seller_id] = total
    return due


def run_plan(ctx: FaultContext) -> Outcome:
    """Every phase in order; a Breach stops the run, which is then reported with what it found."""
    ctx.lost_sellers = 0
    ctx.inflight_checks = []
    dates = run_dates(datetime.now(UTC), 2)
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    report: AuditReport | None = None
    try:
        send_order_events(ctx)
        run_payouts(ctx, dates)
        report = drain_and_audit(ctx)
        # Reconciliation (issue 16): after the audit, which counts every sandbox transfer as a payout's.
        check_reconciliation(ctx, started, lambda: expected_ledger(ctx).collected_by_currency())
    except Breach as exc:
        ctx.breaches.append(str(exc))
    finally:
        ctx.wait_background(30)
        ctx.pool.shutdown(wait=False, cancel_futures=True)
    return outcome(ctx, report)


def send_order_events(ctx: FaultContext) -> None:
    plan = ctx.plan
    ctx.set_sandbox({"seed": plan.seed})
    order_flow.onboard(ctx)
    flood_kill = next((k for k in plan.kills if k["function"] == "order-events"), None)
    order_flow.send_events(ctx, plan.events, "order events", flood_kill)
    ctx.wait_background()
    order_flow.wait_applied(ctx, "initial events")
    order_flow.late_redeliveries(ctx)
    order_flow.flood_hot_seller(ctx)
    order_flow.wait_applied(ctx, "hot seller and redeliveries")
    order_flow.release(ctx)
    ctx.checkpoint("events applied and released")


def run_payouts(ctx: FaultContext, dates: list[date]) -> None:
    """The first run under every fault; a second, clean one after more sales (not when short)."""
    plan = ctx.plan
    available = expected_payouts(expected_ledger(ctx), ctx)
    ctx.set_sandbox(plan.sandbox)
    ctx.say(f"sandbox faults on: {plan.sandbox}")
    phase = PayoutPhase(ctx, run_id_for(dates[0], dry_run=False), first=True)
    phase.funding.before_the_run()  # issue 16: the account is short when the run starts
    run1 = start_run(ctx, dates[0], plan.run_trigger)
    ctx.checkpoint("run started")
    phase.run(timeout=900 if not plan.short else 240)
    check_run_outcomes(ctx, run1, available)
    ctx.checkpoint(f"{run1} settled")
    if plan.second_run_events:
        order_flow.send_events(ctx, plan.second_run_events, "events before the second run")
        order_flow.wait_applied(ctx, "second wave")
        run2 = start_run(ctx, dates[1], {"publishes": 1, "push_copies": 1, "api_starts": 0})
        PayoutPhase(ctx, run2, first=False).run(timeout=600)


def drain_and_audit(ctx: FaultContext) -> AuditReport:
    plan = ctx.plan
    ctx.set_sandbox({**plan.sandbox, "error_rate": 0.0, "timeout_after_accept_rate": 0.0})
    converge(ctx, 300 if not plan.short else 120)
    ctx.checkpoint("drained")
    replay_all(ctx)
    converge(ctx, 60)
    check_inflight_refunds(ctx)
    check_events(ctx)
    # Issue 17: FX payouts among them, and how they ended (fails and returns convert back).
    for status, n in sorted(ctx.reads.fx_payout_statuses().items()):
        ctx.observed[f"fx_payouts_{status}"] = n
    observe_sandbox(ctx)
    if plan.mixed_rails:
        observe_rails(ctx)
    # Every rail's transfers together: at most one accepted transfer per payout over all rails.
    transfers = rail_transfers(ctx) if plan.mixed_rails else ctx.client.sandbox_transfers()
    return audit(
        ctx.store,
        transfers,
        journal_snapshots=ctx.snapshots,
        expected_collected=expected_ledger(ctx).collected_by_currency(),
    )


@contextlib.contextmanager
def function_env_overrides(**overrides: str) -> Iterator[None]:
    """Extra environment for every function the stack (re)starts: local_stack.local_env builds it."""
    original = local_env.function_env

    def patched(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {**original(*args, **kwargs), **overrides}

    local_env.function_env = patched
    try:
        yield
    finally:
        local_env.function_env = original


@contextlib.contextmanager
def client_env(project: str) -> Iterator[None]:
    """This process's Google clients point at the run's own project; restored afterwards."""
    saved = {k: os.environ.get(k) for k in (*CLIENT_ENV, "PAYOUTS_PROJECT")}
    os.environ["PAYOUTS_PROJECT"] = project  # this process caches one Firestore client per project
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prepare_state_dir(
    plan: Plan, port_offset: int, state_dir: Path | None, say: Callable[[str], None]
) -> Path:
    """A fresh state directory of its own (never the usual stack's), holding the plan."""
    state_dir = (state_dir or Path(tempfile.gettempdir()) / f"faults-stack-{port_offset}").resolve()
    if state_dir == (ROOT / ".local").resolve():
        raise SystemExit("refusing to use the usual stack's state directory")
    shutil.rmtree(state_dir, ignore_errors=True)  # a fresh provider and Pub/Sub state
    state_dir.mkdir(parents=True)
    (state_dir / "plan.json").write_text(json.dumps(plan.as_json(), indent=1, default=str))
    for line in plan.summary():
        say(line)
    say(f"plan written to {state_dir / 'plan.json'}")
    return state_dir


def run_fault_injection(
    seed: int,
    sellers: int = 1000,
    *,
    short: bool = False,
    port_offset: int = 400,
    state_dir: Path | None = None,
    keep: bool = False,
    mixed_rails: bool = True,
    say: Callable[[str], None] = print,
    fx_share: float = FX_SHARE,
) -> Outcome:
    """Start an isolated stack, run the seeded plan against it, audit, stop the stack."""
    t0 = time.monotonic()
    plan = make_plan(seed, sellers, short, now=datetime.now(UTC), mixed_rails=mixed_rails, fx_share=fx_share)
    state_dir = prepare_state_dir(plan, port_offset, state_dir, say)
    stack: Stack | None = None
    try:
        with (
            client_env(f"faults-{port_offset}-{uuid.uuid4().hex[:6]}"),
            function_env_overrides(
                STUCK_AFTER_SECONDS=str(plan.stuck_after_seconds),
                RETURN_CHECK_AFTER_SECONDS=str(plan.stuck_after_seconds),
                # Under STUCK_AFTER_SECONDS, so a SIGKILLed sender's payout is sent again in time.
                SENDER_CLAIM_SECONDS=str(max(plan.stuck_after_seconds // 2, 5)),
            ),
        ):
            stack = Stack.start(ROOT, port_offset=port_offset, state_dir=state_dir)
            say(
                f"stack up in {stack.startup_seconds:.1f} s "
                f"(offset {port_offset}, state {state_dir}, project {stack.project})"
            )
            os.environ.update({k: stack.env[k] for k in CLIENT_ENV})
            result = run_plan(FaultContext(stack, plan, say))
    finally:
        if stack is not None and not keep:
            stack.stop()
    result.figures["wall_seconds"] = round(time.monotonic() - t0, 1)
    for line in result.lines:
        say(line)
    (state_dir / "outcome.json").write_text(json.dumps(result.figures, indent=1))
    return result
