"""The funding check's rules (shared/domain/run_funding.py): needs per rail and currency, short
or released, waits that start and stop once, and which pending payouts the sweeper may send."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from shared.domain.money import Money
from shared.domain.payouts import new_payout
from shared.domain.run_funding import (
    FundingState,
    UnsentPayout,
    check_funding,
    funding_needs,
    funding_to_dict,
    started_waiting,
    stopped_waiting,
)
from shared.domain.runs import new_run, transfer_released

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def needs():
    return funding_needs(
        [
            UnsentPayout("a", "sandbox", Money(5000, "EUR")),
            UnsentPayout("b", "sandbox", Money(7000, "EUR")),
            UnsentPayout("c", "stripe", Money(900, "PLN")),
            UnsentPayout("d", "sepa_file", Money(100, "EUR")),
        ]
    )


def test_needs_add_up_per_rail_and_currency():
    assert needs() == {
        ("sandbox", "EUR"): (12000, 2),
        ("stripe", "PLN"): (900, 1),
        ("sepa_file", "EUR"): (100, 1),
    }


def test_a_run_is_released_only_when_no_rail_is_short_and_an_unreported_rail_never_holds_it():
    available = {("sandbox", "EUR"): 12000, ("stripe", "PLN"): 900, ("sepa_file", "EUR"): None}
    funded = check_funding(needs(), available, previous=None, pages_done=2, now=NOW)
    assert funded.state is FundingState.RELEASED and not funded.short_lines
    view = funding_to_dict(funded)
    assert [(x["rail"], x["unreported"]) for x in view["lines"]] == [  # type: ignore[index,union-attr]
        ("sandbox", False),
        ("sepa_file", True),
        ("stripe", False),
    ]
    short = check_funding(
        needs(), {**available, ("sandbox", "EUR"): 11999}, previous=None, pages_done=2, now=NOW
    )
    assert short.state is FundingState.AWAITING_FUNDING
    assert [(x.rail, x.currency, x.shortfall) for x in short.short_lines] == [("sandbox", "EUR", 1)]


def test_a_wait_starts_once_keeps_its_start_and_stops_once():
    short = {("sandbox", "EUR"): 0, ("stripe", "PLN"): 900}
    first = check_funding(needs(), short, previous=None, pages_done=2, now=NOW)
    later = check_funding(needs(), short, previous=first, pages_done=2, now=NOW + timedelta(minutes=5))
    funded = check_funding(
        needs(), {("sandbox", "EUR"): 10**9}, previous=later, pages_done=2, now=NOW + timedelta(minutes=10)
    )
    assert started_waiting(None, first) and not started_waiting(first, later)
    assert later.awaiting_since == NOW and later.checks == 2
    assert stopped_waiting(later, funded) and not stopped_waiting(None, funded)
    assert funded.awaiting_since is None and funded.checks == 3


def test_the_sweeper_sends_a_run_payout_only_once_a_check_counted_it_and_found_the_funds():
    run = new_run(date(2026, 11, 24), dry_run=False, buckets=2, requested_by="t", now=NOW)
    payout, _ = new_payout(
        "po_1", "s1", Money(5000, "EUR"), at=NOW, origin="run", cause="c", actor="a", run_id=run.run_id
    )
    on_demand = replace(payout, run_id=None)
    assert transfer_released(None, on_demand)
    assert not transfer_released(run, payout)  # not checked yet
    later = NOW + timedelta(seconds=1)
    released = replace(run, funding=check_funding(needs(), {}, previous=None, pages_done=2, now=later))
    assert transfer_released(released, payout)
    assert not transfer_released(released, replace(payout, created_at=later + timedelta(seconds=1)))
    waiting = replace(
        run, funding=check_funding(needs(), {("sandbox", "EUR"): 0}, previous=None, pages_done=2, now=later)
    )
    assert not transfer_released(waiting, payout)
    assert transfer_released(replace(run, dry_run=True), payout)


def test_a_later_wave_found_short_holds_only_what_came_after_the_last_release():
    first = check_funding(needs(), {}, previous=None, pages_done=2, now=NOW)
    later = NOW + timedelta(hours=3)
    short = check_funding(needs(), {("sandbox", "EUR"): 0}, previous=first, pages_done=4, now=later)
    assert short.state is FundingState.AWAITING_FUNDING and short.released_through == NOW
    assert short.releases(NOW - timedelta(seconds=1)) and not short.releases(NOW + timedelta(hours=1))
