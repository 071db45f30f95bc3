"""The Firestore implementation of the storage port (``shared/usecases/ports.py``).

:class:`FirestoreStore` is the :class:`~shared.usecases.ports.Storage`; a transaction body gets a
:class:`FirestoreUnitOfWork` whose repositories read and write inside that transaction. Every
query and every document shape lives here and in ``documents.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.cloud import firestore

from shared.adapters.firestore import documents as d
from shared.adapters.firestore.calls import Calls, firestore_client
from shared.domain.eligibility import SkipReason
from shared.domain.events import OutboxEvent
from shared.domain.ledger import Bucket, DatedEntry, JournalEntry, entry_id_for
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, Outcome, ReleaseState
from shared.domain.payout_contents import PayoutContents, SettlementState
from shared.domain.payouts import Payout, PayoutStatus
from shared.domain.reconciliation import Break, BreakState, LedgerFee, MovementClass
from shared.domain.runs import (
    PageStatus,
    PayoutRun,
    RunItem,
    RunPage,
    RunProgress,
    RunStatus,
    RunTally,
    page_created_tally,
    page_done_tally,
)
from shared.domain.sellers import Seller
from shared.settings import Settings, get_settings
from shared.usecases.ports import (
    Balance,
    BalanceRef,
    DeadLetter,
    IdempotencyRecord,
    IdempotencyRef,
    PayoutRef,
    ProviderEventRecord,
    ProviderEventRef,
    ReadAhead,
    ReceivedOrderEvent,
    ReconciliationRun,
    SellerRef,
    StoredEntry,
    UnitOfWork,
)

T = TypeVar("T")
Ref = Any  # google.cloud.firestore.DocumentReference


class UnknownDocument(LookupError):
    """An id Firestore could never hold (empty, a path, ``.``/``..``, ``__x__``). Reads of such an
    id find nothing; writing one is a bug of the caller."""

    def __init__(self, collection: str, doc_id: str) -> None:
        super().__init__(f"no {collection.rstrip('s')} {doc_id[:80]!r}")


def _increments(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: _increments(v) if isinstance(v, dict) else firestore.Increment(v) for k, v in fields.items()}


class _Refs:
    """Document references by what they hold; None for an id Firestore could never hold."""

    def __init__(self, client: firestore.Client, balance_shards: int) -> None:
        self.client = client
        self.balance_shards = balance_shards

    def doc(self, collection: str, doc_id: str) -> Ref | None:
        if not d.valid_document_id(doc_id):
            return None
        return self.client.collection(collection).document(doc_id)

    def writable(self, collection: str, doc_id: str) -> Ref:
        ref = self.doc(collection, doc_id)
        if ref is None:
            raise UnknownDocument(collection, doc_id)
        return ref

    def sub(self, collection: str, parent_id: str, sub: str, doc_id: str) -> Ref | None:
        parent = self.doc(collection, parent_id)
        if parent is None or not d.valid_document_id(doc_id):
            return None
        return parent.collection(sub).document(doc_id)

    def balance_shards_of(self, seller_id: str, currency: str) -> list[Ref]:
        parent = self.doc(d.SELLERS, seller_id)
        if parent is None:
            return []
        shards = parent.collection(d.BALANCE_SHARDS)
        return [shards.document(f"{currency}-{n}") for n in range(self.balance_shards)]

    def balance_shard(self, seller_id: str, currency: str, key: str) -> Ref:
        n = d.shard_of(key, self.balance_shards)
        return self.writable(d.SELLERS, seller_id).collection(d.BALANCE_SHARDS).document(f"{currency}-{n}")

    def run_counter(self, run_id: str, key: str) -> Ref:
        n = d.shard_of(key, d.RUN_COUNTER_SHARDS)
        return self.writable(d.PAYOUT_RUNS, run_id).collection(d.RUN_COUNTERS).document(str(n))

    def run_counters(self, run_id: str) -> list[Ref]:
        parent = self.doc(d.PAYOUT_RUNS, run_id)
        if parent is None:
            return []
        return [parent.collection(d.RUN_COUNTERS).document(str(n)) for n in range(d.RUN_COUNTER_SHARDS)]

    def read_ahead(self, ref: ReadAhead) -> list[Ref]:
        found: list[Ref | None]
        if isinstance(ref, PayoutRef):
            found = [self.doc(d.PAYOUTS, ref.payout_id)]
        elif isinstance(ref, SellerRef):
            found = [self.doc(d.SELLERS, ref.seller_id)]
        elif isinstance(ref, BalanceRef):
            found = list(self.balance_shards_of(ref.seller_id, ref.currency))
        elif isinstance(ref, IdempotencyRef):
            found = [self.doc(d.IDEMPOTENCY_KEYS, ref.key_id)]
        elif isinstance(ref, ProviderEventRef):
            found = [self.doc(d.PROVIDER_EVENTS, d.provider_event_id(ref.provider, ref.event_id))]
        else:
            found = [self.sub(d.PAYOUT_RUNS, ref.run_id, d.RUN_ITEMS, ref.seller_id)]
        return [r for r in found if r is not None]


# --- inside a transaction ------------------------------------------------------------------------


class _Tx:
    """Reads (cached per document) and writes of one transaction attempt."""

    def __init__(
        self, calls: Calls, refs: _Refs, txn: firestore.Transaction, count: Callable[[int], None]
    ) -> None:
        self.calls, self.refs, self.txn, self._count = calls, refs, txn, count
        self._read: dict[str, dict[str, Any] | None] = {}

    def fetch(self, refs: Sequence[Ref]) -> None:
        missing = [ref for ref in refs if ref.path not in self._read]
        for snap in self.calls.get_all(missing, self.txn):
            self._read[snap.reference.path] = snap.to_dict() if snap.exists else None

    def get(self, ref: Ref | None) -> dict[str, Any] | None:
        if ref is None:
            return None
        if ref.path not in self._read:
            self.fetch([ref])
        found = self._read[ref.path]
        return dict(found) if found is not None else None

    def create(self, ref: Ref, data: dict[str, Any]) -> None:
        self.txn.create(ref, data)
        self._count(1)

    def set(self, ref: Ref, data: dict[str, Any], merge: bool = False) -> None:
        self.txn.set(ref, data, merge=merge)
        self._count(1)


class _Payouts:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def get(self, payout_id: str) -> Payout | None:
        data = self.tx.get(self.tx.refs.doc(d.PAYOUTS, payout_id))
        return d.payout_from_doc(data) if data else None

    def put(self, payout: Payout) -> None:
        self.tx.set(self.tx.refs.writable(d.PAYOUTS, payout.payout_id), d.payout_to_doc(payout))


class _Sellers:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def get(self, seller_id: str) -> Seller | None:
        data = self.tx.get(self.tx.refs.doc(d.SELLERS, seller_id))
        return d.seller_from_doc(data) if data else None

    def put(self, seller: Seller, *, bank_account_changed: bool) -> None:
        ref = self.tx.refs.writable(d.SELLERS, seller.seller_id)
        self.tx.set(ref, d.seller_to_doc(seller))
        if bank_account_changed:
            change_id, doc = d.bank_account_change(seller)
            self.tx.set(ref.collection(d.BANK_ACCOUNT_CHANGES).document(change_id), doc)


class _Balances:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def available(self, seller_id: str, currency: str) -> Money:
        refs = self.tx.refs.balance_shards_of(seller_id, currency)
        self.tx.fetch(refs)
        return Money(
            sum(int((self.tx.get(ref) or {}).get(Bucket.AVAILABLE.value, 0)) for ref in refs), currency
        )


class _Journal:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def post(self, entry: JournalEntry, at: datetime) -> None:
        """The entry and the increments of the seller balance shards, in the same transaction:
        the stored balance always equals the sum of the postings."""
        self.tx.create(self.tx.refs.writable(d.JOURNAL, entry.entry_id), d.journal_to_doc(entry, at))
        for (seller_id, currency), deltas in entry.seller_deltas().items():
            shard = self.tx.refs.balance_shard(seller_id, currency, entry.entry_id)
            update: dict[str, Any] = {"currency": currency, "seller_id": seller_id}
            update.update({bucket.value: firestore.Increment(amount) for bucket, amount in deltas.items()})
            self.tx.set(shard, update, merge=True)


class _OrderLines:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def get(self, order_line_id: str) -> OrderLine | None:
        data = self.tx.get(self.tx.refs.doc(d.ORDER_LINES, order_line_id))
        return d.order_line_from_doc(data) if data else None

    def put(self, line: OrderLine) -> None:
        self.tx.set(self.tx.refs.writable(d.ORDER_LINES, line.order_line_id), d.order_line_to_doc(line))


class _OrderEvents:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def get(self, event_id: str) -> ReceivedOrderEvent | None:
        data = self.tx.get(self.tx.refs.doc(d.ORDER_EVENTS, event_id))
        return d.order_event_from_doc(data) if data else None

    def add(self, event: ReceivedOrderEvent) -> None:
        self.tx.create(self.tx.refs.writable(d.ORDER_EVENTS, event.event_id), d.order_event_to_doc(event))

    def resolve(
        self, event_id: str, outcome: Outcome, reason: str | None, entry_ids: Sequence[str], at: datetime
    ) -> None:
        ref = self.tx.refs.writable(d.ORDER_EVENTS, event_id)
        self.tx.set(ref, d.order_event_resolution(outcome, reason, entry_ids, at), merge=True)


class _Outbox:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def add(self, event: OutboxEvent) -> None:
        self.tx.create(self.tx.refs.writable(d.OUTBOX, event.event_id), d.outbox_to_doc(event))


class _Idempotency:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def get(self, key_id: str) -> IdempotencyRecord | None:
        data = self.tx.get(self.tx.refs.doc(d.IDEMPOTENCY_KEYS, key_id))
        return d.idempotency_from_doc(key_id, data) if data else None

    def add(self, record: IdempotencyRecord) -> None:
        self.tx.create(self.tx.refs.writable(d.IDEMPOTENCY_KEYS, record.key_id), d.idempotency_to_doc(record))


class _ProviderEvents:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def seen(self, provider: str, event_id: str) -> bool:
        return (
            self.tx.get(self.tx.refs.doc(d.PROVIDER_EVENTS, d.provider_event_id(provider, event_id)))
            is not None
        )

    def add(self, record: ProviderEventRecord) -> None:
        ref = self.tx.refs.writable(d.PROVIDER_EVENTS, d.provider_event_id(record.provider, record.event_id))
        self.tx.create(ref, d.provider_event_to_doc(record))


class _Runs:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def get(self, run_id: str) -> PayoutRun | None:
        data = self.tx.get(self.tx.refs.doc(d.PAYOUT_RUNS, run_id))
        return d.run_from_doc(data) if data else None

    def put(self, run: PayoutRun) -> None:
        self.tx.set(self.tx.refs.writable(d.PAYOUT_RUNS, run.run_id), d.run_to_doc(run))

    def get_page(self, run_id: str, page_id: str) -> RunPage | None:
        data = self.tx.get(self.tx.refs.sub(d.PAYOUT_RUNS, run_id, d.RUN_PAGES, page_id))
        return d.page_from_doc(run_id, data) if data else None

    def put_page(self, page: RunPage) -> None:
        ref = self.tx.refs.writable(d.PAYOUT_RUNS, page.run_id).collection(d.RUN_PAGES).document(page.page_id)
        self.tx.set(ref, d.page_to_doc(page))

    def get_item(self, run_id: str, seller_id: str) -> RunItem | None:
        data = self.tx.get(self.tx.refs.sub(d.PAYOUT_RUNS, run_id, d.RUN_ITEMS, seller_id))
        return d.item_from_doc(run_id, data) if data else None

    def put_item(self, item: RunItem) -> None:
        ref = (
            self.tx.refs.writable(d.PAYOUT_RUNS, item.run_id).collection(d.RUN_ITEMS).document(item.seller_id)
        )
        self.tx.set(ref, d.item_to_doc(item))

    def count(self, run_id: str, tally: RunTally, shard_key: str) -> None:
        if tally:
            self.tx.set(
                self.tx.refs.run_counter(run_id, shard_key), _increments(d.tally_to_fields(tally)), merge=True
            )


class _Breaks:
    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def get(self, break_id: str) -> Break | None:
        data = self.tx.get(self.tx.refs.doc(d.RECONCILIATION_BREAKS, break_id))
        return d.break_from_doc(data) if data else None

    def put(self, brk: Break) -> None:
        self.tx.set(self.tx.refs.writable(d.RECONCILIATION_BREAKS, brk.break_id), d.break_to_doc(brk))


class _Settlements:
    """Checkpoints and contents (issue 18). Chunk documents beyond a head's ``chunks`` count are
    never read, so a shrinking list leaves them in place rather than paying for deletes."""

    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def _chunked(self, collection: str, doc_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        head_ref = self.tx.refs.doc(collection, doc_id)
        head = self.tx.get(head_ref)
        if head_ref is None or head is None:
            return None
        refs = [head_ref.collection(d.CHUNKS).document(str(n)) for n in range(1, int(head.get("chunks", 1)))]
        self.tx.fetch(refs)
        return head, [self.tx.get(r) or {} for r in refs]

    def checkpoint(self, seller_id: str, currency: str) -> SettlementState | None:
        found = self._chunked(d.SETTLEMENTS, d.settlement_id(seller_id, currency))
        return d.settlement_from_docs(*found) if found else None

    def entries_since(self, seller_id: str, since: datetime | None) -> list[DatedEntry]:
        query = self.tx.calls.client.collection(d.JOURNAL).where(
            filter=firestore.FieldFilter("seller_id", "==", seller_id)
        )
        if since is not None:
            query = query.where(filter=firestore.FieldFilter("created_at", ">=", since))
        # Not a transactional query: in a transaction it would lock the journal (the emulator locks
        # far more than the range), and every payout creation would contend with every posting.
        # The unit of work has read the seller's balance shards, which every posting to them
        # writes: an entry this read misses either makes the balance disagree (check_in_step, and
        # a full replay) or waits for this transaction, whose commit then fails and is retried.
        snaps = self.tx.calls.stream(query.order_by("created_at"))
        return sorted((d.journal_from_doc(s.to_dict() or {}) for s in snaps), key=lambda e: e.key)

    def contents(self, payout_ids: Sequence[str]) -> dict[str, PayoutContents]:
        self.tx.fetch(
            [r for pid in payout_ids if (r := self.tx.refs.doc(d.PAYOUT_CONTENTS, pid)) is not None]
        )
        out: dict[str, PayoutContents] = {}
        for pid in payout_ids:
            found = self._chunked(d.PAYOUT_CONTENTS, pid)
            if found:
                out[pid] = d.contents_from_docs(*found)
        return out

    def put(self, contents: PayoutContents, state: SettlementState) -> None:
        head, rest = d.contents_docs(contents)
        ref = self.tx.refs.writable(d.PAYOUT_CONTENTS, contents.payout_id)
        self.tx.set(ref, head)
        for n, chunk in enumerate(rest, start=1):
            self.tx.set(ref.collection(d.CHUNKS).document(str(n)), chunk)
        head, rest = d.settlement_docs(state)
        ref = self.tx.refs.writable(d.SETTLEMENTS, d.settlement_id(state.seller_id, state.currency))
        self.tx.set(ref, head)
        for n, chunk in enumerate(rest, start=1):
            self.tx.set(ref.collection(d.CHUNKS).document(str(n)), chunk)


class FirestoreUnitOfWork:
    """The repositories of one transaction attempt (a :class:`~shared.usecases.ports.UnitOfWork`)."""

    def __init__(self, tx: _Tx) -> None:
        self._tx = tx
        self.payouts = _Payouts(tx)
        self.sellers = _Sellers(tx)
        self.balances = _Balances(tx)
        self.journal = _Journal(tx)
        self.order_lines = _OrderLines(tx)
        self.order_events = _OrderEvents(tx)
        self.outbox = _Outbox(tx)
        self.idempotency = _Idempotency(tx)
        self.provider_events = _ProviderEvents(tx)
        self.runs = _Runs(tx)
        self.breaks = _Breaks(tx)
        self.settlements = _Settlements(tx)

    def read_ahead(self, *refs: ReadAhead) -> None:
        self._tx.fetch([r for ref in refs for r in self._tx.refs.read_ahead(ref)])


# --- outside transactions -----------------------------------------------------------------------


class _PayoutQueries:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def get(self, payout_id: str) -> Payout | None:
        data = self.s.read(self.s.refs.doc(d.PAYOUTS, payout_id))
        return d.payout_from_doc(data) if data else None

    def newest_first(
        self,
        *,
        seller_id: str | None,
        status: str | None,
        run_id: str | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Payout]:
        """Newest first, cursor-paginated on (created_at, payout_id)."""
        query: Any = self.s.client.collection(d.PAYOUTS)
        for name, value in (("seller_id", seller_id), ("status", status), ("run_id", run_id)):
            if value is not None:
                query = query.where(filter=firestore.FieldFilter(name, "==", value))
        query = query.order_by("created_at", direction=firestore.Query.DESCENDING).order_by(
            "payout_id", direction=firestore.Query.DESCENDING
        )
        if after is not None:
            query = query.start_after({"created_at": after[0], "payout_id": after[1]})
        return [d.payout_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query.limit(limit))]

    def open_before(self, cutoff: datetime, limit: int) -> list[Payout]:
        """Pending or processing payouts untouched since ``cutoff`` (index: status, updated_at)."""
        query = (
            self.s.client.collection(d.PAYOUTS)
            .where(
                filter=firestore.FieldFilter(
                    "status", "in", [PayoutStatus.PENDING.value, PayoutStatus.PROCESSING.value]
                )
            )
            .where(filter=firestore.FieldFilter("updated_at", "<", cutoff))
            .order_by("updated_at")
            .limit(limit)
        )
        return [d.payout_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query)]

    def unsent_of_run(self, run_id: str, *, after: str | None, limit: int) -> list[Payout]:
        """run_id ==, status == pending, ordered by payout_id (index: run_id, status, payout_id)."""
        query: Any = (
            self.s.client.collection(d.PAYOUTS)
            .where(filter=firestore.FieldFilter("run_id", "==", run_id))
            .where(filter=firestore.FieldFilter("status", "==", PayoutStatus.PENDING.value))
            .order_by("payout_id")
        )
        if after is not None:
            query = query.start_after({"payout_id": after})
        return [d.payout_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query.limit(limit))]

    def paid_due_for_return_check(self, due_from_before: datetime, limit: int) -> list[Payout]:
        """Paid payouts whose return check is due (index: status, return_check_from)."""
        query = (
            self.s.client.collection(d.PAYOUTS)
            .where(filter=firestore.FieldFilter("status", "==", PayoutStatus.PAID.value))
            .where(filter=firestore.FieldFilter("return_check_from", "<", due_from_before))
            .order_by("return_check_from")
            .limit(limit)
        )
        return [d.payout_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query)]

    def reschedule_return_check(self, payout: Payout, check_from: datetime | None) -> None:
        self.s.calls.update(
            self.s.refs.writable(d.PAYOUTS, payout.payout_id),
            {"return_check_from": check_from, "return_checks": payout.return_checks + 1},
        )

    def flag_stuck(self, payout_id: str, reason: str, at: datetime) -> None:
        self.s.calls.update(
            self.s.refs.writable(d.PAYOUTS, payout_id), {"stuck_reason": reason, "stuck_flagged_at": at}
        )

    def sent_over_rail(
        self, rail: str, start: datetime, end: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Payout]:
        """Reconciliation's ledger side (index: provider, transfer_started_at, payout_id)."""
        query = (
            self.s.client.collection(d.PAYOUTS)
            .where(filter=firestore.FieldFilter("provider", "==", rail))
            .where(filter=firestore.FieldFilter("transfer_started_at", ">=", start))
            .where(filter=firestore.FieldFilter("transfer_started_at", "<", end))
            .order_by("transfer_started_at")
            .order_by("payout_id")
        )
        if after is not None:
            query = query.start_after({"transfer_started_at": after[0], "payout_id": after[1]})
        return [d.payout_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query.limit(limit))]


