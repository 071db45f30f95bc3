"""The reconciliation part of the storage port (``shared/usecases/ports.py``), on the in-memory fake
and on the Firestore adapter: payouts of a rail by transfer start, breaks kept whole (ops' actions
and a proposed correction included), break lists filtered and paged, reports, posted fees."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.domain.ledger import PlatformAccount
from shared.domain.money import Money
from shared.domain.payouts import PayoutStatus
from shared.domain.reconciliation import (
    BreakState,
    LedgerFee,
    LedgerPayout,
    MovementClass,
    RailRecord,
    RailRecordKind,
    RailStatus,
    Window,
    acknowledge,
    propose_correction,
    reconcile,
)
from shared.usecases.ports import AlreadyExists, ReconciliationRun, ReportLine
from tests.contract.test_storage_contract import AT, payout, store  # noqa: F401 - the fixture

DAY = Window(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))


def _started(store, payout_id, at, provider="sandbox"):  # noqa: F811
    created, entry = payout(payout_id, at=AT - timedelta(days=3))
    sent = replace(created, provider=provider, transfer_started_at=at, status=PayoutStatus.PROCESSING)

    def body(uow):
        uow.payouts.put(sent)

    store.atomically(body)
    return sent


def test_payouts_sent_over_a_rail_in_a_window_in_pages(store):  # noqa: F811
    inside = [_started(store, f"po_in{n}", DAY.start + timedelta(hours=n)) for n in range(5)]
    _started(store, "po_before", DAY.start - timedelta(microseconds=1))
    _started(store, "po_at_end", DAY.end)
    _started(store, "po_other_rail", DAY.start + timedelta(hours=1), provider="adyen")
    first = store.payouts.sent_over_rail("sandbox", DAY.start, DAY.end, after=None, limit=3)
    assert [p.payout_id for p in first] == ["po_in0", "po_in1", "po_in2"]
    last = first[-1]
    rest = store.payouts.sent_over_rail(
        "sandbox", DAY.start, DAY.end, after=(last.transfer_started_at, last.payout_id), limit=3
    )
    assert [p.payout_id for p in rest] == ["po_in3", "po_in4"]
    assert [p.payout_id for p in first + rest] == [p.payout_id for p in inside]


def _breaks():
    payouts = [
        LedgerPayout(f"po_{n}", PayoutStatus.PAID, Money(1000 + n, "EUR"), "sandbox") for n in range(3)
    ]
    records = [
        RailRecord(
            "sandbox",
            f"tr_{n}",
            RailRecordKind.TRANSFER,
            RailStatus.PAID,
            Money(999, "EUR"),
            AT,
            reference=f"po_{n}",
        )
        for n in range(3)
    ]
    records.append(
        RailRecord(
            "sandbox",
            "tr_x",
            RailRecordKind.TRANSFER,
            RailStatus.PAID,
            Money(5, "EUR"),
            AT + timedelta(seconds=1),
        )
    )
    return reconcile("sandbox", DAY, payouts, records, detected_at=AT).breaks


def _keep(store, brk):  # noqa: F811
    store.atomically(lambda uow: uow.breaks.put(brk))


def test_a_break_is_kept_whole_with_its_actions_and_correction(store):  # noqa: F811
    brk = _breaks()[0]
    _keep(store, brk)
    assert store.reconciliation.get_break(brk.break_id) == brk
    acked = acknowledge(brk, actor="ana@example.com", at=AT + timedelta(minutes=1), note="looking")
    proposed = propose_correction(
        acked,
        actor="ana@example.com",
        at=AT + timedelta(minutes=2),
        reason="rail short-paid",
        postings=[
            (PlatformAccount.PAYOUTS.value, Money(-1, "EUR")),
            (PlatformAccount.COMMISSION.value, Money(1, "EUR")),
        ],
    )
    _keep(store, proposed)
    assert store.atomically(lambda uow: uow.breaks.get(brk.break_id)) == proposed
    assert store.reconciliation.get_break(brk.break_id) == proposed
    assert store.reconciliation.get_break("brk_none") is None


def test_breaks_are_listed_newest_first_by_rail_state_and_class_with_a_cursor(store):  # noqa: F811
    breaks = sorted(_breaks(), key=lambda b: b.cls is MovementClass.AMOUNT_MISMATCH)  # unknown first
    for n, brk in enumerate(breaks):  # the unknown one at AT, the three amounts 1, 2, 3 minutes later
        _keep(store, replace(brk, detected_at=AT + timedelta(minutes=n)))
    amounts = store.reconciliation.breaks(
        rail="sandbox", state=BreakState.OPEN, cls=MovementClass.AMOUNT_MISMATCH, limit=2, after=None
    )
    assert [b.detected_at for b in amounts] == [AT + timedelta(minutes=3), AT + timedelta(minutes=2)]
    last = amounts[-1]
    rest = store.reconciliation.breaks(
        rail="sandbox",
        state=BreakState.OPEN,
        cls=MovementClass.AMOUNT_MISMATCH,
        limit=2,
        after=(last.detected_at, last.break_id),
    )
    assert [b.detected_at for b in rest] == [AT + timedelta(minutes=1)]
    unknown = store.reconciliation.breaks(
        rail=None, state=None, cls=MovementClass.UNKNOWN_TO_US, limit=10, after=None
    )
    assert [b.cls for b in unknown] == [MovementClass.UNKNOWN_TO_US]
    assert store.reconciliation.breaks(rail="adyen", state=None, cls=None, limit=10, after=None) == []
    assert len(store.reconciliation.breaks(rail=None, state=None, cls=None, limit=10, after=None)) == 4
    assert (
        store.reconciliation.breaks(rail=None, state=BreakState.ACKNOWLEDGED, cls=None, limit=10, after=None)
        == []
    )


def _report(rail, day, ran_at=AT):
    return ReconciliationRun(
        report_id=f"{rail}-{day.start.date().isoformat()}",
        rail=rail,
        window_start=day.start,
        window_end=day.end,
        lines=(ReportLine("matched", "EUR", 3, 3003), ReportLine("amount_mismatch", "EUR", 1, 999)),
        breaks=1,
        new_breaks=1,
        fees_posted=0,
        ledger_payouts=3,
        rail_records=4,
        ran_at=ran_at,
        ran_by="scheduler",
    )


def test_reports_are_kept_per_rail_and_window_and_listed_newest_first(store):  # noqa: F811
    earlier = Window(DAY.start - timedelta(days=1), DAY.start)
    for rail in ("sandbox", "adyen"):
        store.reconciliation.put_report(_report(rail, earlier))
        store.reconciliation.put_report(_report(rail, DAY))
    again = replace(_report("sandbox", DAY), ran_at=AT + timedelta(hours=1), breaks=0)
    store.reconciliation.put_report(again)  # a later run of the same window replaces it
    assert store.reconciliation.get_report("sandbox-2026-11-24") == again
    assert [r.report_id for r in store.reconciliation.reports("sandbox", 10)] == [
        "sandbox-2026-11-24",
        "sandbox-2026-11-23",
    ]
    assert len(store.reconciliation.reports(None, 10)) == 4
    assert store.reconciliation.get_report("sandbox-1999-01-01") is None


def test_posted_fees_are_found_by_their_record_and_post_once(store):  # noqa: F811
    fee = RailRecord("sandbox", "fee_1", RailRecordKind.FEE, RailStatus.PAID, Money(35, "EUR"), AT)
    (entry,) = reconcile("sandbox", DAY, [], [fee], detected_at=AT).fee_entries
    assert store.reconciliation.posted_fees("sandbox", ["fee_1", "fee_2"]) == []
    store.atomically(lambda uow: uow.journal.post(entry, AT))
    try:
        store.atomically(lambda uow: uow.journal.post(entry, AT))
        raise AssertionError("a fee entry posted twice")
    except AlreadyExists:
        pass
    assert store.reconciliation.posted_fees("sandbox", ["fee_1", "fee_2"]) == [
        LedgerFee("sandbox", "fee_1", Money(35, "EUR"))
    ]
    assert store.reconciliation.posted_fees("adyen", ["fee_1"]) == []
