"""The auditor: reads the whole store and the provider's own list of transfers, and checks that
no money was lost, created or sent twice, whatever happened on the way.

    audit(store, sandbox_transfers, journal_snapshots=[...]) -> AuditReport

``store`` is a :class:`FirestoreStore` (read in full with :func:`load_store`) or a
:class:`StoreData` of plain documents, as stored, so the checks also run on hand-made data.
Take :func:`journal_fingerprints` at checkpoints during a run and pass them in: the journal is
append-only, so every entry seen then must still be there, unchanged.

The checks, one line each in the report:

- every payout is final (paid, failed, canceled, returned) or flagged by the sweeper;
- the provider holds at most one transfer per payout, and none without a payout;
- every paid (or returned) payout has a transfer of the same amount and currency, and every
  final payout agrees with its transfer's status;
- at most one payout per seller per run;
- every journal entry sums to zero per currency, every stored balance equals its postings;
- the in-flight postings of a final payout net to zero (of an open one, to its amount), and
  every transition that moves money has its one journal entry;
- money collected = paid out + commission + refunds + balances, per currency, and what the
  ledger says left equals what the provider paid;
- every status change has one outbox event, sequences 1..n with no gap, all relayed;
- no journal entry changed or deleted since a checkpoint; every run completed.

``python -m verification.auditor [--state-dir DIR]`` audits a running local stack.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shared.adapters.firestore.documents import ledger_report
from shared.adapters.firestore_store import (
    BALANCE_SHARDS,
    JOURNAL,
    OUTBOX,
    PAYOUT_RUNS,
    PAYOUTS,
    FirestoreStore,
    payout_event_type,
)
from shared.domain.ledger import Bucket, PlatformAccount, parse_seller_account, seller_account
from shared.domain.payouts import FINAL_STATES, PayoutStatus

Doc = Mapping[str, Any]
FINAL = frozenset(s.value for s in FINAL_STATES)
MONEY_STATES = ("paid", "failed", "canceled", "returned")  # transitions with a journal entry
PLATFORM = {a.value for a in PlatformAccount}
EXAMPLES = 3  # how many offending items a report line names


@dataclass
class StoreData:
    """Plain documents, as stored (Firestore timestamps may be datetimes or strings)."""

    payouts: list[dict[str, Any]] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    balance_shards: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)


def load_store(store: FirestoreStore) -> StoreData:
    client = store.client

    def docs(collection: str) -> list[dict[str, Any]]:
        return [snap.to_dict() or {} for snap in client.collection(collection).stream()]

    return StoreData(
        payouts=docs(PAYOUTS),
        journal=docs(JOURNAL),
        balance_shards=[s.to_dict() or {} for s in client.collection_group(BALANCE_SHARDS).stream()],
        outbox=docs(OUTBOX),
        runs=docs(PAYOUT_RUNS),
    )


# --- the journal's fingerprints ---------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def entry_hash(entry: Doc) -> str:
    return hashlib.sha256(json.dumps(entry, sort_keys=True, default=_plain).encode()).hexdigest()


def journal_fingerprints(source: FirestoreStore | StoreData | Iterable[Doc]) -> dict[str, str]:
    """entry id -> hash of its whole document: a checkpoint of the append-only journal."""
    if isinstance(source, FirestoreStore):
        entries: Iterable[Doc] = (s.to_dict() or {} for s in source.client.collection(JOURNAL).stream())
    elif isinstance(source, StoreData):
        entries = source.journal
    else:
        entries = source
    return {str(e["entry_id"]): entry_hash(e) for e in entries}


# --- the report -------------------------------------------------------------------------------


@dataclass
class Check:
    key: str
    title: str
    checked: int = 0  # how many things were looked at
    breaches: list[str] = field(default_factory=list)
    kind: str = "other"  # double | lost | ledger | other: what a breach counts towards

    @property
    def ok(self) -> bool:
        return not self.breaches

    def line(self) -> str:
        status = "ok    " if self.ok else "BREACH"
        text = f"{status} {self.title}: {self.checked} checked"
        if self.breaches:
            text += f", {len(self.breaches)} breached (" + "; ".join(self.breaches[:EXAMPLES])
            text += ", …)" if len(self.breaches) > EXAMPLES else ")"
        return text


@dataclass
class AuditReport:
    checks: list[Check]
    payouts_by_status: dict[str, int]
    stuck: list[str]  # open payouts the sweeper flagged, with its reason
    transfers: int
    entries: int
    totals: dict[str, dict[str, int]]  # currency -> collected, paid_out, commission, refunds, balances

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    def _count(self, kind: str) -> int:
        return sum(len(c.breaches) for c in self.checks if c.kind == kind)

    @property
    def double_payouts(self) -> int:
        return self._count("double")

    @property
    def lost_payouts(self) -> int:
        return self._count("lost")

    @property
    def ledger_imbalance(self) -> int:
        return self._count("ledger")

    @property
    def breaches(self) -> list[str]:
        return [f"{c.key}: {b}" for c in self.checks for b in c.breaches]

    def lines(self) -> list[str]:
        out = [c.line() for c in self.checks]
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(self.payouts_by_status.items()))
        out += [
            "",
            "audit summary",
            f"  payouts: {sum(self.payouts_by_status.values())} ({by_status or 'none'})",
            f"  flagged stuck by the sweeper: {len(self.stuck)}",
            f"  provider transfers: {self.transfers}",
            f"  journal entries: {self.entries}",
        ]
        for ccy, t in sorted(self.totals.items()):
            out.append(
                f"  {ccy}: collected {t['collected']} = paid out {t['paid_out']} + commission "
                f"{t['commission']} + refunds {t['refunds']} + balances {t['balances']}"
            )
        out += [
            f"  double payouts: {self.double_payouts}",
            f"  lost payouts: {self.lost_payouts}",
            f"  ledger imbalance: {self.ledger_imbalance}",
            f"  checks: {sum(c.ok for c in self.checks)}/{len(self.checks)} ok -> "
            + ("PASS" if self.ok else "BREACH"),
        ]
        return out

    def render(self) -> str:
        return "\n".join(self.lines())


# --- the checks -------------------------------------------------------------------------------


def audit(
    store: FirestoreStore | StoreData,
    sandbox_transfers: Sequence[Doc],
    *,
    journal_snapshots: Sequence[Mapping[str, str]] = (),
    expected_collected: Mapping[str, int] | None = None,
    require_runs_completed: bool = True,
) -> AuditReport:
    """Every check over the store and the provider's transfers (see the module docstring).

    ``expected_collected``: currency -> gross the customers paid, known to the caller (the
    order events it sent); checked against the ledger's customer funds when given."""
    data = load_store(store) if isinstance(store, FirestoreStore) else store
    payouts = {str(p["payout_id"]): p for p in data.payouts}
    transfers_of: dict[str, list[Doc]] = defaultdict(list)
    for t in sandbox_transfers:
        transfers_of[str(t["reference"])].append(t)
    ledger = ledger_report(data.journal, data.balance_shards)
    checks = [
        _payouts_final(payouts),
        _transfers_per_payout(payouts, transfers_of),
        _orphan_transfers(payouts, transfers_of),
        _paid_have_transfer(payouts, transfers_of),
        *_provider_agrees(payouts, transfers_of),
        _one_payout_per_seller_per_run(payouts),
        Check(
            "entries_balance",
            "journal entries sum to zero per currency",
            ledger.entries,
            [p for p in ledger.problems if not p.startswith("balance ")],
            "ledger",
        ),
        Check(
            "balances_equal_postings",
            "each balance equals the sum of its postings",
            len(
                {k for k in ledger.account_totals if parse_seller_account(k[0])} | set(ledger.stored_balances)
            ),
            [p for p in ledger.problems if p.startswith("balance ")],
            "ledger",
        ),
    ]
    checks += _payout_journal(payouts, data.journal)
    totals, conservation, provider_match = _conservation(
        ledger.account_totals, ledger.stored_balances, transfers_of, payouts, expected_collected
    )
    checks += [conservation, provider_match]
    checks += _outbox(payouts, data.outbox)
    checks.append(_append_only(data.journal, journal_snapshots))
    if require_runs_completed:
        checks.append(_runs_completed(data.runs))
    by_status = Counter(str(p["status"]) for p in payouts.values())
    stuck = [
        f"{pid}: {p.get('stuck_reason')}"
        for pid, p in sorted(payouts.items())
        if p["status"] not in FINAL and p.get("stuck_reason")
    ]
    return AuditReport(
        checks=checks,
        payouts_by_status=dict(by_status),
        stuck=stuck,
        transfers=sum(len(v) for v in transfers_of.values()),
        entries=ledger.entries,
        totals=totals,
    )


