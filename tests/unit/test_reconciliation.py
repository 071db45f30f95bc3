"""Reconciliation, as a book-keeper would check it: a clean day has no breaks, each planted fault
is found as exactly its class, fees post once, and corrections need a second person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.ledger import (
    Bucket,
    PlatformAccount,
    UnbalancedEntry,
    balances_from_entries,
    entry_id_for,
    seller_account,
)
from shared.domain.money import Money
from shared.domain.payouts import PayoutStatus
from shared.domain.reconciliation import (
    BreakActionRefused,
    BreakState,
    LedgerFee,
    LedgerPayout,
    MovementClass,
    RailRecord,
    RailRecordKind,
    RailStatus,
    Window,
    acknowledge,
    approve_correction,
    propose_correction,
    reconcile,
    reject_correction,
)

DAY = Window(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
AT = datetime(2026, 11, 24, 12, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 6, tzinfo=UTC)
RAIL = "sandbox"
S = PayoutStatus
LEDGER_TO_RAIL = {S.PROCESSING: RailStatus.PROCESSING, S.PAID: RailStatus.PAID, S.FAILED: RailStatus.FAILED,
                  S.RETURNED: RailStatus.RETURNED}  # fmt: skip


def payout(n: int, status: S = S.PAID, amount: int = 1000, currency: str = "EUR") -> LedgerPayout:
    return LedgerPayout(f"po_{n}", status, Money(amount, currency), RAIL, f"tr_{n}")


def record(
    n: int, status: RailStatus = RailStatus.PAID, amount: int = 1000, currency: str = "EUR", **kw
) -> RailRecord:
    fields = dict(rail=RAIL, record_id=f"tr_{n}", kind=RailRecordKind.TRANSFER, status=status,
                  amount=Money(amount, currency), booked_at=AT, reference=f"po_{n}", provider_ref=f"tr_{n}")  # fmt: skip
    fields.update(kw)
    return RailRecord(**fields)


def run(payouts, records, fees=()):
    return reconcile(RAIL, DAY, payouts, records, fees, detected_at=NOW)


def classes(report):
    return sorted(b.cls.value for b in report.breaks)


def test_a_day_where_both_sides_agree_has_no_breaks():
    payouts = [
        payout(1),
        payout(2, S.PROCESSING),
        payout(3, S.FAILED),
        payout(4, S.RETURNED),
        payout(5, S.PENDING),
    ]
    records = [
        record(1),
        record(2, RailStatus.PROCESSING),
        record(3, RailStatus.FAILED),
        record(4, RailStatus.RETURNED),
    ]
    report = run(payouts, records)
    assert report.breaks == () and report.count(MovementClass.MATCHED) == 4
    assert (
        report.counts[(MovementClass.MATCHED, "EUR")] == 4
        and report.totals[(MovementClass.MATCHED, "EUR")] == 4000
    )


def test_each_fault_is_its_own_class_with_both_sides():
    payouts = [payout(1), payout(2), payout(3), payout(4), payout(5, S.CANCELED)]
    records = [
        record(2, amount=999),  # the rail moved a cent less
        record(3, currency="GBP"),
        record(4, RailStatus.RETURNED),  # the rail says returned, the ledger paid
        record(5),  # the rail paid what the ledger canceled
        record(9, reference="po_9", provider_ref="tr_9"),  # nobody asked for this one
    ]
    report = run(payouts, records)
    found = {b.ledger["payout_id"] if b.ledger else b.rail_records[0]["record_id"]: b for b in report.breaks}
    assert found["po_1"].cls is MovementClass.MISSING_AT_RAIL and found["po_1"].rail_records == ()
    assert found["po_2"].cls is MovementClass.AMOUNT_MISMATCH and found["po_2"].amount == 999
    assert found["po_3"].cls is MovementClass.CURRENCY_MISMATCH
    assert found["po_4"].cls is MovementClass.STATUS_MISMATCH
    assert found["po_5"].cls is MovementClass.STATUS_MISMATCH
    assert found["tr_9"].cls is MovementClass.UNKNOWN_TO_US and found["tr_9"].ledger is None
    assert found["po_2"].ledger["amount"] == 1000 and found["po_2"].rail_records[0]["amount"] == 999
    assert all(b.state is BreakState.OPEN and b.history[0].action == "detected" for b in report.breaks)


def test_a_second_transfer_for_one_payout_is_money_nobody_explains():
    report = run([payout(1)], [record(1), record(1, record_id="tr_1b", provider_ref="tr_1b")])
    assert classes(report) == ["unknown_to_us"] and report.count(MovementClass.MATCHED) == 1


def test_returns_as_records_of_their_own_match_a_returned_payout():
    back = record(1, RailStatus.RETURNED, kind=RailRecordKind.RETURN, record_id="rt_1")
    assert run([payout(1, S.RETURNED)], [record(1), back]).breaks == ()
    assert classes(run([payout(1, S.PAID)], [record(1), back])) == ["status_mismatch"]  # no webhook told us
    assert classes(run([payout(1, S.RETURNED)], [record(1)])) == ["status_mismatch"]
    assert classes(run([payout(1, S.RETURNED)], [])) == ["missing_at_rail"]


def test_a_movement_matches_by_the_rails_transfer_id_when_it_carries_no_reference():
    assert run([payout(1)], [record(1, reference=None)]).breaks == ()


def test_fees_post_once_to_the_rail_fee_account_and_are_not_breaks():
    fee = RailRecord(RAIL, "fee_1", RailRecordKind.FEE, RailStatus.PAID, Money(35, "EUR"), AT)
    report = run([], [fee])
    assert report.breaks == () and report.count(MovementClass.FEE) == 1
    [entry] = report.fee_entries
    assert entry.entry_id == entry_id_for("rail.fee", f"{RAIL}:fee_1")
    assert balances_from_entries([entry])[(PlatformAccount.RAIL_FEES, "EUR")] == 35
    again = run([], [fee], [LedgerFee(RAIL, "fee_1", Money(35, "EUR"))])
    assert again.fee_entries == () and again.breaks == ()
    changed = run([], [fee], [LedgerFee(RAIL, "fee_1", Money(30, "EUR"))])
    assert classes(changed) == ["amount_mismatch"]
    vanished = run([], [], [LedgerFee(RAIL, "fee_1", Money(35, "EUR"))])
    assert classes(vanished) == ["missing_at_rail"]


def test_records_outside_the_window_count_only_for_the_payouts_given():
    early = record(7, booked_at=DAY.start - timedelta(hours=1), reference="po_7", provider_ref="tr_7")
    assert run([], [early]).movements == ()
    assert run([payout(7)], [early]).breaks == ()


def test_other_rails_records_are_not_this_rails_business():
    assert run([], [record(1, rail="adyen")]).movements == ()
    elsewhere = LedgerPayout("po_1", S.PAID, Money(1000, "EUR"), "adyen", "tr_1")
    assert classes(run([elsewhere], [record(1)])) == ["unknown_to_us"]


def test_break_ids_are_stable_from_one_run_to_the_next():
    first, second = run([payout(1)], []), run([payout(1)], [])
    assert [b.break_id for b in first.breaks] == [b.break_id for b in second.breaks]


# --- properties ---------------------------------------------------------------------------------

LEDGER_STATUSES = st.sampled_from([S.PROCESSING, S.PAID, S.FAILED, S.RETURNED])
PAYOUTS = st.lists(st.tuples(LEDGER_STATUSES, st.integers(1, 10**9)), min_size=0, max_size=15)


def clean_world(rows):
    payouts = [payout(n, status, amount) for n, (status, amount) in enumerate(rows)]
    records = [record(n, LEDGER_TO_RAIL[status], amount) for n, (status, amount) in enumerate(rows)]
    return payouts, records


@settings(deadline=None)  # behaviour, not timing: the machine may be busy
@given(PAYOUTS)
def test_a_clean_window_has_zero_breaks(rows):
    payouts, records = clean_world(rows)
    report = run(payouts, records)
    assert report.breaks == () and report.count(MovementClass.MATCHED) == len(rows)
    assert sum(report.totals.values()) == sum(amount for _, amount in rows)


FAULTS = ["drop_record", "amount", "currency", "status", "unknown", "duplicate", "fee"]
EXPECTED = {"drop_record": MovementClass.MISSING_AT_RAIL, "amount": MovementClass.AMOUNT_MISMATCH,
            "currency": MovementClass.CURRENCY_MISMATCH, "status": MovementClass.STATUS_MISMATCH,
            "unknown": MovementClass.UNKNOWN_TO_US, "duplicate": MovementClass.UNKNOWN_TO_US,
            "fee": MovementClass.FEE}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(PAYOUTS.filter(bool), st.sampled_from(FAULTS), st.data())
def test_each_planted_fault_yields_exactly_its_class(rows, fault, data):
    payouts, records = clean_world(rows)
    n = data.draw(st.integers(0, len(rows) - 1))
    target = records[n]
    if fault == "drop_record":
        if payouts[n].status is S.FAILED:  # a failed payout need not have reached the rail
            payouts[n] = payout(n, S.PAID, payouts[n].amount.amount)
        records.pop(n)
    elif fault == "amount":
        records[n] = record(n, target.status, target.amount.amount + 1)
    elif fault == "currency":
        records[n] = record(n, target.status, target.amount.amount, "USD")
    elif fault == "status":
        other = {RailStatus.PAID: RailStatus.RETURNED, RailStatus.RETURNED: RailStatus.FAILED,
                 RailStatus.FAILED: RailStatus.PAID, RailStatus.PROCESSING: RailStatus.PAID}[target.status]  # fmt: skip
        records[n] = record(n, other, target.amount.amount)
    elif fault == "unknown":
        records.append(record(10_000, RailStatus.PAID, 5))
    elif fault == "duplicate":
        records.append(
            record(n, target.status, target.amount.amount, record_id="tr_dup", provider_ref="tr_dup")
        )
    elif fault == "fee":
        records.append(RailRecord(RAIL, "fee_x", RailRecordKind.FEE, RailStatus.PAID, Money(7, "EUR"), AT))
    report = run(payouts, records)
    found = [m.cls for m in report.movements if m.cls is not MovementClass.MATCHED]
    assert found == [EXPECTED[fault]]
    assert len(report.breaks) == (0 if fault == "fee" else 1)
    assert len(report.fee_entries) == (1 if fault == "fee" else 0)


# --- maker-checker --------------------------------------------------------------------------------


@pytest.fixture
def open_break():
    return run([payout(1)], [record(1, amount=990)]).breaks[0]


def fix(amount: int = 10):
    return [
        (PlatformAccount.PAYOUTS, Money(-amount, "EUR")),
        (seller_account("s1", Bucket.AVAILABLE), Money(amount, "EUR")),
    ]


def test_acknowledge_needs_a_note_and_is_recorded(open_break):
    with pytest.raises(BreakActionRefused):
        acknowledge(open_break, actor="ana@ops", at=NOW, note="  ")
    done = acknowledge(open_break, actor="ana@ops", at=NOW, note="bank confirms a 10 ct charge")
    assert done.state is BreakState.ACKNOWLEDGED
    assert (done.history[-1].action, done.history[-1].actor, done.history[-1].at) == (
        "acknowledged",
        "ana@ops",
        NOW,
    )
    with pytest.raises(BreakActionRefused):
        acknowledge(done, actor="ana@ops", at=NOW, note="again")


def test_a_correction_is_approved_by_someone_else_and_then_posts_once(open_break):
    proposed = propose_correction(
        open_break, actor="ana@ops", at=NOW, reason="refund the 10 ct", postings=fix()
    )
    assert proposed.state is BreakState.CORRECTION_PROPOSED and proposed.correction.proposed_by == "ana@ops"
    with pytest.raises(BreakActionRefused) as err:
        approve_correction(proposed, actor="ana@ops", at=NOW)
    assert err.value.code == "same_maker_and_checker"
    done, entry = approve_correction(proposed, actor="bob@ops", at=NOW + timedelta(minutes=5))
    assert done.state is BreakState.CORRECTED and entry == proposed.correction.entry
    assert entry.kind == "reconciliation.correction" and entry.cause == f"{open_break.break_id}:1"
    assert [a.action for a in done.history] == ["detected", "correction_proposed", "correction_approved"]
    with pytest.raises(BreakActionRefused):
        approve_correction(done, actor="carl@ops", at=NOW)
    with pytest.raises(BreakActionRefused):
        propose_correction(done, actor="ana@ops", at=NOW, reason="more", postings=fix())


def test_a_rejected_correction_leaves_the_break_open_for_another(open_break):
    acked = acknowledge(open_break, actor="ana@ops", at=NOW, note="looking")
    proposed = propose_correction(acked, actor="ana@ops", at=NOW, reason="first try", postings=fix(5))
    rejected = reject_correction(proposed, actor="bob@ops", at=NOW, note="the difference is 10 ct")
    assert rejected.state is BreakState.ACKNOWLEDGED and rejected.correction is None
    second = propose_correction(rejected, actor="ana@ops", at=NOW, reason="second try", postings=fix(10))
    assert second.correction.entry.cause.endswith(":2")
    assert second.correction.entry.entry_id != proposed.correction.entry.entry_id


def test_a_correction_must_balance_and_name_real_accounts(open_break):
    with pytest.raises(UnbalancedEntry):
        propose_correction(
            open_break, actor="a", at=NOW, reason="r", postings=[(PlatformAccount.PAYOUTS, Money(1, "EUR"))]
        )
    with pytest.raises(BreakActionRefused):
        propose_correction(open_break, actor="a", at=NOW, reason="r",
                           postings=[("bank:cash", Money(1, "EUR")), (PlatformAccount.PAYOUTS, Money(-1, "EUR"))])  # fmt: skip
    with pytest.raises(BreakActionRefused):
        propose_correction(open_break, actor="a", at=NOW, reason="", postings=fix())
