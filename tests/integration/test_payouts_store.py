"""Payout creation against the real Firestore emulator: the balance check is transactional."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.providers import ConfiguredProviders
from shared.adapters.pubsub import Publisher
from shared.adapters.tasks import TaskQueue
from shared.domain.countries import load_country_rules
from shared.domain.money import Money
from shared.domain.order_events import parse_order_event
from shared.domain.payouts import PayoutStatus
from shared.domain.sellers import SellerIn
from shared.settings import Settings
from shared.usecases.ledger_audit import audit_ledger
from shared.usecases.order_events import ingest_order_event
from shared.usecases.payouts import PayoutService
from shared.usecases.sellers import put_seller
from stand_ins.sample_sellers import seller_body

pytestmark = pytest.mark.integration
RULES = load_country_rules()
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def service(stack, firestore_project) -> PayoutService:
    settings = Settings()
    return PayoutService(
        FirestoreStore(settings, project=firestore_project),
        RULES,
        TaskQueue(settings),
        Publisher(settings),
        ConfiguredProviders(settings),
    )


def funded(service: PayoutService, seller_id: str, net: int) -> None:
    put_seller(
        service.store,
        RULES,
        seller_id,
        SellerIn.model_validate_json(json.dumps(seller_body("FR", 3))),
        now=NOW,
    )
    for kind, data in (
        (
            "paid",
            {
                "gross": {"amount": net + 1000, "currency": "EUR"},
                "commission": {"amount": 1000, "currency": "EUR"},
            },
        ),
        ("return_window_closed", {"closed_at": NOW.isoformat()}),
    ):
        ingest_order_event(
            service.store,
            RULES,
            parse_order_event(
                json.dumps(
                    {
                        "event_id": f"{seller_id}-{kind}",
                        "type": f"order_line.{kind}",
                        "occurred_at": NOW.isoformat(),
                        "seller_id": seller_id,
                        "order_line_id": f"{seller_id}-ol",
                        "data": data,
                    }
                )
            ),
            source="test",
            now=NOW,
        )


def test_concurrent_on_demand_payouts_never_overdraw_the_available_balance(service):
    funded(service, "s-1", 50000)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(
                lambda n: service.request_payout(
                    caller="ops",
                    idempotency_key=f"k-{n}-{uuid.uuid4().hex}",
                    seller_id="s-1",
                    amount=Money(20000, "EUR"),
                    now=NOW,
                ),
                range(6),
            )
        )
    outcomes = sorted(a.refusal.code if a.refusal else "paid" for a in answers)
    assert outcomes == ["insufficient_available_balance"] * 4 + ["paid"] * 2
    balance = service.store.balances("s-1")[0]
    assert (balance.available, balance.in_flight) == (10000, 40000)
    report = audit_ledger(service.store)
    assert report.ok, report.problems


def test_a_transition_writes_status_postings_and_outbox_together(service):
    funded(service, "s-2", 30000)
    outcome = service.request_payout(
        caller="ops", idempotency_key="key-00000001", seller_id="s-2", amount=Money(30000, "EUR"), now=NOW
    )
    assert outcome.payout is not None
    payout_id = outcome.payout.payout_id
    assert service.apply_state(payout_id, PayoutStatus.FAILED, cause="test", actor="test") == "applied"
    # A late "paid" cannot undo a final state.
    assert (
        service.apply_state(payout_id, PayoutStatus.PAID, cause="test", actor="test") == "ignored_backwards"
    )
    payout = service.store.get_payout(payout_id)
    assert payout is not None and payout.status is PayoutStatus.FAILED and payout.sequence == 2
    outbox = [d.to_dict() for d in service.store.client.collection("outbox").stream()]
    assert sorted(o["type"] for o in outbox) == ["payout.created", "payout.failed"]
    balance = service.store.balances("s-2")[0]
    assert (balance.available, balance.in_flight) == (30000, 0)
    assert audit_ledger(service.store).ok