class _SellerQueries:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def get(self, seller_id: str) -> Seller | None:
        data = self.s.read(self.s.refs.doc(d.SELLERS, seller_id))
        return d.seller_from_doc(data) if data else None

    def balances(self, seller_id: str) -> list[Balance]:
        parent = self.s.refs.doc(d.SELLERS, seller_id)
        if parent is None:
            return []
        shards = self.s.calls.stream(parent.collection(d.BALANCE_SHARDS))
        return d.balances_from_shards(snap.to_dict() or {} for snap in shards)

    def in_buckets(self, lo: int, hi: int, start_after: str | None, limit: int) -> list[Seller]:
        """Sellers whose run bucket is in [lo, hi), in id order (index: run_bucket, __name__)."""
        query = (
            self.s.client.collection(d.SELLERS)
            .where(filter=firestore.FieldFilter("run_bucket", ">=", lo))
            .where(filter=firestore.FieldFilter("run_bucket", "<", hi))
            .order_by("run_bucket")
            .order_by("seller_id")
        )
        if start_after is not None:
            bucket, seller_id = start_after.split("/", 1)
            query = query.start_after({"run_bucket": int(bucket), "seller_id": seller_id})
        return [d.seller_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query.limit(limit))]

    def available_by_currency(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Money]]:
        """Every wanted currency's shards of many sellers in one batched read (``get_all``)."""
        refs = [
            ref
            for sid, currencies in wanted.items()
            for ccy in currencies
            for ref in self.s.refs.balance_shards_of(sid, ccy)
        ]
        totals = {sid: {ccy: 0 for ccy in currencies} for sid, currencies in wanted.items()}
        for snap in self.s.calls.get_all(refs):
            if snap.exists:
                data = snap.to_dict() or {}
                sid, ccy = str(data["seller_id"]), str(data["currency"])
                if sid in totals and ccy in totals[sid]:
                    totals[sid][ccy] += int(data.get(Bucket.AVAILABLE.value, 0))
        return {sid: {ccy: Money(n, ccy) for ccy, n in by.items()} for sid, by in totals.items()}

    def available_balances(self, sellers: Sequence[Seller]) -> dict[str, Money]:
        """Available balance of many sellers in one batched read (``get_all``)."""
        refs = [ref for s in sellers for ref in self.s.refs.balance_shards_of(s.seller_id, s.currency)]
        totals = {s.seller_id: Money(0, s.currency) for s in sellers}
        for snap in self.s.calls.get_all(refs):
            if snap.exists:
                data = snap.to_dict() or {}
                sid = str(data["seller_id"])
                totals[sid] = totals[sid] + Money(
                    int(data.get(Bucket.AVAILABLE.value, 0)), totals[sid].currency
                )
        return totals


