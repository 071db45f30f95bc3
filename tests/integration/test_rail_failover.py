"""Failover against the vendor stand-ins: the transfer worker's use case with the real Adyen
(through Prism) and Stripe adapters, one test per case of the failover argument
(README.md, "Sending and failover"). The payouts live in the in-memory store: what is under test is the
decision against real rails, not Firestore (tests/unit/usecases/test_rail_failover.py has the
same cases on the fakes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from pydantic import SecretStr

from local_stack.stack import Stack
from shared.adapters.providers.adyen import AdyenProvider
from shared.adapters.providers.breaker import GuardedRail
from shared.adapters.providers.stripe_connect import StripeConnectProvider
from shared.domain.countries import CountryRegistry
from shared.domain.payouts import PayoutStatus
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.usecases.payouts import PayoutService, RetryLater
from shared.usecases.ports import PaymentProvider, PayoutPolicy, ProviderUnavailable
from shared.usecases.rail_selection import RailSelector
from stand_ins.sample_sellers import stripe_account_for
from tests.fakes.outside import FakeProviders, FakePublisher, FakeTaskQueue
from tests.fakes.rail_controls import FakeRailControls
from tests.fakes.storage import FakeStore
from tests.integration.test_rails import Rails, until
from tests.unit.rails.helpers import free_port, served
from tests.unit.usecases.conftest import RULES, World

pytestmark = pytest.mark.integration


def world(adyen: PaymentProvider, stripe: PaymentProvider) -> World:
    fr = RULES.get("FR").model_copy(update={"rails": ("adyen", "stripe")})
    registry = CountryRegistry([fr, *(RULES.get(c) for c in RULES.countries() if c != "FR")])
    store = FakeStore(replay_bodies=False)
    selector = RailSelector(load_rail_capabilities(), FakeRailControls(), cache_seconds=0)
    svc = PayoutService(
        store,
        registry,
        FakeTaskQueue(),
        FakePublisher(),
        FakeProviders(adyen, stripe),
        PayoutPolicy(),
        rails=selector,
    )
    w = World(store, registry, svc.tasks, svc.publisher, adyen, svc)  # type: ignore[arg-type]
    return w


_sellers = iter(range(1, 10_000))


def paid_on_demand(w: World) -> str:
    n = next(_sellers)
    seller_id = f"s-fo-{n}-{datetime.now(UTC).timestamp():.0f}"
    w.seller(seller_id, n=20 + n, rail_accounts={"stripe": stripe_account_for("FR", 20 + n)})
    w.fund(seller_id, 9000)
    return w.pay_on_demand(seller_id, 4200, key=f"key-{seller_id}").payout_id


@pytest.fixture(scope="module")
def rails(stack: Stack) -> Iterator[Rails]:
    found = Rails(stack)
    found.configure("adyen")
    found.configure("stripe")
    yield found
    found.configure("adyen")
    found.configure("stripe")


@pytest.fixture
def no_contract_violations(rails: Rails) -> Iterator[None]:
    before = len(rails.prism_errors())
    yield
    late = until(lambda: rails.prism_errors()[before:], seconds=0.5)
    assert not late, f"Prism saw traffic outside Adyen's contract: {late}"


@pytest.fixture
def real(rails: Rails) -> Iterator[tuple[AdyenProvider, StripeConnectProvider]]:
    yield rails.adyen, rails.stripe
    rails.configure("adyen")
    rails.configure("stripe")


def where(rails: Rails, payout_id: str) -> list[str]:
    """Every rail stand-in that holds a transfer for the payout."""
    found = []
    for name, rail in (("adyen", rails.adyen), ("stripe", rails.stripe)):
        for attempt in range(3):  # a lookup that times out on a busy machine says nothing: ask again
            try:
                if rail.fetch_transfer(payout_id) is not None:
                    found.append(name)
                break
            except ProviderUnavailable:
                if attempt == 2:
                    raise
    return found


def steps(w: World, payout_id: str) -> list[tuple[str, str]]:
    return [(a.rail, a.outcome) for a in w.store.payouts.get(payout_id).rail_attempts]


def test_a_refused_connection_goes_to_the_next_rail(rails, no_contract_violations):
    closed = AdyenProvider(
        rails.settings.model_copy(update={"adyen_transfers_url": f"http://127.0.0.1:{free_port()}"})
    )
    w = world(closed, rails.stripe)
    payout_id = paid_on_demand(w)
    assert w.svc.send_transfer(payout_id) == "sent"
    assert where(rails, payout_id) == ["stripe"]
    assert steps(w, payout_id) == [("adyen", "not_accepted")]


def test_a_documented_not_processed_answer_goes_to_the_next_rail(rails, no_contract_violations):
    wrong_key = AdyenProvider(rails.settings.model_copy(update={"adyen_api_key": SecretStr("AQEwrong")}))
    w = world(wrong_key, rails.stripe)
    payout_id = paid_on_demand(w)
    assert w.svc.send_transfer(payout_id) == "sent"  # Adyen answered 401: not processed
    assert where(rails, payout_id) == ["stripe"]
    assert steps(w, payout_id) == [("adyen", "not_accepted")]


def test_an_open_circuit_goes_to_the_next_rail_without_a_call(rails, no_contract_violations):
    closed = AdyenProvider(
        rails.settings.model_copy(update={"adyen_transfers_url": f"http://127.0.0.1:{free_port()}"})
    )
    guarded = GuardedRail(closed, fail_max=1, reset_timeout=300)
    w = world(guarded, rails.stripe)
    first, second = paid_on_demand(w), paid_on_demand(w)
    assert w.svc.send_transfer(first) == "sent"  # refused: the breaker opens
    assert guarded.health()["state"] == "open"
    assert w.svc.send_transfer(second) == "sent"
    assert steps(w, second) == [("adyen", "circuit_open")]
    assert where(rails, second) == ["stripe"]


def test_a_timeout_never_fails_over_and_the_lookup_finds_it_on_adyen(rails, real, no_contract_violations):
    w = world(rails.impatient_adyen, rails.stripe)  # times out before the stand-in's 3 s sleep ends
    payout_id = paid_on_demand(w)
    rails.configure("adyen", timeout_after_accept_rate=1.0, timeout_sleep_ms=3000)
    with pytest.raises(RetryLater):
        w.svc.send_transfer(payout_id)
    assert w.store.payouts.get(payout_id).provider == "adyen"
    rails.configure("adyen")
    assert rails.stripe.fetch_transfer(payout_id) is None  # nothing was sent to Stripe
    assert w.svc.send_transfer(payout_id) == "sent"  # the lookup found it
    assert where(rails, payout_id) == ["adyen"]
    assert steps(w, payout_id) == [("adyen", "unknown")]


def test_a_5xx_never_fails_over_and_only_never_received_lets_it_move_on(rails, real, no_contract_violations):
    w = world(rails.adyen, rails.stripe)
    payout_id = paid_on_demand(w)
    rails.configure("adyen", error_rate=1.0)  # 5xx: the stand-in creates nothing, we cannot know that
    with pytest.raises(RetryLater):
        w.svc.send_transfer(payout_id)
    assert where(rails, payout_id) == []
    assert w.store.payouts.get(payout_id).status is PayoutStatus.PENDING
    rails.configure("adyen")
    # The next attempt asks Adyen, which says it never received it: then, and only then, Stripe.
    assert w.svc.send_transfer(payout_id) == "sent"
    assert where(rails, payout_id) == ["stripe"]
    assert steps(w, payout_id) == [("adyen", "unknown"), ("adyen", "never_received")]


def test_an_answer_outside_the_contract_never_fails_over(rails):
    outside = Flask("outside")

    @outside.post("/transfers")
    def transfer() -> Any:
        return {"id": "X", "status": "teleported"}, 200  # no such status in the contract

    @outside.get("/transfers")
    def lookup() -> Any:
        return {"data": []}, 200

    with served(outside) as url:
        w = world(AdyenProvider(rails.settings.model_copy(update={"adyen_transfers_url": url})), rails.stripe)
        payout_id = paid_on_demand(w)
        with pytest.raises(RetryLater):
            w.svc.send_transfer(payout_id)
    assert steps(w, payout_id) == [("adyen", "unknown")]
    assert rails.stripe.fetch_transfer(payout_id) is None
