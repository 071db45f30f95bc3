"""The funding check before a live run sends its transfers (issue 16). No I/O.

A live run creates its payouts page by page, but sends none of them while it does: once its pages
are done, the run's unsent payouts are added up per rail and currency and compared with what the
platform holds at each rail. Funded: every unsent payout is released to the transfer queue at
once. Short: nothing is sent; the run waits in ``awaiting_funding`` (an event and an alert say
so), and each sweep checks again, releasing the whole run as soon as the funds are there. A run
is held whole rather than paid in part: paying "as far as the money goes" would choose which
sellers wait, and that is a decision for ops, not for a sort order.

The rail a payout is counted at is the one it was created for (its route's first rail now); a
transfer the worker fails over to another rail is sent from that rail's funds. A rail that
reports no balance (a bank-file rail before its first statement) is not a reason to hold: its
line says ``unreported`` and the run goes on; the bank refuses what it cannot pay (AM04).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain.money import Money


class FundingState(StrEnum):
    RELEASED = "released"  # the run's unsent payouts (as of ``checked_at``) went to the transfer queue
    AWAITING_FUNDING = "awaiting_funding"  # short at a rail: nothing of the run is sent


@dataclass(frozen=True)
class FundingLine:
    """What the run still has to send at one rail in one currency, against what the platform
    holds there (``available`` None: the rail reports no balance for it)."""

    rail: str
    currency: str
    needed: int
    payouts: int
    available: int | None

    @property
    def shortfall(self) -> int:
        if self.available is None:
            return 0
        return max(self.needed - self.available, 0)

    @property
    def short(self) -> bool:
        return self.shortfall > 0


@dataclass(frozen=True)
class RunFunding:
    """The last funding check of a run, kept on the run."""

    state: FundingState
    checked_at: datetime
    lines: tuple[FundingLine, ...]
    pages_done: int  # how many pages were done when it was checked (a later page is checked again)
    awaiting_since: datetime | None = None
    checks: int = 1
    # When a check last found the funds: every payout of the run created by then may be sent,
    # whatever later checks say (a later wave found short holds only what came after).
    released_through: datetime | None = None

    @property
    def short_lines(self) -> tuple[FundingLine, ...]:
        return tuple(line for line in self.lines if line.short)

    def releases(self, created_at: datetime) -> bool:
        """Whether a payout of the run created at ``created_at`` may be sent: a check that found
        the funds counted it."""
        return self.released_through is not None and created_at <= self.released_through


@dataclass(frozen=True)
class UnsentPayout:
    payout_id: str
    rail: str
    amount: Money


def funding_needs(payouts: Iterable[UnsentPayout]) -> dict[tuple[str, str], tuple[int, int]]:
    """(rail, currency) -> (amount, count) of the payouts still to send."""
    needs: dict[tuple[str, str], tuple[int, int]] = {}
    for payout in payouts:
        key = (payout.rail, payout.amount.currency)
        amount, count = needs.get(key, (0, 0))
        needs[key] = (amount + payout.amount.amount, count + 1)
    return needs


def check_funding(
    needs: Mapping[tuple[str, str], tuple[int, int]],
    available: Mapping[tuple[str, str], int | None],
    *,
    previous: RunFunding | None,
    pages_done: int,
    now: datetime,
    counted_through: datetime | None = None,
) -> RunFunding:
    """The run's funding now: released when no rail is short, else awaiting funding (since the
    first check that found it short). ``counted_through``: the newest creation time among the
    payouts counted (a page that started after the checking one may have created them later than
    its clock); a release covers every payout created by then."""
    lines = tuple(
        FundingLine(rail, currency, amount, count, available.get((rail, currency)))
        for (rail, currency), (amount, count) in sorted(needs.items())
    )
    short = any(line.short for line in lines)
    checks = (previous.checks + 1) if previous else 1
    if not short:
        through = max(now, counted_through) if counted_through else now
        return RunFunding(
            FundingState.RELEASED, now, lines, pages_done, None, checks, released_through=through
        )
    since = previous.awaiting_since if previous and previous.awaiting_since else now
    kept = previous.released_through if previous else None
    return RunFunding(FundingState.AWAITING_FUNDING, now, lines, pages_done, since, checks, kept)


def started_waiting(previous: RunFunding | None, current: RunFunding) -> bool:
    """The check that puts a run in ``awaiting_funding`` (its event goes out once per wait)."""
    waiting = current.state is FundingState.AWAITING_FUNDING
    return waiting and (previous is None or previous.state is not FundingState.AWAITING_FUNDING)


def stopped_waiting(previous: RunFunding | None, current: RunFunding) -> bool:
    """The check that releases a run that was waiting for funds."""
    was_waiting = previous is not None and previous.state is FundingState.AWAITING_FUNDING
    return was_waiting and current.state is FundingState.RELEASED


def line_to_dict(line: FundingLine) -> dict[str, object]:
    return {
        "rail": line.rail,
        "currency": line.currency,
        "needed": line.needed,
        "payouts": line.payouts,
        "available": line.available,
        "shortfall": line.shortfall,
        "unreported": line.available is None,
    }


def funding_to_dict(funding: RunFunding) -> dict[str, object]:
    """The run's funding as the API, the console and the events show it."""
    return {
        "state": funding.state.value,
        "checked_at": funding.checked_at.isoformat(),
        "awaiting_since": funding.awaiting_since.isoformat() if funding.awaiting_since else None,
        "checks": funding.checks,
        "released_through": funding.released_through.isoformat() if funding.released_through else None,
        "lines": [line_to_dict(line) for line in funding.lines],
    }