class _RunStore:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def create(self, run: PayoutRun) -> PayoutRun | None:
        """A plain create, not a read-then-write transaction: concurrent starters (Scheduler's
        redelivery, an ops call, a second trigger) must not queue on the run document's lock.
        Exactly one create succeeds; the others read what it wrote."""
        ref = self.s.refs.writable(d.PAYOUT_RUNS, run.run_id)
        if self.s.calls.create(ref, d.run_to_doc(run)):
            return None
        found = self.get(run.run_id)
        assert found is not None
        return found

    def get(self, run_id: str) -> PayoutRun | None:
        data = self.s.read(self.s.refs.doc(d.PAYOUT_RUNS, run_id))
        return d.run_from_doc(data) if data else None

    def mark_fanned_out(self, run_id: str, at: datetime) -> None:
        self.s.calls.update(
            self.s.refs.writable(d.PAYOUT_RUNS, run_id),
            {"status": RunStatus.FANNED_OUT.value, "fanned_out_at": at},
        )

    def get_page(self, run_id: str, page_id: str) -> RunPage | None:
        data = self.s.read(self.s.refs.sub(d.PAYOUT_RUNS, run_id, d.RUN_PAGES, page_id))
        return d.page_from_doc(run_id, data) if data else None

    def create_page(self, page: RunPage) -> bool:
        run = self.s.refs.writable(d.PAYOUT_RUNS, page.run_id)
        return self.s.calls.commit_batch(
            [
                ("create", run.collection(d.RUN_PAGES).document(page.page_id), d.page_to_doc(page)),
                (
                    "merge",
                    self.s.refs.run_counter(page.run_id, page.page_id),
                    _increments(d.tally_to_fields(page_created_tally())),
                ),
            ]
        )

    def finish_page(self, page: RunPage) -> bool:
        run = self.s.refs.writable(d.PAYOUT_RUNS, page.run_id)
        return self.s.calls.commit_batch(
            [
                (
                    "create",
                    run.collection(d.RUN_PAGES_DONE).document(page.page_id),
                    {"done_at": page.done_at},
                ),
                ("set", run.collection(d.RUN_PAGES).document(page.page_id), d.page_to_doc(page)),
                (
                    "merge",
                    self.s.refs.run_counter(page.run_id, page.page_id),
                    _increments(d.tally_to_fields(page_done_tally())),
                ),
            ]
        )

    def progress(self, run_id: str) -> RunProgress | None:
        """The run and its counter shards, in one batched read: 1 + RUN_COUNTER_SHARDS reads."""
        run_ref = self.s.refs.doc(d.PAYOUT_RUNS, run_id)
        if run_ref is None:
            return None
        run: PayoutRun | None = None
        tally = RunTally({})
        for snap in self.s.calls.get_all([run_ref, *self.s.refs.run_counters(run_id)]):  # in any order
            if not snap.exists:
                continue
            if snap.reference.path == run_ref.path:
                run = d.run_from_doc(snap.to_dict() or {})
            else:
                tally = tally + d.tally_from_doc(snap.to_dict() or {})
        return RunProgress(run, tally) if run is not None else None

    def items(
        self,
        run_id: str,
        *,
        skip_reason: SkipReason | None,
        seller_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[RunItem]:
        """skip_reason == (optional), seller_id == (optional), ordered by seller_id."""
        parent = self.s.refs.doc(d.PAYOUT_RUNS, run_id)
        if parent is None:
            return []
        query: Any = parent.collection(d.RUN_ITEMS)
        if skip_reason is not None:
            query = query.where(filter=firestore.FieldFilter("skip_reason", "==", skip_reason.value))
        if seller_id is not None:
            query = query.where(filter=firestore.FieldFilter("seller_id", "==", seller_id))
        query = query.order_by("seller_id")
        if after is not None:
            query = query.start_after({"seller_id": after})
        return [
            d.item_from_doc(run_id, snap.to_dict() or {}) for snap in self.s.calls.stream(query.limit(limit))
        ]

    def fanned_out(self, limit: int) -> list[PayoutRun]:
        return self.in_status(RunStatus.FANNED_OUT, limit)

    def in_status(self, status: RunStatus, limit: int) -> list[PayoutRun]:
        query = (
            self.s.client.collection(d.PAYOUT_RUNS)
            .where(filter=firestore.FieldFilter("status", "==", status.value))
            .limit(limit)
        )
        return [d.run_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query)]

    def queued_pages_due_before(self, run_id: str, cutoff: datetime, limit: int) -> list[RunPage]:
        """Pages still queued past their due time (index: status, due_at)."""
        parent = self.s.refs.doc(d.PAYOUT_RUNS, run_id)
        if parent is None:
            return []
        query = (
            parent.collection(d.RUN_PAGES)
            .where(filter=firestore.FieldFilter("status", "==", PageStatus.QUEUED.value))
            .where(filter=firestore.FieldFilter("due_at", "<", cutoff))
            .limit(limit)
        )
        return [d.page_from_doc(run_id, snap.to_dict() or {}) for snap in self.s.calls.stream(query)]


