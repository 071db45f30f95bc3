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

The ledger's own invariants are the domain's (``shared/domain/ledger_invariants.py``); the
auditor composes them with the checks above.

``python -m verification.auditor [--state-dir DIR]`` audits a running local stack;
``--export FILE`` writes its documents to a dataset file, ``--dataset FILE`` audits one.
"""

from verification.auditor.audit import audit, ledger_audit
from verification.auditor.fingerprints import journal_fingerprints
from verification.auditor.report import AuditReport, Check
from verification.auditor.store_data import StoreData, load_store

__all__ = ["AuditReport", "Check", "StoreData", "audit", "journal_fingerprints", "ledger_audit", "load_store"]
