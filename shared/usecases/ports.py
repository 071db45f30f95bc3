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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from shared.adapters.providers.base import (
    CircuitOpen,
    ContractViolation,
    NotForThisRail,
    OutcomeUnknown,
    PaymentProvider,
    ProviderError,
    ProviderEvent,
    ProviderUnavailable,
    SellerRailIds,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    TransferState,
    UnknownProvider,
    WebhookIgnored,
    WebhookRejected,
)
from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.bank_files import BankReport
from shared.domain.eligibility import SkipReason
from shared.domain.events import OutboxEvent
from shared.domain.fx import Rate
from shared.domain.ledger import Bucket, DatedEntry, JournalEntry
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, Outcome
from shared.domain.payout_contents import PayoutContents, SettlementState
from shared.domain.payouts import Payout
from shared.domain.reconciliation import Break, BreakState, LedgerFee, MovementClass, RailRecord, Window
from shared.domain.runs import PayoutRun, RunItem, RunPage, RunProgress, RunStatus, RunTally
from shared.domain.sellers import Seller

T = TypeVar("T")

__all__ = [
    "AlreadyExists",
    "Balance",
    "BalanceRepository",
    "BankFileBatch",
    "BankFileBatchState",
    "BankFileConflict",
    "BankFileQueue",
    "BankFileStore",
    "BankFiles",
    "BreakRepository",
    "CircuitOpen",
    "ConsoleReads",
    "Contention",
    "ContentsQueries",
    "ContractViolation",
    "DeadLetter",
    "DeadLetters",
    "DocumentStore",
    "EventPublisher",
    "FundingBalances",
    "FundingUnreadable",
    "IdempotencyKeys",
    "IdempotencyRecord",
    "Journal",
    "NotForThisRail",
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
    "QueuedBankTransfer",
    "RailControl",
    "RailControls",
    "RailHealthSnapshot",
    "RailRecordSource",
    "RailRecordSources",
    "ReadAfterWrite",
    "ReadAhead",
    "ReceivedOrderEvent",
    "ReconciliationRun",
    "ReconciliationStore",
    "Refusal",
    "ReportLine",
    "RunPayoutPoint",
    "RunRepository",
    "RunStore",
    "SellerQueries",
    "SellerRailIds",
    "SellerRepository",
    "SettlementRepository",
    "Storage",
    "StoredEntry",
    "TaskQueue",
    "TransferNotAccepted",
    "TransferRejected",
    "TransferRequest",
    "TransferState",
    "UnitOfWork",
    "UnknownProvider",
    "UnknownRail",
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
    def breaks(self) -> BreakRepository: ...

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

    def sent_over_rail(
        self, rail: str, start: datetime, end: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Payout]:
        """Payouts whose transfer over ``rail`` (their provider) started in [start, end), in
        (transfer_started_at, payout_id) order after the cursor: reconciliation's ledger side."""
        ...

    def unsent_of_run(self, run_id: str, *, after: str | None, limit: int) -> list[Payout]:
        """The run's payouts still pending (not handed to a rail), by payout id after the
        cursor: what its funding check adds up and releases."""
        ...


class SellerQueries(Protocol):
    def get(self, seller_id: str) -> Seller | None: ...

    def balances(self, seller_id: str) -> list[Balance]: ...

    def in_buckets(self, lo: int, hi: int, start_after: str | None, limit: int) -> list[Seller]:
        """Sellers whose run bucket is in [lo, hi), in (bucket, id) order, after the cursor."""
        ...

    def available_balances(self, sellers: Sequence[Seller]) -> dict[str, Money]:
        """The available balance of each seller, in one batched read."""
        ...

    def available_by_currency(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Money]]:
        """The available balance of each seller (``wanted``: seller id -> currencies) in each of
        its currencies, zero when it holds none, in one batched read (issue 17)."""
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
    def reconciliation(self) -> ReconciliationStore: ...

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

    def payout_document(self, payout_id: str) -> dict[str, Any] | None: ...

    def seller_document(self, seller_id: str) -> dict[str, Any] | None: ...

    def provider_events_of(self, payout_id: str, limit: int) -> list[dict[str, Any]]: ...

    def journal_documents(self, entry_ids: Sequence[str]) -> list[dict[str, Any]]: ...

    def outbox_documents(self, event_ids: Sequence[str]) -> list[dict[str, Any]]: ...

    def dead_letters(self, limit: int) -> list[dict[str, Any]]: ...

    def unpaid_order_lines(self, limit: int) -> list[dict[str, Any]]: ...

    def record_action(self, record: dict[str, Any]) -> None: ...

    # Sellers (issue 19 §1): search and a seller's balance over time.
    def find_sellers(self, prefix: str, limit: int) -> list[Seller]:
        """Sellers whose id or display name starts with ``prefix`` (as typed), in id order; the
        first ``limit`` sellers by id when the prefix is empty."""
        ...

    def seller_entries_newest_first(self, seller_id: str, limit: int) -> list[DatedEntry]:
        """The seller's newest ``limit`` journal entries, newest first (a bounded read)."""
        ...

    def unreleased_order_lines(self, seller_id: str, limit: int) -> list[OrderLine]:
        """The seller's order lines whose money is not released yet (awaiting delivery, or
        holding until ``release_at``), soonest release first, at most ``limit`` read."""
        ...