class _OutboxQueries:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def get(self, event_id: str) -> OutboxEvent | None:
        data = self.s.read(self.s.refs.doc(d.OUTBOX, event_id))
        return d.outbox_from_doc(data) if data else None

    def unpublished(self, limit: int) -> list[str]:
        query = self.s.client.collection(d.OUTBOX).where(
            filter=firestore.FieldFilter("published", "==", False)
        )
        return [snap.id for snap in self.s.calls.stream(query.limit(limit))]

    def mark_published(self, event_id: str, at: datetime) -> None:
        self.s.calls.update(self.s.refs.writable(d.OUTBOX, event_id), {"published": True, "published_at": at})


class _DeadLetters:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def add(self, letter: DeadLetter) -> None:
        ref = self.s.refs.writable(d.DEAD_LETTERS, d.dead_letter_id(letter.source, letter.message_id))
        self.s.calls.set(ref, d.dead_letter_to_doc(letter))


class _JournalQueries:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def entries(self, seller_id: str | None = None) -> Iterator[StoredEntry]:
        for data in self.s.journal_documents(seller_id):
            yield d.stored_entry_from_doc(data)

    def stored_balances(self) -> dict[tuple[str, str], int]:
        return d.stored_balances_from_shards(self.s.balance_shard_documents())


