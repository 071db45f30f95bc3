"""Reconciliation as a product feature: the ledger against each rail's own records, per rail and
window (a day when scheduled), with a report kept per run, each break kept as its own document,
and ops' maker-checker actions on breaks.

The rules (classes, breaks, fee entries, maker-checker) are pure, in
``shared/domain/reconciliation.py``; this module reads both sides through ports and keeps what the
rules decide:

- ledger side: the payouts whose transfer over the rail started in the window, read in cursor
  pages (``PayoutQueries.sent_over_rail``), plus the payouts the window's rail records name that
  started earlier (a return today of last week's payout), fetched by id;
- rail side: the rail's records of the window (``RailRecordSource``: the sandbox's transfer
  list by creation time, Adyen's transactions, Stripe's balance transactions, the bank's
  statement), normalised to ``RailRecord``s by ``shared/adapters/rail_records/``;
- fees: one ``rail.fee`` journal entry per fee record, created once by id (a later run finds it
  posted and posts nothing);
- breaks: created once by id (derived from rail, class and subject), each with a
  ``reconciliation.break_found`` event in the same unit of work; a break seen again keeps its
  state and history (ops' actions are never undone by a later run);
- the report: one document per rail and window, replaced by a later run of the same window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from shared.domain.errors import DomainError
from shared.domain.events import OutboxEvent
from shared.domain.ledger import JournalEntry
from shared.domain.money import Money
from shared.domain.payouts import Payout
from shared.domain.reconciliation import (
    Break,
    BreakState,
    LedgerPayout,
    MovementClass,
    RailRecordKind,
    Window,
    acknowledge,
    approve_correction,
    break_found_event,
    propose_correction,
    reconcile,
    reject_correction,
)
from shared.usecases.ports import (
    AlreadyExists,
    RailRecordSources,
    ReconciliationRun,
    ReportLine,
    Storage,
    UnitOfWork,
)

logger = logging.getLogger(__name__)

LEDGER_PAGE = 500  # payouts per query page (one read each, whatever the page size)
MAX_WINDOW = timedelta(days=31)


class BreakNotFound(DomainError):
    def __init__(self, break_id: str) -> None:
        super().__init__("break_not_found", f"break {break_id} does not exist", "break_id")


class ReportNotFound(DomainError):
    def __init__(self, report_id: str) -> None:
        super().__init__("report_not_found", f"reconciliation report {report_id} does not exist", "report_id")


class InvalidWindow(DomainError):
    def __init__(self, message: str, field: str = "to") -> None:
        super().__init__("invalid_window", message, field)


class RailNotReconciled(DomainError):
    def __init__(self, rail: str) -> None:
        super().__init__("unknown_rail", f"rail {rail} is not reconciled in this deployment", "rail")


def day_window(day: date) -> Window:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


def report_id(rail: str, window: Window) -> str:
    """``sandbox-2026-12-01`` for a whole UTC day; otherwise both ends, to the second."""
    if window.end - window.start == timedelta(days=1) and window.start.time() == time(0):
        return f"{rail}-{window.start.date().isoformat()}"
    return f"{rail}-{window.start:%Y%m%dT%H%M%S}-{window.end:%Y%m%dT%H%M%S}"


def ledger_payout(payout: Payout) -> LedgerPayout:
    return LedgerPayout(payout.payout_id, payout.status, payout.amount, payout.provider, payout.provider_ref)


def _post_once(entry: JournalEntry, at: datetime) -> Callable[[UnitOfWork], None]:
    def body(uow: UnitOfWork) -> None:
        uow.journal.post(entry, at)  # created once by id: AlreadyExists when posted before

    return body


def _keep_break(brk: Break) -> Callable[[UnitOfWork], OutboxEvent | None]:
    """Create the break and its event once; a break seen again keeps ops' state."""

    def body(uow: UnitOfWork) -> OutboxEvent | None:
        if uow.breaks.get(brk.break_id) is not None:
            return None
        event = break_found_event(brk)
        uow.breaks.put(brk)
        uow.outbox.add(event)
        return event

    return body


@dataclass(frozen=True)
class BreakPage:
    breaks: list[Break]
    next_after: tuple[datetime, str] | None


