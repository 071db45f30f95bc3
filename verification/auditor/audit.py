"""The audit: every check over the store and the provider's transfers, in the report's order."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from shared.adapters.firestore.documents import ledger_report
from shared.adapters.firestore_store import FirestoreStore
from verification.auditor import ledger_checks, payout_checks
from verification.auditor.contents_checks import contents_sum_to_amount
from verification.auditor.outbox_checks import outbox_checks
from verification.auditor.report import AuditReport, Check
from verification.auditor.run_checks import runs_completed
from verification.auditor.store_data import Doc, StoreData, load_store
from verification.auditor.vocabulary import FINAL


def audit(
    store: FirestoreStore | StoreData,
    sandbox_transfers: Sequence[Doc],
    *,
    journal_snapshots: Sequence[Mapping[str, str]] = (),
    expected_collected: Mapping[str, int] | None = None,
    require_runs_completed: bool = True,
) -> AuditReport:
    """Every check over the store and the provider's transfers (see the package docstring).

    ``expected_collected``: currency -> gross the customers paid, known to the caller (the
    order events it sent); checked against the ledger's customer funds when given."""
    data = load_store(store) if isinstance(store, FirestoreStore) else store
    payouts = {str(p["payout_id"]): p for p in data.payouts}
    transfers_of: dict[str, list[Doc]] = defaultdict(list)
    for t in sandbox_transfers:
        transfers_of[str(t["reference"])].append(t)
    ledger = ledger_report(data.journal, data.balance_shards)
    flows = ledger_checks.money_flows_of(ledger)
    totals = {ccy: ledger_checks.as_totals(flow) for ccy, flow in flows.items()}
    checks = [
        *_payout_checks(payouts, transfers_of),
        *ledger_checks.journal_invariants(ledger),
        *ledger_checks.payout_journal(payouts, data.journal),
        ledger_checks.money_conserved(ledger, flows, expected_collected),
        ledger_checks.ledger_matches_provider(totals, payouts, transfers_of),
        *outbox_checks(payouts, data.outbox),
        ledger_checks.journal_append_only(data.journal, journal_snapshots),
    ]
    if data.payout_contents:  # a store that records what payouts pay for (issue 18)
        contents = {str(c["payout_id"]): c for c in data.payout_contents}
        checks.append(contents_sum_to_amount(payouts, contents))
    if require_runs_completed:
        checks.append(runs_completed(data.runs))
    return AuditReport(
        checks=checks,
        payouts_by_status=dict(Counter(str(p["status"]) for p in payouts.values())),
        stuck=[
            f"{pid}: {p.get('stuck_reason')}"
            for pid, p in sorted(payouts.items())
            if p["status"] not in FINAL and p.get("stuck_reason")
        ],
        transfers=sum(len(v) for v in transfers_of.values()),
        entries=ledger.entries,
        totals=totals,
    )


def _payout_checks(payouts: Mapping[str, Doc], transfers_of: payout_checks.Transfers) -> list[Check]:
    return [
        payout_checks.payouts_final(payouts),
        payout_checks.transfers_per_payout(payouts, transfers_of),
        payout_checks.orphan_transfers(payouts, transfers_of),
        payout_checks.paid_have_transfer(payouts, transfers_of),
        *payout_checks.provider_agrees(payouts, transfers_of),
        payout_checks.one_payout_per_seller_per_run(payouts),
    ]


def ledger_audit(
    store: FirestoreStore | StoreData,
    *,
    journal_snapshots: Sequence[Mapping[str, str]] = (),
    expected_collected: Mapping[str, int] | None = None,
) -> AuditReport:
    """The ledger's checks alone (entries zero per currency, balances = postings, money
    conserved, the journal append-only), for books the rails' records no longer describe one to
    one: after reconciliation's approved corrections (issue 16), whose entries move money between
    the platform's accounts and sellers' buckets and must keep every one of these."""
    data = load_store(store) if isinstance(store, FirestoreStore) else store
    ledger = ledger_report(data.journal, data.balance_shards)
    flows = ledger_checks.money_flows_of(ledger)
    return AuditReport(
        checks=[
            *ledger_checks.journal_invariants(ledger),
            ledger_checks.money_conserved(ledger, flows, expected_collected),
            ledger_checks.journal_append_only(data.journal, journal_snapshots),
        ],
        payouts_by_status=dict(Counter(str(p["status"]) for p in data.payouts)),
        stuck=[],
        transfers=0,
        entries=ledger.entries,
        totals={ccy: ledger_checks.as_totals(flow) for ccy, flow in flows.items()},
    )
