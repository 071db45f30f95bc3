"""Scheduled payout runs: start a run for a date, fan it out through Cloud Tasks in pages of
sellers, decide for each seller (pay its available balance up to the limit of one payout, or
record why not), report progress and complete the run. A dry run makes the same decisions and
moves no money. The run, its pages and items are ``shared.domain.runs``.

Every write of a run moves its counters in the same unit of work (a page created or done, an
item written, a payout created), and so does every later status change of its payouts
(``PayoutService``): progress is read from the counters, never counted again.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared import log
from shared.domain.countries import CountryRules
from shared.domain.eligibility import (
    LEFT_OVER_MAX_TRANSACTION_AMOUNT,
    Decision,
    SkipReason,
)
from shared.domain.events import OutboxEvent, run_completed_event
from shared.domain.fx import Conversion
from shared.domain.fx_payouts import RatesToPayout, decide_fx_payout, rates_from_snapshot
from shared.domain.money import Money
from shared.domain.payouts import Payout, PayoutStatus, run_payout_id
from shared.domain.runs import (
    NO_TALLY,
    PageStatus,
    PayoutRun,
    RunItem,
    RunNotFound,
    RunPage,
    RunProgress,
    RunStatus,
    bucket_range,
    check_run_date,
    item_change_tally,
    new_page,
    new_run,
    page_cursor,
    payout_tally,
    run_summary,
)
from shared.domain.sellers import Seller
from shared.keyed_lock import KeyedLocks
from shared.topology import QUEUE_RUN_SHARDS
from shared.usecases.payouts import AfterCommit, PayoutService, seller_locks
from shared.usecases.ports import RunItemRef, UnitOfWork
from shared.usecases.run_funding import check_run_funding, needs_check

logger = logging.getLogger(__name__)
page_locks = KeyedLocks()  # one delivery of a page at a time in this process (process_page)
ACTOR = "payout-run"
DEFER_MARGIN = timedelta(minutes=1)  # a deferred page runs this long after its date has begun
_run_locks = KeyedLocks()  # starts of one run in this process go one after the other

__all__ = [
    "PageResult",
    "RunItemsPage",
    "RunNotFound",
    "RunStarted",
    "complete_runs",
    "process_page",
    "run_items",
    "run_progress",
    "start_run",
]


@dataclass(frozen=True)
class RunStarted:
    progress: RunProgress
    created: bool  # False: the run of that date already existed


@dataclass(frozen=True)
class PageResult:
    outcome: str  # done, deferred, duplicate, unknown
    paid: int = 0
    skipped: int = 0
    deferred: int = 0


@dataclass(frozen=True)
class RunItemsPage:
    items: list[RunItem]
    next_after: str | None


def run_date_begins(rules: CountryRules, run_date: date) -> datetime:
    """The instant ``run_date`` begins in the country's timezone."""
    return datetime.combine(run_date, time.min, tzinfo=ZoneInfo(rules.timezone)).astimezone(UTC)


# --- starting -----------------------------------------------------------------------------------


def start_run(
    svc: PayoutService, run_date: date, *, dry_run: bool, requested_by: str, now: datetime | None = None
) -> RunStarted:
    """Create the run (once per date) and queue the first page of every bucket range. A live
    run for a date that has not begun anywhere is refused (``RunDateNotBegun``) before anything
    is written: it would pay nobody and take that date's run."""
    now = now or datetime.now(UTC)
    check_run_date(run_date, dry_run, svc.registry, now)
    run = new_run(
        run_date, dry_run=dry_run, buckets=svc.policy.run_buckets, requested_by=requested_by, now=now
    )
    if dry_run:  # issue 17: the rates it would use, fixed now and shown with the run
        rates, unavailable = svc.rate_snapshot(now)
        run = replace(run, fx_rates=rates, fx_unavailable=unavailable)
    with log.bind(run_id=run.run_id), _run_locks.hold(run.run_id):
        found = svc.store.runs.create(run)
        current = found or run
        if current.status is RunStatus.PLANNING:
            # Queue (again, after a crash) every first page; pages and tasks are idempotent.
            for bucket in range(current.buckets):
                _queue_page(svc, new_page(current.run_id, bucket, 0, None, now))
            svc.store.runs.mark_fanned_out(current.run_id, datetime.now(UTC))
            logger.info("run %s started for %s with %d shards", current.run_id, run_date, current.buckets)
        else:
            logger.info("run %s already exists (%s); not started twice", current.run_id, current.status.value)
        return RunStarted(run_progress(svc, current.run_id), created=found is None)


