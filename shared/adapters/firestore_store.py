"""The one Firestore adapter: documents in, domain objects out.

Collections
- ``sellers/{seller_id}``: profile, bank account (full numbers, never leave this adapter
  except towards a provider), KYC, schedule, hold.
- ``sellers/{seller_id}/bank_account_changes/{id}``: when and to what (masked) an account changed.
- ``sellers/{seller_id}/balance_shards/{CCY}-{n}``: the seller's balance buckets, split over
  a few shards so a flood of events for one seller does not queue on one document.
  Postings add to a shard with server-side increments, in the same transaction as the
  journal entry, so the sum of the shards always equals the sum of the postings.
- ``journal/{entry_id}``: append-only journal entries; the id is derived from the cause.
- ``order_lines/{order_line_id}``: the state of each order line (and events parked on it).
- ``order_events/{event_id}``: every event received, its fingerprint and outcome.
- ``dead_letters/{id}``: messages that can never be applied, kept for ops.
- ``payouts/{payout_id}``: a payout, its status and its history of transitions.
- ``payout_runs/{run_id}``, with ``pages/{page_id}`` (one per shard task) and
  ``items/{seller_id}`` (the payout or the skip reason of every seller the run looked at).
- ``outbox/{payout_id}-{sequence}``: status events, written with the change, relayed after.
- ``provider_events/{provider}-{event_id}``: webhooks already applied.
- ``idempotency_keys/{hash}``: first responses of on-demand payout requests.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from shared import metrics
from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.errors import DomainError
from shared.domain.ledger import Bucket, JournalEntry
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, ReleaseState
from shared.domain.payouts import FailureCode, Payout, PayoutStatus, Transition
from shared.domain.schedule import PayoutSchedule
from shared.domain.sellers import BankAccountStatus, KycStatus, PayoutHold, Seller
from shared.settings import Settings, get_settings

T = TypeVar("T")

SELLERS = "sellers"
JOURNAL = "journal"
ORDER_LINES = "order_lines"
ORDER_EVENTS = "order_events"
DEAD_LETTERS = "dead_letters"
BALANCE_SHARDS = "balance_shards"
BANK_ACCOUNT_CHANGES = "bank_account_changes"
PAYOUTS = "payouts"
PAYOUT_RUNS = "payout_runs"
RUN_PAGES = "pages"
RUN_ITEMS = "items"
OUTBOX = "outbox"
PROVIDER_EVENTS = "provider_events"
IDEMPOTENCY_KEYS = "idempotency_keys"

_clients: dict[str, firestore.Client] = {}
_clients_lock = threading.Lock()


def firestore_client(project: str) -> firestore.Client:
    """One client per project per process, created lazily (gRPC and fork don't mix)."""
    with _clients_lock:
        if project not in _clients:
            _clients[project] = metrics.instrument_firestore(firestore.Client(project=project))
        return _clients[project]


def is_contention(exc: BaseException) -> bool:
    """A transaction that gave up because other transactions held its documents."""
    if isinstance(exc, ValueError) and "Failed to commit transaction" in str(exc):
        return True  # the client's own attempts ran out
    return isinstance(exc, gexc.Aborted) or (
        isinstance(exc, gexc.GoogleAPICallError) and "lock timeout" in str(exc).lower()
    )


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ValueError) and "Failed to commit transaction" in str(exc):
        return True  # the client's own attempts ran out on contention
    return isinstance(
        exc, gexc.Aborted | gexc.ServiceUnavailable | gexc.DeadlineExceeded | gexc.InternalServerError
    )


@dataclass(frozen=True)
class Balance:
    currency: str
    pending: int = 0
    available: int = 0
    in_flight: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "pending": self.pending,
            "available": self.available,
            "in_flight": self.in_flight,
        }


@dataclass(frozen=True)
class OutboxEvent:
    """An outbox document as its transaction wrote it: once that transaction has committed,
    the relay publishes it without reading it back."""

    event_id: str
    doc: dict[str, Any]