def _payouts_final(payouts: Mapping[str, Doc]) -> Check:
    check = Check(
        "payouts_final", "every payout final or flagged stuck by the sweeper", len(payouts), kind="lost"
    )
    for pid, p in sorted(payouts.items()):
        if p["status"] not in FINAL and not p.get("stuck_reason"):
            check.breaches.append(f"{pid} is {p['status']}, not flagged")
    return check


def _transfers_per_payout(payouts: Mapping[str, Doc], transfers_of: Mapping[str, list[Doc]]) -> Check:
    check = Check(
        "transfers_per_payout", "provider transfers per payout <= 1", len(transfers_of), kind="double"
    )
    for ref, ts in sorted(transfers_of.items()):
        # Each transfer beyond the first is money sent twice.
        check.breaches += [f"{ref} has {len(ts)} transfers ({t['id']})" for t in ts[1:]]
    return check


def _orphan_transfers(payouts: Mapping[str, Doc], transfers_of: Mapping[str, list[Doc]]) -> Check:
    check = Check(
        "orphan_transfers", "no provider transfer without a payout", len(transfers_of), kind="double"
    )
    for ref, ts in sorted(transfers_of.items()):
        if ref not in payouts:
            check.breaches += [f"transfer {t['id']} for unknown payout {ref}" for t in ts]
    return check


