"""Reconciliation as a use case: the ledger's payouts of a rail over a day against the rail's
records, a report per rail and day, each break its own record with its event, fees posted once,
and ops' maker-checker actions, on the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.ledger import PlatformAccount, entry_id_for
from shared.domain.money import Money
from shared.domain.payouts import PayoutStatus
from shared.domain.reconciliation import (
    BreakActionRefused,
    BreakState,
    MovementClass,
    RailRecord,
    RailRecordKind,
    RailStatus,
    Window,
)
from shared.usecases.ports import UnknownRail
from shared.usecases.reconciliation import (
    BreakNotFound,
    InvalidWindow,
    RailNotReconciled,
    ReconciliationService,
    report_id,
)
from tests.unit.usecases.conftest import NOW

DAY = NOW.date()


class FakeRailRecords:
    """A rail's records in memory (a ``RailRecordSources`` of one rail): what the rail says."""

    def __init__(self, rail: str = "sandbox") -> None:
        self.rail = rail
        self.items: list[RailRecord] = []
        self.windows: list[Window] = []

    def rails(self) -> tuple[str, ...]:
        return (self.rail,)

    def get(self, rail: str) -> FakeRailRecords:
        if rail != self.rail:
            raise UnknownRail(rail)
        return self

    def records(self, window: Window) -> list[RailRecord]:
        self.windows.append(window)
        return [r for r in self.items if r.booked_at in window]

    def transfer(
        self,
        payout_id: str | None,
        amount: int,
        status: RailStatus = RailStatus.PAID,
        *,
        record_id: str | None = None,
        kind: RailRecordKind = RailRecordKind.TRANSFER,
        at: datetime = NOW,
        currency: str = "EUR",
    ) -> RailRecord:
        record = RailRecord(
            rail=self.rail,
            record_id=record_id or f"tr_{len(self.items)}",
            kind=kind,
            status=status,
            amount=Money(amount, currency),
            booked_at=at,
            reference=payout_id,
        )
        self.items.append(record)
        return record


@pytest.fixture
def rail():
    return FakeRailRecords()


@pytest.fixture
def recon(world, rail):
    relayed = []
    svc = ReconciliationService(
        world.store,
        rail,
        relay=lambda events: relayed.extend(events) or len(events),
        clock=lambda: NOW + timedelta(hours=1),
        ledger_page=2,
    )
    svc.relayed = relayed  # type: ignore[attr-defined]
    return svc


def sent(world, seller_id, amount, key, settle=PayoutStatus.PAID):
    """A payout sent over the sandbox today and, if ``settle``, settled as the rail says."""
    world.seller(seller_id)
    world.fund(seller_id, amount * 2)
    payout = world.pay_on_demand(seller_id, amount, key=key)
    world.svc.send_transfer(payout.payout_id, now=NOW)
    if settle is PayoutStatus.PAID:
        world.provider.settle(payout.payout_id, PayoutStatus.PAID)
        world.svc.apply_state(payout.payout_id, PayoutStatus.PAID, cause="test", actor="test")
    return world.store.payouts.get(payout.payout_id)


def test_a_clean_day_has_no_breaks_and_keeps_a_report_with_counts_and_totals(world, rail, recon):
    paid = [sent(world, f"s-{n}", 1000 + n, f"key-0000000{n}") for n in range(5)]
    for p in paid:
        rail.transfer(p.payout_id, p.amount.amount)
    run = recon.reconcile_day("sandbox", DAY, actor="scheduler")
    assert (run.breaks, run.new_breaks, run.ledger_payouts, run.rail_records) == (0, 0, 5, 5)
    assert [(x.cls, x.currency, x.count, x.total) for x in run.lines] == [
        ("matched", "EUR", 5, sum(p.amount.amount for p in paid))
    ]
    assert recon.report("sandbox-" + DAY.isoformat()) == run
    assert recon.reports("sandbox") == [run]
    assert world.store.t.breaks == {}
    assert rail.windows == [Window(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))]