class RateSource(Protocol):
    """Where exchange rates come from (issue 17). Adapters: ``shared/adapters/fx_rates/`` (a fixed
    table for local use, the ECB reference rates); a rail's own quote would be one too.

    ``rate`` answers the rate to use at ``at`` (now for a payout, the run's time for a dry run),
    or raises UnsupportedCurrencyPair, RateUnavailable, StaleRate or InvalidRate
    (``shared/domain/fx.py``). It may do I/O: never call it inside a unit of work.
    """

    name: str

    def rate(self, base: str, quote: str, at: datetime) -> Rate: ...


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


# --- funding at the rails (shared/usecases/run_funding.py) ---------------------------------


class FundingUnreadable(Exception):
    """A rail did not say what the platform holds there; the run's check is made again later."""


class FundingBalances(Protocol):
    def available(self, rail: str, currency: str) -> int | None:
        """What the platform holds at ``rail`` in ``currency`` and can pay out now, in minor
        units; None when the rail reports no balance for it. Raises :class:`FundingUnreadable`."""
        ...


# --- rails as ops data (shared/usecases/rail_selection.py) ----------------------------------


@dataclass(frozen=True)
class RailControl:
    """Ops' word on one rail: drained (no new payouts) or not, who said so, when and why."""

    rail: str
    drained: bool
    actor: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class RailHealthSnapshot:
    """One instance's view of one rail's breaker, published for ops (``rails_health()``)."""

    rail: str
    instance: str
    state: str  # closed, open, half-open
    consecutive_failures: int
    calls: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    at: datetime


class RailControls(Protocol):
    """Per-rail ops documents: the drain switch and the breakers' published health."""

    def all(self) -> list[RailControl]:
        """Every rail ops ever drained or resumed (a rail never touched is not drained)."""
        ...

    def put(self, control: RailControl) -> None: ...

    def publish_health(self, snapshot: RailHealthSnapshot) -> None:
        """Keyed by rail and instance: an instance's newer snapshot replaces its older one."""
        ...

    def health(self) -> list[RailHealthSnapshot]: ...


class BankFileQueue(Protocol):
    """The hook for a batch rail (``batch: true`` in rail_capabilities.json, e.g. ``sepa_file``):
    the transfer worker hands such a payout over instead of calling a provider. The bank-file
    use case (``shared/usecases/bank_transfers.py:queue_for_file``) implements it; when a
    deployment has none, routes cannot use batch rails (``RailPass.NOT_CONFIGURED``)."""

    def queue_for_file(self, payout: Payout, seller: Seller, rail: str, now: datetime) -> str:
        """Queue ``payout`` for the next file of ``rail``, idempotently (keyed by payout id);
        returns what happened, for the worker's answer."""
        ...


@dataclass(frozen=True)
class PayoutPolicy:
    """Timings and sizes the payout use cases follow (from the settings)."""

    stuck_after_seconds: int = 900
    sender_claim_seconds: int = 600  # the transfer worker's claim on a payout (rail_selection.py)
    return_check_after_seconds: int = 86400
    return_watch_days: int = 14
    run_buckets: int = 16
    run_page_size: int = 100
    remittance_advice: bool = False  # enqueue a remittance advice after each payout.paid (issue 18)
    bank_answer_business_days: int = 2  # a payout at the bank this long unanswered is flagged stuck


# --- reconciliation (shared/usecases/reconciliation.py) ----------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    """One row of a reconciliation report: a class of movement in a currency."""

    cls: str
    currency: str
    count: int
    total: int  # minor units


@dataclass(frozen=True)
class ReconciliationRun:
    """The report kept per rail and window (a day when scheduled): counts and totals per class
    and currency, and what the run did. Kept under ``report_id``: a later run of the same rail
    and window replaces it."""

    report_id: str
    rail: str
    window_start: datetime
    window_end: datetime
    lines: tuple[ReportLine, ...]
    breaks: int  # unexplained movements found in the window
    new_breaks: int  # of which first seen by this run
    fees_posted: int
    ledger_payouts: int  # payouts read from the ledger
    rail_records: int  # records read from the rail
    ran_at: datetime
    ran_by: str


class BreakRepository(Protocol):
    def get(self, break_id: str) -> Break | None: ...

    def put(self, brk: Break) -> None: ...


class ReconciliationStore(Protocol):
    def put_report(self, report: ReconciliationRun) -> None: ...

    def get_report(self, report_id: str) -> ReconciliationRun | None: ...

    def reports(self, rail: str | None, limit: int) -> list[ReconciliationRun]:
        """Newest window first."""
        ...

    def get_break(self, break_id: str) -> Break | None: ...

    def breaks(
        self,
        *,
        rail: str | None,
        state: BreakState | None,
        cls: MovementClass | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Break]:
        """Newest detected first, after the cursor (detected_at, break_id)."""
        ...

    def posted_fees(self, rail: str, record_ids: Sequence[str]) -> list[LedgerFee]:
        """The rail fees the journal holds for these records (one batched read by entry id)."""
        ...


