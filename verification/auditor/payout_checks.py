"""Checks of payouts against the provider's transfers: nothing sent twice, nothing lost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from verification.auditor.report import Check
from verification.auditor.store_data import Doc
from verification.auditor.vocabulary import FINAL

Transfers = Mapping[str, list[Doc]]  # payout id (the transfer's reference) -> its transfers


def payouts_final(payouts: Mapping[str, Doc]) -> Check:
    check = Check(
        "payouts_final", "every payout final or flagged stuck by the sweeper", len(payouts), kind="lost"
    )
    for pid, p in sorted(payouts.items()):
        if p["status"] not in FINAL and not p.get("stuck_reason"):
            check.breaches.append(f"{pid} is {p['status']}, not flagged")
    return check


def transfers_per_payout(payouts: Mapping[str, Doc], transfers_of: Transfers) -> Check:
    check = Check(
        "transfers_per_payout", "provider transfers per payout <= 1", len(transfers_of), kind="double"
    )
    for ref, ts in sorted(transfers_of.items()):
        # Each transfer beyond the first is money sent twice.
        check.breaches += [f"{ref} has {len(ts)} transfers ({t['id']})" for t in ts[1:]]
    return check


def orphan_transfers(payouts: Mapping[str, Doc], transfers_of: Transfers) -> Check:
    check = Check(
        "orphan_transfers", "no provider transfer without a payout", len(transfers_of), kind="double"
    )
    for ref, ts in sorted(transfers_of.items()):
        if ref not in payouts:
            check.breaches += [f"transfer {t['id']} for unknown payout {ref}" for t in ts]
    return check


def paid_have_transfer(payouts: Mapping[str, Doc], transfers_of: Transfers) -> Check:
    check = Check(
        "paid_have_transfer", "each paid payout has a transfer of the same amount and currency", kind="lost"
    )
    for pid, p in sorted(payouts.items()):
        if p["status"] not in ("paid", "returned"):
            continue
        check.checked += 1
        ts = transfers_of.get(pid, [])
        if not ts:
            check.breaches.append(f"{pid} is {p['status']} but the provider has no transfer")
        elif not any(t["amount"] == p["amount"] and t["currency"] == p["currency"] for t in ts):
            t = ts[0]
            check.breaches.append(
                f"{pid} is {p['amount']} {p['currency']}, its transfer {t['amount']} {t['currency']}"
            )
    return check


def provider_agrees(payouts: Mapping[str, Doc], transfers_of: Transfers) -> list[Check]:
    """A final payout's status must be its transfer's. A payout the ledger failed or canceled
    while the money left is a double payout waiting to happen (its amount is available again);
    a paid one the bank sent back is money the seller never sees again."""
    sent = Check("failed_not_sent", "no failed or canceled payout whose money left", kind="double")
    agree = Check("provider_agrees", "each final payout agrees with its transfer's status", kind="lost")
    for pid, p in sorted(payouts.items()):
        status = str(p["status"])
        if status not in FINAL:
            continue
        sent.checked += 1
        agree.checked += 1
        ts = transfers_of.get(pid, [])
        at_provider = {str(t["status"]) for t in ts}
        if status in ("failed", "canceled"):
            moved = at_provider & {"processing", "paid"}
            if moved:
                sent.breaches.append(f"{pid} is {status} but its transfer is {sorted(moved)[0]}")
        elif ts and at_provider != {status}:
            agree.breaches.append(f"{pid} is {status} but its transfer is {','.join(sorted(at_provider))}")
    return [sent, agree]


def one_payout_per_seller_per_run(payouts: Mapping[str, Doc]) -> Check:
    per: Counter[tuple[str, str]] = Counter(
        (str(p["run_id"]), str(p["seller_id"])) for p in payouts.values() if p.get("run_id")
    )
    check = Check("one_payout_per_run", "payouts per (run, seller) <= 1", len(per), kind="double")
    check.breaches = [
        f"{seller} has {n} payouts in {run}" for (run, seller), n in sorted(per.items()) if n > 1
    ]
    return check