def test_each_planted_fault_is_one_break_of_its_class_with_both_sides(world, rail, recon):
    ok = sent(world, "s-ok", 1000, "key-0000000a")
    short = sent(world, "s-short", 2000, "key-0000000b")
    returned = sent(world, "s-ret", 3000, "key-0000000c")
    missing = sent(world, "s-miss", 4000, "key-0000000d")
    rail.transfer(ok.payout_id, 1000)
    rail.transfer(short.payout_id, 1999)  # the rail sent another amount
    rail.transfer(returned.payout_id, 3000, RailStatus.RETURNED)  # a return no webhook told us of
    rail.transfer(None, 777, record_id="tr_stranger")  # a transfer we never made
    run = recon.reconcile_day("sandbox", DAY, actor="ops@example.com")
    found = {b.cls: b for b in world.store.t.breaks.values()}
    assert set(found) == {
        MovementClass.AMOUNT_MISMATCH,
        MovementClass.STATUS_MISMATCH,
        MovementClass.UNKNOWN_TO_US,
        MovementClass.MISSING_AT_RAIL,
    }
    assert (run.breaks, run.new_breaks) == (4, 4)
    amount = found[MovementClass.AMOUNT_MISMATCH]
    assert amount.ledger["payout_id"] == short.payout_id and amount.ledger["amount"] == 2000
    assert amount.rail_records[0]["amount"] == 1999
    assert found[MovementClass.STATUS_MISMATCH].ledger["payout_id"] == returned.payout_id
    assert found[MovementClass.UNKNOWN_TO_US].ledger is None
    assert found[MovementClass.MISSING_AT_RAIL].ledger["payout_id"] == missing.payout_id
    # One reconciliation.break_found event per break, in the outbox and relayed.
    events = [e for e in world.store.t.outbox.values() if e.type == "reconciliation.break_found"]
    assert sorted(e.subject for e in events) == sorted(found[c].break_id for c in found)
    assert sorted(e.event_id for e in recon.relayed) == sorted(e.event_id for e in events)
    assert all(b.state is BreakState.OPEN for b in found.values())


def test_a_second_run_finds_the_same_breaks_and_keeps_ops_state(world, rail, recon):
    rail.transfer(None, 500, record_id="tr_stranger")
    recon.reconcile_day("sandbox", DAY, actor="scheduler")
    (brk,) = world.store.t.breaks.values()
    recon.acknowledge(brk.break_id, actor="ana@example.com", note="test transfer by the PSP")
    again = recon.reconcile_day("sandbox", DAY, actor="scheduler")
    assert (again.breaks, again.new_breaks) == (1, 0)
    assert world.store.t.breaks[brk.break_id].state is BreakState.ACKNOWLEDGED
    assert len([e for e in world.store.t.outbox.values() if e.type == "reconciliation.break_found"]) == 1


def test_a_fee_posts_once_to_the_rail_fee_account_whatever_the_runs(world, rail, recon):
    rail.transfer(None, 35, RailStatus.PAID, record_id="fee_1", kind=RailRecordKind.FEE)
    first = recon.reconcile_day("sandbox", DAY, actor="scheduler")
    second = recon.reconcile_day("sandbox", DAY, actor="scheduler")
    assert (first.fees_posted, second.fees_posted, first.breaks, second.breaks) == (1, 0, 0, 0)
    entry, _ = world.store.t.journal[entry_id_for("rail.fee", "sandbox:fee_1")]
    assert {(p.account, p.amount.amount) for p in entry.postings} == {
        (PlatformAccount.RAIL_FEES.value, 35),
        (PlatformAccount.COMMISSION.value, -35),
    }
    assert [(x.cls, x.count, x.total) for x in second.lines] == [("fee", 1, 35)]


def test_a_payout_sent_before_the_window_and_returned_in_it_is_read_by_id(world, rail, recon):
    earlier = sent(world, "s-old", 1500, "key-0000000e")
    # Sent yesterday (its transfer started then); today the rail books a return for it.
    world.store.t.payouts[earlier.payout_id] = type(earlier)(
        **{**earlier.__dict__, "transfer_started_at": NOW - timedelta(days=1)}
    )
    rail.transfer(earlier.payout_id, 1500, RailStatus.RETURNED, kind=RailRecordKind.RETURN)
    run = recon.reconcile_day("sandbox", DAY, actor="scheduler")
    assert run.ledger_payouts == 1
    (brk,) = world.store.t.breaks.values()  # returned at the rail, paid in the ledger
    assert brk.cls is MovementClass.STATUS_MISMATCH and brk.ledger["payout_id"] == earlier.payout_id


def test_the_ledger_side_is_read_in_cursor_pages(world, rail, recon):
    paid = [sent(world, f"s-{n}", 1000 + n, f"key-0000001{n}") for n in range(5)]  # pages of 2
    for p in paid:
        rail.transfer(p.payout_id, p.amount.amount)
    assert recon.reconcile_day("sandbox", DAY, actor="scheduler").ledger_payouts == 5


