"""Scheduled payout runs, their pages and items, and the counters of their progress. No I/O.

    run:   planning ──▶ fanned_out ──▶ completed
           (a live run's transfers wait for its funding check: ``funding``, run_funding.py)
    page:  queued ──▶ done          (a page whose run date has not begun for some of its
           queued ──▶ queued         sellers is queued again for when it has: deferred)

A run is one per date (``run-YYYY-MM-DD``); a dry run gets a fresh id each time, so it never
takes the live run's id. A run is split over ``buckets`` ranges of the seller run buckets; each
range is read a page at a time by one shard task, and a full page queues the next. Every seller a
page looks at gets one :class:`RunItem`: its payout, or why it was not paid.

Progress is kept as counters (:class:`RunTally`) that every write moves in its own transaction:
a page created or done, an item written (and the one it replaced), a payout of the run created
or moved to another status. Reading the progress is then the sum of a few counter documents,
never a count over the run's payouts and items.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from shared.domain.countries import CountryRegistry
from shared.domain.eligibility import SkipReason
from shared.domain.errors import DomainError
from shared.domain.fx import Conversion, Rate
from shared.domain.money import Money
from shared.domain.payouts import OPEN_STATES, Payout, PayoutStatus
from shared.domain.run_funding import RunFunding, funding_to_dict
from shared.domain.schedule import local_date

RUN_BUCKET_SPACE = 1024  # sellers are spread over this many buckets; a run's shards take ranges


def run_bucket(seller_id: str) -> int:
    """The seller's run bucket, fixed by its id."""
    return int(hashlib.sha256(seller_id.encode()).hexdigest()[:8], 16) % RUN_BUCKET_SPACE


def bucket_range(bucket: int, buckets: int) -> tuple[int, int]:
    """The run buckets [lo, hi) that shard ``bucket`` of ``buckets`` reads."""
    return bucket * RUN_BUCKET_SPACE // buckets, (bucket + 1) * RUN_BUCKET_SPACE // buckets


def page_cursor(seller_id: str) -> str:
    """Where the next page starts: after this seller, in (run bucket, seller id) order."""
    return f"{run_bucket(seller_id)}/{seller_id}"


class RunStatus(StrEnum):
    PLANNING = "planning"  # created; its first pages are being queued
    FANNED_OUT = "fanned_out"  # every first page is queued; pages and payouts are under way
    COMPLETED = "completed"  # every page done and every payout final; payout_run.completed sent


class PageStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"


RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PLANNING: frozenset({RunStatus.FANNED_OUT}),
    RunStatus.FANNED_OUT: frozenset({RunStatus.COMPLETED}),
    RunStatus.COMPLETED: frozenset(),
}
PAGE_TRANSITIONS: dict[PageStatus, frozenset[PageStatus]] = {
    PageStatus.QUEUED: frozenset({PageStatus.DONE, PageStatus.QUEUED}),  # done, or deferred
    PageStatus.DONE: frozenset(),
}


class IllegalRunTransition(DomainError):
    def __init__(self, what: str, current: str, target: str) -> None:
        super().__init__("illegal_transition", f"a {current} {what} cannot become {target}", "status")


class RunDateNotBegun(DomainError):
    """A live run for a date that has not begun anywhere we pay: it would skip every seller and,
    being one per date, block the real run of that date."""

    def __init__(self, run_date: date, earliest: date) -> None:
        super().__init__(
            "run_date_not_begun",
            f"{run_date} has not begun in any country's timezone yet (the latest date anywhere is "
            f"{earliest}); start it on that date, or ask for a dry run",
            "run_date",
        )


class RunNotFound(DomainError):
    def __init__(self, run_id: str) -> None:
        super().__init__("run_not_found", f"run {run_id} does not exist", "run_id")


