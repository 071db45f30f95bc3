"""Order events into the ledger, against the in-memory store: a worked example of a seller's book."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.order_events import Outcome
from shared.usecases.order_events import EventConflict, InvalidForSeller, UnknownSeller, release_due_funds
from tests.unit.usecases.conftest import NOW, ONBOARDED


def paid(world, line="ol-1", gross=30000, commission=3000, event_id=None, ccy="EUR"):
    data = {
        "gross": {"amount": gross, "currency": ccy},
        "commission": {"amount": commission, "currency": ccy},
    }
    return world.event("s-1", "paid", data, line, event_id)


def delivered(world, line="ol-1", at=ONBOARDED, event_id=None):
    return world.event("s-1", "delivered", {"delivered_at": at.isoformat()}, line, event_id)


def refunded(world, amount, refund_id="r1", line="ol-1", event_id=None):
    data = {"refund_id": refund_id, "amount": {"amount": amount, "currency": "EUR"}}
    return world.event("s-1", "refunded", data, line, event_id)


@pytest.fixture
def seller(world):
    return world.seller("s-1")


def test_a_sale_is_pending_until_its_holding_period_is_over(world, seller):
    assert paid(world).outcome is Outcome.APPLIED
    delivered(world)
    assert world.balance("s-1") == (27000, 0, 0)
    assert release_due_funds(world.store, now=ONBOARDED + timedelta(days=13)).released == 0
    summary = release_due_funds(world.store, now=ONBOARDED + timedelta(days=15))
    assert (summary.examined, summary.released) == (1, 1)
    assert world.balance("s-1") == (0, 27000, 0)
    assert release_due_funds(world.store, now=NOW).released == 0  # a second tick changes nothing


def test_a_redelivery_changes_nothing_and_a_reused_id_is_a_conflict(world, seller):
    paid(world, event_id="evt-a")
    again = paid(world, event_id="evt-a")
    assert again.duplicate and world.balance("s-1") == (27000, 0, 0)
    with pytest.raises(EventConflict):
        paid(world, gross=31000, event_id="evt-a")


def test_an_event_before_its_payment_is_parked_and_applied_with_it(world, seller):
    early = delivered(world, event_id="evt-early")
    assert early.outcome is Outcome.PARKED
    assert world.store.t.order_events["evt-early"].outcome is Outcome.PARKED
    paid(world)
    assert world.store.t.order_events["evt-early"].outcome is Outcome.APPLIED
    assert world.store.t.order_lines["ol-1"].release_at == ONBOARDED + timedelta(days=14)


def test_a_refund_before_release_comes_out_of_pending_with_a_share_of_commission(world, seller):
    paid(world)
    refunded(world, 10000)
    # 10,000 refunded; the marketplace returns 1,000 of its 3,000 commission; the seller bears 9,000.
    assert world.balance("s-1") == (18000, 0, 0)


def test_a_refund_after_release_is_netted_from_available_which_may_go_negative(world, seller):
    paid(world)
    world.event("s-1", "return_window_closed", {"closed_at": ONBOARDED.isoformat()}, "ol-1")
    world.pay_on_demand("s-1", 27000)
    refunded(world, 30000)
    assert world.balance("s-1") == (0, -27000, 27000)


def test_a_refund_over_what_is_left_is_rejected_and_moves_nothing(world, seller):
    paid(world)
    result = refunded(world, 30001)
    assert result.outcome is Outcome.REJECTED and "exceeds" in result.reason
    assert world.balance("s-1") == (27000, 0, 0)


def test_events_for_an_unknown_seller_or_in_another_currency_or_over_the_limit_are_refused(world, seller):
    with pytest.raises(UnknownSeller):
        world.event("nobody", "delivered", {"delivered_at": ONBOARDED.isoformat()}, "ol-x")
    with pytest.raises(InvalidForSeller) as mismatch:
        paid(world, ccy="USD")  # GBP and EUR are storefront currencies (issue 17); USD is not
    assert mismatch.value.field == "data.gross.currency"
    with pytest.raises(InvalidForSeller) as over:
        paid(world, gross=5_000_001, commission=0)
    assert over.value.code == "amount_over_limit"
    assert world.store.t.journal == {} and world.store.t.order_events == {}


def test_a_contended_line_is_left_for_the_next_tick(world, seller):
    paid(world)
    world.event("s-1", "delivered", {"delivered_at": (ONBOARDED - timedelta(days=20)).isoformat()}, "ol-1")
    world.store.contend(1)
    assert release_due_funds(world.store, now=NOW).released == 0
    assert release_due_funds(world.store, now=NOW).released == 1
