"""What reconciling one rail over one day costs on Firestore, measured (the emulator, counted by
the adapter's one wrapper of client calls): a read per payout of the window (cursor pages of 500
of one indexed query), a read per payout sent earlier that the day's rail records name, a read
per fee record (the batched lookup of its entry by id), and nothing that grows with history.
README.md ("Reconciliation") extrapolates these counts to a day of 100,000 payouts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared import metrics
from shared.adapters.firestore import FirestoreStore
from shared.adapters.firestore import documents as d
from shared.domain.money import Money
from shared.domain.payouts import PayoutStatus, new_payout
from shared.domain.reconciliation import RailRecord, RailRecordKind, RailStatus, Window
from shared.settings import Settings
from shared.usecases.reconciliation import ReconciliationService, day_window
from tests.unit.usecases.test_reconciliation import FakeRailRecords

pytestmark = pytest.mark.integration

DAY = day_window(datetime(2026, 11, 24, tzinfo=UTC).date())
PAYOUTS_OF_THE_DAY = 1_200
SENT_BEFORE_RETURNED_TODAY = 12
FEES = 6


def _payout(n: int, started: datetime, status: PayoutStatus):
    payout, _ = new_payout(
        f"po_cost{n:05d}",
        f"s-{n % 50}",
        Money(1000 + n, "EUR"),
        at=started - timedelta(minutes=1),
        origin="run",
        cause="test",
        actor="test",
        provider="sandbox",
    )
    return replace(payout, status=status, transfer_started_at=started, provider_ref=f"tr_{n:05d}")


def _write(store: FirestoreStore, payouts) -> None:
    client = store.client
    for start in range(0, len(payouts), 400):
        batch = client.batch()
        for p in payouts[start : start + 400]:
            batch.set(client.collection(d.PAYOUTS).document(p.payout_id), d.payout_to_doc(p))
        batch.commit()


def test_a_day_costs_a_read_per_payout_of_the_day_plus_what_the_rail_names(stack, firestore_project):
    store = FirestoreStore(Settings(), project=firestore_project)
    rail = FakeRailRecords()
    step = (DAY.end - DAY.start) / PAYOUTS_OF_THE_DAY
    today = [_payout(n, DAY.start + n * step, PayoutStatus.PAID) for n in range(PAYOUTS_OF_THE_DAY)]
    earlier = [
        _payout(100_000 + n, DAY.start - timedelta(days=2), PayoutStatus.RETURNED)
        for n in range(SENT_BEFORE_RETURNED_TODAY)
    ]
    older_days = [_payout(200_000 + n, DAY.start - timedelta(days=5), PayoutStatus.PAID) for n in range(300)]
    _write(store, today + earlier + older_days)
    for p in today:
        rail.transfer(p.payout_id, p.amount.amount, at=p.transfer_started_at)
    for p in earlier:
        rail.transfer(
            p.payout_id,
            p.amount.amount,
            RailStatus.RETURNED,
            kind=RailRecordKind.RETURN,
            at=DAY.start + timedelta(hours=3),
        )
    for n in range(FEES):
        rail.items.append(
            RailRecord(
                "sandbox",
                f"fee_{n}",
                RailRecordKind.FEE,
                RailStatus.PAID,
                Money(25, "EUR"),
                DAY.start + timedelta(hours=n),
            )
        )
    svc = ReconciliationService(store, rail, clock=lambda: DAY.end + timedelta(hours=6))

    metrics.enable()
    before = metrics.snapshot()
    report = svc.reconcile_day("sandbox", DAY.start.date(), actor="test")
    ops = metrics.delta(metrics.snapshot(), before)

    assert report.breaks == 0 and report.ledger_payouts == PAYOUTS_OF_THE_DAY + SENT_BEFORE_RETURNED_TODAY
    assert report.fees_posted == FEES
    pages = PAYOUTS_OF_THE_DAY // 500 + 1
    assert ops["firestore.queries"] == pages  # the window's payouts, 500 a page, by the index
    assert ops["firestore.reads"] == PAYOUTS_OF_THE_DAY + SENT_BEFORE_RETURNED_TODAY + FEES, ops
    # Writes: the fee entries (created once) and the report; a clean day writes no break.
    assert ops["firestore.writes"] == FEES + 1, ops

    again = svc.reconcile_day("sandbox", DAY.start.date(), actor="test")
    assert (again.fees_posted, again.breaks) == (0, 0)  # the fees posted once
    assert isinstance(again.window_start, datetime) and Window(DAY.start, DAY.end).start == again.window_start
