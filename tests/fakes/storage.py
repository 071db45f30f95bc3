"""An in-memory implementation of the storage port (``shared/usecases/ports.py``), for unit tests
of the use cases. The contract suite (``tests/contract/``) runs the same checks on it and on the
Firestore adapter, so it cannot drift from the real thing.

It keeps the rules that matter (see the port's docstring):
- a body's writes are staged and committed together when it returns; nothing when it raises;
- a read after a write raises ReadAfterWrite;
- a record created once by id that exists fails the commit with AlreadyExists (nothing written);
- every body is run twice by default, the first run thrown away, as a contended transaction
  would be: a body with an effect outside its unit of work shows up as a duplicate effect;
- ``contend(n)`` makes the next n units of work give up with Contention.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from shared.domain.eligibility import SkipReason
from shared.domain.events import OutboxEvent
from shared.domain.ledger import Bucket, DatedEntry, JournalEntry, PlatformAccount, seller_account
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, Outcome, ReleaseState
from shared.domain.payout_contents import PayoutContents, SettlementState, with_left_summarised
from shared.domain.payouts import OPEN_STATES, Payout, PayoutStatus
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
    run_bucket,
)
from shared.domain.sellers import Seller
from shared.usecases.ports import (
    AlreadyExists,
    Balance,
    Contention,
    DeadLetter,
    IdempotencyRecord,
    ProviderEventRecord,
    ReadAfterWrite,
    ReadAhead,
    ReceivedOrderEvent,
    ReconciliationRun,
    StoredEntry,
    UnitOfWork,
)

T = TypeVar("T")


@dataclass
class Tables:
    """What the fake holds: domain records by id, as the store holds documents."""

    sellers: dict[str, Seller] = field(default_factory=dict)
    bank_account_changes: dict[str, list[datetime]] = field(default_factory=dict)
    balances: dict[tuple[str, str], dict[Bucket, int]] = field(default_factory=dict)
    journal: dict[str, tuple[JournalEntry, datetime]] = field(default_factory=dict)
    order_lines: dict[str, OrderLine] = field(default_factory=dict)
    order_events: dict[str, ReceivedOrderEvent] = field(default_factory=dict)
    payouts: dict[str, Payout] = field(default_factory=dict)
    stuck: dict[str, str] = field(default_factory=dict)  # payout id -> reason
    outbox: dict[str, OutboxEvent] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    provider_events: dict[tuple[str, str], ProviderEventRecord] = field(default_factory=dict)
    runs: dict[str, PayoutRun] = field(default_factory=dict)
    pages: dict[tuple[str, str], RunPage] = field(default_factory=dict)
    pages_done: set[tuple[str, str]] = field(default_factory=set)
    items: dict[tuple[str, str], RunItem] = field(default_factory=dict)
    counters: dict[str, RunTally] = field(default_factory=dict)
    dead_letters: dict[tuple[str, str], DeadLetter] = field(default_factory=dict)
    breaks: dict[str, Break] = field(default_factory=dict)
    reconciliation_reports: dict[str, ReconciliationRun] = field(default_factory=dict)
    contents: dict[str, PayoutContents] = field(default_factory=dict)
    settlements: dict[tuple[str, str], SettlementState] = field(default_factory=dict)


Write = tuple[str, Any, Callable[[Tables], None]]  # (table of a create-once record or "", key, apply)


class _Work:
    """One run of a body: reads of the committed tables, writes staged until the commit."""

    def __init__(self, tables: Tables) -> None:
        self.t = tables
        self.writes: list[Write] = []

    def read(self) -> Tables:
        if self.writes:
            raise ReadAfterWrite("a read after a write in the same unit of work")
        return self.t

    def write(self, apply: Callable[[Tables], None], create_in: str = "", key: Any = None) -> None:
        self.writes.append((create_in, key, apply))


class _Payouts:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def get(self, payout_id: str) -> Payout | None:
        return self.w.read().payouts.get(payout_id)

    def put(self, payout: Payout) -> None:
        self.w.write(lambda t: t.payouts.__setitem__(payout.payout_id, payout))


class _Sellers:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def get(self, seller_id: str) -> Seller | None:
        return self.w.read().sellers.get(seller_id)

    def put(self, seller: Seller, *, bank_account_changed: bool) -> None:
        def apply(t: Tables) -> None:
            t.sellers[seller.seller_id] = seller
            if bank_account_changed:
                t.bank_account_changes.setdefault(seller.seller_id, []).append(seller.bank_account_changed_at)

        self.w.write(apply)


class _Balances:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def available(self, seller_id: str, currency: str) -> Money:
        found = self.w.read().balances.get((seller_id, currency), {})
        return Money(found.get(Bucket.AVAILABLE, 0), currency)


def _post(t: Tables, entry: JournalEntry, at: datetime) -> None:
    t.journal[entry.entry_id] = (entry, at)
    for key, deltas in entry.seller_deltas().items():
        buckets = t.balances.setdefault(key, {})
        for bucket, amount in deltas.items():
            buckets[bucket] = buckets.get(bucket, 0) + amount


class _Journal:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def post(self, entry: JournalEntry, at: datetime) -> None:
        self.w.write(lambda t: _post(t, entry, at), "journal", entry.entry_id)


class _OrderLines:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def get(self, order_line_id: str) -> OrderLine | None:
        return self.w.read().order_lines.get(order_line_id)

    def put(self, line: OrderLine) -> None:
        self.w.write(lambda t: t.order_lines.__setitem__(line.order_line_id, line))


class _OrderEvents:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def get(self, event_id: str) -> ReceivedOrderEvent | None:
        return self.w.read().order_events.get(event_id)

    def add(self, event: ReceivedOrderEvent) -> None:
        self.w.write(
            lambda t: t.order_events.__setitem__(event.event_id, event), "order_events", event.event_id
        )

    def resolve(
        self, event_id: str, outcome: Outcome, reason: str | None, entry_ids: Sequence[str], at: datetime
    ) -> None:
        def apply(t: Tables) -> None:
            current = t.order_events[event_id]
            t.order_events[event_id] = replace(
                current, outcome=outcome, reason=reason, entry_ids=tuple(entry_ids)
            )

        self.w.write(apply)


class _Outbox:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def add(self, event: OutboxEvent) -> None:
        self.w.write(lambda t: t.outbox.__setitem__(event.event_id, event), "outbox", event.event_id)


class _Idempotency:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def get(self, key_id: str) -> IdempotencyRecord | None:
        return self.w.read().idempotency.get(key_id)

    def add(self, record: IdempotencyRecord) -> None:
        self.w.write(lambda t: t.idempotency.__setitem__(record.key_id, record), "idempotency", record.key_id)


class _ProviderEvents:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def seen(self, provider: str, event_id: str) -> bool:
        return (provider, event_id) in self.w.read().provider_events

    def add(self, record: ProviderEventRecord) -> None:
        key = (record.provider, record.event_id)
        self.w.write(lambda t: t.provider_events.__setitem__(key, record), "provider_events", key)


def _count(t: Tables, run_id: str, tally: RunTally) -> None:
    t.counters[run_id] = t.counters.get(run_id, RunTally({})) + tally


class _Runs:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def get(self, run_id: str) -> PayoutRun | None:
        return self.w.read().runs.get(run_id)

    def put(self, run: PayoutRun) -> None:
        self.w.write(lambda t: t.runs.__setitem__(run.run_id, run))

    def get_page(self, run_id: str, page_id: str) -> RunPage | None:
        return self.w.read().pages.get((run_id, page_id))

    def put_page(self, page: RunPage) -> None:
        self.w.write(lambda t: t.pages.__setitem__((page.run_id, page.page_id), page))

    def get_item(self, run_id: str, seller_id: str) -> RunItem | None:
        return self.w.read().items.get((run_id, seller_id))

    def put_item(self, item: RunItem) -> None:
        self.w.write(lambda t: t.items.__setitem__((item.run_id, item.seller_id), item))

    def count(self, run_id: str, tally: RunTally, shard_key: str) -> None:
        if tally:
            self.w.write(lambda t: _count(t, run_id, tally))


class _Breaks:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def get(self, break_id: str) -> Break | None:
        return self.w.read().breaks.get(break_id)

    def put(self, brk: Break) -> None:
        self.w.write(lambda t: t.breaks.__setitem__(brk.break_id, brk))


def _entries_of(t: Tables, seller_id: str, since: datetime | None) -> list[DatedEntry]:
    found = [
        DatedEntry(entry, at)
        for entry, at in t.journal.values()
        if entry.seller_id == seller_id and (since is None or at >= since)
    ]
    return sorted(found, key=lambda e: e.key)


class _Settlements:
    def __init__(self, w: _Work) -> None:
        self.w = w

    def checkpoint(self, seller_id: str, currency: str) -> SettlementState | None:
        return self.w.read().settlements.get((seller_id, currency))

    def entries_since(self, seller_id: str, since: datetime | None) -> list[DatedEntry]:
        return _entries_of(self.w.read(), seller_id, since)

    def contents(self, payout_ids: Sequence[str]) -> dict[str, PayoutContents]:
        t = self.w.read()
        return {pid: t.contents[pid] for pid in payout_ids if pid in t.contents}

    def put(self, contents: PayoutContents, state: SettlementState) -> None:
        def apply(t: Tables) -> None:
            t.contents[contents.payout_id] = with_left_summarised(contents)  # as the store keeps it
            t.settlements[(state.seller_id, state.currency)] = state

        self.w.write(apply)


class FakeUnitOfWork:
    def __init__(self, tables: Tables) -> None:
        self.work = _Work(tables)
        self.payouts = _Payouts(self.work)
        self.sellers = _Sellers(self.work)
        self.balances = _Balances(self.work)
        self.journal = _Journal(self.work)
        self.settlements = _Settlements(self.work)
        self.order_lines = _OrderLines(self.work)
        self.order_events = _OrderEvents(self.work)
        self.outbox = _Outbox(self.work)
        self.idempotency = _Idempotency(self.work)
        self.provider_events = _ProviderEvents(self.work)
        self.runs = _Runs(self.work)
        self.breaks = _Breaks(self.work)
        self.read_ahead_calls: list[tuple[ReadAhead, ...]] = []

    def read_ahead(self, *refs: ReadAhead) -> None:
        self.work.read()  # a read like any other: not after a write
        self.read_ahead_calls.append(refs)


# --- outside a unit of work ----------------------------------------------------------------------


class _PayoutQueries:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def get(self, payout_id: str) -> Payout | None:
        return self.s.t.payouts.get(payout_id)

    def newest_first(
        self,
        *,
        seller_id: str | None,
        status: str | None,
        run_id: str | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Payout]:
        found = [
            p
            for p in self.s.t.payouts.values()
            if (seller_id is None or p.seller_id == seller_id)
            and (status is None or p.status.value == status)
            and (run_id is None or p.run_id == run_id)
            and (after is None or (p.created_at, p.payout_id) < after)
        ]
        return sorted(found, key=lambda p: (p.created_at, p.payout_id), reverse=True)[:limit]

    def open_before(self, cutoff: datetime, limit: int) -> list[Payout]:
        found = [p for p in self.s.t.payouts.values() if p.status in OPEN_STATES and p.updated_at < cutoff]
        return sorted(found, key=lambda p: p.updated_at)[:limit]

    def unsent_of_run(self, run_id: str, *, after: str | None, limit: int) -> list[Payout]:
        found = [
            p
            for p in self.s.t.payouts.values()
            if p.run_id == run_id
            and p.status is PayoutStatus.PENDING
            and (after is None or p.payout_id > after)
        ]
        return sorted(found, key=lambda p: p.payout_id)[:limit]

    def paid_due_for_return_check(self, due_from_before: datetime, limit: int) -> list[Payout]:
        found = [
            p
            for p in self.s.t.payouts.values()
            if p.status is PayoutStatus.PAID
            and p.return_check_from is not None
            and p.return_check_from < due_from_before
        ]
        return sorted(found, key=lambda p: p.return_check_from or due_from_before)[:limit]

    def reschedule_return_check(self, payout: Payout, check_from: datetime | None) -> None:
        with self.s.lock:
            current = self.s.t.payouts[payout.payout_id]
            self.s.t.payouts[payout.payout_id] = replace(
                current, return_check_from=check_from, return_checks=payout.return_checks + 1
            )

    def flag_stuck(self, payout_id: str, reason: str, at: datetime) -> None:
        self.s.t.stuck[payout_id] = reason

    def sent_over_rail(
        self, rail: str, start: datetime, end: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Payout]:
        found = [
            p
            for p in self.s.t.payouts.values()
            if p.provider == rail
            and p.transfer_started_at is not None
            and start <= p.transfer_started_at < end
            and (after is None or (p.transfer_started_at, p.payout_id) > after)
        ]
        return sorted(found, key=lambda p: (p.transfer_started_at or start, p.payout_id))[:limit]


class _SellerQueries:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def get(self, seller_id: str) -> Seller | None:
        return self.s.t.sellers.get(seller_id)

    def balances(self, seller_id: str) -> list[Balance]:
        return [
            Balance(ccy, **{b.value: buckets.get(b, 0) for b in Bucket})
            for (sid, ccy), buckets in sorted(self.s.t.balances.items())
            if sid == seller_id
        ]

    def in_buckets(self, lo: int, hi: int, start_after: str | None, limit: int) -> list[Seller]:
        keyed = sorted((run_bucket(s.seller_id), s.seller_id, s) for s in self.s.t.sellers.values())
        cursor = None
        if start_after is not None:
            bucket, seller_id = start_after.split("/", 1)
            cursor = (int(bucket), seller_id)
        return [s for b, sid, s in keyed if lo <= b < hi and (cursor is None or (b, sid) > cursor)][:limit]

    def available_by_currency(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Money]]:
        return {
            sid: {
                ccy: Money(self.s.t.balances.get((sid, ccy), {}).get(Bucket.AVAILABLE, 0), ccy)
                for ccy in currencies
            }
            for sid, currencies in wanted.items()
        }

    def available_balances(self, sellers: Sequence[Seller]) -> dict[str, Money]:
        return {
            s.seller_id: Money(
                self.s.t.balances.get((s.seller_id, s.currency), {}).get(Bucket.AVAILABLE, 0), s.currency
            )
            for s in sellers
        }


class _RunStore:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def create(self, run: PayoutRun) -> PayoutRun | None:
        with self.s.lock:
            if run.run_id in self.s.t.runs:
                return self.s.t.runs[run.run_id]
            self.s.t.runs[run.run_id] = run
            return None

    def get(self, run_id: str) -> PayoutRun | None:
        return self.s.t.runs.get(run_id)

    def mark_fanned_out(self, run_id: str, at: datetime) -> None:
        with self.s.lock:
            self.s.t.runs[run_id] = replace(
                self.s.t.runs[run_id], status=RunStatus.FANNED_OUT, fanned_out_at=at
            )

    def get_page(self, run_id: str, page_id: str) -> RunPage | None:
        return self.s.t.pages.get((run_id, page_id))

    def create_page(self, page: RunPage) -> bool:
        with self.s.lock:
            if (page.run_id, page.page_id) in self.s.t.pages:
                return False
            self.s.t.pages[(page.run_id, page.page_id)] = page
            _count(self.s.t, page.run_id, page_created_tally())
            return True

    def finish_page(self, page: RunPage) -> bool:
        with self.s.lock:
            if (page.run_id, page.page_id) in self.s.t.pages_done:
                return False
            self.s.t.pages_done.add((page.run_id, page.page_id))
            self.s.t.pages[(page.run_id, page.page_id)] = page
            _count(self.s.t, page.run_id, page_done_tally())
            return True

    def progress(self, run_id: str) -> RunProgress | None:
        run = self.s.t.runs.get(run_id)
        if run is None:
            return None
        return RunProgress(run, self.s.t.counters.get(run_id, RunTally({})))

    def items(
        self,
        run_id: str,
        *,
        skip_reason: SkipReason | None,
        seller_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[RunItem]:
        found = [
            item
            for (rid, sid), item in sorted(self.s.t.items.items())
            if rid == run_id
            and (skip_reason is None or item.skip_reason is skip_reason)
            and (seller_id is None or sid == seller_id)
            and (after is None or sid > after)
        ]
        return found[:limit]

    def fanned_out(self, limit: int) -> list[PayoutRun]:
        return self.in_status(RunStatus.FANNED_OUT, limit)

    def in_status(self, status: RunStatus, limit: int) -> list[PayoutRun]:
        return [r for r in self.s.t.runs.values() if r.status is status][:limit]

    def queued_pages_due_before(self, run_id: str, cutoff: datetime, limit: int) -> list[RunPage]:
        return [
            p
            for (rid, _), p in sorted(self.s.t.pages.items())
            if rid == run_id and p.status is PageStatus.QUEUED and p.due_at < cutoff
        ][:limit]


class _OutboxQueries:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def get(self, event_id: str) -> OutboxEvent | None:
        return self.s.t.outbox.get(event_id)

    def unpublished(self, limit: int) -> list[str]:
        return [e.event_id for e in self.s.t.outbox.values() if not e.published][:limit]

    def mark_published(self, event_id: str, at: datetime) -> None:
        with self.s.lock:
            self.s.t.outbox[event_id] = replace(self.s.t.outbox[event_id], published=True)


class _DeadLetters:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def add(self, letter: DeadLetter) -> None:
        self.s.t.dead_letters[(letter.source, letter.message_id)] = letter


class _JournalQueries:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def entries(self, seller_id: str | None = None) -> Iterator[StoredEntry]:
        for entry, _ in list(self.s.t.journal.values()):
            if seller_id is None or entry.seller_id == seller_id:
                yield StoredEntry(
                    entry.entry_id,
                    tuple((p.account, p.amount.amount, p.amount.currency) for p in entry.postings),
                )

    def stored_balances(self) -> dict[tuple[str, str], int]:
        return {
            (seller_account(sid, bucket), ccy): amount
            for (sid, ccy), buckets in self.s.t.balances.items()
            for bucket, amount in buckets.items()
        }


class _ReconciliationStore:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def put_report(self, report: ReconciliationRun) -> None:
        self.s.t.reconciliation_reports[report.report_id] = report

    def get_report(self, report_id: str) -> ReconciliationRun | None:
        return self.s.t.reconciliation_reports.get(report_id)

    def reports(self, rail: str | None, limit: int) -> list[ReconciliationRun]:
        found = [r for r in self.s.t.reconciliation_reports.values() if rail is None or r.rail == rail]
        return sorted(found, key=lambda r: (r.window_start, r.report_id), reverse=True)[:limit]

    def get_break(self, break_id: str) -> Break | None:
        return self.s.t.breaks.get(break_id)

    def breaks(
        self,
        *,
        rail: str | None,
        state: BreakState | None,
        cls: MovementClass | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Break]:
        found = [
            b
            for b in self.s.t.breaks.values()
            if (rail is None or b.rail == rail)
            and (state is None or b.state is state)
            and (cls is None or b.cls is cls)
            and (after is None or (b.detected_at, b.break_id) < after)
        ]
        return sorted(found, key=lambda b: (b.detected_at, b.break_id), reverse=True)[:limit]

    def posted_fees(self, rail: str, record_ids: Sequence[str]) -> list[LedgerFee]:
        wanted = {f"{rail}:{record_id}": record_id for record_id in record_ids}
        found = []
        for entry, _ in self.s.t.journal.values():
            if entry.kind == "rail.fee" and entry.cause in wanted:
                fee = next(p.amount for p in entry.postings if p.account == PlatformAccount.RAIL_FEES)
                found.append(LedgerFee(rail, wanted[entry.cause], fee))
        return found


class _ContentsQueries:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def of_payout(self, payout_id: str) -> PayoutContents | None:
        return self.s.t.contents.get(payout_id)

    def seller_entries(self, seller_id: str, since: datetime | None) -> list[DatedEntry]:
        return _entries_of(self.s.t, seller_id, since)


_CREATE_ONCE = {
    "journal": lambda t: t.journal,
    "order_events": lambda t: t.order_events,
    "outbox": lambda t: t.outbox,
    "idempotency": lambda t: t.idempotency,
    "provider_events": lambda t: t.provider_events,
}


class FakeStore:
    """The storage port in memory (a ``Storage``)."""

    def __init__(self, *, replay_bodies: bool = True) -> None:
        self.t = Tables()
        self.lock = threading.RLock()
        self.replay_bodies = replay_bodies
        self._contend = 0
        self.units_of_work = 0  # committed
        self.payouts = _PayoutQueries(self)
        self.sellers = _SellerQueries(self)
        self.runs = _RunStore(self)
        self.outbox = _OutboxQueries(self)
        self.dead_letters = _DeadLetters(self)
        self.journal = _JournalQueries(self)
        self.reconciliation = _ReconciliationStore(self)
        self.contents = _ContentsQueries(self)

    def contend(self, times: int = 1) -> None:
        """The next ``times`` units of work give up, as contended transactions do."""
        self._contend += times

    def atomically(self, body: Callable[[UnitOfWork], T]) -> T:
        with self.lock:
            if self._contend:
                self._contend -= 1
                raise Contention("fake contention")
            if self.replay_bodies:
                body(FakeUnitOfWork(self.t))  # a first attempt, thrown away
            uow = FakeUnitOfWork(self.t)
            result = body(uow)
            for table, key, _ in uow.work.writes:
                if table and key in _CREATE_ONCE[table](self.t):
                    raise AlreadyExists(f"{table} {key} exists")
            seen: set[tuple[str, Any]] = set()
            for table, key, _ in uow.work.writes:
                if table and (table, key) in seen:
                    raise AlreadyExists(f"{table} {key} created twice")
                seen.add((table, key))
            for _, _, apply in uow.work.writes:
                apply(self.t)
            self.units_of_work += 1
            return result

    def due_order_lines(self, now: datetime, limit: int) -> list[str]:
        due = [
            line
            for line in self.t.order_lines.values()
            if line.release_state is ReleaseState.HOLDING
            and line.release_at is not None
            and line.release_at <= now
        ]
        return [line.order_line_id for line in sorted(due, key=lambda line: line.release_at or now)][:limit]
