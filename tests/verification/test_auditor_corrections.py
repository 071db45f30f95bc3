"""The auditor's ledger checks alone (``ledger_audit``), as the fault run re-runs them after
reconciliation's approved corrections (issue 16): the corrections' entries keep every invariant,
and one that takes money from where customers' money is counted is caught."""

from __future__ import annotations

import copy

from shared.domain.ledger import make_entry
from shared.domain.money import Money
from shared.domain.payouts import run_payout_id
from tests.support.books import RUN, Books, standard_books
from verification.auditor import StoreData, audit, ledger_audit


def _store(books: Books, *corrections: list[tuple[str, Money]]) -> tuple[StoreData, dict[str, int]]:
    for n, postings in enumerate(corrections, 1):
        books.entries.append(make_entry("reconciliation.correction", f"brk_test:{n}", postings))
    data = books.dataset()
    store = StoreData(**{k: v for k, v in data.items() if k in StoreData.__dataclass_fields__})
    return store, books.collected()


def test_approved_corrections_keep_the_ledger_checks_green_and_move_paid_out_by_their_postings() -> None:
    before = ledger_audit(_store(standard_books())[0]).totals
    # A silent return of s-paid's payout (EUR 200.00) back to the seller; a stranger's EUR 43.21.
    store, collected = _store(
        standard_books(),
        [("platform:payouts", Money(-20000, "EUR")), ("seller:s-paid:available", Money(20000, "EUR"))],
        [("platform:payouts", Money(4321, "EUR")), ("platform:commission", Money(-4321, "EUR"))],
    )
    report = ledger_audit(store, journal_snapshots=[], expected_collected=collected)
    assert report.ok, report.lines()
    assert [c.key for c in report.checks] == [
        "entries_balance",
        "balances_equal_postings",
        "money_conserved",
        "journal_append_only",
    ]
    assert report.totals["EUR"]["paid_out"] - before["EUR"]["paid_out"] == -20000 + 4321
    assert report.totals["EUR"]["commission"] - before["EUR"]["commission"] == -4321


def test_a_correction_that_creates_collected_money_is_caught() -> None:
    books = standard_books()
    collected = books.collected()
    store, _ = _store(
        books, [("platform:customer_funds", Money(-500, "EUR")), ("platform:payouts", Money(500, "EUR"))]
    )
    report = ledger_audit(store, expected_collected=collected)
    assert not report.check("money_conserved").ok
    assert report.check("entries_balance").ok  # balanced, yet not the customers' money


def test_the_ledger_checks_ignore_the_rails_records_that_a_correction_explains() -> None:
    # The rail says s-paid's payout came back; the ledger's payout stays paid, corrected by an
    # entry: the full audit sees the disagreement with the provider, the ledger checks do not.
    books = standard_books()
    store, collected = _store(
        books, [("platform:payouts", Money(-20000, "EUR")), ("seller:s-paid:available", Money(20000, "EUR"))]
    )
    transfers = copy.deepcopy(books.transfers)
    next(t for t in transfers if t["reference"] == run_payout_id(RUN, "s-paid"))["status"] = "returned"
    assert not audit(store, transfers, expected_collected=collected).ok
    assert ledger_audit(store, expected_collected=collected).ok
