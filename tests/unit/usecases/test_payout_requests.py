"""On-demand payouts (POST /payouts) against the in-memory store: idempotency, every refusal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.domain.money import Money
from shared.domain.payouts import PayoutStatus
from shared.domain.sellers import KycStatus, PayoutHold, SellerPatch
from shared.entrypoints.views import payout_request_response
from shared.usecases.payouts import IdempotencyConflict
from shared.usecases.sellers import SellerNotFound, update_seller
from tests.unit.usecases.conftest import NOW

CALLER = "ops@example.com"


def request(world, seller_id="s-1", amount=3000, key="key-00000001", currency="EUR"):
    return world.svc.request_payout(
        caller=CALLER, idempotency_key=key, seller_id=seller_id, amount=Money(amount, currency), now=NOW
    )


def test_a_payout_reserves_its_amount_enqueues_its_transfer_and_announces_itself(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    outcome = request(world)
    payout = outcome.payout
    assert payout is not None and not outcome.replayed
    assert (payout.status, payout.amount, payout.provider) == (
        PayoutStatus.PENDING,
        Money(3000, "EUR"),
        "sandbox",
    )
    assert world.balance("s-1") == (0, 2000, 3000)
    assert world.tasks.to("transfer-worker") == [{"payout_id": payout.payout_id}]
    assert world.publisher.types() == ["payout.created"]
    assert world.store.outbox.get(f"{payout.payout_id}-000001").published


def test_the_same_key_and_body_replay_the_first_outcome_and_move_nothing_again(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    first = request(world)
    again = request(world)
    assert again.replayed and again.payout == first.payout
    assert world.balance("s-1") == (0, 2000, 3000)
    assert len(world.tasks.to("transfer-worker")) == 1
    # The same bytes, status included: both are rendered from the same recorded outcome.
    a, b = payout_request_response(first), payout_request_response(again)
    assert (a.status_code, a.get_data()) == (b.status_code, b.get_data()) and a.status_code == 201


def test_a_replay_answers_as_first_even_after_the_payout_moved_on(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    first = request(world)
    world.svc.cancel(first.payout.payout_id, actor=CALLER)
    again = request(world)
    assert again.payout.status is PayoutStatus.PENDING  # the first answer, not the current state
    assert payout_request_response(again).get_data() == payout_request_response(first).get_data()


def test_the_same_key_with_another_body_is_refused(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    request(world)
    with pytest.raises(IdempotencyConflict):
        request(world, amount=3001)


def test_an_unknown_seller_is_refused_and_not_recorded(world):
    with pytest.raises(SellerNotFound):
        request(world, seller_id="nobody")
    assert world.store.t.idempotency == {}
    world.seller("nobody")
    world.fund("nobody", 5000)
    assert request(world, seller_id="nobody").payout is not None  # the same key now works


@pytest.mark.parametrize(
    ("amount", "currency", "code", "field"),
    [
        (9000, "EUR", "insufficient_available_balance", "amount.amount"),
        (500, "EUR", "below_minimum", "amount.amount"),
        (5_000_001, "EUR", "amount_over_limit", "amount.amount"),
        (3000, "GBP", "currency_mismatch", "amount.currency"),
    ],
)
def test_refusals_are_recorded_and_replayed_with_their_field(world, amount, currency, code, field):
    world.seller("s-1")
    world.fund("s-1", 5000)
    first = request(world, amount=amount, currency=currency)
    assert first.payout is None and (first.refusal.code, first.refusal.field) == (code, field)
    world.fund("s-1", 4_000_000)
    again = request(world, amount=amount, currency=currency)
    assert again.replayed and again.refusal == first.refusal  # the first answer, not a new decision
    a, b = payout_request_response(first), payout_request_response(again)
    assert a.status_code == b.status_code == 422 and a.get_data() == b.get_data()
    assert a.get_json()["error"]["details"][0]["field"] == field
    assert world.store.t.payouts == {}


def test_an_amount_over_the_limit_of_one_payout_is_refused_even_with_the_money_there(world):
    world.seller("s-1")
    world.fund("s-1", 4_500_000, line="a")
    world.fund("s-1", 4_500_000, line="b")
    refused = request(world, amount=5_000_001)
    assert refused.refusal.code == "amount_over_limit" and "5000000" in refused.refusal.message
    assert request(world, amount=5_000_000, key="key-00000002").payout is not None


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        (SellerPatch(kyc_status=KycStatus.PENDING), "kyc_pending"),
        (SellerPatch(kyc_status=KycStatus.REJECTED), "kyc_rejected"),
        (SellerPatch(payout_hold=PayoutHold(held=True, reason="fraud review")), "on_hold"),
    ],
)
def test_a_seller_who_may_not_be_paid_is_refused(world, patch, code):
    world.seller("s-1")
    world.fund("s-1", 5000)
    update_seller(world.store, world.registry, "s-1", patch, now=NOW)
    assert request(world).refusal.code == code


def test_a_new_bank_account_waits_out_its_cooling_off(world):
    from shared.domain.sellers import SellerPatch
    from stand_ins.sample_sellers import bank_account

    world.seller("s-1")
    world.fund("s-1", 5000)
    patch = SellerPatch.model_validate({"bank_account": bank_account("FR", 9, "New Holder")}, strict=False)
    update_seller(world.store, world.registry, "s-1", patch, now=NOW)
    assert request(world).refusal.code == "bank_account_cooling_off"


def test_concurrent_requests_never_overdraw(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    outcomes = [request(world, amount=2000, key=f"key-0000000{n}") for n in range(4)]
    assert [o.payout is not None for o in outcomes] == [True, True, False, False]
    assert world.balance("s-1") == (0, 1000, 4000)


def test_a_failed_enqueue_or_publish_leaves_the_payout_for_the_sweeper(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    world.tasks.fail = world.publisher.fail = True
    payout = request(world).payout
    assert world.store.payouts.get(payout.payout_id).status is PayoutStatus.PENDING
    assert world.store.outbox.unpublished(10) == [f"{payout.payout_id}-000001"]
    assert replace(payout) == payout


def test_payouts_are_listed_newest_first_a_page_at_a_time(world):
    from datetime import timedelta

    world.seller("s-1")
    world.fund("s-1", 9000)
    made = [
        world.svc.request_payout(
            caller=CALLER,
            idempotency_key=f"key-list-{n}",
            seller_id="s-1",
            amount=Money(2000, "EUR"),
            now=NOW + timedelta(seconds=n),
        ).payout.payout_id
        for n in range(3)
    ]
    page, cursor = world.svc.list_payouts(seller_id="s-1", status=None, run_id=None, limit=2, after=None)
    assert [p.payout_id for p in page] == made[::-1][:2] and cursor is not None
    rest, last = world.svc.list_payouts(
        seller_id="s-1", status=PayoutStatus.PENDING, run_id=None, limit=2, after=cursor
    )
    assert [p.payout_id for p in rest] == [made[0]] and last is None
