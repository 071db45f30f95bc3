"""The auditor on hand-made books: a clean cycle passes, and each kind of breach is caught.

The world: two sellers sold goods, their funds were released and a payout run paid them; the
documents are built with the domain's own functions, exactly as the store keeps them."""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.firestore_store import (
    journal_to_doc,
    payout_event_data,
    payout_event_type,
    payout_to_doc,
)
from shared.domain.ledger import (
    Bucket,
    JournalEntry,
    parse_seller_account,
    record_refund,
    record_sale,
    release_pending_funds,
)
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, Payout, PayoutStatus, new_payout, run_payout_id, transition
from verification.auditor import StoreData, audit, journal_fingerprints

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RUN = "run-2026-11-20"


class Books:
    """Builds consistent documents: journal, balance shards, payouts, outbox, provider transfers."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self.payouts: dict[str, Payout] = {}
        self.outbox: list[dict] = []
        self.transfers: list[dict] = []
        self.clock = T0

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def sell(self, seller: str, gross: int, commission: int, ccy: str = "EUR", refund: int = 0) -> None:
        line = f"ol-{seller}-{len(self.entries)}"
        self.entries.append(record_sale(f"evt-{line}", seller, Money(gross, ccy), Money(commission, ccy)))
        net = gross - commission
        if refund:
            returned = commission * refund // gross
            self.entries.append(
                record_refund(f"rf-{line}", seller, Money(refund, ccy), Money(returned, ccy), Bucket.PENDING)
            )
            net -= refund - returned
        self.entries.append(release_pending_funds(f"release:{line}", seller, Money(net, ccy)))

    def pay(self, seller: str, amount: int, *steps: PayoutStatus, ccy: str = "EUR") -> str:
        pid = run_payout_id(RUN, seller)
        payout, entry = new_payout(
            pid, seller, Money(amount, ccy), at=self.tick(), origin="run", cause=f"payout run {RUN}",
            actor="payout-run", run_id=RUN, provider="sandbox",
        )  # fmt: skip
        self.entries.append(entry)
        self._event(payout)
        transfer = None
        for step in steps:
            if step is PayoutStatus.PROCESSING or (step is PayoutStatus.PAID and transfer is None):
                transfer = {"id": f"tr_{pid[-8:]}", "reference": pid, "amount": amount, "currency": ccy,
                            "status": "processing"}  # fmt: skip
                self.transfers.append(transfer)
            code = FailureCode.DECLINED if step is PayoutStatus.FAILED else None
            payout, moved = transition(
                payout, step, at=self.tick(), cause="test", actor="test", failure_code=code
            )
            if moved is not None:
                self.entries.append(moved)
            if transfer is not None and step is not PayoutStatus.PROCESSING:
                transfer["status"] = step.value
            self._event(payout)
        self.payouts[pid] = payout
        return pid

    def _event(self, payout: Payout) -> None:
        self.outbox.append(
            {
                "event_id": f"{payout.payout_id}-{payout.sequence:06d}",
                "type": payout_event_type(payout.status),
                "payout_id": payout.payout_id,
                "sequence": payout.sequence,
                "data": payout_event_data(payout),
                "created_at": payout.updated_at,
                "published": True,
            }
        )

    def data(self) -> StoreData:
        shards: dict[tuple[str, str], dict] = {}
        for entry in self.entries:
            for posting in entry.postings:
                parsed = parse_seller_account(posting.account)
                if parsed:
                    seller, bucket = parsed
                    shard = shards.setdefault(
                        (seller, posting.amount.currency),
                        {"seller_id": seller, "currency": posting.amount.currency},
                    )
                    shard[bucket.value] = shard.get(bucket.value, 0) + posting.amount.amount
        return StoreData(
            payouts=[payout_to_doc(p) for p in self.payouts.values()],
            journal=[journal_to_doc(e, T0) for e in self.entries],
            balance_shards=list(shards.values()),
            outbox=copy.deepcopy(self.outbox),
            runs=[{"run_id": RUN, "dry_run": False, "status": "completed"}],
        )

    def collected(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for e in self.entries:
            for p in e.postings:
                if p.account == "platform:customer_funds":
                    out[p.amount.currency] -= p.amount.amount
        return dict(out)


@pytest.fixture
def books() -> Books:
    b = Books()
    b.sell("s-paid", 30000, 3000, refund=4000)
    b.sell("s-failed", 20000, 2000)
    b.sell("s-returned", 15000, 1500, ccy="GBP")
    b.sell("s-jp", 8000, 800, ccy="JPY")
    b.pay("s-paid", 20000, PayoutStatus.PROCESSING, PayoutStatus.PAID)
    b.pay("s-failed", 18000, PayoutStatus.PROCESSING, PayoutStatus.FAILED)
    b.pay("s-returned", 13500, PayoutStatus.PROCESSING, PayoutStatus.PAID, PayoutStatus.RETURNED, ccy="GBP")
    b.pay("s-jp", 7200, PayoutStatus.PAID, ccy="JPY")  # "paid" overtook "processing"
    return b


def breached(report) -> dict[str, int]:
    return {c.key: len(c.breaches) for c in report.checks if c.breaches}


def test_a_clean_cycle_passes_every_check(books):
    data = books.data()
    report = audit(data, books.transfers, journal_snapshots=[journal_fingerprints(data)],
                   expected_collected=books.collected())  # fmt: skip
    assert report.ok, report.render()
    assert (report.double_payouts, report.lost_payouts, report.ledger_imbalance) == (0, 0, 0)
    assert report.payouts_by_status == {"paid": 2, "failed": 1, "returned": 1}
    totals = report.totals["EUR"]
    assert totals["collected"] == 50000
    assert (
        totals["collected"]
        == totals["paid_out"] + totals["commission"] + totals["refunds"] + totals["balances"]
    )
    assert totals["paid_out"] == 20000
    text = report.render()
    assert "double payouts: 0" in text and "lost payouts: 0" in text and "ledger imbalance: 0" in text
    assert text.count("BREACH") == 0


def test_a_double_transfer_is_a_double_payout(books):
    pid = run_payout_id(RUN, "s-paid")
    twice = [
        *books.transfers,
        {"id": "tr_again", "reference": pid, "amount": 20000, "currency": "EUR", "status": "paid"},
    ]
    report = audit(books.data(), twice)
    assert breached(report) == {"transfers_per_payout": 1, "ledger_matches_provider": 1}
    assert report.double_payouts == 1
    assert "tr_again" in report.check("transfers_per_payout").line()


def test_money_sent_for_a_payout_the_ledger_failed_is_caught(books):
    pid = run_payout_id(RUN, "s-failed")
    for t in books.transfers:
        if t["reference"] == pid:
            t["status"] = "paid"
    report = audit(books.data(), books.transfers)
    assert breached(report) == {"failed_not_sent": 1, "ledger_matches_provider": 1}
    assert report.double_payouts == 1


def test_a_return_the_ledger_never_heard_of_is_a_lost_payout(books):
    # The bank sent the money back (the provider says returned) but the payout is still paid.
    pid = run_payout_id(RUN, "s-paid")
    for t in books.transfers:
        if t["reference"] == pid:
            t["status"] = "returned"
    report = audit(books.data(), books.transfers)
    assert breached(report) == {"provider_agrees": 1, "ledger_matches_provider": 1}
    assert report.lost_payouts == 1


def test_an_unbalanced_entry_is_a_ledger_imbalance(books):
    data = books.data()
    sale = next(e for e in data.journal if e["kind"] == "order_line.paid")
    sale["postings"][0]["amount"] += 1  # one cent from nowhere
    report = audit(data, books.transfers)
    assert breached(report) == {"entries_balance": 2, "money_conserved": 1}  # the entry, and EUR in total
    assert report.ledger_imbalance == 3
    assert sale["entry_id"] in report.check("entries_balance").line()


def test_a_balance_that_differs_from_its_postings_is_caught(books):
    data = books.data()
    data.balance_shards[0]["available"] += 100
    report = audit(data, books.transfers)
    assert breached(report) == {"balances_equal_postings": 1, "money_conserved": 1}


def test_a_gap_in_the_outbox_sequence_is_caught(books):
    data = books.data()
    pid = run_payout_id(RUN, "s-returned")
    data.outbox = [o for o in data.outbox if o["event_id"] != f"{pid}-000002"]
    report = audit(data, books.transfers)
    assert breached(report) == {"outbox_complete": 1}
    assert "missing [2]" in report.check("outbox_complete").breaches[0]


def test_an_event_of_the_wrong_type_or_an_unpublished_one_is_caught(books):
    data = books.data()
    data.outbox[1]["type"] = "payout.paid"
    data.outbox[2]["published"] = False
    report = audit(data, books.transfers)
    assert breached(report) == {"outbox_complete": 1, "outbox_published": 1}


def test_a_history_longer_than_the_sequence_is_caught(books):
    data = books.data()
    data.payouts[0]["history"].append(dict(data.payouts[0]["history"][-1]))
    report = audit(data, books.transfers)
    assert "outbox_complete" in breached(report)


def test_a_changed_or_deleted_journal_entry_breaks_append_only(books):
    data = books.data()
    checkpoint = journal_fingerprints(data)
    data.journal[0]["cause"] = "rewritten"
    removed = data.journal.pop()
    report = audit(data, books.transfers, journal_snapshots=[checkpoint])
    lines = report.check("journal_append_only").breaches
    assert any("changed" in line for line in lines) and any(removed["entry_id"] in line for line in lines)


def test_an_open_payout_is_lost_unless_the_sweeper_flagged_it(books):
    books.sell("s-open", 5000, 500)
    pid = books.pay("s-open", 4500, PayoutStatus.PROCESSING)
    data = books.data()
    report = audit(data, books.transfers)
    assert breached(report) == {"payouts_final": 1}
    assert report.lost_payouts == 1
    next(p for p in data.payouts if p["payout_id"] == pid)["stuck_reason"] = (
        "processing at the provider for too long"
    )
    report = audit(data, books.transfers)
    assert report.ok, report.render()
    assert len(report.stuck) == 1


def test_in_flight_left_behind_by_a_final_payout_is_caught(books):
    data = books.data()
    pid = run_payout_id(RUN, "s-paid")
    data.journal = [e for e in data.journal if e["cause"] != f"{pid}:paid"]
    data.balance_shards = Books.data(books).balance_shards  # keep balances as they were: they disagree too
    report = audit(data, books.transfers)
    assert {"in_flight_zero", "transitions_booked"} <= set(breached(report))
    assert report.ledger_imbalance >= 1


def test_a_transfer_without_a_payout_and_a_paid_payout_without_a_transfer(books):
    pid = run_payout_id(RUN, "s-paid")
    moved = [{**t, "reference": "po_stranger"} if t["reference"] == pid else t for t in books.transfers]
    report = audit(books.data(), moved)
    assert {"orphan_transfers", "paid_have_transfer"} <= set(breached(report))
    assert report.double_payouts >= 1 and report.lost_payouts >= 1


def test_two_payouts_for_one_seller_in_one_run(books):
    data = books.data()
    clone = copy.deepcopy(data.payouts[0])
    clone["payout_id"] = "po_clone"
    data.payouts.append(clone)
    report = audit(data, books.transfers)
    assert "one_payout_per_run" in breached(report)
    assert report.double_payouts >= 1


def test_money_collected_must_match_what_customers_paid(books):
    report = audit(books.data(), books.transfers, expected_collected={**books.collected(), "EUR": 1})
    assert breached(report) == {"money_conserved": 1}


def test_an_unfinished_run_is_reported(books):
    data = books.data()
    data.runs[0]["status"] = "fanned_out"
    report = audit(data, books.transfers)
    assert breached(report) == {"runs_completed": 1}
    assert audit(data, books.transfers, require_runs_completed=False).ok
