"""The offline replay: the ledger a list of order events must produce, by the order-line rules
themselves, with funds released once their holding period is over."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.domain.countries import load_country_rules
from shared.domain.ledger import Bucket, seller_account
from shared.domain.ledger_replay import replay_order_events
from shared.domain.order_events import parse_order_event

RULES = load_country_rules()
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
COUNTRY = {"s-fr": "FR", "s-gb": "GB"}


def rules_for(seller_id: str):
    return RULES.get(COUNTRY[seller_id])


def event(n: int, kind: str, seller: str, line: str, data: dict, days_ago: float) -> dict:
    return {
        "event_id": f"evt-{n}",
        "type": f"order_line.{kind}",
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "seller_id": seller,
        "order_line_id": line,
        "data": data,
    }


def money(amount: int, currency: str = "EUR") -> dict:
    return {"amount": amount, "currency": currency}


def sale(n: int, seller: str, line: str, gross: int, commission: int, ccy: str = "EUR") -> dict:
    return event(
        n, "paid", seller, line, {"gross": money(gross, ccy), "commission": money(commission, ccy)}, 30
    )


def delivered(n: int, seller: str, line: str, days_ago: float) -> dict:
    at = (NOW - timedelta(days=days_ago)).isoformat()
    return event(n, "delivered", seller, line, {"delivered_at": at}, days_ago)


def replay(raw: list[dict], now: datetime = NOW):
    return replay_order_events((parse_order_event(json.dumps(e)) for e in raw), rules_for, now)


EVENTS = [
    sale(1, "s-fr", "ol-1", 10000, 1000),
    delivered(2, "s-fr", "ol-1", days_ago=20),  # FR holds 14 days: released
    sale(3, "s-fr", "ol-2", 5000, 500),
    delivered(4, "s-fr", "ol-2", days_ago=2),  # still held
    event(5, "refunded", "s-fr", "ol-1", {"refund_id": "r-1", "amount": money(2000)}, 1),
    sale(6, "s-gb", "ol-3", 8000, 800, "GBP"),
    event(7, "return_window_closed", "s-gb", "ol-3", {"closed_at": NOW.isoformat()}, 0),
]


def test_available_is_what_released_lines_leave_after_refunds():
    ledger = replay(EVENTS)
    # ol-1: 10000 - 1000 commission = 9000 released; the refund after release takes 2000 - 200 from it.
    assert ledger.available_by_seller() == {"s-fr": 9000 - 1800, "s-gb": 7200}
    balances = ledger.balances()
    assert balances[(seller_account("s-fr", Bucket.PENDING), "EUR")] == 4500  # ol-2, still held


def test_collected_is_what_customers_paid_per_currency():
    assert replay(EVENTS).collected_by_currency() == {"EUR": 15000, "GBP": 8000}


def test_every_entry_balances_and_the_journal_sums_to_zero():
    ledger = replay(EVENTS)
    totals: dict[str, int] = {}
    for (_, ccy), amount in ledger.balances().items():
        totals[ccy] = totals.get(ccy, 0) + amount
    assert totals == {"EUR": 0, "GBP": 0}


def test_a_line_is_released_only_once_its_holding_period_is_over():
    early = replay(EVENTS, now=NOW - timedelta(days=10))  # ol-1 was delivered 10 days before
    assert early.available_by_seller() == {"s-gb": 7200}  # the closed return window released ol-3
    pending = early.balances()[(seller_account("s-fr", Bucket.PENDING), "EUR")]
    assert pending == 9000 - 1800 + 4500  # the refund came out of pending


def test_events_before_their_payment_are_parked_and_give_the_same_ledger():
    reordered = [EVENTS[1], EVENTS[4], EVENTS[0], *EVENTS[2:4], *EVENTS[5:]]
    assert replay(reordered).available_by_seller() == replay(EVENTS).available_by_seller()
    assert replay(reordered).collected_by_currency() == replay(EVENTS).collected_by_currency()


def test_duplicates_post_nothing_twice():
    assert replay(EVENTS + EVENTS).balances() == replay(EVENTS).balances()