def _paid_have_transfer(payouts: Mapping[str, Doc], transfers_of: Mapping[str, list[Doc]]) -> Check:
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


def _provider_agrees(payouts: Mapping[str, Doc], transfers_of: Mapping[str, list[Doc]]) -> list[Check]:
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


def _one_payout_per_seller_per_run(payouts: Mapping[str, Doc]) -> Check:
    per: Counter[tuple[str, str]] = Counter(
        (str(p["run_id"]), str(p["seller_id"])) for p in payouts.values() if p.get("run_id")
    )
    check = Check("one_payout_per_run", "payouts per (run, seller) <= 1", len(per), kind="double")
    check.breaches = [
        f"{seller} has {n} payouts in {run}" for (run, seller), n in sorted(per.items()) if n > 1
    ]
    return check


def _payout_ids_of(entry: Doc) -> tuple[str, str | None]:
    """(payout id, transition) of a payout entry: cause is ``payout_id`` or ``payout_id:status``."""
    pid, _, status = str(entry.get("cause", "")).partition(":")
    return pid, status or None


def _payout_journal(payouts: Mapping[str, Doc], journal: Sequence[Doc]) -> list[Check]:
    in_flight: dict[str, int] = defaultdict(int)
    booked: dict[str, Counter[str]] = defaultdict(Counter)
    unknown: list[str] = []
    for entry in journal:
        if not str(entry.get("kind", "")).startswith("payout."):
            continue
        pid, status = _payout_ids_of(entry)
        booked[pid][status or "created"] += 1
        if pid not in payouts:
            unknown.append(f"entry {entry['entry_id']} ({entry['kind']}) for unknown payout {pid}")
            continue
        account = seller_account(str(payouts[pid]["seller_id"]), Bucket.IN_FLIGHT)
        in_flight[pid] += sum(int(x["amount"]) for x in entry["postings"] if x["account"] == account)

    flight = Check(
        "in_flight_zero", "in-flight of every final payout back at zero", len(payouts), kind="ledger"
    )
    for pid, p in sorted(payouts.items()):
        want = 0 if p["status"] in FINAL else int(p["amount"])
        if in_flight[pid] != want:
            flight.breaches.append(f"{pid} ({p['status']}) has {in_flight[pid]} in flight, expected {want}")

    entries = Check(
        "transitions_booked", "every money transition has exactly one journal entry", len(payouts)
    )
    entries.breaches += unknown
    for pid, p in sorted(payouts.items()):
        moves = [str(h["to"]) for h in p.get("history", []) if h.get("to") in MONEY_STATES]
        expected = Counter({"created": 1, **Counter(moves)})
        if booked[pid] != expected:
            entries.breaches.append(
                f"{pid} ({p['status']}) has entries {dict(booked[pid])}, expected {dict(expected)}"
            )
    return [flight, entries]


