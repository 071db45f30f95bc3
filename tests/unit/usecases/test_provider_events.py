"""Provider notifications (webhooks) against the in-memory store: applied once, never backwards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.usecases.ports import ProviderEvent, TransferState


@pytest.fixture
def sent(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    payout = world.pay_on_demand("s-1", 3000)
    world.svc.send_transfer(payout.payout_id)
    return world.store.payouts.get(payout.payout_id)


def event(payout, status, event_id="evt_1", amount=None, code=None):
    state = TransferState(
        provider_ref=payout.provider_ref or "tr_x",
        reference=payout.payout_id,
        status=status,
        amount=amount or payout.amount,
        failure_code=code,
    )
    return ProviderEvent(event_id, state, datetime(2026, 11, 24, tzinfo=UTC))


def test_paid_books_the_money_out(world, sent):
    assert world.svc.apply_provider_event(world.provider, event(sent, PayoutStatus.PAID)) == "applied"
    assert world.store.payouts.get(sent.payout_id).status is PayoutStatus.PAID
    assert world.balance("s-1") == (0, 2000, 0)
    assert world.publisher.types()[-1] == "payout.paid"
    assert world.store.t.provider_events[("sandbox", "evt_1")].result == "applied"


def test_failed_gives_the_money_back_with_its_code(world, sent):
    world.svc.apply_provider_event(
        world.provider, event(sent, PayoutStatus.FAILED, code=FailureCode.DECLINED)
    )
    payout = world.store.payouts.get(sent.payout_id)
    assert (payout.status, payout.failure_code) == (PayoutStatus.FAILED, FailureCode.DECLINED)
    assert world.balance("s-1") == (0, 5000, 0)


def test_returned_after_paid_gives_the_money_back(world, sent):
    world.svc.apply_provider_event(world.provider, event(sent, PayoutStatus.PAID))
    world.svc.apply_provider_event(world.provider, event(sent, PayoutStatus.RETURNED, "evt_2"))
    assert world.store.payouts.get(sent.payout_id).status is PayoutStatus.RETURNED
    assert world.balance("s-1") == (0, 5000, 0)


def test_returned_overtaking_paid_books_both(world, sent):
    assert world.svc.apply_provider_event(world.provider, event(sent, PayoutStatus.RETURNED)) == "applied"
    payout = world.store.payouts.get(sent.payout_id)
    assert [t.to_status for t in payout.history][-2:] == [PayoutStatus.PAID, PayoutStatus.RETURNED]
    assert world.publisher.types()[-2:] == ["payout.paid", "payout.returned"]
    assert world.balance("s-1") == (0, 5000, 0)


def test_a_duplicate_changes_nothing(world, sent):
    world.svc.apply_provider_event(world.provider, event(sent, PayoutStatus.PAID))
    before = (world.store.payouts.get(sent.payout_id), len(world.store.t.journal))
    assert world.svc.apply_provider_event(world.provider, event(sent, PayoutStatus.PAID)) == "duplicate"
    assert (world.store.payouts.get(sent.payout_id), len(world.store.t.journal)) == before


def test_a_late_notification_never_moves_a_final_state_backwards(world, sent):
    world.svc.apply_provider_event(
        world.provider, event(sent, PayoutStatus.FAILED, code=FailureCode.DECLINED)
    )
    result = world.svc.apply_provider_event(world.provider, event(sent, PayoutStatus.PAID, "evt_2"))
    assert result == "ignored_backwards"
    assert world.store.payouts.get(sent.payout_id).status is PayoutStatus.FAILED
    assert world.balance("s-1") == (0, 5000, 0)


def test_the_same_status_again_is_unchanged(world, sent):
    assert (
        world.svc.apply_provider_event(world.provider, event(sent, PayoutStatus.PROCESSING, "evt_9"))
        == "unchanged"
    )


def test_an_amount_that_differs_is_flagged_and_moves_no_money(world, sent):
    result = world.svc.apply_provider_event(
        world.provider, event(sent, PayoutStatus.PAID, amount=Money(1, "EUR"))
    )
    assert result == "amount_mismatch"
    assert world.store.payouts.get(sent.payout_id).status is PayoutStatus.PROCESSING
    assert world.balance("s-1") == (0, 2000, 3000)


def test_an_unknown_payout_moves_nothing_and_is_kept_for_ops(world, sent):
    unknown = event(sent, PayoutStatus.PAID)
    unknown = ProviderEvent(
        unknown.event_id,
        TransferState("tr_x", "po_ghost", PayoutStatus.PAID, Money(1, "EUR")),
        unknown.occurred_at,
    )
    before = world.balance("s-1")
    assert world.svc.apply_provider_event(world.provider, unknown) == "unknown_payout"
    assert world.store.t.provider_events == {} and world.balance("s-1") == before
    (letter,) = world.store.t.dead_letters.values()
    assert (letter.code, letter.message_id) == ("unknown_transfer", unknown.event_id)
    assert letter.source == f"provider-webhook:{world.provider.name}" and "po_ghost" in letter.reason
    # The rail delivers it again: still one letter, nothing moved.
    assert world.svc.apply_provider_event(world.provider, unknown) == "unknown_payout"
    assert len(world.store.t.dead_letters) == 1
