"""The auditor's check of what payouts pay for (issue 18): every settled payout's stored contents
sum to its amount; a payout whose contents do not, or that has none, is a breach."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.adapters.firestore.documents import contents_docs
from shared.domain.money import Money
from shared.domain.payout_contents import SettlementState, allocate
from tests.support.books import standard_books, write_dataset
from tests.support.commands import run_module

AT = datetime(2026, 11, 24, 12, tzinfo=UTC)


def contents_of(payout: dict) -> dict:
    amount = Money(payout["amount"], payout["currency"])
    state = SettlementState.opening(payout["seller_id"], amount, AT)
    contents, _ = allocate(state, payout["payout_id"], amount, AT)
    head, rest = contents_docs(contents)
    assert rest == []
    return head


def audit(tmp_path, name, dataset):
    path = write_dataset(tmp_path / f"{name}.json", dataset)
    result = run_module("verification.auditor", "--json", "--dataset", path)
    report = json.loads(result.stdout.splitlines()[0])
    return {c["key"]: c for c in report["checks"]}


def test_settled_payouts_whose_contents_sum_to_their_amount_pass(tmp_path):
    data = standard_books().dataset()
    data["payout_contents"] = [contents_of(p) for p in data["payouts"]]
    check = audit(tmp_path, "contents_ok", data)["contents_sum_to_amount"]
    assert check["breaches"] == [] and check["checked"] == 3  # two paid, one returned


def test_contents_that_do_not_sum_to_the_amount_or_are_missing_are_breaches(tmp_path):
    data = standard_books().dataset()
    settled = [p for p in data["payouts"] if p["status"] in ("paid", "returned")]
    contents = [contents_of(p) for p in settled]
    contents[0]["pieces"][0]["taken"] += 1  # a cent too many settled
    data["payout_contents"] = contents[:-1]  # and the last one has none
    check = audit(tmp_path, "contents_bad", data)["contents_sum_to_amount"]
    assert len(check["breaches"]) == 2
    assert any("contents sum to" in b for b in check["breaches"])
    assert any("has no contents" in b for b in check["breaches"])
