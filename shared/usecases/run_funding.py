"""The funding check of a live run (the rules: ``shared/domain/run_funding.py``).

A live run's pages create its payouts but send none. When its last page is done (and at each
sweep while it is not yet checked or waits for funds), ``check_run_funding`` adds up the run's
unsent payouts per rail and currency, asks each rail what the platform holds there (outside any
transaction), and records the decision on the run in one unit of work, with its event:

- funded: every unsent payout goes to the transfer queue (its task is deduplicated by payout id,
  so a check made twice queues each transfer once, and the transfer worker's claim makes a second
  delivery a no-op);
- short: nothing is queued; the run is ``awaiting_funding`` and ``payout_run.awaiting_funding``
  goes out once per wait; the next sweeps check again and release the run when the money is
  there (``payout_run.funded``).

Cost: one query page per 500 unsent payouts (one read each), one balance call per rail and
currency, one transaction on the run document.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from shared.domain.events import OutboxEvent, run_funding_event
from shared.domain.payouts import Payout
from shared.domain.run_funding import (
    FundingState,
    RunFunding,
    UnsentPayout,
    check_funding,
    funding_needs,
    funding_to_dict,
    started_waiting,
    stopped_waiting,
)
from shared.domain.runs import RunProgress, RunStatus
from shared.usecases.payouts import AfterCommit, PayoutService
from shared.usecases.ports import FundingUnreadable, UnitOfWork

logger = logging.getLogger(__name__)
PAGE = 500


@dataclass(frozen=True)
class FundingOutcome:
    run_id: str
    funding: RunFunding | None  # None: not a live run under way, or its rails did not answer
    released: int = 0  # transfers queued by this check


def needs_check(progress: RunProgress, *, now: datetime, waves_after: timedelta) -> bool:
    """Whether the sweep should check a run's funding: it waits for funds; or pages were done
    since its last check, and either none is left (the last page's own check was lost to a
    crash) or the run is older than ``waves_after`` (pages deferred to a later timezone must not
    hold what the done pages created until the last country's date begins)."""
    run = progress.run
    if run.dry_run or run.status is not RunStatus.FANNED_OUT:
        return False
    funding = run.funding
    if funding is not None and funding.state is FundingState.AWAITING_FUNDING:
        return True
    if progress.pages_done <= (funding.pages_done if funding else 0):
        return False
    return progress.all_pages_done or (run.fanned_out_at or run.created_at) <= now - waves_after


def check_run_funding(
    svc: PayoutService, run_id: str, *, pages_done: int, now: datetime | None = None
) -> FundingOutcome:
    """Check the run's unsent payouts against the rails' funds; release them or hold the run."""
    now = now or datetime.now(UTC)
    run = svc.store.runs.get(run_id)
    if run is None or run.dry_run or run.status is not RunStatus.FANNED_OUT:
        return FundingOutcome(run_id, None)
    previous = run.funding
    unsent = list(_unsent(svc, run_id))
    needs = funding_needs(UnsentPayout(p.payout_id, p.provider or "", p.amount) for p in unsent)
    try:
        available = {key: _available(svc, *key) for key in needs}
    except FundingUnreadable as exc:
        logger.warning("run %s: funding not readable (%s); checked again at the next sweep", run_id, exc)
        return FundingOutcome(run_id, None)
    newest = max((p.created_at for p in unsent), default=None)
    funding, events = svc.store.atomically(
        functools.partial(
            _record, run_id=run_id, needs=needs, available=available, pages=pages_done, now=now, newest=newest
        )
    )
    svc.relay(events)
    if funding is None:
        return FundingOutcome(run_id, None)
    if funding.state is FundingState.AWAITING_FUNDING:
        for line in funding.short_lines:
            logger.warning(
                "run %s awaits funding: %s %s short by %d (needs %d, %s available)",
                run_id,
                line.rail,
                line.currency,
                line.shortfall,
                line.needed,
                line.available,
            )
        return FundingOutcome(run_id, funding)
    through = previous.released_through if previous is not None else None
    if through is not None and newest is not None and newest <= through:
        return FundingOutcome(run_id, funding)  # a funded check already queued every one of them
    svc.after_commit(AfterCommit(transfers=[p.payout_id for p in unsent]))
    logger.info("run %s funded: %d transfers released", run_id, len(unsent))
    return FundingOutcome(run_id, funding, len(unsent))


def _available(svc: PayoutService, rail: str, currency: str) -> int | None:
    return svc.funding.available(rail, currency) if svc.funding is not None else None


def _unsent(svc: PayoutService, run_id: str) -> Iterator[Payout]:
    after: str | None = None
    while True:
        page = svc.store.payouts.unsent_of_run(run_id, after=after, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].payout_id


def _record(
    uow: UnitOfWork,
    *,
    run_id: str,
    needs: Mapping[tuple[str, str], tuple[int, int]],
    available: Mapping[tuple[str, str], int | None],
    pages: int,
    now: datetime,
    newest: datetime | None,
) -> tuple[RunFunding | None, list[OutboxEvent]]:
    run = uow.runs.get(run_id)
    if run is None or run.status is not RunStatus.FANNED_OUT:
        return None, []  # completed meanwhile by another check's transfers: nothing to hold
    previous = run.funding
    pages = max(pages, previous.pages_done if previous else 0)
    funding = check_funding(
        needs, available, previous=previous, pages_done=pages, now=now, counted_through=newest
    )
    uow.runs.put(replace(run, funding=funding))
    events: list[OutboxEvent] = []
    if started_waiting(previous, funding) or stopped_waiting(previous, funding):
        data = {"run_id": run_id, "run_date": run.run_date.isoformat(), **funding_to_dict(funding)}
        waiting = funding.state is FundingState.AWAITING_FUNDING
        event = run_funding_event(run_id, waiting, data, funding.checks, now)
        uow.outbox.add(event)
        events.append(event)
    return funding, events