def _queue_page(svc: PayoutService, page: RunPage, delay_seconds: float = 0, dedupe_suffix: str = "") -> None:
    svc.store.runs.create_page(page)  # False when a retried fan-out finds it: queued again anyway
    svc.tasks.enqueue(
        QUEUE_RUN_SHARDS,
        "run-shard-worker",
        {"run_id": page.run_id, "page_id": page.page_id},
        dedupe_key=f"{page.run_id}-{page.page_id}{dedupe_suffix}",
        delay_seconds=delay_seconds,
    )


# --- one page -------------------------------------------------------------------------------------


def process_page(svc: PayoutService, run_id: str, page_id: str, now: datetime | None = None) -> PageResult:
    """One shard task: decide for one page of sellers. Safe to run twice, or concurrently.
    Two deliveries of one page in one process take turns (``page_locks``): the second finds the
    page done. Without it they contend on the page's items until both run out of attempts and
    are retried together again (seen in a fault run: a livelock of the page's skip records)."""
    now = now or datetime.now(UTC)
    with page_locks.hold(f"{run_id}/{page_id}"):
        return _process_page(svc, run_id, page_id, now)


def _process_page(svc: PayoutService, run_id: str, page_id: str, now: datetime) -> PageResult:
    store = svc.store
    with log.bind(run_id=run_id, page_id=page_id):
        run, page = store.runs.get(run_id), store.runs.get_page(run_id, page_id)
        if run is None or page is None:
            logger.error("shard task for an unknown run or page; dropped")
            return PageResult("unknown")
        if page.status is PageStatus.DONE:
            return PageResult("duplicate")
        lo, hi = bucket_range(page.bucket, run.buckets)
        size = svc.policy.run_page_size
        sellers = store.sellers.in_buckets(lo, hi, page.start_after, size)
        if len(sellers) == size:
            _queue_page(
                svc, new_page(run_id, page.bucket, page.page + 1, page_cursor(sellers[-1].seller_id), now)
            )
        # Issue 17: every currency the seller may hold, converted into its payout currency.
        held = store.sellers.available_by_currency({s.seller_id: svc.held_currencies(s) for s in sellers})
        work = AfterCommit()
        skipped: list[RunItem] = []
        deferred: list[Seller] = []
        paid = 0
        for seller in sellers:
            with log.bind(seller_id=seller.seller_id):
                balances = held[seller.seller_id]
                # Rates fixed now, outside any unit of work; asked only when money must convert.
                rates: RatesToPayout = {}
                if run.dry_run:  # at the rates the dry run fixed when it started
                    rates = rates_from_snapshot(
                        run.fx_rates, run.fx_unavailable, balances.keys(), seller.payout_currency
                    )
                elif _converts(seller, balances.values()):
                    rates = svc.rates_for(seller, now)
                plan = decide_fx_payout(
                    seller,
                    svc.registry.get(seller.country),
                    balances.values(),
                    rates,
                    now,
                    run_date=run.run_date,
                )
                decision = plan.decision
                if decision.skip is SkipReason.NOT_YET_IN_TIMEZONE and not run.dry_run:
                    deferred.append(seller)  # decided again once its date has begun
                if run.dry_run or not decision.pays:
                    # A dry run shows the conversions it would make, with their rates.
                    skipped.append(_item(run, seller, decision, now, conversions=plan.conversions))
                    continue
                item, payout, outbox = _pay_in_run(svc, run, seller, now, rates)
                if payout is not None:
                    paid += 1  # its transfer waits for the run's funding check (run_funding.py)
                    work.outbox.extend(outbox)
                else:
                    skipped.append(item)
        _record_skips(svc, run, page, skipped)
        svc.after_commit(work)
        result = _finish_page(svc, run, page, sellers, paid, len(skipped) - len(deferred), deferred, now)
        if result.outcome == "done" and not run.dry_run:
            _check_funding_when_last(svc, run_id, now)
        logger.info(
            "shard page %s: %d sellers, %d paid, %d skipped, %d deferred",
            result.outcome,
            len(sellers),
            result.paid,
            result.skipped,
            result.deferred,
        )
        return result


def _check_funding_when_last(svc: PayoutService, run_id: str, now: datetime) -> None:
    """The page that finds every page of the run done checks its funding, which releases the
    run's transfers or holds the run (two pages finishing together may both check: the second
    queues nothing new)."""
    progress = svc.store.runs.progress(run_id)
    if progress is not None and progress.all_pages_done:
        check_run_funding(svc, run_id, pages_done=progress.pages_done, now=now)


