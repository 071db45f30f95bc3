"""The auditor as a command, on hand-made books (tests/support/books.py) written to dataset files:
a clean cycle passes with exit 0, and each kind of breach is caught, counted and named (exit 1).

Every scenario is audited by one run of ``python -m verification.auditor --json --dataset ...``;
the ledger's own invariants are tested directly in tests/unit/test_ledger_invariants.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from shared.domain.payouts import PayoutStatus, run_payout_id
from tests.support.books import RUN, Books, fx_books, standard_books, write_dataset
from tests.support.commands import run_module

Dataset = dict[str, Any]
SCENARIOS: dict[str, Callable[[], Dataset]] = {}


def scenario(fn: Callable[[], Dataset]) -> Callable[[], Dataset]:
    SCENARIOS[fn.__name__] = fn
    return fn


def _transfers_of(data: Dataset, seller: str) -> list[dict[str, Any]]:
    pid = run_payout_id(RUN, seller)
    return [t for t in data["provider_transfers"] if t["reference"] == pid]


@scenario
def clean() -> Dataset:
    books = standard_books()
    data = books.dataset()
    return {
        **data,
        "journal_checkpoints": [copy.deepcopy(data["journal"])],
        "expected_collected": books.collected(),
    }


@scenario
def fx_payouts() -> Dataset:
    """Issue 17: payouts converted from EUR, failed, returned in EUR at the rail's rate."""
    books = fx_books()
    return {**books.dataset(), "expected_collected": books.collected()}


@scenario
def double_transfer() -> Dataset:
    data = standard_books().dataset()
    pid = run_payout_id(RUN, "s-paid")
    data["provider_transfers"].append(
        {"id": "tr_again", "reference": pid, "amount": 20000, "currency": "EUR", "status": "paid"}
    )
    return data


@scenario
def failed_but_sent() -> Dataset:
    data = standard_books().dataset()
    _transfers_of(data, "s-failed")[0]["status"] = "paid"
    return data


@scenario
def return_never_heard_of() -> Dataset:
    # The bank sent the money back (the provider says returned) but the payout is still paid.
    data = standard_books().dataset()
    _transfers_of(data, "s-paid")[0]["status"] = "returned"
    return data


@scenario
def unbalanced_entry() -> Dataset:
    data = standard_books().dataset()
    sale = next(e for e in data["journal"] if e["kind"] == "order_line.paid")
    sale["postings"][0]["amount"] += 1  # one cent from nowhere
    data["unbalanced_entry_id"] = sale["entry_id"]
    return data


@scenario
def balance_differs_from_postings() -> Dataset:
    data = standard_books().dataset()
    data["balance_shards"][0]["available"] += 100
    return data


@scenario
def outbox_gap() -> Dataset:
    data = standard_books().dataset()
    pid = run_payout_id(RUN, "s-returned")
    data["outbox"] = [o for o in data["outbox"] if o["event_id"] != f"{pid}-000002"]
    return data


@scenario
def outbox_wrong_type_and_unpublished() -> Dataset:
    data = standard_books().dataset()
    data["outbox"][1]["type"] = "payout.paid"
    data["outbox"][2]["published"] = False
    return data


@scenario
def history_longer_than_sequence() -> Dataset:
    data = standard_books().dataset()
    data["payouts"][0]["history"].append(dict(data["payouts"][0]["history"][-1]))
    return data


@scenario
def journal_rewritten() -> Dataset:
    data = standard_books().dataset()
    data["journal_checkpoints"] = [copy.deepcopy(data["journal"])]
    data["journal"][0]["cause"] = "rewritten"
    data["removed_entry_id"] = data["journal"].pop()["entry_id"]
    return data


def _open_payout_books() -> tuple[Books, str]:
    books = standard_books()
    books.sell("s-open", 5000, 500)
    return books, books.pay("s-open", 4500, PayoutStatus.PROCESSING)


@scenario
def open_payout() -> Dataset:
    return _open_payout_books()[0].dataset()