class _ReconciliationStore:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def put_report(self, report: ReconciliationRun) -> None:
        ref = self.s.refs.writable(d.RECONCILIATION_REPORTS, report.report_id)
        self.s.calls.set(ref, d.reconciliation_run_to_doc(report))

    def get_report(self, report_id: str) -> ReconciliationRun | None:
        data = self.s.read(self.s.refs.doc(d.RECONCILIATION_REPORTS, report_id))
        return d.reconciliation_run_from_doc(data) if data else None

    def reports(self, rail: str | None, limit: int) -> list[ReconciliationRun]:
        """Newest window first (index: rail, window_start when filtered by rail)."""
        query: Any = self.s.client.collection(d.RECONCILIATION_REPORTS)
        if rail is not None:
            query = query.where(filter=firestore.FieldFilter("rail", "==", rail))
        query = query.order_by("window_start", direction=firestore.Query.DESCENDING).limit(limit)
        return [d.reconciliation_run_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query)]

    def get_break(self, break_id: str) -> Break | None:
        data = self.s.read(self.s.refs.doc(d.RECONCILIATION_BREAKS, break_id))
        return d.break_from_doc(data) if data else None

    def breaks(
        self,
        *,
        rail: str | None,
        state: BreakState | None,
        cls: MovementClass | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Break]:
        """Newest detected first, cursor-paginated on (detected_at, break_id); any of rail,
        state, class equal (one index per combination, infra/firestore.tf)."""
        query: Any = self.s.client.collection(d.RECONCILIATION_BREAKS)
        for name, value in (
            ("rail", rail),
            ("state", state.value if state else None),
            ("cls", cls.value if cls else None),
        ):
            if value is not None:
                query = query.where(filter=firestore.FieldFilter(name, "==", value))
        query = query.order_by("detected_at", direction=firestore.Query.DESCENDING).order_by(
            "break_id", direction=firestore.Query.DESCENDING
        )
        if after is not None:
            query = query.start_after({"detected_at": after[0], "break_id": after[1]})
        return [d.break_from_doc(snap.to_dict() or {}) for snap in self.s.calls.stream(query.limit(limit))]

    def posted_fees(self, rail: str, record_ids: Sequence[str]) -> list[LedgerFee]:
        """One batched read of the fee entries by their ids (derived from rail and record)."""
        by_entry = {entry_id_for("rail.fee", f"{rail}:{rid}"): rid for rid in record_ids}
        refs = [r for r in (self.s.refs.doc(d.JOURNAL, eid) for eid in by_entry) if r is not None]
        found = []
        for snap in self.s.calls.get_all(refs):
            if snap.exists:
                found.append(d.posted_fee_from_doc(rail, by_entry[snap.id], snap.to_dict() or {}))
        return found


