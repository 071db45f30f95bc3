"""The sweeper's decisions and the return watch, against the in-memory store and a fake provider."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.domain.payouts import PayoutStatus
from tests.unit.usecases.conftest import NOW

LATER = NOW + timedelta(hours=1)


@pytest.fixture
def pending(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    payout = world.pay_on_demand("s-1", 3000)
    world.tasks.tasks.clear()
    return payout


def test_a_transfer_that_never_started_is_enqueued_again(world, pending):
    counts = world.svc.sweep(now=LATER)
    assert counts["requeued"] == 1
    assert world.tasks.to("transfer-worker") == [{"payout_id": pending.payout_id}]


def test_a_payout_the_provider_moved_on_is_resolved_from_the_provider(world, pending):
    world.svc.send_transfer(pending.payout_id, now=NOW)
    world.provider.settle(pending.payout_id, PayoutStatus.PAID)
    counts = world.svc.sweep(now=LATER)
    assert counts["resolved"] == 1
    assert world.store.payouts.get(pending.payout_id).status is PayoutStatus.PAID


def test_a_payout_processing_for_too_long_is_flagged_for_ops(world, pending):
    world.svc.send_transfer(pending.payout_id, now=NOW)
    assert world.svc.sweep(now=LATER)["flagged"] == 1
    assert "processing at the provider" in world.store.t.stuck[pending.payout_id]


def test_an_unreachable_provider_flags_instead_of_guessing(world, pending):
    world.provider.fetch_fails = True
    assert world.svc.sweep(now=LATER)["flagged"] == 1
    assert world.store.payouts.get(pending.payout_id).status is PayoutStatus.PENDING


def test_a_recent_payout_is_left_alone(world, pending):
    assert world.svc.sweep(now=NOW + timedelta(seconds=10)) == {
        "requeued": 0,
        "resolved": 0,
        "flagged": 0,
        "relayed": 0,
        "return_checked": 0,
        "returned": 0,
    }


def test_unpublished_events_are_relayed(world):
    world.publisher.fail = True
    world.seller("s-1")
    world.fund("s-1", 5000)
    payout = world.pay_on_demand("s-1", 3000)
    world.publisher.fail = False
    assert world.svc.sweep(now=NOW)["relayed"] == 1
    assert world.store.outbox.get(f"{payout.payout_id}-000001").published
    assert world.svc.relay_unpublished() == 0


@pytest.fixture
def paid(world, pending):
    world.provider.next_create(PayoutStatus.PAID)
    world.svc.send_transfer(pending.payout_id, now=NOW)
    payout = world.store.payouts.get(pending.payout_id)
    assert payout.status is PayoutStatus.PAID
    return payout


def test_the_return_watch_books_a_return_whose_webhook_was_lost(world, paid):
    world.provider.settle(paid.payout_id, PayoutStatus.RETURNED)
    counts = world.svc.recheck_returns(paid.return_check_from + timedelta(days=1, minutes=1))
    assert counts == {"return_checked": 1, "returned": 1}
    assert world.store.payouts.get(paid.payout_id).status is PayoutStatus.RETURNED
    assert world.available("s-1") == 5000


def test_the_return_watch_asks_again_at_doubling_intervals_then_stops(world, paid):
    at = paid.return_check_from
    checks = []
    for _ in range(5):
        at = at + timedelta(days=1, minutes=1)
        counts = world.svc.recheck_returns(at)
        checks.append(counts["return_checked"])
        payout = world.store.payouts.get(paid.payout_id)
        if payout.return_check_from is None:
            break
        at = payout.return_check_from
    assert sum(checks) == 3 and world.store.payouts.get(paid.payout_id).return_check_from is None


def test_the_return_watch_of_a_payout_without_provider_flags_it(world, paid):
    world.store.t.payouts[paid.payout_id] = replace(paid, provider=None)
    assert world.svc.recheck_returns(paid.return_check_from + timedelta(days=2))["return_checked"] == 0
    assert paid.payout_id in world.store.t.stuck