@scenario
def open_payout_flagged_stuck() -> Dataset:
    books, pid = _open_payout_books()
    data = books.dataset()
    payout = next(p for p in data["payouts"] if p["payout_id"] == pid)
    payout["stuck_reason"] = "processing at the provider for too long"
    return data


@scenario
def in_flight_left_behind() -> Dataset:
    books = standard_books()
    data = books.dataset()
    pid = run_payout_id(RUN, "s-paid")
    data["journal"] = [e for e in data["journal"] if e["cause"] != f"{pid}:paid"]
    return data  # balances kept as they were: they disagree with the journal too


@scenario
def transfer_moved_to_a_stranger() -> Dataset:
    data = standard_books().dataset()
    _transfers_of(data, "s-paid")[0]["reference"] = "po_stranger"
    return data


@scenario
def two_payouts_for_one_seller_in_one_run() -> Dataset:
    data = standard_books().dataset()
    clone = copy.deepcopy(data["payouts"][0])
    clone["payout_id"] = "po_clone"
    data["payouts"].append(clone)
    return data


@scenario
def collected_differs_from_what_customers_paid() -> Dataset:
    books = standard_books()
    return {**books.dataset(), "expected_collected": {**books.collected(), "EUR": 1}}


@scenario
def unfinished_run() -> Dataset:
    data = standard_books().dataset()
    data["runs"][0]["status"] = "fanned_out"
    return data


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, tuple[Any, Dataset]]:
    folder = tmp_path_factory.mktemp("datasets")
    built = {name: build() for name, build in SCENARIOS.items()}
    return {name: (write_dataset(folder / f"{name}.json", data), data) for name, data in built.items()}


@pytest.fixture(scope="module")
def reports(datasets) -> dict[str, dict[str, Any]]:
    """Every scenario audited by one run of the command, one JSON report per dataset."""
    args = [arg for path, _ in datasets.values() for arg in ("--dataset", path)]
    result = run_module("verification.auditor", "--json", *args)
    assert result.returncode == 1, result.stderr  # some scenarios breach
    by_path = {json.loads(line)["dataset"]: json.loads(line) for line in result.stdout.splitlines()}
    return {name: by_path[str(path)] for name, (path, _) in datasets.items()}


def breached(report: dict[str, Any]) -> dict[str, int]:
    return {c["key"]: len(c["breaches"]) for c in report["checks"] if c["breaches"]}


def breaches_of(report: dict[str, Any], key: str) -> list[str]:
    return next(c["breaches"] for c in report["checks"] if c["key"] == key)


def test_a_clean_cycle_passes_every_check_and_exits_0(datasets, reports):
    report = reports["clean"]
    assert report["result"] == "PASS" and breached(report) == {}
    assert (report["double_payouts"], report["lost_payouts"], report["ledger_imbalance"]) == (0, 0, 0)
    assert report["payouts_by_status"] == {"paid": 2, "failed": 1, "returned": 1}
    totals = report["totals"]["EUR"]
    assert totals["collected"] == 50000 and totals["paid_out"] == 20000
    assert (
        totals["collected"]
        == totals["paid_out"] + totals["commission"] + totals["refunds"] + totals["balances"]
    )

    alone = run_module("verification.auditor", "--dataset", datasets["clean"][0])
    assert alone.returncode == 0, alone.stdout + alone.stderr
    text = alone.stdout
    assert "double payouts: 0" in text and "lost payouts: 0" in text and "ledger imbalance: 0" in text
    assert "journal append-only (1 checkpoints)" in text
    assert text.count("BREACH") == 0 and text.rstrip().endswith("PASS")


def test_a_double_transfer_is_a_double_payout(reports):
    report = reports["double_transfer"]
    assert breached(report) == {"transfers_per_payout": 1, "ledger_matches_provider": 1}
    assert report["double_payouts"] == 1 and report["result"] == "BREACH"
    assert "tr_again" in breaches_of(report, "transfers_per_payout")[0]


def test_money_sent_for_a_payout_the_ledger_failed_is_caught(reports):
    report = reports["failed_but_sent"]
    assert breached(report) == {"failed_not_sent": 1, "ledger_matches_provider": 1}
    assert report["double_payouts"] == 1


