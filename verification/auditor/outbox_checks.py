"""Checks of the transactional outbox: one event per status change, in sequence, all relayed."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from shared.adapters.firestore_store import payout_event_type
from shared.domain.payouts import PayoutStatus
from verification.auditor.report import Check
from verification.auditor.store_data import Doc


def outbox_checks(payouts: Mapping[str, Doc], outbox: Sequence[Doc]) -> list[Check]:
    seqs: dict[str, list[int]] = defaultdict(list)
    types: dict[tuple[str, int], str] = {}
    complete = Check("outbox_complete", "one outbox event per status change, sequences 1..n", len(payouts))
    published = Check("outbox_published", "every outbox event relayed", len(outbox))
    for doc in outbox:
        if not doc.get("published"):
            published.breaches.append(f"{doc.get('event_id')} not published")
        pid = doc.get("payout_id")
        if not pid:
            continue  # run events (payout_run.completed) have a subject, not a payout
        seqs[str(pid)].append(int(doc["sequence"]))
        types[(str(pid), int(doc["sequence"]))] = str(doc.get("type"))
        if pid not in payouts:
            complete.breaches.append(f"outbox {doc.get('event_id')} for unknown payout {pid}")
    for pid, p in sorted(payouts.items()):
        n = int(p.get("sequence", 0))
        history = list(p.get("history", []))
        got = sorted(seqs.get(pid, []))
        if got != list(range(1, n + 1)):
            missing = sorted(set(range(1, n + 1)) - set(got))
            extra = sorted(k for k, c in Counter(got).items() if c > 1 or k > n or k < 1)
            complete.breaches.append(
                f"{pid}: sequence {n}, outbox has {got[:8]} (missing {missing}, extra {extra})"
            )
            continue
        if len(history) != n:
            complete.breaches.append(f"{pid}: sequence {n} but {len(history)} status changes in its history")
            continue
        for i, h in enumerate(history, start=1):
            want = payout_event_type(PayoutStatus(str(h["to"])))
            if types.get((pid, i)) != want:
                complete.breaches.append(f"{pid}: event {i} is {types.get((pid, i))}, its change says {want}")
                break
    return [complete, published]