def _conservation(
    accounts: Mapping[tuple[str, str], int],
    stored: Mapping[tuple[str, str], int],
    transfers_of: Mapping[str, list[Doc]],
    payouts: Mapping[str, Doc],
    expected_collected: Mapping[str, int] | None,
) -> tuple[dict[str, dict[str, int]], Check, Check]:
    currencies = sorted({ccy for _, ccy in accounts} | {ccy for _, ccy in stored})
    totals: dict[str, dict[str, int]] = {}
    money = Check("money_conserved", "collected = paid out + commission + refunds + balances", kind="ledger")
    for ccy in currencies:
        t = {
            "collected": -accounts.get((PlatformAccount.CUSTOMER_FUNDS.value, ccy), 0),
            "paid_out": accounts.get((PlatformAccount.PAYOUTS.value, ccy), 0),
            "commission": accounts.get((PlatformAccount.COMMISSION.value, ccy), 0),
            "refunds": accounts.get((PlatformAccount.REFUNDS.value, ccy), 0),
            "balances": sum(v for (_, c), v in stored.items() if c == ccy),
        }
        totals[ccy] = t
        money.checked += 1
        rest = t["paid_out"] + t["commission"] + t["refunds"] + t["balances"]
        if t["collected"] != rest:
            money.breaches.append(f"{ccy}: collected {t['collected']} but accounted for {rest}")
        if expected_collected is not None and t["collected"] != expected_collected.get(ccy, 0):
            money.breaches.append(
                f"{ccy}: collected {t['collected']} but customers paid {expected_collected.get(ccy, 0)}"
            )
    if expected_collected is not None:
        for ccy in sorted(set(expected_collected) - set(currencies)):
            if expected_collected[ccy]:
                money.breaches.append(
                    f"{ccy}: customers paid {expected_collected[ccy]}, the ledger has nothing"
                )
    strays = sorted({a for a, _ in accounts if a not in PLATFORM and not parse_seller_account(a)})
    money.breaches += [f"posting to unknown account {a}" for a in strays]

    # What the ledger says left for sellers' banks, against what the provider says it paid.
    at_provider: dict[str, int] = defaultdict(int)
    for ref, ts in transfers_of.items():
        if ref in payouts:
            for transfer in ts:
                if transfer["status"] == "paid":
                    at_provider[str(transfer["currency"])] += int(transfer["amount"])
    # Per currency, not per payout: it counts towards no figure, the per-payout checks say which.
    match = Check("ledger_matches_provider", "money out per the ledger = paid per the provider")
    for ccy in sorted(set(at_provider) | {c for c in currencies if totals[c]["paid_out"]}):
        match.checked += 1
        ours = totals.get(ccy, {}).get("paid_out", 0)
        if ours != at_provider[ccy]:
            match.breaches.append(f"{ccy}: ledger {ours}, provider {at_provider[ccy]}")
    return totals, money, match


def _outbox(payouts: Mapping[str, Doc], outbox: Sequence[Doc]) -> list[Check]:
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


def _append_only(journal: Sequence[Doc], snapshots: Sequence[Mapping[str, str]]) -> Check:
    now = journal_fingerprints(journal)
    check = Check(
        "journal_append_only",
        f"journal append-only ({len(snapshots)} checkpoints)",
        sum(len(s) for s in snapshots),
        kind="ledger",
    )
    for n, snap in enumerate(snapshots, start=1):
        for entry_id, digest in sorted(snap.items()):
            if entry_id not in now:
                check.breaches.append(f"entry {entry_id} of checkpoint {n} was deleted")
            elif now[entry_id] != digest:
                check.breaches.append(f"entry {entry_id} of checkpoint {n} was changed")
    return check


def _runs_completed(runs: Sequence[Doc]) -> Check:
    real = [r for r in runs if not r.get("dry_run")]
    check = Check("runs_completed", "every payout run completed", len(real))
    check.breaches = [f"{r['run_id']} is {r.get('status')}" for r in real if r.get("status") != "completed"]
    return check


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verification.auditor", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="the stack's state (default .local/)")
    args = parser.parse_args(argv)
    import os

    from local_stack.client import StackClient
    from local_stack.stack import Stack
    from shared.settings import Settings

    root = Path(__file__).resolve().parent.parent
    stack = Stack.load(root, args.state_dir)
    os.environ.update({k: v for k, v in stack.env.items() if not k.startswith("FUNCTION_URL")})
    client = StackClient.from_stack(stack)
    report = audit(FirestoreStore(Settings(), project=stack.project), client.sandbox_transfers())
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