def run_id_for(run_date: date, dry_run: bool) -> str:
    """One live run per date; a dry run of any date gets an id of its own every time."""
    if dry_run:
        return f"dry-{run_date.isoformat()}-{uuid.uuid4().hex[:8]}"
    return f"run-{run_date.isoformat()}"


def check_run_date(run_date: date, dry_run: bool, registry: CountryRegistry, now: datetime) -> None:
    """Refuse a live run for a date that has not begun in any country's timezone (a dry run of
    any date is fine)."""
    if dry_run:
        return
    latest = max(local_date(registry.get(c), now) for c in registry.countries())
    if run_date > latest:
        raise RunDateNotBegun(run_date, latest)


def page_id_for(bucket: int, page: int) -> str:
    return f"b{bucket:04d}-p{page:05d}"


@dataclass(frozen=True)
class PayoutRun:
    run_id: str
    run_date: date
    dry_run: bool
    status: RunStatus
    buckets: int
    created_at: datetime
    requested_by: str
    fanned_out_at: datetime | None = None
    completed_at: datetime | None = None
    # A live run's last funding check (shared/domain/run_funding.py); None until its first.
    funding: RunFunding | None = None
    # A dry run (issue 17): the rates it converts at, fixed when it started, and the pairs it
    # could not get a rate for ("EUR/SEK", "stale_rate: ..."). A live run fixes each payout's.
    fx_rates: tuple[Rate, ...] = ()
    fx_unavailable: tuple[tuple[str, str], ...] = ()

    def moved_to(self, target: RunStatus, at: datetime) -> PayoutRun:
        if target not in RUN_TRANSITIONS[self.status]:
            raise IllegalRunTransition("run", self.status.value, target.value)
        if target is RunStatus.FANNED_OUT:
            return replace(self, status=target, fanned_out_at=at)
        return replace(self, status=target, completed_at=at)


def transfer_released(run: PayoutRun | None, payout: Payout) -> bool:
    """Whether a pending payout may be sent (by the transfer worker, or queued again by the
    sweeper): a payout of no run, or of a dry run, always; a live run's only once a funding
    check counted it and found the funds."""
    if payout.run_id is None or run is None or run.dry_run:
        return True
    return run.funding is not None and run.funding.releases(payout.created_at)


def new_run(run_date: date, *, dry_run: bool, buckets: int, requested_by: str, now: datetime) -> PayoutRun:
    return PayoutRun(
        run_id=run_id_for(run_date, dry_run),
        run_date=run_date,
        dry_run=dry_run,
        status=RunStatus.PLANNING,
        buckets=buckets,
        created_at=now,
        requested_by=requested_by,
    )


@dataclass(frozen=True)
class RunPage:
    run_id: str
    page_id: str
    bucket: int
    page: int
    start_after: str | None
    status: PageStatus
    created_at: datetime
    due_at: datetime  # when its task is due: created_at, or when its deferred sellers' date begins
    done_at: datetime | None = None
    sellers: int = 0
    paid: int = 0
    skipped: int = 0
    deferred: int = 0  # sellers whose run date had not begun yet: the page is queued again

    def done(self, at: datetime, *, sellers: int, paid: int, skipped: int) -> RunPage:
        if PageStatus.DONE not in PAGE_TRANSITIONS[self.status]:
            raise IllegalRunTransition("page", self.status.value, PageStatus.DONE.value)
        return replace(
            self, status=PageStatus.DONE, done_at=at, sellers=sellers, paid=paid, skipped=skipped, deferred=0
        )

    def deferred_until(
        self, due_at: datetime, *, sellers: int, paid: int, skipped: int, deferred: int
    ) -> RunPage:
        if PageStatus.QUEUED not in PAGE_TRANSITIONS[self.status]:
            raise IllegalRunTransition("page", self.status.value, "deferred")
        return replace(self, due_at=due_at, sellers=sellers, paid=paid, skipped=skipped, deferred=deferred)


