"""A live run's funding check on the in-memory world: a run sends nothing while a page is left,
is held whole when a rail is short (one event, nothing sent, the sweeper sends nothing of it),
and is released once, with its event, when the funds arrive; a rail that does not answer holds
nothing and is asked again; dry runs are never checked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.payouts import PayoutStatus
from shared.domain.run_funding import FundingState
from shared.usecases import payout_runs as runs
from tests.fakes.outside import FakeFundingBalances
from tests.unit.usecases.conftest import NOW
from tests.unit.usecases.test_runs import drain

TODAY = NOW.date()


@pytest.fixture
def funded_world(world):
    world.svc.funding = FakeFundingBalances()
    for n in range(1, 6):  # 5 FR sellers over 2 buckets of pages of 3: several pages
        world.seller(f"fr-{n}", n=n)
        world.fund(f"fr-{n}", 1000 * (n + 4))  # 5,000 .. 9,000: 35,000 in all
    return world


def run_of(world):
    return runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run.run_id


def transfers(world):
    return [t.payload["payout_id"] for t in world.tasks.tasks if t.function == "transfer-worker"]


def funding_events(world):
    return [
        e.type for _, e in world.publisher.events if e.type.startswith("payout_run.") and "fund" in e.type
    ]


def test_a_funded_run_sends_every_payout_once_its_last_page_is_done(funded_world):
    world = funded_world
    world.svc.funding.fund("sandbox", "EUR", 35_000)
    run_id = run_of(world)
    drain(world)
    run = world.store.runs.get(run_id)
    assert run.funding.state is FundingState.RELEASED
    [line] = run.funding.lines
    assert (line.rail, line.currency, line.needed, line.payouts, line.available) == (
        "sandbox",
        "EUR",
        35_000,
        5,
        35_000,
    )
    assert sorted(transfers(world)) == sorted(p.payout_id for p in world.store.t.payouts.values())
    assert funding_events(world) == []  # a run that never waited says nothing more


def test_a_short_run_is_held_whole_then_released_once_when_funded(funded_world):
    world = funded_world
    world.svc.funding.fund("sandbox", "EUR", 34_999)
    run_id = run_of(world)
    drain(world)
    run = world.store.runs.get(run_id)
    assert run.funding.state is FundingState.AWAITING_FUNDING
    assert [(x.currency, x.shortfall) for x in run.funding.short_lines] == [("EUR", 1)]
    assert transfers(world) == [] and funding_events(world) == ["payout_run.awaiting_funding"]
    # Sweeps while it waits: nothing is sent (not even the payouts "stuck" pending), no new event.
    later = NOW + timedelta(hours=2)
    assert world.svc.sweep(now=later)["held"] == 5
    assert runs.complete_runs(world.svc, now=later) == []
    assert transfers(world) == [] and funding_events(world) == ["payout_run.awaiting_funding"]
    assert world.store.runs.get(run_id).funding.checks == 2
    # Treasury tops up: the next sweep releases the whole run, once.
    world.svc.funding.fund("sandbox", "EUR", 35_000)
    runs.complete_runs(world.svc, now=later + timedelta(minutes=5))
    runs.complete_runs(world.svc, now=later + timedelta(minutes=10))
    assert len(transfers(world)) == 5 and len(set(transfers(world))) == 5
    assert funding_events(world) == ["payout_run.awaiting_funding", "payout_run.funded"]
    assert world.store.runs.get(run_id).funding.state is FundingState.RELEASED
    # Sent, settled, completed: nothing was paid twice.
    world.provider.next_create(PayoutStatus.PAID)
    for payout_id in set(transfers(world)):
        world.provider.next_create(PayoutStatus.PAID)
        world.svc.send_transfer(payout_id, now=later)
    assert {p.status for p in world.store.t.payouts.values()} == {PayoutStatus.PAID}
    assert runs.complete_runs(world.svc, now=later + timedelta(minutes=15)) == [run_id]


def test_a_rail_that_does_not_answer_holds_nothing_back_and_is_asked_again(funded_world):
    world = funded_world
    world.svc.funding.fund("sandbox", "EUR", 10**9)
    world.svc.funding.down.add("sandbox")
    run_id = run_of(world)
    drain(world)
    assert world.store.runs.get(run_id).funding is None and transfers(world) == []
    world.svc.funding.down.clear()
    runs.complete_runs(world.svc, now=NOW + timedelta(minutes=5))  # the sweep finds it unchecked
    assert world.store.runs.get(run_id).funding.state is FundingState.RELEASED
    assert len(transfers(world)) == 5


def test_a_dry_run_is_never_checked(funded_world):
    world = funded_world
    world.svc.funding.fund("sandbox", "EUR", 0)
    run_id = runs.start_run(world.svc, TODAY, dry_run=True, requested_by="t", now=NOW).progress.run.run_id
    drain(world)
    assert world.store.runs.get(run_id).funding is None and world.svc.funding.asked == []


def test_a_stray_transfer_delivery_before_the_check_sends_nothing_and_is_retried(funded_world):
    from shared.usecases.payouts import RetryLater

    world = funded_world
    world.svc.funding.fund("sandbox", "EUR", 0)
    run_id = run_of(world)
    drain(world)
    payout_id = next(iter(world.store.t.payouts))
    with pytest.raises(RetryLater):  # e.g. a duplicate delivery Cloud Tasks made up
        world.svc.send_transfer(payout_id, now=NOW)
    payout = world.store.t.payouts[payout_id]
    assert payout.status is PayoutStatus.PENDING and payout.transfer_started_at is None
    assert payout.sender_claim is None and world.provider.transfers == {}
    world.svc.funding.fund("sandbox", "EUR", 10**9)
    runs.complete_runs(world.svc, now=NOW + timedelta(minutes=5))
    assert world.store.runs.get(run_id).funding.state is FundingState.RELEASED
    world.svc.send_transfer(payout_id, now=NOW + timedelta(minutes=5))
    assert world.store.t.payouts[payout_id].status is not PayoutStatus.PENDING


def test_a_release_covers_payouts_a_later_started_page_created_after_the_checking_pages_clock(funded_world):
    """Pages run concurrently: the page that finds every page done may have started before
    another page created its payouts. Its check counts them, so its release covers them (seed 2
    of the fault run once held 110 such payouts for ever)."""
    world = funded_world
    world.svc.funding.fund("sandbox", "EUR", 10**9)
    run_id = run_of(world)
    first, *others = [t for t in world.tasks.tasks if t.function == "run-shard-worker"]
    world.tasks.tasks.remove(first)
    runs.process_page(world.svc, run_id, first.payload["page_id"], now=NOW + timedelta(seconds=10))
    drain(world, now=NOW)  # the rest, the last one started "earlier"
    late = [p for p in world.store.t.payouts.values() if p.created_at > NOW]
    assert late, "the first page created payouts after the checking page's clock"
    funding = world.store.runs.get(run_id).funding
    assert funding.state is FundingState.RELEASED
    for payout in late:
        assert world.svc.send_transfer(payout.payout_id, now=NOW + timedelta(seconds=20)) != "held"
        assert world.store.t.payouts[payout.payout_id].status is not PayoutStatus.PENDING


def test_the_sweeper_checks_a_run_whose_held_payouts_no_check_counted(funded_world):
    """Belt and braces: a released run holding a payout created after its last check (whatever
    the cause) is checked again by the sweep, which releases it."""
    from dataclasses import replace

    world = funded_world
    world.svc.funding.fund("sandbox", "EUR", 10**9)
    run_id = run_of(world)
    drain(world)
    payout = next(iter(world.store.t.payouts.values()))
    world.store.t.payouts[payout.payout_id] = replace(payout, created_at=NOW + timedelta(minutes=1))
    counts = world.svc.sweep(now=NOW + timedelta(hours=1))
    assert counts["held"] == 1 and counts["funding_checked"] == 1
    funding = world.store.runs.get(run_id).funding
    assert funding.releases(NOW + timedelta(minutes=1))


def test_a_second_funded_check_of_the_same_payouts_queues_nothing_again(funded_world):
    """Two pages finishing together both check; the second must not queue the transfers again
    (a task name is free again once its task has run, on the emulator)."""
    from shared.usecases.run_funding import check_run_funding

    world = funded_world
    world.svc.funding.fund("sandbox", "EUR", 10**9)
    run_id = run_of(world)
    drain(world)
    queued = len(transfers(world))
    pages = world.store.runs.progress(run_id).pages_done
    again = check_run_funding(world.svc, run_id, pages_done=pages, now=NOW + timedelta(seconds=1))
    assert again.released == 0 and len(transfers(world)) == queued == 5
