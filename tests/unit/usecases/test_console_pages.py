"""The console's sellers, providers and reconciliation views (shared/usecases/console_sellers.py,
console_rails.py, console_reconciliation.py) on the in-memory store: what they read, what they do
through the use cases, and what they record with its actor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.ledger import DatedEntry, make_entry
from shared.domain.money import Money
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.domain.reconciliation import BreakState, MovementClass, RailStatus
from shared.usecases import console_rails, console_reconciliation, console_sellers
from shared.usecases.console_views import BadForm, NotFound
from shared.usecases.ports import Balance
from shared.usecases.reconciliation import ReconciliationService
from tests.fakes.console import FakeConsoleReads
from tests.fakes.rail_controls import FakeRailControls
from tests.unit.usecases.conftest import NOW, RULES
from tests.unit.usecases.test_reconciliation import FakeRailRecords, sent

OPS, FINANCE, LEAD = "ops@example.com", "finance@example.com", "lead@example.com"
EVIL = "<script>alert(1)</script>"


@pytest.fixture
def reads(world):
    return FakeConsoleReads(world.store)


# ---- sellers ---------------------------------------------------------------------------------------


def test_sellers_are_found_by_id_or_name_prefix(world, reads):
    world.seller("s-alpha", display_name="Alpha Shop")
    world.seller("s-beta", n=2, display_name="Zeta Books")
    world.seller("t-gamma", n=3, display_name="Alpine Crafts")
    assert [s.seller_id for s in console_sellers.search_sellers(reads, "s-")] == ["s-alpha", "s-beta"]
    assert [s.seller_id for s in console_sellers.search_sellers(reads, "Alp")] == ["s-alpha", "t-gamma"]
    assert [s.seller_id for s in console_sellers.search_sellers(reads, "  Zeta ")] == ["s-beta"]
    assert len(console_sellers.search_sellers(reads, "")) == 3
    assert console_sellers.search_sellers(reads, "nobody") == []


def test_a_sellers_page_has_balances_payouts_and_only_masked_numbers(world, reads):
    world.seller("s-1", display_name=EVIL, rail_accounts={"stripe": "acct_1Nv0FGQ9RKHgCVdK"})
    world.fund("s-1", 50000)
    payout = world.pay_on_demand("s-1", 20000)
    world.seller("s-held", n=2, payout_hold={"held": True, "reason": "fraud review"})
    held = console_sellers.seller_detail(world.svc, reads, RULES, "s-held", NOW)
    assert held["seller"]["payout_hold"] == {"held": True, "reason": "fraud review"}
    assert held["balances"] == [] and held["history"] == {} and held["payouts"] == []
    detail = console_sellers.seller_detail(world.svc, reads, RULES, "s-1", NOW)
    seller = detail["seller"]
    assert seller["display_name"] == EVIL  # escaped by the template, kept as the text it is
    assert seller["payout_hold"] == {"held": False, "reason": None}
    assert seller["kyc_status"] == "verified"
    stored = world.store.t.sellers["s-1"]
    assert seller["bank_account"]["masked"] == stored.bank_account.masked
    assert seller["rail_accounts"] == {"stripe_account": "acct_…CVdK"}
    shown = repr(detail)
    numbers = [v for v in stored.bank_account.to_storage().values() if isinstance(v, str) and len(v) > 12]
    assert numbers and not [n for n in numbers if n in shown], "a full bank number is never shown"
    assert "acct_1Nv0FGQ9RKHgCVdK" not in shown
    assert detail["balances"] == [Balance("EUR", 0, 30000, 20000)]
    assert [p.payout_id for p in detail["payouts"]] == [payout.payout_id]
    with pytest.raises(NotFound):
        console_sellers.seller_detail(world.svc, reads, RULES, "s-none", NOW)


def test_the_balance_over_time_is_the_journal_undone_from_the_stored_balance(world, reads):
    world.seller("s-2")
    world.fund("s-2", 10000)  # paid (pending) then released (available): two entries
    world.pay_on_demand("s-2", 4000)  # available -> in flight
    detail = console_sellers.seller_detail(world.svc, reads, RULES, "s-2", NOW)
    points = detail["history"]["EUR"]
    assert detail["history_complete"] and detail["history_entries"] == 3  # sale, release, payout
    # Oldest first: zero before the first entry, then after each entry, then now.
    values = [(p.pending, p.available, p.in_flight) for p in points]
    # The sale and its release were written at the same time here: one point for both.
    assert values == [(0, 0, 0), (0, 10000, 0), (0, 6000, 4000), (0, 6000, 4000)]
    assert [p.at for p in points] == sorted(p.at for p in points)


def test_money_on_hold_is_listed_by_order_line_soonest_release_first(world, reads):
    world.seller("s-3")
    world.fund("s-3", 9000)  # released: not on hold
    paid = {"gross": {"amount": 11000, "currency": "EUR"}, "commission": {"amount": 1000, "currency": "EUR"}}
    world.event("s-3", "paid", paid, "ol-waiting")  # not delivered yet
    world.event("s-3", "paid", paid, "ol-held")
    world.event("s-3", "delivered", {"delivered_at": NOW.isoformat()}, "ol-held")
    detail = console_sellers.seller_detail(world.svc, reads, RULES, "s-3", NOW)
    held = detail["held_lines"]
    assert [(h["order_line_id"], h["state"], h["amount"], h["currency"]) for h in held] == [
        ("ol-held", "holding", 10000, "EUR"),
        ("ol-waiting", "awaiting_delivery", 10000, "EUR"),
    ]
    assert held[0]["release_at"] > NOW and held[1]["release_at"] is None
    assert not detail["held_lines_more"]
    assert detail["balances"] == [Balance("EUR", 20000, 9000, 0)]


def test_the_balance_history_reads_a_bounded_window_and_starts_where_it_starts():
    at = datetime(2026, 11, 1, tzinfo=UTC)
    entries = [
        DatedEntry(
            make_entry(
                "test",
                f"c{n}",
                [("seller:s:available", Money(100, "EUR")), ("platform:commission", Money(-100, "EUR"))],
            ),
            at + timedelta(hours=n),
        )
        for n in range(3)
    ]
    newest_first = list(reversed(entries))[:2]  # only the two newest were read
    history = console_sellers.balance_history(
        "s", [Balance("EUR", 0, 1000, 0)], newest_first, at + timedelta(days=1)
    )
    assert [p.available for p in history["EUR"]] == [800, 900, 1000, 1000]
    assert history["EUR"][0].at == at + timedelta(hours=1)


# ---- providers and rails ------------------------------------------------------------------------------


def test_an_operator_drains_and_resumes_a_rail_with_a_reason_recorded(reads):
    controls, caps = FakeRailControls(), load_rail_capabilities()
    rail = caps.rails()[0]
    state = console_rails.change_rail(
        controls, caps, RULES, reads, rail, drained=True, actor=OPS, reason=" INC-42 ", now=NOW
    )
    assert state.drained and state.control is not None and state.control.actor == OPS
    assert console_rails.rail(controls, caps, RULES, rail).control.reason == "INC-42"
    console_rails.change_rail(
        controls, caps, RULES, reads, rail, drained=False, actor=OPS, reason="ok", now=NOW
    )
    assert not console_rails.rail(controls, caps, RULES, rail).drained
    assert [(a["action"], a["actor"], a["target"], a["outcome"]) for a in reads.actions] == [
        ("drain_rail", OPS, rail, "done"),
        ("resume_rail", OPS, rail, "done"),
    ]


def test_a_drain_without_a_reason_or_of_no_rail_is_refused_and_recorded(reads):
    controls, caps = FakeRailControls(), load_rail_capabilities()
    with pytest.raises(BadForm):
        console_rails.change_rail(
            controls, caps, RULES, reads, caps.rails()[0], drained=True, actor=OPS, reason="  ", now=NOW
        )
    with pytest.raises(NotFound):
        console_rails.change_rail(
            controls, caps, RULES, reads, "nope", drained=True, actor=OPS, reason="x", now=NOW
        )
    assert controls.all() == []
    assert [a["outcome"] for a in reads.actions] == ["refused", "refused"]
    with pytest.raises(NotFound):
        console_rails.rail(controls, caps, RULES, "nope")


# ---- reconciliation ---------------------------------------------------------------------------------


@pytest.fixture
def planted(world):
    """A sandbox day with one payout we made and a transfer we never made: one break."""
    records = FakeRailRecords()
    svc = ReconciliationService(
        world.store, records, relay=lambda events: len(events), clock=lambda: NOW + timedelta(hours=1)
    )
    paid = sent(world, "s-ok", 1000, "key-0000000a")
    records.transfer(paid.payout_id, 1000)
    records.transfer("po_stranger", 777, RailStatus.PAID)
    svc.reconcile_day("sandbox", NOW.date(), actor="scheduler")
    (brk,) = world.store.t.breaks.values()
    return svc, brk.break_id


POSTINGS = "platform:payouts 7.77 EUR\nplatform:commission=-7.77 EUR"


def test_reports_and_breaks_are_listed_and_filtered(world, reads, planted):
    svc, break_id = planted
    (report,) = console_reconciliation.reports(svc, "sandbox")
    assert report.breaks == 1 and console_reconciliation.report(svc, report.report_id) == report
    assert console_reconciliation.reports(svc, "adyen") == []
    where = console_reconciliation.BreakFilter
    assert [b.break_id for b in console_reconciliation.breaks(svc, where(rail="sandbox"), None).breaks] == [
        break_id
    ]
    assert console_reconciliation.breaks(svc, where(cls=MovementClass.AMOUNT_MISMATCH), None).breaks == []
    assert console_reconciliation.breaks(svc, where(state=BreakState.CORRECTED), None).breaks == []
    brk = console_reconciliation.get_break(svc, break_id)
    assert brk.ledger is None and brk.rail_records[0]["reference"] == "po_stranger"
    with pytest.raises(NotFound):
        console_reconciliation.get_break(svc, "brk_none")
    with pytest.raises(NotFound):
        console_reconciliation.report(svc, "sandbox-1999-01-01")


def test_postings_are_read_one_a_line_in_major_units():
    assert console_reconciliation.parse_postings(POSTINGS) == [
        ("platform:payouts", Money(777, "EUR")),
        ("platform:commission", Money(-777, "EUR")),
    ]
    for bad in ("platform:payouts 7.77 EUR", "a 1 EUR\nb one EUR", "a 1.001 EUR\nb -1.001 EUR", "x\n" * 21):
        with pytest.raises(BadForm):
            console_reconciliation.parse_postings(bad)


def test_a_correction_proposed_by_an_operator_is_approved_by_an_approver_and_posted(world, reads, planted):
    svc, break_id = planted
    act = console_reconciliation.act_on_break
    assert act(svc, reads, break_id, "acknowledge", actor=OPS, note="PSP test transfer").done
    proposed = act(
        svc,
        reads,
        break_id,
        "propose",
        actor=OPS,
        reason="money left",
        postings=console_reconciliation.parse_postings(POSTINGS),
    )
    assert proposed.done and proposed.brk.state is BreakState.CORRECTION_PROPOSED
    entry_id = proposed.brk.correction.entry.entry_id
    own = act(svc, reads, break_id, "approve", actor=OPS, note="")
    assert (own.done, own.code) == (False, "same_maker_and_checker")  # the use case's maker-checker
    assert entry_id not in world.store.t.journal
    approved = act(svc, reads, break_id, "approve", actor=FINANCE, note="checked")
    assert approved.done and approved.brk.state is BreakState.CORRECTED
    assert entry_id in world.store.t.journal
    assert [(a.action, a.actor) for a in approved.brk.history] == [
        ("detected", "reconciliation:sandbox"),
        ("acknowledged", OPS),
        ("correction_proposed", OPS),
        ("correction_approved", FINANCE),
    ]
    assert [(a["action"], a["actor"], a["outcome"]) for a in reads.actions] == [
        ("acknowledge_break", OPS, "done"),
        ("propose_break", OPS, "done"),
        ("approve_break", OPS, "refused"),
        ("approve_break", FINANCE, "done"),
    ]
    assert reads.actions[2]["detail"] == "same_maker_and_checker"
    assert all(a["target"] == break_id for a in reads.actions)


def test_refusals_of_the_rules_are_outcomes_and_recorded(world, reads, planted):
    svc, break_id = planted
    act = console_reconciliation.act_on_break
    assert act(svc, reads, break_id, "acknowledge", actor=OPS, note=" ").code == "note_required"
    assert act(svc, reads, break_id, "approve", actor=FINANCE).code == "no_correction_proposed"
    unbalanced = act(
        svc,
        reads,
        break_id,
        "propose",
        actor=OPS,
        reason="x",
        postings=[("platform:payouts", Money(1, "EUR")), ("platform:commission", Money(-2, "EUR"))],
    )
    assert (unbalanced.done, unbalanced.code) == (False, "unbalanced_entry")
    unknown = act(
        svc,
        reads,
        break_id,
        "propose",
        actor=OPS,
        reason="x",
        postings=[("bank:mine", Money(1, "EUR")), ("platform:commission", Money(-1, "EUR"))],
    )
    assert unknown.code == "unknown_account"
    assert act(
        svc,
        reads,
        break_id,
        "propose",
        actor=OPS,
        reason="ok",
        postings=console_reconciliation.parse_postings(POSTINGS),
    ).done
    rejected = act(svc, reads, break_id, "reject", actor=FINANCE, note="wrong account")
    assert rejected.done and rejected.brk.state is BreakState.OPEN and rejected.brk.correction is None
    assert [a["outcome"] for a in reads.actions] == ["refused"] * 4 + ["done", "done"]
    with pytest.raises(NotFound):
        act(svc, reads, "brk_none", "acknowledge", actor=OPS, note="x")
    assert reads.actions[-1]["outcome"] == "refused"
    with pytest.raises(ValueError):
        act(svc, reads, break_id, "delete", actor=OPS)