class _ContentsQueries:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def of_payout(self, payout_id: str) -> PayoutContents | None:
        head_ref = self.s.refs.doc(d.PAYOUT_CONTENTS, payout_id)
        head = self.s.read(head_ref)
        if head_ref is None or head is None:
            return None
        refs = [head_ref.collection(d.CHUNKS).document(str(n)) for n in range(1, int(head.get("chunks", 1)))]
        return d.contents_from_docs(head, [s.to_dict() or {} for s in self.s.calls.get_all(refs)])

    def seller_entries(self, seller_id: str, since: datetime | None) -> list[DatedEntry]:
        query = self.s.client.collection(d.JOURNAL).where(
            filter=firestore.FieldFilter("seller_id", "==", seller_id)
        )
        if since is not None:
            query = query.where(filter=firestore.FieldFilter("created_at", ">=", since))
        snaps = self.s.calls.stream(query.order_by("created_at"))
        return sorted((d.journal_from_doc(s.to_dict() or {}) for s in snaps), key=lambda e: e.key)


class FirestoreStore:
    """The storage port on Firestore. Its raw helpers (``client``, ``get``, ``count``, ``run_ref``)
    serve the tools and the verification harnesses, which read documents as stored."""

    def __init__(self, settings: Settings | None = None, project: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.project = project or self.settings.project
        self.payouts = _PayoutQueries(self)
        self.sellers = _SellerQueries(self)
        self.runs = _RunStore(self)
        self.outbox = _OutboxQueries(self)
        self.dead_letters = _DeadLetters(self)
        self.journal = _JournalQueries(self)
        self.reconciliation = _ReconciliationStore(self)
        self.contents = _ContentsQueries(self)

    @property
    def client(self) -> firestore.Client:
        return firestore_client(self.project)

    @property
    def calls(self) -> Calls:
        return Calls(self.client)

    @property
    def refs(self) -> _Refs:
        return _Refs(self.client, self.settings.balance_shards)

    def atomically(self, body: Callable[[UnitOfWork], T]) -> T:
        refs = self.refs

        def in_transaction(txn: firestore.Transaction, count: Callable[[int], None]) -> T:
            return body(FirestoreUnitOfWork(_Tx(self.calls, refs, txn, count)))

        return self.calls.run_transaction(in_transaction)

    def due_order_lines(self, now: datetime, limit: int) -> list[str]:
        """Ids of lines whose holding period is over (index: release_state, release_at)."""
        query = (
            self.client.collection(d.ORDER_LINES)
            .where(filter=firestore.FieldFilter("release_state", "==", ReleaseState.HOLDING.value))
            .where(filter=firestore.FieldFilter("release_at", "<=", now))
            .order_by("release_at")
            .limit(limit)
        )
        return [snap.id for snap in self.calls.stream(query)]

    def read(self, ref: Ref | None) -> dict[str, Any] | None:
        if ref is None:
            return None
        snap = self.calls.get(ref)
        return snap.to_dict() if snap.exists else None

    # --- raw documents, for tools, harnesses and tests ----------------------------------------------

    def doc(self, collection: str, doc_id: str) -> Ref:
        return self.refs.writable(collection, doc_id)

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        return self.read(self.refs.doc(collection, doc_id))

    def run_ref(self, run_id: str) -> Ref:
        return self.doc(d.PAYOUT_RUNS, run_id)

    def count(self, query: Any) -> int:
        return self.calls.count(query)

    def get_seller(self, seller_id: str) -> Seller | None:
        return self.sellers.get(seller_id)

    def get_payout(self, payout_id: str) -> Payout | None:
        return self.payouts.get(payout_id)

    def balances(self, seller_id: str) -> list[Balance]:
        return self.sellers.balances(seller_id)

    def unpublished_outbox_ids(self, limit: int) -> list[str]:
        return self.outbox.unpublished(limit)

    def journal_documents(self, seller_id: str | None = None) -> Iterator[dict[str, Any]]:
        query: Any = self.client.collection(d.JOURNAL)
        if seller_id is not None:
            query = query.where(filter=firestore.FieldFilter("seller_id", "==", seller_id))
        for snap in query.stream():
            yield snap.to_dict() or {}

    def journal_entries(self, seller_id: str | None = None) -> Iterator[dict[str, Any]]:
        return self.journal_documents(seller_id)

    def bank_account_changes(self, seller_id: str) -> list[dict[str, Any]]:
        ref = self.doc(d.SELLERS, seller_id).collection(d.BANK_ACCOUNT_CHANGES)
        return sorted((s.to_dict() or {} for s in ref.stream()), key=lambda doc: doc["changed_at"])

    def balance_shard_documents(self) -> Iterator[dict[str, Any]]:
        """Every balance shard of every seller (an unfiltered collection-group scan: no index)."""
        for snap in self.client.collection_group(d.BALANCE_SHARDS).stream():
            yield snap.to_dict() or {}