class Tx:
    """Reads and writes inside one Firestore transaction. All reads come before any write."""

    def __init__(self, store: FirestoreStore, txn: firestore.Transaction) -> None:
        self._store = store
        self._txn = txn
        self._read: dict[str, dict[str, Any] | None] = {}  # document path -> what prefetch read

    # reads
    def prefetch(self, refs: list[firestore.DocumentReference]) -> None:
        """Read several documents in one round trip (``get_all``), inside the transaction; later
        ``get`` / ``get_ref`` / ``available`` calls for them use what was read."""
        missing = [ref for ref in refs if ref.path not in self._read]
        if not missing:
            return
        for snap in self._txn.get_all(missing):
            self._read[snap.reference.path] = snap.to_dict() if snap.exists else None

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        return self.get_ref(self._store.doc(collection, doc_id))

    def get_order_line(self, order_line_id: str) -> OrderLine | None:
        data = self.get(ORDER_LINES, order_line_id)
        return order_line_from_doc(data) if data else None

    def get_seller(self, seller_id: str) -> Seller | None:
        data = self.get(SELLERS, seller_id)
        return seller_from_doc(data) if data else None

    def get_payout(self, payout_id: str) -> Payout | None:
        data = self.get(PAYOUTS, payout_id)
        return payout_from_doc(data) if data else None

    def get_ref(self, ref: firestore.DocumentReference) -> dict[str, Any] | None:
        if ref.path in self._read:
            found = self._read[ref.path]
            return dict(found) if found is not None else None
        snap = ref.get(transaction=self._txn)
        return snap.to_dict() if snap.exists else None

    def available(self, seller_id: str, currency: str) -> Money:
        """The seller's available balance, read (and so locked) inside the transaction."""
        refs = self._store.balance_shard_refs(seller_id, currency)
        if not all(ref.path in self._read for ref in refs):
            self.prefetch(refs)
        total = sum(int((self._read[ref.path] or {}).get(Bucket.AVAILABLE.value, 0)) for ref in refs)
        return Money(total, currency)

    # writes
    def create(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        self._txn.create(self._store.doc(collection, doc_id), data)

    def set(self, collection: str, doc_id: str, data: dict[str, Any], merge: bool = False) -> None:
        self._txn.set(self._store.doc(collection, doc_id), data, merge=merge)

    def set_ref(self, ref: firestore.DocumentReference, data: dict[str, Any], merge: bool = False) -> None:
        self._txn.set(ref, data, merge=merge)

    def put_seller(self, seller: Seller, bank_account_changed: bool) -> None:
        self.set(SELLERS, seller.seller_id, seller_to_doc(seller))
        if bank_account_changed:
            # A record of every change of bank account, for the cooling-off rule and for ops.
            change_id = hashlib.sha256(
                f"{seller.seller_id}|{seller.bank_account.fingerprint}|{seller.bank_account_changed_at}".encode()
            ).hexdigest()[:32]
            ref = (
                self._store.doc(SELLERS, seller.seller_id)
                .collection(BANK_ACCOUNT_CHANGES)
                .document(change_id)
            )
            self._txn.set(
                ref,
                {
                    "changed_at": seller.bank_account_changed_at,
                    "masked": seller.bank_account.masked,
                    "scheme": seller.bank_account.scheme,
                    "fingerprint": seller.bank_account.fingerprint,
                },
            )

    def put_payout(self, payout: Payout) -> None:
        self.set(PAYOUTS, payout.payout_id, payout_to_doc(payout))

    def add_outbox(self, payout: Payout, at: datetime) -> OutboxEvent:
        """The status event of this change, committed with it; relayed to Pub/Sub afterwards."""
        event_id = f"{payout.payout_id}-{payout.sequence:06d}"
        doc = {
            "event_id": event_id,
            "type": payout_event_type(payout.status),
            "payout_id": payout.payout_id,
            "sequence": payout.sequence,
            "data": payout_event_data(payout),
            "created_at": at,
            "published": False,
        }
        self.create(OUTBOX, event_id, doc)
        return OutboxEvent(event_id, doc)

    def put_order_line(self, line: OrderLine) -> None:
        self.set(ORDER_LINES, line.order_line_id, order_line_to_doc(line))

    def post(self, entry: JournalEntry, at: datetime) -> None:
        """Append a journal entry and add its postings to the seller balances, atomically."""
        self.create(JOURNAL, entry.entry_id, journal_to_doc(entry, at))
        for (seller_id, currency), deltas in entry.seller_deltas().items():
            shard = self._store.balance_shard(seller_id, currency, entry.entry_id)
            update: dict[str, Any] = {"currency": currency, "seller_id": seller_id}
            update.update({bucket.value: firestore.Increment(amount) for bucket, amount in deltas.items()})
            self._txn.set(shard, update, merge=True)


class FirestoreStore:
    def __init__(self, settings: Settings | None = None, project: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.project = project or self.settings.project

    @property
    def client(self) -> firestore.Client:
        return firestore_client(self.project)

    def doc(self, collection: str, doc_id: str) -> firestore.DocumentReference:
        if not valid_document_id(doc_id):
            raise UnknownDocument(collection, doc_id)
        return self.client.collection(collection).document(doc_id)

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        snap = self.doc(collection, doc_id).get()
        return snap.to_dict() if snap.exists else None

    def run(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a transaction, retried on contention. ``fn`` must have no outside effects."""

        @retry(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(6),
            wait=wait_random_exponential(multiplier=0.05, max=2),
            reraise=True,
        )
        def attempt() -> T:
            @firestore.transactional
            def body(txn: firestore.Transaction) -> T:
                metrics.incr("firestore.tx_attempts")
                return fn(Tx(self, txn))

            return body(self.client.transaction(max_attempts=5))  # type: ignore[no-any-return]

        metrics.incr("firestore.transactions")
        return attempt()

    # --- balances ---------------------------------------------------------------------------

    def balance_shard(self, seller_id: str, currency: str, key: str) -> firestore.DocumentReference:
        n = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % self.settings.balance_shards
        shards = self.doc(SELLERS, seller_id).collection(BALANCE_SHARDS)
        ref: firestore.DocumentReference = shards.document(f"{currency}-{n}")
        return ref

    def balance_shard_refs(self, seller_id: str, currency: str) -> list[firestore.DocumentReference]:
        shards = self.doc(SELLERS, seller_id).collection(BALANCE_SHARDS)
        return [shards.document(f"{currency}-{n}") for n in range(self.settings.balance_shards)]

    def balances(self, seller_id: str) -> list[Balance]:
        totals: dict[str, dict[str, int]] = {}
        shards = self.client.collection(SELLERS).document(seller_id).collection(BALANCE_SHARDS).stream()
        for snap in shards:
            data = snap.to_dict() or {}
            bucket_totals = totals.setdefault(str(data["currency"]), {b.value: 0 for b in Bucket})
            for bucket in Bucket:
                bucket_totals[bucket.value] += int(data.get(bucket.value, 0))
        return [Balance(currency=ccy, **values) for ccy, values in sorted(totals.items())]

    # --- queries ----------------------------------------------------------------------------

    def due_order_lines(self, now: datetime, limit: int) -> list[str]:
        """Ids of lines whose holding period is over (index: release_state, release_at)."""
        query = (
            self.client.collection(ORDER_LINES)
            .where(filter=firestore.FieldFilter("release_state", "==", ReleaseState.HOLDING.value))
            .where(filter=firestore.FieldFilter("release_at", "<=", now))
            .order_by("release_at")
            .limit(limit)
        )
        return [snap.id for snap in query.stream()]

    def journal_entries(self, seller_id: str | None = None) -> Iterator[dict[str, Any]]:
        query: Any = self.client.collection(JOURNAL)
        if seller_id is not None:
            query = query.where(filter=firestore.FieldFilter("seller_id", "==", seller_id))
        for snap in query.stream():
            yield snap.to_dict() or {}

    def get_seller(self, seller_id: str) -> Seller | None:
        data = self.get(SELLERS, seller_id)
        return seller_from_doc(data) if data else None

    def bank_account_changes(self, seller_id: str) -> list[dict[str, Any]]:
        ref = self.doc(SELLERS, seller_id).collection(BANK_ACCOUNT_CHANGES)
        return sorted((s.to_dict() or {} for s in ref.stream()), key=lambda d: d["changed_at"])

    # --- payouts and runs ---------------------------------------------------------------

    def get_payout(self, payout_id: str) -> Payout | None:
        data = self.get(PAYOUTS, payout_id)
        return payout_from_doc(data) if data else None

    def sellers_in_buckets(self, lo: int, hi: int, start_after: str | None, limit: int) -> list[Seller]:
        """Sellers whose run bucket is in [lo, hi), in id order (index: run_bucket, __name__)."""
        query = (
            self.client.collection(SELLERS)
            .where(filter=firestore.FieldFilter("run_bucket", ">=", lo))
            .where(filter=firestore.FieldFilter("run_bucket", "<", hi))
            .order_by("run_bucket")
            .order_by("seller_id")
        )
        if start_after is not None:
            bucket, seller_id = start_after.split("/", 1)
            query = query.start_after({"run_bucket": int(bucket), "seller_id": seller_id})
        return [seller_from_doc(snap.to_dict() or {}) for snap in query.limit(limit).stream()]

    def available_balances(self, sellers: list[Seller]) -> dict[str, Money]:
        """Available balance of many sellers in one batched read (``get_all``)."""
        refs = [ref for s in sellers for ref in self.balance_shard_refs(s.seller_id, s.currency)]
        totals = {s.seller_id: Money(0, s.currency) for s in sellers}
        for snap in self.client.get_all(refs):
            if snap.exists:
                data = snap.to_dict() or {}
                sid = str(data["seller_id"])
                totals[sid] = totals[sid] + Money(
                    int(data.get(Bucket.AVAILABLE.value, 0)), totals[sid].currency
                )
        return totals

    def unpublished_outbox_ids(self, limit: int) -> list[str]:
        query = self.client.collection(OUTBOX).where(filter=firestore.FieldFilter("published", "==", False))
        return [snap.id for snap in query.limit(limit).stream()]

    def open_payouts_before(self, cutoff: datetime, limit: int) -> list[Payout]:
        """Pending or processing payouts untouched since ``cutoff`` (index: status, updated_at)."""
        query = (
            self.client.collection(PAYOUTS)
            .where(
                filter=firestore.FieldFilter(
                    "status", "in", [PayoutStatus.PENDING.value, PayoutStatus.PROCESSING.value]
                )
            )
            .where(filter=firestore.FieldFilter("updated_at", "<", cutoff))
            .order_by("updated_at")
            .limit(limit)
        )
        return [payout_from_doc(snap.to_dict() or {}) for snap in query.stream()]

    def paid_payouts_to_recheck(self, due_from_before: datetime, limit: int) -> list[Payout]:
        """Paid payouts whose return check is due (index: status, return_check_from)."""
        query = (
            self.client.collection(PAYOUTS)
            .where(filter=firestore.FieldFilter("status", "==", PayoutStatus.PAID.value))
            .where(filter=firestore.FieldFilter("return_check_from", "<", due_from_before))
            .order_by("return_check_from")
            .limit(limit)
        )
        return [payout_from_doc(snap.to_dict() or {}) for snap in query.stream()]

    def reschedule_return_check(self, payout: Payout, check_from: datetime | None) -> None:
        """A plain update, outside any transaction: if the payout moves on meanwhile, the
        status filter of the query no longer sees it, whatever this writes."""
        self.doc(PAYOUTS, payout.payout_id).update(
            {"return_check_from": check_from, "return_checks": payout.return_checks + 1}
        )

    def flag_stuck(self, payout_id: str, reason: str, now: datetime) -> None:
        self.doc(PAYOUTS, payout_id).update({"stuck_reason": reason, "stuck_flagged_at": now})

    def list_payouts(
        self,
        *,
        seller_id: str | None,
        status: str | None,
        run_id: str | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[dict[str, Any]]:
        """Newest first, cursor-paginated on (created_at, payout_id)."""
        query: Any = self.client.collection(PAYOUTS)
        for name, value in (("seller_id", seller_id), ("status", status), ("run_id", run_id)):
            if value is not None:
                query = query.where(filter=firestore.FieldFilter(name, "==", value))
        query = query.order_by("created_at", direction=firestore.Query.DESCENDING).order_by(
            "payout_id", direction=firestore.Query.DESCENDING
        )
        if after is not None:
            query = query.start_after({"created_at": after[0], "payout_id": after[1]})
        return [snap.to_dict() or {} for snap in query.limit(limit).stream()]

    def run_ref(self, run_id: str) -> firestore.DocumentReference:
        return self.doc(PAYOUT_RUNS, run_id)

    def count(self, query: Any) -> int:
        result = query.count(alias="n").get()
        return int(result[0][0].value)

    def total(self, query: Any, field: str) -> int:
        result = query.sum(field, alias="s").get()
        return int(result[0][0].value or 0)

    def add_dead_letter(self, doc_id: str, data: dict[str, Any]) -> None:
        self.doc(DEAD_LETTERS, doc_id).set(data)


# --- documents <-> domain ---------------------------------------------------------------------


def journal_to_doc(entry: JournalEntry, at: datetime) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id,
        "kind": entry.kind,
        "cause": entry.cause,
        "seller_id": entry.seller_id,
        "created_at": at,
        "postings": [
            {"account": p.account, "amount": p.amount.amount, "currency": p.amount.currency}
            for p in entry.postings
        ],
    }


def order_line_to_doc(line: OrderLine) -> dict[str, Any]:
    return {
        "order_line_id": line.order_line_id,
        "seller_id": line.seller_id,
        "currency": line.currency,
        "paid": line.paid,
        "gross": line.gross,
        "commission": line.commission,
        "refunded": line.refunded,
        "commission_returned": line.commission_returned,
        "refunds": dict(line.refunds),
        "delivered_at": line.delivered_at,
        "release_at": line.release_at,
        "release_state": line.release_state.value,
        "parked": list(line.parked),
    }


def order_line_from_doc(data: dict[str, Any]) -> OrderLine:
    return OrderLine(
        order_line_id=data["order_line_id"],
        seller_id=data["seller_id"],
        currency=data.get("currency"),
        paid=bool(data.get("paid")),
        gross=int(data.get("gross", 0)),
        commission=int(data.get("commission", 0)),
        refunded=int(data.get("refunded", 0)),
        commission_returned=int(data.get("commission_returned", 0)),
        refunds={str(k): int(v) for k, v in (data.get("refunds") or {}).items()},
        delivered_at=data.get("delivered_at"),
        release_at=data.get("release_at"),
        release_state=ReleaseState(data.get("release_state", ReleaseState.AWAITING_DELIVERY.value)),
        parked=tuple(data.get("parked") or ()),
    )


class UnknownDocument(DomainError):
    """An id Firestore could never hold (empty, a path, ``.``/``..``, ``__x__``): nothing by that
    id exists. Refused before the database is asked, where it would be an error to retry."""

    http_status = 404

    def __init__(self, collection: str, doc_id: str) -> None:
        super().__init__("not_found", f"no {collection.rstrip('s')} {doc_id[:80]!r}", "id")


def valid_document_id(doc_id: str) -> bool:
    return (
        0 < len(doc_id.encode()) <= 1500
        and "/" not in doc_id
        and doc_id not in (".", "..")
        and not (doc_id.startswith("__") and doc_id.endswith("__"))
    )


RUN_BUCKET_SPACE = 1024  # sellers are spread over this many buckets; a run's shards take ranges


def run_bucket(seller_id: str) -> int:
    return int(hashlib.sha256(seller_id.encode()).hexdigest()[:8], 16) % RUN_BUCKET_SPACE


def seller_to_doc(seller: Seller) -> dict[str, Any]:
    account = seller.bank_account
    return {
        "seller_id": seller.seller_id,
        "run_bucket": run_bucket(seller.seller_id),
        "country": seller.country,
        "currency": seller.currency,
        "display_name": seller.display_name,
        "bank_account": account.to_storage(),
        "bank_account_masked": account.masked,
        "bank_account_fingerprint": account.fingerprint,
        "bank_account_changed_at": seller.bank_account_changed_at,
        "bank_account_status": seller.bank_account_status.value,
        "bank_account_invalid_reason": seller.bank_account_invalid_reason,
        "kyc_status": seller.kyc_status.value,
        "payout_schedule": seller.payout_schedule.model_dump(mode="json"),
        "payout_hold": seller.payout_hold.model_dump(mode="json"),
        "created_at": seller.created_at,
        "updated_at": seller.updated_at,
    }


def seller_from_doc(data: dict[str, Any]) -> Seller:
    return Seller(
        seller_id=data["seller_id"],
        country=data["country"],
        currency=data["currency"],
        display_name=data["display_name"],
        bank_account=ValidatedBankAccount.from_storage(data["bank_account"]),
        bank_account_changed_at=data["bank_account_changed_at"],
        bank_account_status=BankAccountStatus(data.get("bank_account_status", "valid")),
        bank_account_invalid_reason=data.get("bank_account_invalid_reason"),
        kyc_status=KycStatus(data["kyc_status"]),
        payout_schedule=PayoutSchedule.model_validate(data["payout_schedule"], strict=False),
        payout_hold=PayoutHold.model_validate(data["payout_hold"], strict=False),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


def payout_to_doc(payout: Payout) -> dict[str, Any]:
    return {
        "payout_id": payout.payout_id,
        "seller_id": payout.seller_id,
        "amount": payout.amount.amount,
        "currency": payout.amount.currency,
        "status": payout.status.value,
        "created_at": payout.created_at,
        "updated_at": payout.updated_at,
        "origin": payout.origin,
        "run_id": payout.run_id,
        "provider": payout.provider,
        "provider_ref": payout.provider_ref,
        "failure_code": payout.failure_code.value if payout.failure_code else None,
        "failure_message": payout.failure_message,
        "transfer_started_at": payout.transfer_started_at,
        "sequence": payout.sequence,
        "history": [t.as_dict() for t in payout.history],
        "return_check_from": payout.return_check_from,
        "return_checks": payout.return_checks,
        "trace_context": payout.trace_context,
    }


def payout_from_doc(data: dict[str, Any]) -> Payout:
    return Payout(
        payout_id=data["payout_id"],
        seller_id=data["seller_id"],
        amount=Money(int(data["amount"]), str(data["currency"])),
        status=PayoutStatus(data["status"]),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        origin=data["origin"],
        run_id=data.get("run_id"),
        provider=data.get("provider"),
        provider_ref=data.get("provider_ref"),
        failure_code=FailureCode(data["failure_code"]) if data.get("failure_code") else None,
        failure_message=data.get("failure_message"),
        transfer_started_at=data.get("transfer_started_at"),
        sequence=int(data.get("sequence", 0)),
        history=tuple(
            Transition(
                at=t["at"],
                from_status=PayoutStatus(t["from"]) if t.get("from") else None,
                to_status=PayoutStatus(t["to"]),
                cause=t["cause"],
                actor=t["actor"],
            )
            for t in data.get("history", [])
        ),
        return_check_from=data.get("return_check_from"),
        return_checks=int(data.get("return_checks", 0)),
        trace_context=data.get("trace_context"),
    )


def payout_event_type(status: PayoutStatus) -> str:
    """payout.created, payout.processing, payout.paid, payout.failed, payout.canceled, payout.returned"""
    return "payout.created" if status is PayoutStatus.PENDING else f"payout.{status.value}"


def payout_event_data(payout: Payout) -> dict[str, Any]:
    """What consumers of payout events see (no bank details)."""
    return {
        "payout_id": payout.payout_id,
        "seller_id": payout.seller_id,
        "amount": payout.amount.amount,
        "currency": payout.amount.currency,
        "status": payout.status.value,
        "sequence": payout.sequence,
        "run_id": payout.run_id,
        "provider_ref": payout.provider_ref,
        "failure_code": payout.failure_code.value if payout.failure_code else None,
        "updated_at": payout.updated_at.isoformat(),
        "provider": payout.provider,
        "created_at": payout.created_at.isoformat(),
    }
