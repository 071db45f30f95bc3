"""The ledger's invariants on books as recorded: entries balance per currency, balances equal
their postings, money is conserved per currency, no posting to an unknown account. Also the
store-level report built from documents (shared/adapters/firestore/documents.py ledger_report)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.adapters.firestore.documents import ledger_report
from shared.adapters.firestore_store import journal_to_doc
from shared.domain.ledger import Bucket, record_refund, record_sale, release_pending_funds, seller_account
from shared.domain.ledger_invariants import (
    BalanceMismatch,
    RecordedEntry,
    RecordedPosting,
    balance_mismatches,
    is_balanced,
    journal_totals,
    money_flows,
    posted_by_account,
    sums_by_currency,
    unknown_accounts,
)
from shared.domain.money import Money

T0 = datetime(2026, 11, 20, tzinfo=UTC)
SALE = record_sale("evt-1", "s-1", Money(10000, "EUR"), Money(1000, "EUR"))
RELEASE = release_pending_funds("release:ol-1", "s-1", Money(9000, "EUR"))
REFUND = record_refund("rf-1", "s-1", Money(2000, "EUR"), Money(200, "EUR"), Bucket.AVAILABLE)
GB_SALE = record_sale("evt-2", "s-2", Money(5000, "GBP"), Money(500, "GBP"))
AVAILABLE = (seller_account("s-1", Bucket.AVAILABLE), "EUR")


def recorded(*entries) -> list[RecordedEntry]:
    return [
        RecordedEntry(
            e.entry_id,
            tuple(RecordedPosting(p.account, p.amount.currency, p.amount.amount) for p in e.postings),
        )
        for e in entries
    ]


def stored_as_posted(entries: list[RecordedEntry]) -> dict[tuple[str, str], int]:
    return {k: v for k, v in posted_by_account(entries).items() if k[0].startswith("seller:")}


def test_entries_built_by_the_domain_balance_and_a_tampered_one_does_not():
    sale, refund = recorded(SALE, REFUND)
    assert is_balanced(sale) and sums_by_currency(sale) == {"EUR": 0}
    tampered = RecordedEntry(
        sale.entry_id, (*sale.postings[:-1], RecordedPosting(sale.postings[-1].account, "EUR", 9001))
    )
    assert not is_balanced(tampered) and sums_by_currency(tampered) == {"EUR": 1}
    assert is_balanced(refund)


def test_the_journal_sums_to_zero_per_currency():
    entries = recorded(SALE, RELEASE, REFUND, GB_SALE)
    assert journal_totals(posted_by_account(entries)) == {"EUR": 0, "GBP": 0}


def test_a_stored_balance_must_equal_its_postings():
    entries = recorded(SALE, RELEASE, REFUND)
    posted = posted_by_account(entries)
    stored = stored_as_posted(entries)
    assert posted[AVAILABLE] == 9000 - 1800
    assert balance_mismatches(posted, stored) == []
    stored[AVAILABLE] += 100
    assert balance_mismatches(posted, stored) == [BalanceMismatch(AVAILABLE[0], "EUR", 7300, 7200)]
    del stored[(seller_account("s-1", Bucket.PENDING), "EUR")]  # a missing shard is zero: pending is 0
    assert len(balance_mismatches(posted, stored)) == 1


def test_money_is_conserved_per_currency():
    entries = recorded(SALE, RELEASE, REFUND, GB_SALE)
    flows = money_flows(posted_by_account(entries), stored_as_posted(entries))
    eur = flows["EUR"]
    assert (eur.collected, eur.paid_out, eur.commission, eur.refunds, eur.balances) == (
        10000,
        0,
        800,
        2000,
        7200,
    )
    assert eur.conserved and flows["GBP"].conserved
    stored = stored_as_posted(entries)
    stored[AVAILABLE] -= 1  # a cent gone from a seller's balance
    broken = money_flows(posted_by_account(entries), stored)["EUR"]
    assert not broken.conserved and broken.accounted_for == 9999


def test_a_rail_fee_moved_from_commission_keeps_money_conserved():
    entries = recorded(SALE, RELEASE, REFUND)
    fee = RecordedEntry(
        "fee-1",
        (
            RecordedPosting("platform:commission", "EUR", -25),
            RecordedPosting("platform:rail_fees", "EUR", 25),
        ),
    )
    flow = money_flows(posted_by_account([*entries, fee]), stored_as_posted(entries))["EUR"]
    assert (flow.commission, flow.rail_fees) == (775, 25) and flow.conserved


def test_every_posting_goes_to_a_known_account():
    entries = recorded(SALE)
    stray = RecordedEntry(
        "x", (RecordedPosting("platform:mystery", "EUR", 1), RecordedPosting("seller:s-1:pending", "EUR", -1))
    )
    assert unknown_accounts(posted_by_account(entries)) == []
    assert unknown_accounts(posted_by_account([*entries, stray])) == ["platform:mystery"]


def test_ledger_report_reads_the_documents_as_stored():
    docs = [journal_to_doc(e, T0) for e in (SALE, RELEASE, REFUND)]
    shards = [{"seller_id": "s-1", "currency": "EUR", "pending": 0, "available": 7200, "in_flight": 0}]
    report = ledger_report(docs, shards)
    assert report.ok and report.entries == 3 and report.totals_by_currency == {"EUR": 0}
    docs[0]["postings"][0]["amount"] += 1
    shards[0]["available"] += 5
    report = ledger_report(docs, shards)
    assert report.unbalanced_entries == [SALE.entry_id]
    assert report.balance_mismatches == [f"{AVAILABLE[0]} EUR"]
    assert report.problems == [
        f"entry {SALE.entry_id} does not balance: {{'EUR': 1}}",
        "journal does not sum to zero in EUR: 1",
        f"balance {AVAILABLE[0]} EUR is 7205 but its postings sum to 7200",
    ]