def _converts(seller: Seller, balances: Iterable[Money]) -> bool:
    """Whether a payout of this seller may convert: money in another currency than its payout
    currency, or a payout currency other than its country's."""
    return seller.payout_currency != seller.currency or any(
        b.currency != seller.payout_currency and not b.is_zero() for b in balances
    )


def _item(
    run: PayoutRun,
    seller: Seller,
    decision: Decision,
    now: datetime,
    payout: Payout | None = None,
    conversions: tuple[Conversion, ...] = (),
) -> RunItem:
    left = decision.left_for_next_run
    return RunItem(
        run_id=run.run_id,
        seller_id=seller.seller_id,
        country=seller.country,
        currency=seller.payout_currency,
        conversions=payout.conversions if payout else conversions,
        decided_at=now,
        payout_id=payout.payout_id if payout else None,
        amount=payout.amount.amount if payout else None,
        skip_reason=decision.skip,
        detail=decision.detail,
        would_pay=decision.amount.amount if (run.dry_run and decision.amount) else None,
        left_for_next_run=left.amount if left else None,
        left_reason=LEFT_OVER_MAX_TRANSACTION_AMOUNT if left else None,
    )


def _pay_in_run(
    svc: PayoutService, run: PayoutRun, seller: Seller, now: datetime, rates: RatesToPayout
) -> tuple[RunItem, Payout | None, list[OutboxEvent]]:
    """Create the seller's payout of this run with its item, in one unit of work. The item is
    the record that the payout exists (both are written together), so it is what is read.
    ``rates`` were fixed before it: the payout converts at them (issue 17)."""
    payout_id = run_payout_id(run.run_id, seller.seller_id)

    def pay(uow: UnitOfWork) -> tuple[RunItem, Payout | None, list[OutboxEvent]]:
        uow.read_ahead(RunItemRef(run.run_id, seller.seller_id), *svc.balance_refs(seller))
        previous = uow.runs.get_item(run.run_id, seller.seller_id)
        if previous is not None and previous.payout_id is not None:
            return previous, uow.payouts.get(previous.payout_id), []
        rules = svc.registry.get(seller.country)
        balances = [uow.balances.available(seller.seller_id, c) for c in svc.held_currencies(seller)]
        plan = decide_fx_payout(seller, rules, balances, rates, now)
        decision = plan.decision
        if decision.amount is None:  # the balance changed since the page read it
            item = _item(run, seller, decision, now)
            uow.runs.put_item(item)
            uow.runs.count(run.run_id, item_change_tally(previous, item), seller.seller_id)
            return item, None, []
        payout, event = svc.write_new_payout(
            uow,
            seller,
            payout_id,
            decision.amount,
            "run",
            f"payout run {run.run_id}",
            ACTOR,
            now,
            run.run_id,
            conversions=plan.conversions,
        )
        item = _item(run, seller, decision, now, payout)
        uow.runs.put_item(item)
        tally = item_change_tally(previous, item) + payout_tally(PayoutStatus.PENDING, payout.amount)
        uow.runs.count(run.run_id, tally, payout_id)
        return item, payout, [event]

    with seller_locks.hold(seller.seller_id):
        return svc.store.atomically(pay)


def _same_decision(previous: RunItem, item: RunItem) -> bool:
    return replace(previous, decided_at=item.decided_at) == item


def _record_skips(svc: PayoutService, run: PayoutRun, page: RunPage, items: list[RunItem]) -> None:
    """The items of the sellers not paid, and their counters, in one unit of work that reads the
    items first: an item already there is replaced (its counters moved), never counted twice, and
    a seller paid meanwhile keeps its payout's item."""
    if not items:
        return

    def record(uow: UnitOfWork) -> None:
        uow.read_ahead(*(RunItemRef(run.run_id, item.seller_id) for item in items))
        changes = []
        for item in items:
            previous = uow.runs.get_item(run.run_id, item.seller_id)
            if previous is not None and (previous.paid or _same_decision(previous, item)):
                continue
            changes.append((previous, item))
        tally = NO_TALLY
        for previous, item in changes:
            uow.runs.put_item(item)
            tally = tally + item_change_tally(previous, item)
        uow.runs.count(run.run_id, tally, page.page_id)

    svc.store.atomically(record)


