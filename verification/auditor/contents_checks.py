"""What each payout pays for (issue 18): every settled payout's stored contents sum to its amount."""

from __future__ import annotations

from collections.abc import Mapping

from shared.adapters.firestore.documents import contents_from_docs
from verification.auditor.report import Check
from verification.auditor.store_data import Doc

SETTLED = ("paid", "returned")


def contents_sum_to_amount(payouts: Mapping[str, Doc], contents: Mapping[str, Doc]) -> Check:
    """``contents``: payout id -> its contents document, chunks merged (``pieces`` whole)."""
    check = Check(
        "contents_sum_to_amount", "every settled payout's contents sum to its amount", kind="ledger"
    )
    for pid, p in sorted(payouts.items()):
        if p["status"] not in SETTLED:
            continue
        check.checked += 1
        doc = contents.get(pid)
        if doc is None:
            check.breaches.append(f"{pid} ({p['status']}) has no contents")
            continue
        total = contents_from_docs({**doc, "chunks": 1}, []).total()
        if (total.amount, total.currency) != (p["amount"], p["currency"]):
            check.breaches.append(f"{pid} is {p['amount']} {p['currency']}, its contents sum to {total}")
    return check