def new_page(run_id: str, bucket: int, page: int, start_after: str | None, now: datetime) -> RunPage:
    return RunPage(
        run_id=run_id,
        page_id=page_id_for(bucket, page),
        bucket=bucket,
        page=page,
        start_after=start_after,
        status=PageStatus.QUEUED,
        created_at=now,
        due_at=now,
    )


@dataclass(frozen=True)
class RunItem:
    """One seller's outcome in a run: its payout, or the reason it was not paid."""

    run_id: str
    seller_id: str
    country: str
    currency: str
    decided_at: datetime
    payout_id: str | None = None
    amount: int | None = None  # the payout's amount (paid)
    skip_reason: SkipReason | None = None
    detail: str | None = None
    would_pay: int | None = None  # a dry run: what a live run would pay
    # Over the country's max_transaction_amount: paid up to it, the rest waits for the next run.
    left_for_next_run: int | None = None
    left_reason: str | None = None
    # Issue 17: balances in other currencies converted into the payout (a dry run: the rates
    # it would use, as of its decision).
    conversions: tuple[Conversion, ...] = ()

    @property
    def paid(self) -> bool:
        return self.payout_id is not None


# --- counters -------------------------------------------------------------------------------------

CounterKey = tuple[str, ...]


@dataclass(frozen=True)
class RunTally:
    """Additive counters of a run, keyed by name path: ``("pages", "total")``,
    ``("payouts", "paid")``, ``("by_currency", "EUR", "paid")``, ``("amounts", "EUR", "paid")``,
    ``("skips", "below_minimum")``, ``("would_pay", "payouts")``, ``("would_pay", "amounts", "EUR")``,
    ``("left_for_next_run", "EUR")``, ``("sellers_seen",)``. A tally is what one write adds; the
    sum of every tally is the progress."""

    counts: Mapping[CounterKey, int]

    @staticmethod
    def of(entries: Iterable[tuple[CounterKey, int]]) -> RunTally:
        total: Counter[CounterKey] = Counter()
        for key, n in entries:
            total[key] += n
        return RunTally({k: v for k, v in total.items() if v})

    def __add__(self, other: RunTally) -> RunTally:
        return RunTally.of([*self.counts.items(), *other.counts.items()])

    def __neg__(self) -> RunTally:
        return RunTally({k: -v for k, v in self.counts.items()})

    def __sub__(self, other: RunTally) -> RunTally:
        return self + -other

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __iter__(self) -> Iterator[tuple[CounterKey, int]]:
        return iter(sorted(self.counts.items()))

    def get(self, *key: str) -> int:
        return self.counts.get(key, 0)

    def under(self, *prefix: str) -> dict[str, int]:
        """Counters one level below ``prefix``, zeros left out: ``under("payouts")`` -> by status."""
        n = len(prefix)
        return {k[n]: v for k, v in sorted(self.counts.items()) if len(k) == n + 1 and k[:n] == prefix and v}


NO_TALLY = RunTally({})


def page_created_tally() -> RunTally:
    return RunTally.of([(("pages", "total"), 1)])


def page_done_tally() -> RunTally:
    return RunTally.of([(("pages", "done"), 1)])


def _item_counts(item: RunItem) -> list[tuple[CounterKey, int]]:
    out: list[tuple[CounterKey, int]] = [(("sellers_seen",), 1)]
    if item.skip_reason is not None:
        out.append((("skips", item.skip_reason.value), 1))
    if item.would_pay is not None:
        out.append((("would_pay", "payouts"), 1))
        out.append((("would_pay", "amounts", item.currency), item.would_pay))
    if item.left_for_next_run:
        out.append((("left_for_next_run", item.currency), item.left_for_next_run))
    return out


def item_change_tally(previous: RunItem | None, item: RunItem) -> RunTally:
    """What replacing ``previous`` (None: a seller seen for the first time) by ``item`` adds."""
    before = RunTally.of(_item_counts(previous)) if previous is not None else NO_TALLY
    return RunTally.of(_item_counts(item)) - before


