"""The ports of the application: what the use cases need from the outside, as typing Protocols.

Storage
    :class:`Storage` runs a body in one :class:`UnitOfWork` (``storage.atomically(body)``): one
    Firestore transaction in production, an in-memory copy in unit tests
    (``tests/fakes/storage.py``). Its rules, which both implementations keep and one contract
    suite checks (``tests/contract/``):

    - the body may run more than once (the store retries it on contention), so it has no effect
      outside the unit of work: collect what to do after the commit and do it after;
    - everything the body wrote is committed together when it returns, and nothing when it raises;
    - all reads come before any write (:class:`ReadAfterWrite` otherwise);
    - a record created once by id (journal entry, outbox event, idempotency key, received order
      event, provider event) that already exists fails the commit with :class:`AlreadyExists`;
    - :meth:`UnitOfWork.read_ahead` names what the body is about to read, so the store fetches it
      in one round trip; it changes no result.

    Outside a unit of work, :class:`Storage` reads (queries, lists, progress) and makes the few
    single-document writes that need no transaction.

Outside systems
    :class:`TaskQueue` (Cloud Tasks), :class:`EventPublisher` (Pub/Sub) and
    :class:`ProviderDirectory` (the payment providers, each a :class:`PaymentProvider`) are handed
    in by the composition root (``shared/entrypoints/deps.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shared.adapters.providers.base import (
    OutcomeUnknown,
    PaymentProvider,
    ProviderError,
    ProviderEvent,
    ProviderUnavailable,
    TransferRejected,
    TransferRequest,
    TransferState,
    UnknownProvider,
    WebhookIgnored,
    WebhookRejected,
)
from shared.domain.eligibility import SkipReason
from shared.domain.events import OutboxEvent
from shared.domain.ledger import Bucket, DatedEntry, JournalEntry
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, Outcome
from shared.domain.payout_contents import PayoutContents, SettlementState
from shared.domain.payouts import Payout, PayoutStatus
from shared.domain.runs import PayoutRun, RunItem, RunPage, RunProgress, RunStatus, RunTally
from shared.domain.sellers import Seller

T = TypeVar("T")

__all__ = [
    "AlreadyExists",
    "Balance",
    "BalanceRepository",
    "ConsoleReads",
    "Contention",
    "ContentsQueries",
    "DeadLetter",
    "DeadLetters",
    "DocumentStore",
    "EventPublisher",
    "IdempotencyKeys",
    "IdempotencyRecord",
    "Journal",
    "OrderEventRepository",
    "OrderLineRepository",
    "OutboxRepository",
    "OutcomeUnknown",
    "PaymentProvider",
    "PayoutQueries",
    "PayoutRepository",
    "ProviderDirectory",
    "ProviderError",
    "ProviderEvent",
    "ProviderEventRecord",
    "ProviderEvents",
    "ProviderUnavailable",
    "ReadAfterWrite",
    "ReadAhead",
    "ReceivedOrderEvent",
    "Refusal",
    "RunPayoutPoint",
    "RunRepository",
    "RunStore",
    "SellerQueries",
    "SellerRepository",
    "SettlementRepository",
    "Storage",
    "StoredEntry",
    "TaskQueue",
    "TransferRejected",
    "TransferRequest",
    "TransferState",
    "UnitOfWork",
    "UnknownProvider",
    "WebhookIgnored",
    "WebhookRejected",
]


# --- errors of the storage port ---------------------------------------------------------------------


class StorageError(Exception):
    """Something the store refused; never a rule of the business."""


class Contention(StorageError):
    """The unit of work gave up: other transactions kept holding what it needed. Try later."""


class AlreadyExists(StorageError):
    """A record that is created once by id already exists; nothing of the unit of work was written."""


class ReadAfterWrite(StorageError):
    """A body read after it wrote: every read must come first (a Firestore transaction's rule)."""


# --- records the use cases keep -------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    """A seller's balance in one currency, in minor units, summed over its shards."""

    currency: str
    pending: int = 0
    available: int = 0
    in_flight: int = 0

    def bucket(self, bucket: Bucket) -> int:
        return int(getattr(self, bucket.value))


@dataclass(frozen=True)
class Refusal:
    """Why an on-demand payout request was refused: a code clients match on, a message and the
    request field at fault."""

    code: str
    message: str
    field: str


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first outcome of an on-demand request (``POST /payouts``) under one key: the payout as
    it was created, or the refusal. A replay renders the same answer from it."""

    key_id: str
    fingerprint: str  # of the request body: the same key with another body is refused
    payout: Payout | None
    refusal: Refusal | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ReceivedOrderEvent:
    """An order event as received, once per event id, with what it did."""

    event_id: str
    type: str
    seller_id: str
    order_line_id: str
    fingerprint: str
    outcome: Outcome
    reason: str | None
    source: str
    received_at: datetime
    entry_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderEventRecord:
    """A provider's webhook event already applied (de-duplication by provider and event id)."""

    provider: str
    event_id: str
    payout_id: str
    status: str
    result: str
    received_at: datetime


@dataclass(frozen=True)
class StoredEntry:
    """A journal entry as stored, for audits: its postings (account, amount, currency) are not
    trusted to balance."""

    entry_id: str
    postings: tuple[tuple[str, int, str], ...]


@dataclass(frozen=True)
class DeadLetter:
    """A message that can never be applied, kept for ops."""

    source: str
    message_id: str
    code: str
    reason: str
    details: tuple[tuple[str, str], ...]  # (field, reason)
    payload_excerpt: str
    received_at: datetime


# --- what a unit of work reads ahead ------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutRef:
    payout_id: str


@dataclass(frozen=True)
class SellerRef:
    seller_id: str


@dataclass(frozen=True)
class BalanceRef:
    """All the balance shards of a seller in a currency."""

    seller_id: str
    currency: str


@dataclass(frozen=True)
class IdempotencyRef:
    key_id: str


@dataclass(frozen=True)
class ProviderEventRef:
    provider: str
    event_id: str


@dataclass(frozen=True)
class RunItemRef:
    run_id: str
    seller_id: str


ReadAhead = PayoutRef | SellerRef | BalanceRef | IdempotencyRef | ProviderEventRef | RunItemRef


# --- repositories inside a unit of work ------------------------------------------------------------


class PayoutRepository(Protocol):
    def get(self, payout_id: str) -> Payout | None: ...

    def put(self, payout: Payout) -> None: ...


class SellerRepository(Protocol):
    def get(self, seller_id: str) -> Seller | None: ...

    def put(self, seller: Seller, *, bank_account_changed: bool) -> None:
        """Create or replace; a changed bank account is also recorded in the seller's history."""
        ...


class BalanceRepository(Protocol):
    def available(self, seller_id: str, currency: str) -> Money:
        """The available balance, read inside the unit of work (so a concurrent change retries it)."""
        ...


class Journal(Protocol):
    def post(self, entry: JournalEntry, at: datetime) -> None:
        """Append the entry (created once by id) and add its postings to the seller balances."""
        ...


class OrderLineRepository(Protocol):
    def get(self, order_line_id: str) -> OrderLine | None: ...

    def put(self, line: OrderLine) -> None: ...


class OrderEventRepository(Protocol):
    def get(self, event_id: str) -> ReceivedOrderEvent | None: ...

    def add(self, event: ReceivedOrderEvent) -> None:
        """Created once by id."""
        ...

    def resolve(
        self, event_id: str, outcome: Outcome, reason: str | None, entry_ids: Sequence[str], at: datetime
    ) -> None:
        """A parked event has now been applied (or found invalid)."""
        ...


class OutboxRepository(Protocol):
    def add(self, event: OutboxEvent) -> None:
        """Created once by id, unpublished; relayed after the commit."""
        ...


class IdempotencyKeys(Protocol):
    def get(self, key_id: str) -> IdempotencyRecord | None: ...

    def add(self, record: IdempotencyRecord) -> None:
        """Created once by id."""
        ...


class ProviderEvents(Protocol):
    def seen(self, provider: str, event_id: str) -> bool: ...

    def add(self, record: ProviderEventRecord) -> None:
        """Created once by (provider, event id)."""
        ...


class RunRepository(Protocol):
    def get(self, run_id: str) -> PayoutRun | None: ...

    def put(self, run: PayoutRun) -> None: ...

    def get_page(self, run_id: str, page_id: str) -> RunPage | None: ...

    def put_page(self, page: RunPage) -> None: ...

    def get_item(self, run_id: str, seller_id: str) -> RunItem | None: ...

    def put_item(self, item: RunItem) -> None: ...

    def count(self, run_id: str, tally: RunTally, shard_key: str) -> None:
        """Add ``tally`` to the run's counters (one of its counter shards, chosen by
        ``shard_key``): a blind increment, no read."""
        ...


class SettlementRepository(Protocol):
    """What each payout pays for (issue 18): the seller's settlement checkpoint per currency and
    the contents of each payout, written with the payout."""

    def checkpoint(self, seller_id: str, currency: str) -> SettlementState | None: ...

    def entries_since(self, seller_id: str, since: datetime | None) -> list[DatedEntry]:
        """The seller's journal entries written at or after ``since`` (all when None), in journal
        order (time written, entry id). Not locked by the unit of work: the caller reads the
        seller's balance in it first and checks the entries against it (check_in_step)."""
        ...

    def contents(self, payout_ids: Sequence[str]) -> dict[str, PayoutContents]:
        """The stored contents of these payouts (those found)."""
        ...

    def put(self, contents: PayoutContents, state: SettlementState) -> None:
        """Store a new payout's contents and the seller's checkpoint after it (any size: a payout
        that settles thousands of lines is split over several documents)."""
        ...


class UnitOfWork(Protocol):
    @property
    def payouts(self) -> PayoutRepository: ...

    @property
    def sellers(self) -> SellerRepository: ...

    @property
    def balances(self) -> BalanceRepository: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def order_lines(self) -> OrderLineRepository: ...

    @property
    def order_events(self) -> OrderEventRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    @property
    def provider_events(self) -> ProviderEvents: ...

    @property
    def runs(self) -> RunRepository: ...

    @property
    def settlements(self) -> SettlementRepository: ...

    def read_ahead(self, *refs: ReadAhead) -> None:
        """Fetch these in one round trip; later reads of them use what was fetched."""
        ...


# --- outside a unit of work -----------------------------------------------------------------------


class PayoutQueries(Protocol):
    def get(self, payout_id: str) -> Payout | None: ...

    def newest_first(
        self,
        *,
        seller_id: str | None,
        status: str | None,
        run_id: str | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Payout]:
        """Newest first, after the cursor (created_at, payout_id)."""
        ...

    def open_before(self, cutoff: datetime, limit: int) -> list[Payout]:
        """Pending or processing payouts untouched since ``cutoff``."""
        ...

    def paid_due_for_return_check(self, due_from_before: datetime, limit: int) -> list[Payout]: ...

    def reschedule_return_check(self, payout: Payout, check_from: datetime | None) -> None:
        """A plain update: if the payout moves on meanwhile, the query no longer sees it."""
        ...

    def flag_stuck(self, payout_id: str, reason: str, at: datetime) -> None: ...


class SellerQueries(Protocol):
    def get(self, seller_id: str) -> Seller | None: ...

    def balances(self, seller_id: str) -> list[Balance]: ...

    def in_buckets(self, lo: int, hi: int, start_after: str | None, limit: int) -> list[Seller]:
        """Sellers whose run bucket is in [lo, hi), in (bucket, id) order, after the cursor."""
        ...

    def available_balances(self, sellers: Sequence[Seller]) -> dict[str, Money]:
        """The available balance of each seller, in one batched read."""
        ...


class RunStore(Protocol):
    def create(self, run: PayoutRun) -> PayoutRun | None:
        """Create the run unless one has its id: None when created, else the one found."""
        ...

    def get(self, run_id: str) -> PayoutRun | None: ...

    def mark_fanned_out(self, run_id: str, at: datetime) -> None: ...

    def get_page(self, run_id: str, page_id: str) -> RunPage | None: ...

    def create_page(self, page: RunPage) -> bool:
        """Create the page and count it, together; False (and nothing written) if it exists."""
        ...

    def finish_page(self, page: RunPage) -> bool:
        """Write ``page`` (done) and count it done, once: a blind write guarded by a marker the
        first call creates, so duplicate shard tasks neither read the page nor count it twice
        (False: a duplicate had finished it; nothing written)."""
        ...

    def progress(self, run_id: str) -> RunProgress | None:
        """The run and the sum of its counters (one batched read)."""
        ...

    def items(
        self,
        run_id: str,
        *,
        skip_reason: SkipReason | None,
        seller_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[RunItem]:
        """Items in seller id order, after the cursor."""
        ...

    def fanned_out(self, limit: int) -> list[PayoutRun]: ...

    def in_status(self, status: RunStatus, limit: int) -> list[PayoutRun]: ...

    def queued_pages_due_before(self, run_id: str, cutoff: datetime, limit: int) -> list[RunPage]: ...


class OutboxQueries(Protocol):
    def get(self, event_id: str) -> OutboxEvent | None: ...

    def unpublished(self, limit: int) -> list[str]: ...

    def mark_published(self, event_id: str, at: datetime) -> None: ...


class DeadLetters(Protocol):
    def add(self, letter: DeadLetter) -> None:
        """Keyed by source and message id: a second delivery overwrites the first."""
        ...


class JournalQueries(Protocol):
    def entries(self, seller_id: str | None = None) -> Iterable[StoredEntry]: ...

    def stored_balances(self) -> dict[tuple[str, str], int]:
        """Every seller balance as stored: (seller account, currency) -> amount."""
        ...


class ContentsQueries(Protocol):
    """Reads of what payouts pay for, outside a unit of work (statements, documents, audits)."""

    def of_payout(self, payout_id: str) -> PayoutContents | None: ...

    def seller_entries(self, seller_id: str, since: datetime | None) -> list[DatedEntry]:
        """The seller's journal entries written at or after ``since``, in journal order."""
        ...


class Storage(Protocol):
    @property
    def payouts(self) -> PayoutQueries: ...

    @property
    def sellers(self) -> SellerQueries: ...

    @property
    def runs(self) -> RunStore: ...

    @property
    def outbox(self) -> OutboxQueries: ...

    @property
    def dead_letters(self) -> DeadLetters: ...

    @property
    def journal(self) -> JournalQueries: ...

    @property
    def contents(self) -> ContentsQueries: ...

    def atomically(self, body: Callable[[UnitOfWork], T]) -> T:
        """Run ``body`` in one unit of work, committed when it returns (see the module's rules).
        Raises :class:`Contention` when other work kept it from committing."""
        ...

    def due_order_lines(self, now: datetime, limit: int) -> list[str]:
        """Ids of order lines whose holding period is over."""
        ...


# --- outside systems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPayoutPoint:
    """One payout of a run, as its charts need it."""

    status: str
    updated_at: datetime | None
    failure_code: str | None


class ConsoleReads(Protocol):
    """What the ops console reads beyond the payout rules' own ports: documents for display
    (bank data already masked), and the audit of its actions."""

    def runs_newest_first(self, limit: int, before: datetime | None) -> list[PayoutRun]: ...

    def run_payout_points(self, run_id: str, limit: int) -> list[RunPayoutPoint]: ...

    def count_run_payouts(self, run_id: str, status: PayoutStatus) -> int: ...

    def payout_document(self, payout_id: str) -> dict[str, Any] | None: ...

    def seller_document(self, seller_id: str) -> dict[str, Any] | None: ...

    def provider_events_of(self, payout_id: str, limit: int) -> list[dict[str, Any]]: ...

    def journal_documents(self, entry_ids: Sequence[str]) -> list[dict[str, Any]]: ...

    def outbox_documents(self, event_ids: Sequence[str]) -> list[dict[str, Any]]: ...

    def dead_letters(self, limit: int) -> list[dict[str, Any]]: ...

    def unpaid_order_lines(self, limit: int) -> list[dict[str, Any]]: ...

    def record_action(self, record: dict[str, Any]) -> None: ...


class TaskQueue(Protocol):
    def enqueue(
        self,
        queue: str,
        function: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        delay_seconds: float = 0,
    ) -> str:
        """An HTTP task POSTing ``payload`` to one of our functions; a second task with the same
        ``dedupe_key`` may be dropped (production) or run (the emulator): handlers are idempotent."""
        ...


class DocumentStore(Protocol):
    """Documents for sellers (remittance advice) in a Cloud Storage bucket."""

    def put_once(self, name: str, data: bytes, content_type: str) -> str:
        """Store the object unless one has the name already (the first one stays: a retry keeps
        what a first attempt wrote). Returns its ``gs://bucket/name`` URI."""
        ...

    def get(self, name: str) -> bytes | None: ...


class EventPublisher(Protocol):
    def publish_event(self, topic: str, event: OutboxEvent) -> str:
        """Publish one event (a CloudEvent), waiting for its message id."""
        ...


class ProviderDirectory(Protocol):
    def get(self, name: str) -> PaymentProvider:
        """The provider of that name; :class:`UnknownProvider` if none."""
        ...


@dataclass(frozen=True)
class PayoutPolicy:
    """Timings and sizes the payout use cases follow (from the settings)."""

    stuck_after_seconds: int = 900
    return_check_after_seconds: int = 86400
    return_watch_days: int = 14
    run_buckets: int = 16
    run_page_size: int = 100
    remittance_advice: bool = False  # enqueue a remittance advice after each payout.paid (issue 18)
