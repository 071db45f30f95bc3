"""A rail's webhook against its payout (shared/usecases/rail_events.py): never backwards by the
rail's sequence, never from another rail, and "failed" after "paid" is a return."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.payouts import FailureCode, PayoutStatus
from shared.usecases.ports import ProviderEvent, TransferState
from tests.fakes.outside import FakeProvider
from tests.unit.usecases.conftest import NOW


@pytest.fixture
def sent(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    payout = world.pay_on_demand("s-1", 3000)
    assert world.svc.send_transfer(payout.payout_id, now=NOW) == "sent"
    return world.store.payouts.get(payout.payout_id)


def event(payout, status, n, sequence=None, failure_code=None):
    state = TransferState(payout.provider_ref, payout.payout_id, status, payout.amount, failure_code)
    return ProviderEvent(f"evt-{n}", state, NOW + timedelta(minutes=n), sequence=sequence)


def test_an_older_sequence_after_a_newer_one_is_acknowledged_and_ignored(world, sent):
    rail = world.provider
    assert world.svc.apply_provider_event(rail, event(sent, PayoutStatus.PAID, 1, sequence=3)) == "applied"
    assert world.store.payouts.get(sent.payout_id).rail_sequence == 3
    older = event(sent, PayoutStatus.FAILED, 2, sequence=2, failure_code=FailureCode.DECLINED)
    assert world.svc.apply_provider_event(rail, older) == "older_sequence"
    assert world.svc.apply_provider_event(rail, older) == "duplicate"  # recorded: a retry is a duplicate
    payout = world.store.payouts.get(sent.payout_id)
    assert payout.status is PayoutStatus.PAID and payout.rail_sequence == 3


def test_a_newer_sequence_moves_the_payout_on(world, sent):
    rail = world.provider
    assert world.svc.apply_provider_event(rail, event(sent, PayoutStatus.PAID, 1, sequence=2)) == "applied"
    returned = event(sent, PayoutStatus.RETURNED, 2, sequence=5, failure_code=FailureCode.ACCOUNT_CLOSED)
    assert world.svc.apply_provider_event(rail, returned) == "applied"
    assert world.store.payouts.get(sent.payout_id).status is PayoutStatus.RETURNED


def test_failed_after_paid_is_booked_as_a_return(world, sent):
    rail = world.provider
    assert world.svc.apply_provider_event(rail, event(sent, PayoutStatus.PAID, 1)) == "applied"
    failed = event(sent, PayoutStatus.FAILED, 2, failure_code=FailureCode.ACCOUNT_CLOSED)
    assert world.svc.apply_provider_event(rail, failed) == "applied"
    payout = world.store.payouts.get(sent.payout_id)
    assert payout.status is PayoutStatus.RETURNED
    assert world.available("s-1") == 5000  # the money is back on the seller's balance


def test_an_event_from_a_rail_that_does_not_hold_the_payout_is_flagged_not_applied(world, sent):
    other = FakeProvider("adyen")
    assert world.svc.apply_provider_event(other, event(sent, PayoutStatus.PAID, 1)) == "other_rail"
    assert world.store.payouts.get(sent.payout_id).status is PayoutStatus.PROCESSING
    assert "adyen" in world.store.t.stuck[sent.payout_id]