def _finish_page(
    svc: PayoutService,
    run: PayoutRun,
    page: RunPage,
    sellers: list[Seller],
    paid: int,
    skipped: int,
    deferred: list[Seller],
    now: datetime,
) -> PageResult:
    """Mark the page done (and count it), or, when some of its sellers' run date has not begun,
    queue it again for when it has: their skip is not final."""
    due = max((run_date_begins(svc.registry.get(s.country), run.run_date) for s in deferred), default=None)

    if due is None:
        # No read: duplicate deliveries of the page's task must not queue on its lock.
        moved = svc.store.runs.finish_page(page.done(now, sellers=len(sellers), paid=paid, skipped=skipped))
        return PageResult("done" if moved else "duplicate", paid, skipped)

    def defer(uow: UnitOfWork) -> bool:
        current = uow.runs.get_page(run.run_id, page.page_id)
        if current is None or current.status is PageStatus.DONE:
            return False
        uow.runs.put_page(
            current.deferred_until(
                due, sellers=len(sellers), paid=paid, skipped=skipped, deferred=len(deferred)
            )
        )
        return True

    moved = svc.store.atomically(defer)
    if moved:
        delay = max((due + DEFER_MARGIN - now).total_seconds(), 0)
        _queue_again(svc, page, delay, f"-at-{int(due.timestamp())}")
        logger.info("%d sellers' run date has not begun; page queued again for %s", len(deferred), due)
    return PageResult("deferred", paid, skipped, len(deferred))


def _queue_again(svc: PayoutService, page: RunPage, delay_seconds: float, suffix: str) -> None:
    svc.tasks.enqueue(
        QUEUE_RUN_SHARDS,
        "run-shard-worker",
        {"run_id": page.run_id, "page_id": page.page_id},
        dedupe_key=f"{page.run_id}-{page.page_id}{suffix}",
        delay_seconds=delay_seconds,
    )


# --- progress and completion --------------------------------------------------------------------


def run_progress(svc: PayoutService, run_id: str) -> RunProgress:
    """The run and its counters: one batched read, whatever the size of the run."""
    progress = svc.store.runs.progress(run_id)
    if progress is None:
        raise RunNotFound(run_id)
    return progress


def run_items(
    svc: PayoutService,
    run_id: str,
    *,
    skip_reason: SkipReason | None = None,
    seller_id: str | None = None,
    after: str | None = None,
    limit: int = 200,
) -> RunItemsPage:
    """Each seller's outcome in a run, by seller id, a page at a time."""
    if svc.store.runs.get(run_id) is None:
        raise RunNotFound(run_id)
    found = svc.store.runs.items(
        run_id, skip_reason=skip_reason, seller_id=seller_id, after=after, limit=limit + 1
    )
    page = found[:limit]
    return RunItemsPage(page, page[-1].seller_id if len(found) > limit and page else None)


def complete_runs(svc: PayoutService, now: datetime | None = None) -> list[str]:
    """Check the funding of runs that wait for it (or whose check was lost), then mark runs
    whose pages are all done and whose payouts are all final as completed, and publish
    ``payout_run.completed`` (through the outbox, once). Decided from the counters."""
    now = now or datetime.now(UTC)
    completed = []
    waves_after = timedelta(seconds=svc.policy.stuck_after_seconds)
    for run in svc.store.runs.fanned_out(limit=50):
        progress = svc.store.runs.progress(run.run_id)
        if progress is None:
            continue
        if needs_check(progress, now=now, waves_after=waves_after):
            check_run_funding(svc, run.run_id, pages_done=progress.pages_done, now=now)
            continue  # its transfers are under way (or held): not complete yet
        if not progress.all_pages_done:
            _requeue_stale_pages(svc, run.run_id, now)
            continue
        if progress.open_payouts:
            continue
        event = svc.store.atomically(functools.partial(_complete, progress=progress, now=now))
        if event is not None:
            completed.append(run.run_id)
            svc.relay([event])
            logger.info("run %s completed", run.run_id, extra={"fields": {"run_id": run.run_id}})
    return completed


def _complete(uow: UnitOfWork, *, progress: RunProgress, now: datetime) -> OutboxEvent | None:
    current = uow.runs.get(progress.run.run_id)
    if current is None or current.status is not RunStatus.FANNED_OUT:
        return None
    done = current.moved_to(RunStatus.COMPLETED, now)
    uow.runs.put(done)
    event = run_completed_event(done.run_id, run_summary(RunProgress(done, progress.tally)), now)
    uow.outbox.add(event)
    return event


def _requeue_stale_pages(svc: PayoutService, run_id: str, now: datetime) -> None:
    """A shard task that was lost (its queue gave up) would keep the run open forever."""
    cutoff = now - timedelta(seconds=svc.policy.stuck_after_seconds)
    for page in svc.store.runs.queued_pages_due_before(run_id, cutoff, limit=100):
        logger.warning("shard page %s still queued; enqueued again", page.page_id)
        _queue_again(svc, page, 0, f"-{int(now.timestamp())}")
