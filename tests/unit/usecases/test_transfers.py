"""The transfer worker against the in-memory store and a fake provider: each provider outcome."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.sellers import BankAccountStatus
from shared.usecases.payouts import RetryLater
from shared.usecases.ports import OutcomeUnknown, ProviderUnavailable, TransferRejected


@pytest.fixture
def pending(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    return world.pay_on_demand("s-1", 3000)


def test_an_accepted_transfer_makes_the_payout_processing(world, pending):
    assert world.svc.send_transfer(pending.payout_id) == "sent"
    payout = world.store.payouts.get(pending.payout_id)
    assert payout.status is PayoutStatus.PROCESSING and payout.provider_ref.startswith("tr_")
    assert payout.transfer_started_at is not None
    assert world.publisher.types() == ["payout.created", "payout.processing"]
    assert world.provider.creates == 1


def test_a_transfer_the_provider_pays_at_once_is_paid(world, pending):
    world.provider.next_create(PayoutStatus.PAID)
    world.svc.send_transfer(pending.payout_id)
    assert world.store.payouts.get(pending.payout_id).status is PayoutStatus.PAID
    assert world.balance("s-1") == (0, 2000, 0)


@pytest.mark.parametrize("code", list(FailureCode))
def test_a_refusal_fails_the_payout_and_gives_the_money_back(world, pending, code):
    world.provider.next_create(TransferRejected(code))
    assert world.svc.send_transfer(pending.payout_id) == "failed"
    payout = world.store.payouts.get(pending.payout_id)
    assert (payout.status, payout.failure_code) == (PayoutStatus.FAILED, code)
    assert world.balance("s-1") == (0, 5000, 0)
    seller = world.store.sellers.get("s-1")
    invalidates = code in (FailureCode.ACCOUNT_CLOSED, FailureCode.NO_ACCOUNT)
    assert (seller.bank_account_status is BankAccountStatus.INVALID) == invalidates


def test_an_unavailable_provider_is_retried_later_and_nothing_moves(world, pending):
    world.provider.next_create(ProviderUnavailable("503"))
    with pytest.raises(RetryLater):
        world.svc.send_transfer(pending.payout_id)
    payout = world.store.payouts.get(pending.payout_id)
    assert payout.status is PayoutStatus.PENDING and payout.transfer_started_at is not None
    assert world.svc.send_transfer(pending.payout_id) == "sent"


def test_an_unknown_outcome_is_looked_up_before_sending_again(world, pending):
    world.provider.next_create(OutcomeUnknown("timeout"))
    with pytest.raises(RetryLater):
        world.svc.send_transfer(pending.payout_id)
    assert world.svc.send_transfer(pending.payout_id) == "sent"
    assert world.provider.creates == 1 and world.provider.fetches == 1  # found, not sent twice
    assert world.store.payouts.get(pending.payout_id).status is PayoutStatus.PROCESSING


def test_a_task_for_a_payout_already_moved_on_does_nothing(world, pending):
    world.svc.send_transfer(pending.payout_id)
    assert world.svc.send_transfer(pending.payout_id) == "already_processing"
    assert world.svc.send_transfer("po_nobody") == "unknown_payout"
    assert world.provider.creates == 1


def test_a_payout_without_a_recorded_provider_is_flagged_never_sent_elsewhere(world, pending):
    # Started (it may exist somewhere), but no rail on record: ops decide, nothing is sent.
    world.store.t.payouts[pending.payout_id] = replace(
        pending, provider=None, transfer_started_at=pending.created_at
    )
    assert world.svc.send_transfer(pending.payout_id) == "no_provider"
    assert world.provider.creates == 0
    assert "no provider" in world.store.t.stuck[pending.payout_id]


def test_a_payout_for_a_provider_not_configured_is_flagged(world, pending):
    world.store.t.payouts[pending.payout_id] = replace(
        pending, provider="adyen", transfer_started_at=pending.created_at
    )
    assert world.svc.send_transfer(pending.payout_id) == "no_provider"
    assert world.provider.creates == 0
