"""The order-event ledger against the real Firestore emulator (one project id per test)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.firestore_store import JOURNAL, ORDER_EVENTS, ORDER_LINES, FirestoreStore
from shared.domain.countries import load_country_rules
from shared.domain.order_events import Outcome, parse_order_event
from shared.domain.sellers import SellerIn
from shared.settings import Settings
from shared.usecases.ledger_audit import audit_ledger
from shared.usecases.order_events import (
    EventConflict,
    InvalidForSeller,
    UnknownSeller,
    ingest_order_event,
    release_due_funds,
)
from shared.usecases.sellers import put_seller
from stand_ins.sample_sellers import seller_body

pytestmark = pytest.mark.integration
RULES = load_country_rules()
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(stack, firestore_project) -> FirestoreStore:
    return FirestoreStore(Settings(), project=firestore_project)


@pytest.fixture
def seller(store) -> str:
    put_seller(store, RULES, "s-fr", SellerIn.model_validate_json(json.dumps(seller_body("FR", 1))), now=NOW)
    return "s-fr"


def ev(n, kind, data, line="ol-1", seller="s-fr", at=NOW):
    return parse_order_event(
        json.dumps(
            {
                "event_id": f"evt-{n}",
                "type": f"order_line.{kind}",
                "occurred_at": at.isoformat(),
                "seller_id": seller,
                "order_line_id": line,
                "data": data,
            }
        )
    )


def paid(n=1, gross=30000, commission=3000, line="ol-1", ccy="EUR"):
    return ev(
        n,
        "paid",
        {"gross": {"amount": gross, "currency": ccy}, "commission": {"amount": commission, "currency": ccy}},
        line=line,
    )


def balance(store, seller_id):
    return store.balances(seller_id)[0]


def count(store, collection):
    return len(list(store.client.collection(collection).stream()))


def test_duplicate_release_ticks_at_once_release_every_line_once_and_none_fails(store, seller):
    """A tick delivered three times at once (found by the fault harness: the copies walked the
    same lines in the same order, ran out of transaction attempts and stopped releasing)."""
    delivered_at = NOW - timedelta(days=RULES.get("FR").holding_period_days + 1)
    for i in range(40):
        ingest_order_event(store, RULES, paid(100 + i, gross=1000, commission=100, line=f"ol-{i}"),
                           source="t", now=NOW)  # fmt: skip
        ingest_order_event(store, RULES, ev(200 + i, "delivered", {"delivered_at": delivered_at.isoformat()},
                                            line=f"ol-{i}"), source="t", now=NOW)  # fmt: skip
    stores = [FirestoreStore(Settings(), project=store.project) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda st: release_due_funds(st, now=NOW), stores))
    assert sum(r.released for r in results) == 40
    assert store.due_order_lines(NOW, 10) == []
    bal = balance(store, seller)
    assert (bal.pending, bal.available) == (0, 40 * 900)
    assert audit_ledger(store).ok


def test_a_paid_event_posts_a_balanced_entry_and_the_balance_follows(store, seller):
    result = ingest_order_event(store, RULES, paid(), source="test", now=NOW)
    assert result.outcome is Outcome.APPLIED and not result.duplicate
    assert balance(store, seller).pending == 27000
    report = audit_ledger(store)
    assert report.ok, report.problems
    assert report.entries == 1


def test_a_redelivered_event_changes_nothing(store, seller):
    ingest_order_event(store, RULES, paid(), source="test", now=NOW)
    again = ingest_order_event(store, RULES, paid(), source="test", now=NOW)
    assert again.duplicate and again.outcome is Outcome.APPLIED
    assert balance(store, seller).pending == 27000
    assert count(store, JOURNAL) == 1


def test_an_event_id_replayed_with_another_body_is_a_conflict_and_writes_nothing(store, seller):
    ingest_order_event(store, RULES, paid(), source="test", now=NOW)
    with pytest.raises(EventConflict):
        ingest_order_event(store, RULES, paid(gross=99999), source="test", now=NOW)
    assert balance(store, seller).pending == 27000
    assert count(store, JOURNAL) == 1


def test_concurrent_deliveries_of_one_event_apply_it_exactly_once(store, seller):
    event = paid()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(
            pool.map(lambda _: ingest_order_event(store, RULES, event, source="t", now=NOW), range(6))
        )
    assert sum(not r.duplicate for r in results) == 1
    assert balance(store, seller).pending == 27000
    assert count(store, JOURNAL) == 1
    assert audit_ledger(store).ok


def test_a_flood_of_events_for_one_seller_all_apply_and_the_balance_equals_the_postings(store, seller):
    events = [paid(n, gross=1000 + n, commission=100, line=f"ol-{n}") for n in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda e: ingest_order_event(store, RULES, e, source="t", now=NOW), events))
    assert balance(store, seller).pending == sum(900 + n for n in range(40))
    report = audit_ledger(store)
    assert report.ok, report.problems


def test_unknown_seller_and_currency_mismatch_write_nothing(store, seller):
    with pytest.raises(UnknownSeller):
        ingest_order_event(
            store,
            RULES,
            ev(
                1,
                "paid",
                {"gross": {"amount": 100, "currency": "EUR"}, "commission": {"amount": 0, "currency": "EUR"}},
                seller="nobody",
            ),
            source="t",
        )
    with pytest.raises(InvalidForSeller) as err:
        ingest_order_event(store, RULES, paid(ccy="USD"), source="t")
    assert err.value.field == "data.gross.currency"
    with pytest.raises(InvalidForSeller) as err:
        ingest_order_event(store, RULES, paid(gross=RULES.get("FR").max_transaction_amount + 1), source="t")
    assert err.value.field == "data.gross.amount"
    assert count(store, ORDER_EVENTS) == 0 and count(store, JOURNAL) == 0 and count(store, ORDER_LINES) == 0


def test_a_refund_before_its_payment_waits_and_is_applied_when_the_payment_arrives(store, seller):
    refund = ev(2, "refunded", {"refund_id": "r1", "amount": {"amount": 10000, "currency": "EUR"}})
    parked = ingest_order_event(store, RULES, refund, source="t", now=NOW)
    assert parked.outcome is Outcome.PARKED
    assert store.get(ORDER_EVENTS, "evt-2")["outcome"] == "parked"
    ingest_order_event(store, RULES, paid(), source="t", now=NOW)
    assert store.get(ORDER_EVENTS, "evt-2")["outcome"] == "applied"
    assert balance(store, seller).pending == 27000 - 9000
    assert audit_ledger(store).ok


def test_release_moves_funds_once_the_holding_period_is_over_and_is_idempotent(store, seller):
    ingest_order_event(store, RULES, paid(), source="t", now=NOW)
    delivered_at = NOW - timedelta(days=RULES.get("FR").holding_period_days + 1)
    ingest_order_event(
        store, RULES, ev(2, "delivered", {"delivered_at": delivered_at.isoformat()}), source="t", now=NOW
    )
    ingest_order_event(store, RULES, paid(3, line="ol-recent"), source="t", now=NOW)
    ingest_order_event(
        store,
        RULES,
        ev(4, "delivered", {"delivered_at": NOW.isoformat()}, line="ol-recent"),
        source="t",
        now=NOW,
    )
    first = release_due_funds(store, now=NOW)
    second = release_due_funds(store, now=NOW)
    assert (first.released, second.released) == (1, 0)
    bal = balance(store, seller)
    assert (bal.pending, bal.available) == (27000, 27000)
    assert audit_ledger(store).ok
