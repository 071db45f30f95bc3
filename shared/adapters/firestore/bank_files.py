"""The ``BankFileStore`` port on Firestore (the SEPA bank-file rail, shared/usecases/bank_transfers.py).

- ``bank_file_queue/{payout_id}``: a payout queued for a bank file, created once by payout id, with
  the creditor's account as the file needs it (the seller document holds it the same way) and
  ``open`` (true until a batch takes it: the one field the writer queries, so no composite index).
- ``bank_file_batches/{batch_id}``: a batch (its id is the file's MsgId) with its payout ids,
  ``unsent`` true until every payout of it was moved.

A batch is formed in one transaction that reads its candidate items, keeps those still open,
creates the batch and closes exactly its items: two writers that race never put one payout in two
batches (the second's transaction sees the items closed, or is retried and does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from google.cloud import firestore

from shared.adapters.firestore.store import FirestoreStore
from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.money import Money
from shared.usecases.ports import BankFileBatch, BankFileBatchState, QueuedBankTransfer

BANK_FILE_QUEUE = "bank_file_queue"
BANK_FILE_BATCHES = "bank_file_batches"


def item_to_doc(item: QueuedBankTransfer) -> dict[str, Any]:
    return {
        "payout_id": item.payout_id,
        "seller_id": item.seller_id,
        "rail": item.rail,
        "amount": item.amount.amount,
        "currency": item.amount.currency,
        "creditor": item.creditor.to_storage(),
        "creditor_masked": item.creditor.masked,
        "remittance": item.remittance,
        "debtor_iban": item.debtor_iban,
        "queued_at": item.queued_at,
        "batch_id": item.batch_id,
        "open": item.batch_id is None,
    }


def item_from_doc(data: dict[str, Any]) -> QueuedBankTransfer:
    return QueuedBankTransfer(
        payout_id=data["payout_id"],
        seller_id=data["seller_id"],
        rail=data["rail"],
        amount=Money(int(data["amount"]), str(data["currency"])),
        creditor=ValidatedBankAccount.from_storage(data["creditor"]),
        remittance=data["remittance"],
        debtor_iban=data["debtor_iban"],
        queued_at=data["queued_at"],
        batch_id=data.get("batch_id"),
    )


def batch_to_doc(batch: BankFileBatch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "rail": batch.rail,
        "currency": batch.currency,
        "execution_date": batch.execution_date.isoformat(),
        "debtor_iban": batch.debtor_iban,
        "created_at": batch.created_at,
        "payout_ids": list(batch.payout_ids),
        "object_name": batch.object_name,
        "state": batch.state.value,
        "written_at": batch.written_at,
        "sent_at": batch.sent_at,
        "unsent": batch.state is not BankFileBatchState.SENT,
    }


def batch_from_doc(data: dict[str, Any]) -> BankFileBatch:
    return BankFileBatch(
        batch_id=data["batch_id"],
        rail=data["rail"],
        currency=data["currency"],
        execution_date=date.fromisoformat(data["execution_date"]),
        debtor_iban=data["debtor_iban"],
        created_at=data["created_at"],
        payout_ids=tuple(data["payout_ids"]),
        object_name=data["object_name"],
        state=BankFileBatchState(data["state"]),
        written_at=data.get("written_at"),
        sent_at=data.get("sent_at"),
    )


class FirestoreBankFiles:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def _ref(self, collection: str, doc_id: str) -> Any:
        return self.s.refs.writable(collection, doc_id)

    def _item_refs(self, payout_ids: Sequence[str]) -> list[Any]:
        refs = (self.s.refs.doc(BANK_FILE_QUEUE, p) for p in sorted(set(payout_ids)))
        return [r for r in refs if r is not None]

    def queue(self, item: QueuedBankTransfer) -> bool:
        return self.s.calls.create(self._ref(BANK_FILE_QUEUE, item.payout_id), item_to_doc(item))

    def open_items(self, limit: int) -> list[QueuedBankTransfer]:
        still_open = firestore.FieldFilter("open", "==", True)
        query = self.s.client.collection(BANK_FILE_QUEUE).where(filter=still_open).limit(limit)
        found = [item_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query)]
        return sorted(found, key=lambda i: i.payout_id)

    def items(self, payout_ids: Sequence[str]) -> list[QueuedBankTransfer]:
        snaps = self.s.calls.get_all(self._item_refs(payout_ids))
        found = [item_from_doc(snap.to_dict() or {}) for snap in snaps if snap.exists]
        return sorted(found, key=lambda i: i.payout_id)

    def form_batch(
        self,
        payout_ids: Sequence[str],
        make: Callable[[list[QueuedBankTransfer]], BankFileBatch | None],
    ) -> BankFileBatch | None:
        refs = self._item_refs(payout_ids)

        def body(txn: Any, count: Callable[[int], None]) -> BankFileBatch | None:
            snaps = self.s.calls.get_all(refs, txn)
            docs = [s.to_dict() or {} for s in snaps if s.exists]
            still_open = sorted(
                (item_from_doc(doc) for doc in docs if doc.get("open")), key=lambda i: i.payout_id
            )
            batch = make(still_open)
            if batch is None:
                return None
            members = {i.payout_id for i in still_open}
            if not set(batch.payout_ids) <= members:
                raise ValueError("a batch may hold only open items it was given")
            txn.create(self._ref(BANK_FILE_BATCHES, batch.batch_id), batch_to_doc(batch))
            for payout_id in batch.payout_ids:
                txn.update(self._ref(BANK_FILE_QUEUE, payout_id), {"batch_id": batch.batch_id, "open": False})
            count(1 + len(batch.payout_ids))
            return batch

        result: BankFileBatch | None = self.s.calls.run_transaction(body)
        return result

    def get_batch(self, batch_id: str) -> BankFileBatch | None:
        ref = self.s.refs.doc(BANK_FILE_BATCHES, batch_id)
        if ref is None:
            return None
        snap = self.s.calls.get(ref)
        return batch_from_doc(snap.to_dict() or {}) if snap.exists else None

    def unsent_batches(self, limit: int) -> list[BankFileBatch]:
        query = (
            self.s.client.collection(BANK_FILE_BATCHES)
            .where(filter=firestore.FieldFilter("unsent", "==", True))
            .limit(limit)
        )
        found = [batch_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query)]
        return sorted(found, key=lambda b: (b.created_at, b.batch_id))

    def written_since(self, since: datetime, limit: int) -> list[BankFileBatch]:
        """written_at >= since, ordered by it (one field: the automatic single-field index)."""
        query = (
            self.s.client.collection(BANK_FILE_BATCHES)
            .where(filter=firestore.FieldFilter("written_at", ">=", since))
            .order_by("written_at")
            .limit(limit)
        )
        return [batch_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query)]

    def put_batch(self, batch: BankFileBatch) -> None:
        doc = batch_to_doc(batch)
        progress = {k: doc[k] for k in ("state", "written_at", "sent_at", "unsent")}
        self.s.calls.update(self._ref(BANK_FILE_BATCHES, batch.batch_id), progress)
