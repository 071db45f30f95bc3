"""The ``BankFileStore`` port in memory (its contract suite: tests/contract/test_bank_files_contract.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from shared.usecases.ports import BankFileBatch, BankFileBatchState, QueuedBankTransfer


class FakeBankFileStore:
    def __init__(self) -> None:
        self.queued: dict[str, QueuedBankTransfer] = {}
        self.batches: dict[str, BankFileBatch] = {}
        self._lock = threading.RLock()

    def queue(self, item: QueuedBankTransfer) -> bool:
        with self._lock:
            if item.payout_id in self.queued:
                return False
            self.queued[item.payout_id] = replace(item, batch_id=None)
            return True

    def open_items(self, limit: int) -> list[QueuedBankTransfer]:
        with self._lock:
            found = [i for _, i in sorted(self.queued.items()) if i.batch_id is None]
            return found[:limit]

    def items(self, payout_ids: Sequence[str]) -> list[QueuedBankTransfer]:
        with self._lock:
            return [self.queued[p] for p in sorted(set(payout_ids)) if p in self.queued]

    def form_batch(
        self,
        payout_ids: Sequence[str],
        make: Callable[[list[QueuedBankTransfer]], BankFileBatch | None],
    ) -> BankFileBatch | None:
        with self._lock:
            still_open = [i for i in self.items(payout_ids) if i.batch_id is None]
            batch = make(still_open)
            if batch is None:
                return None
            if batch.batch_id in self.batches:
                raise ValueError(f"batch {batch.batch_id} exists")
            members = {i.payout_id for i in still_open}
            if not set(batch.payout_ids) <= members:
                raise ValueError("a batch may hold only open items it was given")
            self.batches[batch.batch_id] = batch
            for payout_id in batch.payout_ids:
                self.queued[payout_id] = replace(self.queued[payout_id], batch_id=batch.batch_id)
            return batch

    def get_batch(self, batch_id: str) -> BankFileBatch | None:
        with self._lock:
            return self.batches.get(batch_id)

    def unsent_batches(self, limit: int) -> list[BankFileBatch]:
        with self._lock:
            found = [b for b in self.batches.values() if b.state is not BankFileBatchState.SENT]
            return sorted(found, key=lambda b: (b.created_at, b.batch_id))[:limit]

    def written_since(self, since: datetime, limit: int) -> list[BankFileBatch]:
        with self._lock:
            found = [b for b in self.batches.values() if b.written_at is not None and b.written_at >= since]
            return sorted(found, key=lambda b: (b.written_at or since, b.batch_id))[:limit]

    def put_batch(self, batch: BankFileBatch) -> None:
        with self._lock:
            stored = self.batches[batch.batch_id]
            self.batches[batch.batch_id] = replace(
                stored, state=batch.state, written_at=batch.written_at, sent_at=batch.sent_at
            )