class ReconciliationService:
    """Runs reconciliations and ops' actions on breaks, through the storage port and the rails'
    record sources. ``relay`` publishes outbox events after a commit (the payout service's relay;
    the sweeper relays whatever it misses)."""

    def __init__(
        self,
        store: Storage,
        sources: RailRecordSources,
        *,
        relay: Callable[[Sequence[OutboxEvent]], int] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ledger_page: int = LEDGER_PAGE,
    ) -> None:
        self.store, self.sources, self.relay, self.clock = store, sources, relay, clock
        self.ledger_page = ledger_page

    # --- running ------------------------------------------------------------------------------

    def reconcile_day(self, rail: str, day: date, *, actor: str) -> ReconciliationRun:
        return self.reconcile_window(rail, day_window(day), actor=actor)

    def reconcile_yesterday(self, *, actor: str) -> list[ReconciliationRun]:
        """The scheduled job: every reconciled rail, over yesterday (UTC)."""
        yesterday = self.clock().date() - timedelta(days=1)
        return [self.reconcile_day(rail, yesterday, actor=actor) for rail in self.sources.rails()]

    def reconcile_window(self, rail: str, window: Window, *, actor: str) -> ReconciliationRun:
        if window.end <= window.start:
            raise InvalidWindow("the window must end after it starts")
        if window.end - window.start > MAX_WINDOW:
            raise InvalidWindow("a window is at most 31 days")
        if window.end > self.clock() + timedelta(days=1):
            raise InvalidWindow("the window ends in the future")
        if rail not in self.sources.rails():
            raise RailNotReconciled(rail)
        payouts = self._ledger_side(rail, window)
        records = list(self.sources.get(rail).records(window))
        named = {r.reference for r in records if r.reference} - set(payouts)
        for payout_id in sorted(named):  # moved in the window, sent before it
            found = self.store.payouts.get(payout_id)
            if found is not None and found.provider == rail:
                payouts[payout_id] = found
        fee_ids = [r.record_id for r in records if r.kind is RailRecordKind.FEE]
        posted = self.store.reconciliation.posted_fees(rail, fee_ids) if fee_ids else []
        now = self.clock()
        report = reconcile(
            rail, window, [ledger_payout(p) for p in payouts.values()], records, posted, detected_at=now
        )
        fees_posted = 0
        for entry in report.fee_entries:
            try:
                self.store.atomically(_post_once(entry, now))
                fees_posted += 1
            except AlreadyExists:
                pass  # posted by an earlier run
        new_breaks: list[OutboxEvent] = []
        for brk in report.breaks:
            event = self.store.atomically(_keep_break(brk))
            if event is not None:
                new_breaks.append(event)
                logger.warning(
                    "reconciliation break %s: %s %s %s",
                    brk.break_id,
                    brk.cls.value,
                    Money(brk.amount, brk.currency),
                    brk.note,
                    extra={"break_id": brk.break_id, "rail": rail, "break_class": brk.cls.value},
                )
        if self.relay is not None and new_breaks:
            self.relay(new_breaks)
        run = ReconciliationRun(
            report_id=report_id(rail, window),
            rail=rail,
            window_start=window.start,
            window_end=window.end,
            lines=tuple(
                ReportLine(cls.value, currency, count, report.totals[(cls, currency)])
                for (cls, currency), count in sorted(report.counts.items())
            ),
            breaks=len(report.breaks),
            new_breaks=len(new_breaks),
            fees_posted=fees_posted,
            ledger_payouts=len(payouts),
            rail_records=len(records),
            ran_at=now,
            ran_by=actor,
        )
        self.store.reconciliation.put_report(run)
        return run

    def _ledger_side(self, rail: str, window: Window) -> dict[str, Payout]:
        found: dict[str, Payout] = {}
        after: tuple[datetime, str] | None = None
        while True:
            page = self.store.payouts.sent_over_rail(
                rail, window.start, window.end, after=after, limit=self.ledger_page
            )
            for payout in page:
                found[payout.payout_id] = payout
            if len(page) < self.ledger_page:
                return found
            last = page[-1]
            assert last.transfer_started_at is not None
            after = (last.transfer_started_at, last.payout_id)

    # --- reading ------------------------------------------------------------------------------

    def report(self, report_id: str) -> ReconciliationRun:
        found = self.store.reconciliation.get_report(report_id)
        if found is None:
            raise ReportNotFound(report_id)
        return found

    def reports(self, rail: str | None, limit: int = 50) -> list[ReconciliationRun]:
        return self.store.reconciliation.reports(rail, limit)

    def get_break(self, break_id: str) -> Break:
        found = self.store.reconciliation.get_break(break_id)
        if found is None:
            raise BreakNotFound(break_id)
        return found

    def list_breaks(
        self,
        *,
        rail: str | None = None,
        state: BreakState | None = None,
        cls: MovementClass | None = None,
        limit: int = 50,
        after: tuple[datetime, str] | None = None,
    ) -> BreakPage:
        page = self.store.reconciliation.breaks(rail=rail, state=state, cls=cls, limit=limit, after=after)
        last = page[-1] if len(page) == limit else None
        return BreakPage(page, (last.detected_at, last.break_id) if last else None)

    # --- ops' actions (maker-checker) ---------------------------------------------------------

    def acknowledge(self, break_id: str, *, actor: str, note: str) -> Break:
        return self._act(break_id, lambda brk, at: (acknowledge(brk, actor=actor, at=at, note=note), None))

    def propose(
        self, break_id: str, *, actor: str, reason: str, postings: Sequence[tuple[str, Money]]
    ) -> Break:
        return self._act(
            break_id,
            lambda brk, at: (
                propose_correction(brk, actor=actor, at=at, reason=reason, postings=postings),
                None,
            ),
        )

    def approve(self, break_id: str, *, actor: str, note: str = "") -> Break:
        """The checker approves (someone other than the proposer); the correction is posted in
        the same unit of work, once (its entry id derives from the break and the proposal)."""
        return self._act(break_id, lambda brk, at: approve_correction(brk, actor=actor, at=at, note=note))

    def reject(self, break_id: str, *, actor: str, note: str) -> Break:
        return self._act(
            break_id, lambda brk, at: (reject_correction(brk, actor=actor, at=at, note=note), None)
        )

    def _act(
        self, break_id: str, action: Callable[[Break, datetime], tuple[Break, JournalEntry | None]]
    ) -> Break:
        at = self.clock()

        def body(uow: UnitOfWork) -> Break:
            brk = uow.breaks.get(break_id)
            if brk is None:
                raise BreakNotFound(break_id)
            changed, entry = action(brk, at)
            uow.breaks.put(changed)
            if entry is not None:
                uow.journal.post(entry, at)
            return changed

        return self.store.atomically(body)
