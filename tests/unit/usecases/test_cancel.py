"""Cancel: only a pending payout whose transfer has not started."""

from __future__ import annotations

import pytest

from shared.domain.payouts import IllegalTransition, PayoutAlreadySent, PayoutStatus
from shared.usecases.payouts import PayoutNotFound


@pytest.fixture
def pending(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    return world.pay_on_demand("s-1", 3000)


def test_cancel_gives_the_money_back_and_announces_it(world, pending):
    canceled = world.svc.cancel(pending.payout_id, actor="ops@example.com")
    assert canceled.status is PayoutStatus.CANCELED
    assert world.balance("s-1") == (0, 5000, 0)
    assert world.publisher.types()[-1] == "payout.canceled"


def test_a_payout_being_sent_cannot_be_canceled(world, pending):
    world.svc.send_transfer(pending.payout_id)
    with pytest.raises(IllegalTransition):
        world.svc.cancel(pending.payout_id, actor="ops")


def test_a_claimed_transfer_cannot_be_canceled(world, pending):
    from shared.usecases.payouts import RetryLater
    from shared.usecases.ports import ProviderUnavailable

    world.provider.next_create(ProviderUnavailable("down"))
    with pytest.raises(RetryLater):
        world.svc.send_transfer(pending.payout_id)
    with pytest.raises(PayoutAlreadySent):
        world.svc.cancel(pending.payout_id, actor="ops")
    assert world.balance("s-1") == (0, 2000, 3000)


def test_an_unknown_payout_cannot_be_canceled(world):
    with pytest.raises(PayoutNotFound):
        world.svc.cancel("po_nobody", actor="ops")
