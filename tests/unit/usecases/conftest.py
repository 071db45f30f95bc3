"""A world for unit tests of the use cases: the real domain and country rules, the in-memory
store and fakes of the outside systems. No emulator; every test runs in milliseconds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.countries import CountryRegistry, load_country_rules
from shared.domain.money import Money
from shared.domain.order_events import parse_order_event
from shared.domain.payouts import Payout
from shared.domain.sellers import SellerIn
from shared.usecases.order_events import IngestResult, ingest_order_event
from shared.usecases.payouts import PayoutService
from shared.usecases.ports import PayoutPolicy
from shared.usecases.sellers import put_seller
from stand_ins.sample_sellers import seller_body
from tests.fakes.outside import FakeProvider, FakeProviders, FakePublisher, FakeTaskQueue
from tests.fakes.storage import FakeStore

RULES = load_country_rules()
# A Tuesday, a business day in France (FR sellers are paid on Tuesdays), at noon UTC.
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ONBOARDED = NOW - timedelta(days=30)


@dataclass
class World:
    store: FakeStore
    registry: CountryRegistry
    tasks: FakeTaskQueue
    publisher: FakePublisher
    provider: FakeProvider
    svc: PayoutService
    _events: int = field(default=0)

    def seller(
        self, seller_id: str, country: str = "FR", n: int = 1, at: datetime = ONBOARDED, **overrides: Any
    ) -> str:
        body = seller_body(country, n, **overrides)
        put_seller(
            self.store, self.registry, seller_id, SellerIn.model_validate_json(json.dumps(body)), now=at
        )
        return seller_id

    def event(
        self,
        seller_id: str,
        kind: str,
        data: dict[str, Any],
        line: str,
        event_id: str | None = None,
        at: datetime = ONBOARDED,
    ) -> IngestResult:
        self._events += 1
        raw = {
            "event_id": event_id or f"evt-{self._events}",
            "type": f"order_line.{kind}",
            "occurred_at": at.isoformat(),
            "seller_id": seller_id,
            "order_line_id": line,
            "data": data,
        }
        return ingest_order_event(
            self.store, self.registry, parse_order_event(json.dumps(raw)), source="test", now=at
        )

    def fund(self, seller_id: str, net: int, currency: str = "EUR", line: str | None = None) -> None:
        """A sale whose seller share (``net``) is already available."""
        line = line or f"{seller_id}-ol-{self._events}"
        commission = max(net // 10, 0)
        self.event(
            seller_id,
            "paid",
            {
                "gross": {"amount": net + commission, "currency": currency},
                "commission": {"amount": commission, "currency": currency},
            },
            line,
        )
        self.event(seller_id, "return_window_closed", {"closed_at": ONBOARDED.isoformat()}, line)

    def available(self, seller_id: str, currency: str = "EUR") -> int:
        return next(
            (b.available for b in self.store.sellers.balances(seller_id) if b.currency == currency), 0
        )

    def balance(self, seller_id: str, currency: str = "EUR") -> tuple[int, int, int]:
        b = next(b for b in self.store.sellers.balances(seller_id) if b.currency == currency)
        return b.pending, b.available, b.in_flight

    def pay_on_demand(
        self, seller_id: str, amount: int, key: str = "key-00000001", currency: str = "EUR"
    ) -> Payout:
        outcome = self.svc.request_payout(
            caller="ops@example.com",
            idempotency_key=key,
            seller_id=seller_id,
            amount=Money(amount, currency),
            now=NOW,
        )
        assert outcome.payout is not None, outcome.refusal
        return outcome.payout


def make_world(replay_bodies: bool = True) -> World:
    store = FakeStore(replay_bodies=replay_bodies)
    tasks, publisher, provider = FakeTaskQueue(), FakePublisher(), FakeProvider()
    svc = PayoutService(
        store, RULES, tasks, publisher, FakeProviders(provider), PayoutPolicy(run_buckets=2, run_page_size=3)
    )
    return World(store, RULES, tasks, publisher, provider, svc)


@pytest.fixture
def world() -> World:
    return make_world()