def test_a_return_the_ledger_never_heard_of_is_a_lost_payout(reports):
    report = reports["return_never_heard_of"]
    assert breached(report) == {"provider_agrees": 1, "ledger_matches_provider": 1}
    assert report["lost_payouts"] == 1


def test_an_unbalanced_entry_is_a_ledger_imbalance(reports, datasets):
    report = reports["unbalanced_entry"]
    assert breached(report) == {"entries_balance": 2, "money_conserved": 1}  # the entry, and EUR in total
    assert report["ledger_imbalance"] == 3
    assert datasets["unbalanced_entry"][1]["unbalanced_entry_id"] in breaches_of(report, "entries_balance")[0]


def test_a_balance_that_differs_from_its_postings_is_caught(reports):
    assert breached(reports["balance_differs_from_postings"]) == {
        "balances_equal_postings": 1,
        "money_conserved": 1,
    }


def test_a_gap_in_the_outbox_sequence_is_caught(reports):
    report = reports["outbox_gap"]
    assert breached(report) == {"outbox_complete": 1}
    assert "missing [2]" in breaches_of(report, "outbox_complete")[0]


def test_an_event_of_the_wrong_type_or_an_unpublished_one_is_caught(reports):
    assert breached(reports["outbox_wrong_type_and_unpublished"]) == {
        "outbox_complete": 1,
        "outbox_published": 1,
    }


def test_a_history_longer_than_the_sequence_is_caught(reports):
    assert "outbox_complete" in breached(reports["history_longer_than_sequence"])


def test_a_changed_or_deleted_journal_entry_breaks_append_only(reports, datasets):
    lines = breaches_of(reports["journal_rewritten"], "journal_append_only")
    removed = datasets["journal_rewritten"][1]["removed_entry_id"]
    assert any("changed" in line for line in lines) and any(removed in line for line in lines)


def test_an_open_payout_is_lost_unless_the_sweeper_flagged_it(reports):
    assert breached(reports["open_payout"]) == {"payouts_final": 1}
    assert reports["open_payout"]["lost_payouts"] == 1
    flagged = reports["open_payout_flagged_stuck"]
    assert flagged["result"] == "PASS" and len(flagged["stuck"]) == 1


def test_in_flight_left_behind_by_a_final_payout_is_caught(reports):
    report = reports["in_flight_left_behind"]
    assert {"in_flight_zero", "transitions_booked"} <= set(breached(report))
    assert report["ledger_imbalance"] >= 1


def test_a_transfer_without_a_payout_and_a_paid_payout_without_a_transfer(reports):
    report = reports["transfer_moved_to_a_stranger"]
    assert {"orphan_transfers", "paid_have_transfer"} <= set(breached(report))
    assert report["double_payouts"] >= 1 and report["lost_payouts"] >= 1


def test_two_payouts_for_one_seller_in_one_run(reports):
    report = reports["two_payouts_for_one_seller_in_one_run"]
    assert "one_payout_per_run" in breached(report) and report["double_payouts"] >= 1


def test_money_collected_must_match_what_customers_paid(reports):
    assert breached(reports["collected_differs_from_what_customers_paid"]) == {"money_conserved": 1}


def test_an_unfinished_run_is_reported_unless_allowed(reports, datasets):
    assert breached(reports["unfinished_run"]) == {"runs_completed": 1}
    allowed = run_module(
        "verification.auditor", "--allow-unfinished-runs", "--dataset", datasets["unfinished_run"][0]
    )
    assert allowed.returncode == 0, allowed.stdout
    assert "every payout run completed" not in allowed.stdout


def test_fx_payouts_pass_with_the_fx_accounts_in_the_conservation_per_currency(reports):
    report = reports["fx_payouts"]
    assert report["result"] == "PASS" and breached(report) == {}
    totals = report["totals"]
    # EUR: collected 4 x sales; the FX account took in what was converted, less what came back.
    assert totals["EUR"]["fx"] == 25000 + 10001 + 190 - 190 and totals["SEK"]["fx"] < 0
    assert totals["HUF"]["fx"] == -3896700
