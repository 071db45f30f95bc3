"""Routing and failover on the fakes (shared/usecases/rail_selection.py).

The route here is France's as a marketplace would set it: Adyen first, then Stripe Connect, then
the sandbox. One test per case of the failover argument (README.md, "Sending and failover"): a payout moves
to the next rail only when the first certainly did not accept the transfer."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from shared.domain.countries import CountryRegistry
from shared.domain.eligibility import SkipReason
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.domain.sellers import RailAccounts
from shared.usecases.payouts import PayoutService, RetryLater
from shared.usecases.ports import (
    CircuitOpen,
    ContractViolation,
    NotForThisRail,
    OutcomeUnknown,
    PayoutPolicy,
    RailControl,
    TransferNotAccepted,
    TransferRejected,
)
from shared.usecases.rail_selection import RailSelector
from tests.fakes.outside import FakeProvider, FakeProviders, FakePublisher, FakeTaskQueue
from tests.fakes.rail_controls import FakeRailControls
from tests.fakes.storage import FakeStore
from tests.unit.usecases.conftest import NOW, RULES, World

ACCT = "acct_FR0000000000000001"


def world_with(route: tuple[str, ...], limits: dict[str, int] | None = None, bank_files=None):
    fr = RULES.get("FR").model_copy(update={"rails": route, "rail_limits": limits or {}})
    registry = CountryRegistry([fr, *(RULES.get(c) for c in RULES.countries() if c != "FR")])
    store, tasks, publisher = FakeStore(), FakeTaskQueue(), FakePublisher()
    rails = {name: FakeProvider(name) for name in ("adyen", "stripe", "sandbox")}
    controls = FakeRailControls()
    selector = RailSelector(load_rail_capabilities(), controls, bank_files, cache_seconds=0)
    svc = PayoutService(
        store, registry, tasks, publisher, FakeProviders(*rails.values()), PayoutPolicy(), rails=selector
    )
    w = World(store, registry, tasks, publisher, rails["sandbox"], svc)
    w.rails = rails  # type: ignore[attr-defined]
    w.controls = controls  # type: ignore[attr-defined]
    return w


def with_accounts(w, seller_id: str, **ids: str) -> None:
    w.store.t.sellers[seller_id] = replace(w.store.t.sellers[seller_id], rail_accounts=RailAccounts(**ids))


@pytest.fixture
def w():
    w = world_with(("adyen", "stripe", "sandbox"))
    w.seller("s-1")
    with_accounts(w, "s-1", stripe_account=ACCT)
    w.fund("s-1", 5000)
    return w


def pay(w, amount: int = 3000, key: str = "key-00000001"):
    return w.pay_on_demand("s-1", amount, key=key)


def steps(w, payout_id: str) -> list[tuple[str, str]]:
    return [(a.rail, a.outcome) for a in w.store.payouts.get(payout_id).rail_attempts]


def accepted_on(w, payout_id: str) -> list[str]:
    return [name for name, rail in w.rails.items() if payout_id in rail.transfers]


def test_the_first_rail_of_the_route_takes_the_payout(w):
    p = pay(w)
    assert p.provider == "adyen"
    assert w.svc.send_transfer(p.payout_id, now=NOW) == "sent"
    payout = w.store.payouts.get(p.payout_id)
    assert (payout.provider, payout.status) == ("adyen", PayoutStatus.PROCESSING)
    assert accepted_on(w, p.payout_id) == ["adyen"] and steps(w, p.payout_id) == []


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (TransferNotAccepted("connection refused: nothing sent"), "not_accepted"),
        (TransferNotAccepted("422 validation: documented as not processed"), "not_accepted"),
        (CircuitOpen("adyen"), "circuit_open"),
        (NotForThisRail("Adyen cannot pay this account"), "not_accepted"),
    ],
    ids=["refused_connection", "not_processed_422", "open_circuit", "not_for_this_rail"],
)
def test_a_rail_that_certainly_did_not_accept_is_followed_by_the_next(w, error, outcome):
    p = pay(w)
    w.rails["adyen"].next_create(error)
    assert w.svc.send_transfer(p.payout_id, now=NOW) == "sent"
    payout = w.store.payouts.get(p.payout_id)
    assert payout.provider == "stripe" and payout.status is PayoutStatus.PROCESSING
    assert accepted_on(w, p.payout_id) == ["stripe"]
    assert steps(w, p.payout_id) == [("adyen", outcome)]
    assert payout.history[-1].cause == "accepted by stripe"


@pytest.mark.parametrize(
    "error",
    [
        OutcomeUnknown("read timeout after sending"),
        OutcomeUnknown("502 Bad Gateway after sending"),
        ContractViolation("a status outside the contract", "status"),
    ],
    ids=["timeout", "5xx_after_sending", "contract_violation"],
)
def test_an_unknown_outcome_never_fails_over_and_is_resolved_by_lookup_on_that_rail(w, error):
    p = pay(w)
    w.rails["adyen"].next_create(error)  # the fake keeps the transfer: Adyen got it, the answer was lost
    with pytest.raises(RetryLater):
        w.svc.send_transfer(p.payout_id, now=NOW)
    payout = w.store.payouts.get(p.payout_id)
    assert payout.provider == "adyen" and payout.status is PayoutStatus.PENDING
    assert payout.sender_claim is None  # given back: the retry may run at once
    assert w.rails["stripe"].creates == 0 and w.rails["sandbox"].creates == 0
    assert steps(w, p.payout_id) == [("adyen", "unknown")]
    # The retry asks Adyen first, finds the transfer, and never calls another rail.
    assert w.svc.send_transfer(p.payout_id, now=NOW + timedelta(minutes=1)) == "sent"
    assert w.rails["adyen"].fetches == 1 and w.rails["adyen"].creates == 1
    assert accepted_on(w, p.payout_id) == ["adyen"] and w.rails["stripe"].creates == 0


def test_a_failed_lookup_after_an_unknown_outcome_keeps_the_payout_on_its_rail(w):
    p = pay(w)
    w.rails["adyen"].next_create(OutcomeUnknown("read timeout"))
    with pytest.raises(RetryLater):
        w.svc.send_transfer(p.payout_id, now=NOW)
    w.rails["adyen"].transfers.clear()
    w.rails["adyen"].fetch_fails = True  # a lookup that fails says nothing
    with pytest.raises(RetryLater):
        w.svc.send_transfer(p.payout_id, now=NOW + timedelta(minutes=1))
    assert w.rails["stripe"].creates == 0 and w.store.payouts.get(p.payout_id).provider == "adyen"


def test_only_a_lookup_saying_never_received_lets_the_payout_move_to_the_next_rail(w):
    p = pay(w)
    w.rails["adyen"].next_create(OutcomeUnknown("read timeout"))
    with pytest.raises(RetryLater):
        w.svc.send_transfer(p.payout_id, now=NOW)
    w.rails["adyen"].transfers.clear()  # in truth the request never reached Adyen
    assert w.svc.send_transfer(p.payout_id, now=NOW + timedelta(minutes=1)) == "sent"
    assert w.rails["adyen"].fetches == 1
    assert accepted_on(w, p.payout_id) == ["stripe"]
    assert steps(w, p.payout_id) == [("adyen", "unknown"), ("adyen", "never_received")]
    assert w.store.payouts.get(p.payout_id).provider == "stripe"


def test_never_received_on_the_only_rail_sends_again_there_with_the_same_key():
    w = world_with(("adyen",))
    w.seller("s-1")
    w.fund("s-1", 5000)
    p = pay(w)
    w.rails["adyen"].next_create(OutcomeUnknown("read timeout"))
    with pytest.raises(RetryLater):
        w.svc.send_transfer(p.payout_id, now=NOW)
    w.rails["adyen"].transfers.clear()
    assert w.svc.send_transfer(p.payout_id, now=NOW + timedelta(minutes=1)) == "sent"
    assert accepted_on(w, p.payout_id) == ["adyen"] and w.rails["adyen"].creates == 2


def test_a_rejection_on_its_merits_fails_the_payout_without_failover(w):
    p = pay(w)
    w.rails["adyen"].next_create(TransferRejected(FailureCode.INVALID_ACCOUNT_NUMBER))
    assert w.svc.send_transfer(p.payout_id, now=NOW) == "failed"
    assert w.store.payouts.get(p.payout_id).failure_code is FailureCode.INVALID_ACCOUNT_NUMBER
    assert w.rails["stripe"].creates == 0


def test_every_rail_refusing_waits_and_the_next_attempt_walks_the_route_again(w):
    p = pay(w)
    for name in ("adyen", "stripe", "sandbox"):
        w.rails[name].next_create(TransferNotAccepted("429 rate limited"))
    with pytest.raises(RetryLater):
        w.svc.send_transfer(p.payout_id, now=NOW)
    payout = w.store.payouts.get(p.payout_id)
    assert payout.sender_claim is None and payout.status is PayoutStatus.PENDING
    assert steps(w, p.payout_id) == [
        ("adyen", "not_accepted"),
        ("stripe", "not_accepted"),
        ("sandbox", "not_accepted"),
    ]
    assert w.svc.send_transfer(p.payout_id, now=NOW + timedelta(minutes=1)) == "sent"
    assert accepted_on(w, p.payout_id) == ["adyen"]


def test_a_seller_without_a_connected_account_skips_stripe(w):
    w.seller("s-2", n=2)
    w.fund("s-2", 5000)
    p = w.pay_on_demand("s-2", 3000, key="key-00000002")
    w.rails["adyen"].next_create(TransferNotAccepted("connection refused"))
    assert w.svc.send_transfer(p.payout_id, now=NOW) == "sent"
    assert accepted_on(w, p.payout_id) == ["sandbox"] and w.rails["stripe"].creates == 0
    assert steps(w, p.payout_id) == [("adyen", "not_accepted"), ("stripe", "missing_rail_account")]


def test_a_rail_over_its_limit_here_is_passed_over():
    w = world_with(("adyen", "sandbox"), limits={"adyen": 2000})
    w.seller("s-1")
    w.fund("s-1", 5000)
    small, big = pay(w, 1500, "key-small-01"), pay(w, 3000, "key-big-0001")
    assert (small.provider, big.provider) == ("adyen", "sandbox")
    assert w.svc.send_transfer(big.payout_id, now=NOW) == "sent"
    assert accepted_on(w, big.payout_id) == ["sandbox"]
    assert steps(w, big.payout_id) == [("adyen", "over_limit")]


def test_a_drained_rail_takes_no_new_payout_and_in_flight_ones_finish_there(w):
    in_flight = pay(w, 1000, "key-inflight")
    w.rails["adyen"].next_create(OutcomeUnknown("read timeout"))
    with pytest.raises(RetryLater):
        w.svc.send_transfer(in_flight.payout_id, now=NOW)
    w.controls.put(RailControl("adyen", True, "ops@example.com", NOW, "Adyen incident"))
    new = pay(w, 2000, "key-new-0001")
    assert w.svc.send_transfer(new.payout_id, now=NOW) == "sent"
    assert accepted_on(w, new.payout_id) == ["stripe"]
    assert steps(w, new.payout_id) == [("adyen", "drained")]
    # The in-flight one is looked up where it is, and stays there.
    assert w.svc.send_transfer(in_flight.payout_id, now=NOW + timedelta(minutes=1)) == "sent"
    assert accepted_on(w, in_flight.payout_id) == ["adyen"]
    # Resumed: new payouts go to Adyen again.
    w.controls.put(RailControl("adyen", False, "ops@example.com", NOW, "resolved"))
    after = pay(w, 1000, "key-after-01")
    assert w.svc.send_transfer(after.payout_id, now=NOW) == "sent"
    assert accepted_on(w, after.payout_id) == ["adyen"]


def test_a_payout_created_before_a_drain_is_sent_to_the_next_rail(w):
    p = pay(w)
    assert p.provider == "adyen"
    w.controls.put(RailControl("adyen", True, "ops@example.com", NOW, "Adyen incident"))
    assert w.svc.send_transfer(p.payout_id, now=NOW) == "sent"
    assert accepted_on(w, p.payout_id) == ["stripe"]


def test_a_second_delivery_while_the_first_holds_the_payout_waits(w):
    p = pay(w)
    held = replace(
        w.store.t.payouts[p.payout_id], sender_claim="other", sender_claim_until=NOW + timedelta(minutes=5)
    )
    w.store.t.payouts[p.payout_id] = held
    with pytest.raises(RetryLater, match="holds the payout"):
        w.svc.send_transfer(p.payout_id, now=NOW)
    assert sum(r.creates for r in w.rails.values()) == 0
    # A claim whose lease ran out (its sender died) is taken over.
    assert w.svc.send_transfer(p.payout_id, now=NOW + timedelta(minutes=6)) == "sent"


def test_duplicate_deliveries_at_once_never_send_on_two_rails(w):
    p = pay(w)
    gate = threading.Event()
    adyen = w.rails["adyen"]
    original = adyen.create_transfer

    def slow_refusal(request):
        gate.wait(2)
        raise TransferNotAccepted("connection refused")

    adyen.create_transfer = slow_refusal  # type: ignore[method-assign]
    results: list[object] = []

    def deliver():
        try:
            results.append(w.svc.send_transfer(p.payout_id, now=NOW))
        except RetryLater as exc:
            results.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    threads[0].start()
    threads[0].join(0.2)
    threads[1].start()
    threads[1].join(5)
    gate.set()
    threads[0].join(5)
    adyen.create_transfer = original  # type: ignore[method-assign]
    assert sorted(map(str, results)) == ["another transfer worker holds the payout", "sent"]
    assert accepted_on(w, p.payout_id) == ["stripe"] and w.rails["stripe"].creates == 1


def test_a_seller_no_rail_can_pay_is_refused_on_demand_and_skipped_in_runs():
    w = world_with(("stripe",))
    w.seller("s-1")
    w.fund("s-1", 5000)
    outcome = w.svc.request_payout(
        caller="ops@example.com",
        idempotency_key="key-00000001",
        seller_id="s-1",
        amount=Money(3000, "EUR"),
        now=NOW,
    )
    assert outcome.payout is None and outcome.refusal is not None
    assert outcome.refusal.code == SkipReason.NO_RAIL.value == "no_rail"
    assert "stripe: missing_rail_account" in outcome.refusal.message


class FakeBankFiles:
    def __init__(self) -> None:
        self.queued: list[tuple[str, str]] = []

    def queue_for_file(self, payout, seller, rail, now) -> str:
        self.queued.append((payout.payout_id, rail))
        return "queued_for_file"


def test_a_batch_rail_is_handed_to_the_bank_file_queue_and_never_called():
    files = FakeBankFiles()
    w = world_with(("sepa_file", "sandbox"), bank_files=files)
    w.seller("s-1")
    w.fund("s-1", 5000)
    p = pay(w)
    assert p.provider == "sepa_file"
    assert w.svc.send_transfer(p.payout_id, now=NOW) == "queued_for_file"
    assert files.queued == [(p.payout_id, "sepa_file")] and w.rails["sandbox"].creates == 0
    assert w.store.payouts.get(p.payout_id).transfer_started_at is not None  # no cancel now


def test_without_a_bank_file_queue_a_batch_rail_is_passed_over():
    w = world_with(("sepa_file", "sandbox"))
    w.seller("s-1")
    w.fund("s-1", 5000)
    p = pay(w)
    assert w.svc.send_transfer(p.payout_id, now=NOW) == "sent"
    assert accepted_on(w, p.payout_id) == ["sandbox"]
    assert steps(w, p.payout_id) == [("sepa_file", "not_configured")]