def payout_tally(status: PayoutStatus, amount: Money) -> RunTally:
    return RunTally.of(
        [
            (("payouts", status.value), 1),
            (("by_currency", amount.currency, status.value), 1),
            (("amounts", amount.currency, status.value), amount.amount),
        ]
    )


def status_change_tally(before: PayoutStatus, after: PayoutStatus, amount: Money) -> RunTally:
    """A payout of the run moved from ``before`` to ``after``."""
    if before is after:
        return NO_TALLY
    return payout_tally(after, amount) - payout_tally(before, amount)


@dataclass(frozen=True)
class RunProgress:
    """What ``GET /runs/{id}`` shows: the run and the sum of its counters."""

    run: PayoutRun
    tally: RunTally

    @property
    def pages_total(self) -> int:
        return self.tally.get("pages", "total")

    @property
    def pages_done(self) -> int:
        return self.tally.get("pages", "done")

    @property
    def sellers_seen(self) -> int:
        return self.tally.get("sellers_seen")

    @property
    def payouts_by_status(self) -> dict[str, int]:
        return self.tally.under("payouts")

    @property
    def open_payouts(self) -> int:
        return sum(self.tally.get("payouts", s.value) for s in OPEN_STATES)

    @property
    def amounts_by_currency(self) -> dict[str, dict[str, int]]:
        currencies = sorted({k[1] for k, _ in self.tally if k[0] == "amounts"})
        out = {ccy: self.tally.under("amounts", ccy) for ccy in currencies}
        return {ccy: per_status for ccy, per_status in out.items() if per_status}

    @property
    def payouts_by_currency(self) -> dict[str, dict[str, int]]:
        currencies = sorted({k[1] for k, _ in self.tally if k[0] == "by_currency"})
        out = {ccy: self.tally.under("by_currency", ccy) for ccy in currencies}
        return {ccy: per_status for ccy, per_status in out.items() if per_status}

    @property
    def skip_reasons(self) -> dict[str, int]:
        return self.tally.under("skips")

    @property
    def would_pay(self) -> tuple[int, dict[str, int]]:
        return self.tally.get("would_pay", "payouts"), self.tally.under("would_pay", "amounts")

    @property
    def left_for_next_run(self) -> dict[str, int]:
        return self.tally.under("left_for_next_run")

    @property
    def all_pages_done(self) -> bool:
        return self.pages_total > 0 and self.pages_done >= self.pages_total


def run_summary(progress: RunProgress) -> dict[str, object]:
    """The progress of a run as published (``payout_run.completed``) and shown by ``GET /runs``."""
    run = progress.run
    view: dict[str, object] = {
        "run_id": run.run_id,
        "run_date": run.run_date.isoformat(),
        "dry_run": run.dry_run,
        "status": run.status.value,
        "created_at": run.created_at.isoformat(),
        "pages": {"total": progress.pages_total, "done": progress.pages_done},
        "sellers_seen": progress.sellers_seen,
        "payouts_by_status": progress.payouts_by_status,
        "payouts_by_currency": progress.payouts_by_currency,
        "amounts_by_currency": progress.amounts_by_currency,
        "skip_reasons": progress.skip_reasons,
    }
    if progress.left_for_next_run:
        view["left_for_next_run"] = progress.left_for_next_run
    if run.dry_run:
        payouts, amounts = progress.would_pay
        view["would_pay"] = {"payouts": payouts, "amounts_by_currency": amounts}
        # The rates it would use (issue 17), with their source and time, and the pairs without one.
        view["fx_rates"] = [rate.as_record() for rate in run.fx_rates]
        view["fx_rates_unavailable"] = [{"pair": pair, "reason": why} for pair, why in run.fx_unavailable]
    if run.funding is not None:  # a live run's funding check: released, or awaiting_funding
        view["funding"] = funding_to_dict(run.funding)
    return view
