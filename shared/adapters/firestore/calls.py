"""Where the adapter calls the Firestore client: the client, the transaction runner, and the one
wrapper that counts each operation for the benchmark (``shared/metrics.py``).

Counted as Firestore bills them: ``firestore.reads`` (each document returned, a missing one too,
and one for a query that returns nothing), of which ``reads_in_tx`` and ``reads_missing``;
``queries``; ``aggregations`` (one read each); ``writes`` (each document write sent in a commit),
of which ``writes_in_tx``; ``commits``; ``tx_begun`` (transaction attempts) and ``rollbacks``;
``transactions`` (units of work) and ``tx_attempts`` (runs of their body).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1 import ReadAfterWriteError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from shared import metrics
from shared.usecases.ports import AlreadyExists, Contention, ReadAfterWrite

T = TypeVar("T")
Snapshot = Any  # google.cloud.firestore.DocumentSnapshot

_clients: dict[str, firestore.Client] = {}
_clients_lock = threading.Lock()


def firestore_client(project: str) -> firestore.Client:
    """One client per project per process, created lazily (gRPC and fork don't mix)."""
    with _clients_lock:
        if project not in _clients:
            _clients[project] = firestore.Client(project=project)
        return _clients[project]


def _contended(exc: BaseException) -> bool:
    """A transaction that gave up because others held its documents: ``Aborted`` (the emulator's
    lock timeout, production's contention), or the client's own attempts running out, which it
    raises as a ValueError caused by the last ``Aborted``."""
    return isinstance(exc, gexc.Aborted) or (
        isinstance(exc, ValueError) and isinstance(exc.__cause__, gexc.Aborted)
    )


def _transient(exc: BaseException) -> bool:
    return _contended(exc) or isinstance(
        exc, gexc.ServiceUnavailable | gexc.DeadlineExceeded | gexc.InternalServerError
    )


def _count_reads(snapshots: Iterable[Snapshot], in_tx: bool) -> list[Snapshot]:
    found = list(snapshots)
    missing = sum(1 for s in found if not s.exists)
    metrics.incr("firestore.reads", len(found))
    if in_tx:
        metrics.incr("firestore.reads_in_tx", len(found))
    metrics.incr("firestore.reads_missing", missing)
    return found


def _count_commit(writes: int, in_tx: bool) -> None:
    metrics.incr("firestore.commits")
    metrics.incr("firestore.writes", writes)
    if in_tx:
        metrics.incr("firestore.writes_in_tx", writes)


class Calls:
    """Every call of the adapter to the client, counted."""

    def __init__(self, client: firestore.Client) -> None:
        self.client = client

    # reads
    def get_all(self, refs: Sequence[Any], txn: Any = None) -> list[Snapshot]:
        if not refs:
            return []
        if txn is not None:
            return _count_reads(txn.get_all(list(refs)), True)
        return _count_reads(self.client.get_all(list(refs)), False)

    def get(self, ref: Any, txn: Any = None) -> Snapshot:
        if txn is not None:
            return _count_reads(txn.get_all([ref]), True)[0]
        return _count_reads([ref.get()], False)[0]

    def stream(self, query: Any, txn: Any = None) -> list[Snapshot]:
        found = [snap for snap in (query.stream(transaction=txn) if txn is not None else query.stream())]
        metrics.incr("firestore.queries")
        metrics.incr("firestore.reads", max(len(found), 1))  # an empty result is billed one read
        if txn is not None:
            metrics.incr("firestore.reads_in_tx", max(len(found), 1))
        return found

    def count(self, query: Any) -> int:
        metrics.incr("firestore.aggregations")
        metrics.incr("firestore.reads")
        return int(query.count(alias="n").get()[0][0].value)

    # writes outside transactions: each one commit
    def create(self, ref: Any, data: dict[str, Any]) -> bool:
        """False if the document exists (nothing written)."""
        _count_commit(1, False)
        try:
            ref.create(data)
        except gexc.AlreadyExists:
            return False
        return True

    def update(self, ref: Any, data: dict[str, Any]) -> None:
        _count_commit(1, False)
        ref.update(data)

    def set(self, ref: Any, data: dict[str, Any], merge: bool = False) -> None:
        _count_commit(1, False)
        ref.set(data, merge=merge)

    def commit_batch(self, writes: Sequence[tuple[str, Any, dict[str, Any]]]) -> bool:
        """Commit ``(op, ref, data)`` writes atomically (op: create, set, merge); False if a
        create found its document (nothing written)."""
        if not writes:
            return True
        batch = self.client.batch()
        for op, ref, data in writes:
            if op == "create":
                batch.create(ref, data)
            else:
                batch.set(ref, data, merge=op == "merge")
        _count_commit(len(writes), False)
        try:
            batch.commit()
        except gexc.AlreadyExists:
            return False
        return True

    # transactions
    def run_transaction(self, body: Callable[[Any, Callable[[int], None]], T]) -> T:
        """Run ``body(txn, count_writes)`` in a transaction: the client's own attempts keep their
        place in line on a conflict; on top, retried with backoff when contended or transiently
        unavailable. Contention that outlasts every attempt raises :class:`Contention`."""

        @retry(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(6),
            wait=wait_random_exponential(multiplier=0.05, max=2),
            reraise=True,
        )
        def attempt() -> T:
            @firestore.transactional
            def transactional(txn: firestore.Transaction) -> T:
                metrics.incr("firestore.tx_attempts")
                metrics.incr("firestore.tx_begun")
                writes = [0]
                try:
                    result = body(txn, lambda n: writes.__setitem__(0, writes[0] + n))
                except BaseException:
                    metrics.incr("firestore.rollbacks")
                    raise
                _count_commit(writes[0], True)
                return result

            return transactional(self.client.transaction(max_attempts=5))  # type: ignore[no-any-return]

        metrics.incr("firestore.transactions")
        try:
            return attempt()
        except ReadAfterWriteError as exc:
            raise ReadAfterWrite(str(exc)) from exc
        except gexc.AlreadyExists as exc:
            raise AlreadyExists(str(exc)) from exc
        except (gexc.GoogleAPICallError, ValueError) as exc:
            if _contended(exc):
                raise Contention("the transaction stayed contended through every attempt") from exc
            raise