def test_maker_checker_a_correction_is_approved_by_someone_else_and_posted_once(world, rail, recon):
    rail.transfer(None, 900, record_id="tr_stranger")
    recon.reconcile_day("sandbox", DAY, actor="scheduler")
    (brk,) = world.store.t.breaks.values()
    postings = [
        (PlatformAccount.PAYOUTS.value, Money(900, "EUR")),
        (PlatformAccount.COMMISSION.value, Money(-900, "EUR")),
    ]
    proposed = recon.propose(
        brk.break_id, actor="ana@example.com", reason="PSP error, claimed back", postings=postings
    )
    assert proposed.state is BreakState.CORRECTION_PROPOSED
    with pytest.raises(BreakActionRefused) as refused:
        recon.approve(brk.break_id, actor="ana@example.com")
    assert refused.value.code == "same_maker_and_checker"
    done = recon.approve(brk.break_id, actor="ben@example.com", note="checked the PSP statement")
    assert done.state is BreakState.CORRECTED
    assert [(a.action, a.actor) for a in done.history] == [
        ("detected", "reconciliation:sandbox"),
        ("correction_proposed", "ana@example.com"),
        ("correction_approved", "ben@example.com"),
    ]
    entry = proposed.correction.entry
    assert entry.entry_id in world.store.t.journal
    with pytest.raises(BreakActionRefused):  # nothing left to approve: posted once
        recon.approve(brk.break_id, actor="cy@example.com")
    totals: dict[str, int] = {}
    for stored, _ in world.store.t.journal.values():
        for p in stored.postings:
            totals[p.amount.currency] = totals.get(p.amount.currency, 0) + p.amount.amount
    assert set(totals.values()) <= {0}  # the ledger still balances


def test_a_rejected_correction_leaves_the_break_open_for_another(world, rail, recon):
    rail.transfer(None, 900, record_id="tr_stranger")
    recon.reconcile_day("sandbox", DAY, actor="scheduler")
    (brk,) = world.store.t.breaks.values()
    postings = [
        (PlatformAccount.PAYOUTS.value, Money(900, "EUR")),
        (PlatformAccount.COMMISSION.value, Money(-900, "EUR")),
    ]
    recon.propose(brk.break_id, actor="ana@example.com", reason="first try", postings=postings)
    again = recon.reject(brk.break_id, actor="ben@example.com", note="wrong account")
    assert again.state is BreakState.OPEN and again.correction is None
    second = recon.propose(brk.break_id, actor="ana@example.com", reason="second try", postings=postings)
    assert second.correction.entry.cause == f"{brk.break_id}:2"


def test_an_acknowledgement_needs_a_note_and_an_unknown_break_is_not_found(world, rail, recon):
    rail.transfer(None, 900, record_id="tr_stranger")
    recon.reconcile_day("sandbox", DAY, actor="scheduler")
    (brk,) = world.store.t.breaks.values()
    with pytest.raises(BreakActionRefused) as refused:
        recon.acknowledge(brk.break_id, actor="ana@example.com", note="  ")
    assert refused.value.field == "note"
    with pytest.raises(BreakNotFound):
        recon.acknowledge("brk_nope", actor="ana@example.com", note="x")
    with pytest.raises(BreakNotFound):
        recon.get_break("brk_nope")


def test_breaks_are_listed_newest_first_filtered_and_paged(world, rail, recon):
    for n in range(3):
        rail.transfer(None, 100 + n, record_id=f"tr_stranger_{n}")
    short = sent(world, "s-short", 2000, "key-0000000b")
    rail.transfer(short.payout_id, 1999)
    recon.reconcile_day("sandbox", DAY, actor="scheduler")
    unknown = recon.list_breaks(cls=MovementClass.UNKNOWN_TO_US, limit=2)
    assert len(unknown.breaks) == 2 and unknown.next_after is not None
    rest = recon.list_breaks(cls=MovementClass.UNKNOWN_TO_US, limit=2, after=unknown.next_after)
    assert len(rest.breaks) == 1 and rest.next_after is None
    assert {b.break_id for b in unknown.breaks + rest.breaks} == {
        b.break_id for b in world.store.t.breaks.values() if b.cls is MovementClass.UNKNOWN_TO_US
    }
    recon.acknowledge(rest.breaks[0].break_id, actor="ana@example.com", note="known")
    assert [b.break_id for b in recon.list_breaks(state=BreakState.ACKNOWLEDGED).breaks] == [
        rest.breaks[0].break_id
    ]
    assert recon.list_breaks(rail="adyen").breaks == []


def test_a_window_must_be_bounded_and_the_rail_reconciled(world, recon):
    start = datetime(2026, 11, 24, tzinfo=UTC)
    with pytest.raises(InvalidWindow):
        recon.reconcile_window("sandbox", Window(start, start), actor="ops")
    with pytest.raises(InvalidWindow):
        recon.reconcile_window("sandbox", Window(start - timedelta(days=40), start), actor="ops")
    with pytest.raises(InvalidWindow):
        recon.reconcile_window(
            "sandbox", Window(start + timedelta(days=3), start + timedelta(days=4)), actor="ops"
        )
    with pytest.raises(RailNotReconciled):
        recon.reconcile_window("bitcoin", Window(start, start + timedelta(hours=1)), actor="ops")
    assert (
        report_id("sandbox", Window(start, start + timedelta(hours=6)))
        == "sandbox-20261124T000000-20261124T060000"
    )


def test_the_scheduled_job_reconciles_yesterday_on_every_rail(world, rail, recon):
    (run,) = recon.reconcile_yesterday(actor="scheduler")
    assert run.report_id == f"sandbox-{(DAY - timedelta(days=1)).isoformat()}"