class RailRecordSource(Protocol):
    def records(self, window: Window) -> Iterable[RailRecord]:
        """The rail's movements booked in the window (and, for rails that only keep a status on
        the transfer, the transfers created in it)."""
        ...


class UnknownRail(LookupError):
    """No record source for that rail in this deployment."""


class RailRecordSources(Protocol):
    def get(self, rail: str) -> RailRecordSource:
        """:class:`UnknownRail` if none."""
        ...

    def rails(self) -> tuple[str, ...]:
        """The rails reconciled by the daily job."""
        ...


# --- the SEPA bank-file rail (issue 16 §2: shared/usecases/bank_transfers.py) ------------------------


@dataclass(frozen=True)
class QueuedBankTransfer:
    """A payout handed to a batch rail, waiting for (or in) a bank file. Kept once per payout id,
    with what the file says about it as it was when queued (the seller's account, the text), so
    a file written again from what was stored has the same bytes."""

    payout_id: str
    seller_id: str
    rail: str
    amount: Money
    creditor: ValidatedBankAccount
    remittance: str
    debtor_iban: str  # the platform's account the file is paid from
    queued_at: datetime
    batch_id: str | None = None  # None while open; the batch's MsgId once in a file

    @property
    def batch_key(self) -> tuple[str, str, str]:
        """A batch holds one rail, one currency and one debtor (and one execution date, the day
        it is formed)."""
        return (self.rail, self.amount.currency, self.debtor_iban)


class BankFileBatchState(StrEnum):
    FORMED = "formed"  # stored with its payout ids; no file yet
    WRITTEN = "written"  # its file is in the outbound bucket
    SENT = "sent"  # and every payout of it was moved to processing


@dataclass(frozen=True)
class BankFileBatch:
    """One bank file's worth of payouts, stored before its file is written and never re-split:
    its id is the file's MsgId, derived from (currency, execution date, payout ids)."""

    batch_id: str
    rail: str
    currency: str
    execution_date: date
    debtor_iban: str
    created_at: datetime
    payout_ids: tuple[str, ...]  # in payout-id order
    object_name: str
    state: BankFileBatchState = BankFileBatchState.FORMED
    written_at: datetime | None = None
    sent_at: datetime | None = None


class BankFileStore(Protocol):
    """The queue of payouts for bank files and the batches formed from it (its contract suite:
    tests/contract/test_bank_files_contract.py)."""

    def queue(self, item: QueuedBankTransfer) -> bool:
        """Keep ``item`` once by payout id: False (nothing written) when it was already queued."""
        ...

    def open_items(self, limit: int) -> list[QueuedBankTransfer]:
        """Queued payouts in no batch yet, in payout-id order."""
        ...

    def items(self, payout_ids: Sequence[str]) -> list[QueuedBankTransfer]:
        """The queued payouts of these ids (those found), in payout-id order."""
        ...

    def form_batch(
        self,
        payout_ids: Sequence[str],
        make: Callable[[list[QueuedBankTransfer]], BankFileBatch | None],
    ) -> BankFileBatch | None:
        """Atomically: read these items, call ``make`` with those still open (in payout-id order),
        store the batch it returns and put exactly its payouts in it. None (nothing written) when
        ``make`` returns None. Two concurrent calls never put one payout in two batches."""
        ...

    def get_batch(self, batch_id: str) -> BankFileBatch | None: ...

    def unsent_batches(self, limit: int) -> list[BankFileBatch]:
        """Batches formed or written whose payouts were not all moved yet, oldest first."""
        ...

    def put_batch(self, batch: BankFileBatch) -> None:
        """Record a batch's progress (state, written_at, sent_at); its payouts never change."""
        ...

    def written_since(self, since: datetime, limit: int) -> list[BankFileBatch]:
        """Batches whose file was written at or after ``since``, oldest written first: what the
        bank was told to pay after its last statement (the funding check's bank rail)."""
        ...


class BankFiles(Protocol):
    """The bank's side: the outbound and inbound buckets and the ISO 20022 formats
    (shared/adapters/bank_files/)."""

    def write(self, batch: BankFileBatch, transfers: Sequence[QueuedBankTransfer]) -> bool:
        """Write the batch's pain.001, validated against its XSD, to the outbound bucket under
        ``batch.object_name``, create-if-absent: True when created, False when this very file
        was already there. Raises BankFileError (never leaves) if it does not validate, and
        BankFileConflict if another file holds the name."""
        ...

    def fetch(self, bucket: str, name: str) -> bytes | None:
        """An inbound file's bytes; None if it is not there."""
        ...

    def read(self, content: bytes) -> BankReport:
        """The bank's file read (pain.002, camt.054, camt.053); BankFileError if it cannot be."""
        ...


class BankFileConflict(Exception):
    """The outbound name of a batch holds another file: never overwritten, ops look."""
