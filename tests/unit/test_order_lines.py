"""Worked examples of an order line's life, read like an accountant's book."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.countries import load_country_rules
from shared.domain.ledger import Bucket, PlatformAccount, balances_from_entries, seller_account
from shared.domain.order_events import (
    OrderLine,
    Outcome,
    ReleaseState,
    apply_order_event,
    is_release_due,
    parse_order_event,
    release_line,
)
from shared.domain.validation import InvalidPayload

FR = load_country_rules().get("FR")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def event(kind: str, n: int, data: dict, line: str = "ol-1", seller: str = "s-1", at: datetime = T0):
    import json

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


def eur(amount: int) -> dict:
    return {"amount": amount, "currency": "EUR"}


def paid(n: int = 1, gross: int = 30000, commission: int = 3000, **kw):
    return event("paid", n, {"gross": eur(gross), "commission": eur(commission)}, **kw)


def delivered(n: int = 2, at: datetime = T0, **kw):
    return event("delivered", n, {"delivered_at": at.isoformat()}, **kw)


def refunded(n: int, amount: int, refund_id: str = "r-1", **kw):
    return event("refunded", n, {"refund_id": refund_id, "amount": eur(amount)}, **kw)


def play(*events):
    line, all_results = None, []
    for e in events:
        line, results = apply_order_event(line, e, FR)
        all_results.extend(results)
    return line, all_results


def book(results) -> dict:
    return balances_from_entries(entry for r in results for entry in r.entries)


def seller(bucket: Bucket, results) -> int:
    return book(results).get((seller_account("s-1", bucket), "EUR"), 0)


def test_a_phone_sold_for_300_euros_leaves_270_pending_after_commission():
    line, results = play(paid())
    assert results[0].outcome is Outcome.APPLIED
    assert seller(Bucket.PENDING, results) == 27000
    assert book(results)[(PlatformAccount.COMMISSION, "EUR")] == 3000
    assert book(results)[(PlatformAccount.CUSTOMER_FUNDS, "EUR")] == -30000
    assert line.release_state is ReleaseState.AWAITING_DELIVERY


def test_delivery_starts_the_country_holding_period_and_release_makes_funds_available():
    line, results = play(paid(), delivered(at=T0))
    assert line.release_at == T0 + timedelta(days=FR.holding_period_days)
    assert not is_release_due(line, T0 + timedelta(days=FR.holding_period_days) - timedelta(seconds=1))
    assert is_release_due(line, T0 + timedelta(days=FR.holding_period_days))
    line, entry = release_line(line)
    assert entry is not None
    results.append(type(results[0])("release", Outcome.APPLIED, entries=(entry,)))
    assert seller(Bucket.PENDING, results) == 0
    assert seller(Bucket.AVAILABLE, results) == 27000
    # Releasing twice does nothing.
    assert release_line(line) == (line, None)


def test_half_refund_before_release_returns_half_the_commission_and_debits_pending():
    line, results = play(paid(), refunded(3, 15000))
    assert seller(Bucket.PENDING, results) == 27000 - 13500
    assert book(results)[(PlatformAccount.COMMISSION, "EUR")] == 1500
    assert book(results)[(PlatformAccount.REFUNDS, "EUR")] == 15000


def test_refund_after_release_debits_available_and_may_go_negative():
    line, results = play(paid(), event("return_window_closed", 2, {"closed_at": T0.isoformat()}))
    assert seller(Bucket.AVAILABLE, results) == 27000
    line, more = apply_order_event(line, refunded(3, 30000), FR)
    results += more
    assert seller(Bucket.AVAILABLE, results) == 0  # full refund returns the whole commission too
    assert book(results)[(PlatformAccount.COMMISSION, "EUR")] == 0


def test_refund_with_explicit_commission_returned_can_drive_available_below_zero():
    line, results = play(paid(), event("return_window_closed", 2, {"closed_at": T0.isoformat()}))
    refund = event("refunded", 3, {"refund_id": "r-9", "amount": eur(30000), "commission_returned": eur(0)})
    line, more = apply_order_event(line, refund, FR)
    results += more
    assert seller(Bucket.AVAILABLE, results) == -3000  # the seller owes the commission kept


def test_a_proportional_refund_never_returns_more_commission_than_is_left():
    # Found by the payout-contents property test: 2.00 of commission, the first refund gets all of
    # it back explicitly, a later proportional share must not return more.
    explicit = event("refunded", 3, {"refund_id": "r-1", "amount": eur(200), "commission_returned": eur(200)})
    line, results = play(paid(gross=1200, commission=200), explicit, refunded(4, 600, "r-2"))
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 3
    assert line.commission_returned == 200
    assert book(results)[(PlatformAccount.COMMISSION, "EUR")] == 0


def test_a_release_says_what_it_is_made_of():
    line, results = play(paid(), refunded(3, 15000, "r-1"))
    line, entry = release_line(line)
    assert entry is not None and entry.order_line_id == "ol-1"
    assert [(d.kind, d.amount.amount, d.ref) for d in entry.details] == [
        ("sale", 30000, None),
        ("commission", -3000, None),
        ("refund", -15000, "r-1"),
        ("commission_returned", 1500, None),
    ]
    assert sum(d.amount.amount for d in entry.details) == entry.postings[1].amount.amount == 13500


def test_a_refund_that_arrives_before_its_payment_is_parked_then_applied():
    line, results = play(refunded(3, 10000), delivered())
    assert [r.outcome for r in results] == [Outcome.PARKED, Outcome.PARKED]
    assert book(results) == {}
    line, more = apply_order_event(line, paid(), FR)
    assert [r.event_id for r in more] == ["evt-1", "evt-3", "evt-2"]  # parked ones in arrival order
    assert all(r.outcome is Outcome.APPLIED for r in more)
    assert line.release_state is ReleaseState.HOLDING
    assert line.parked == ()
    assert seller(Bucket.PENDING, more) == 27000 - (10000 - 1000)


def test_refunds_cannot_exceed_what_the_customer_paid():
    line, results = play(paid(), refunded(3, 20000, "r-1"), refunded(4, 10001, "r-2"))
    assert results[-1].outcome is Outcome.REJECTED
    assert "exceeds" in (results[-1].reason or "")


def test_the_same_refund_sent_twice_under_two_event_ids_applies_once():
    line, results = play(paid(), refunded(3, 5000, "r-1"), refunded(4, 5000, "r-1"))
    assert results[-1].outcome is Outcome.IGNORED
    assert seller(Bucket.PENDING, results) == 27000 - 4500


def test_a_line_paid_twice_is_rejected():
    _, results = play(paid(1), paid(5))
    assert results[-1].outcome is Outcome.REJECTED


def test_an_event_for_another_sellers_line_is_rejected():
    _, results = play(paid(), delivered(seller="s-2"))
    assert results[-1].outcome is Outcome.REJECTED


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"gross": {"amount": 100.5, "currency": "EUR"}, "commission": eur(0)}, "gross.amount"),
        ({"gross": {"amount": "100", "currency": "EUR"}, "commission": eur(0)}, "gross.amount"),
        ({"gross": eur(-1), "commission": eur(0)}, "gross.amount"),
        ({"gross": eur(0), "commission": eur(0)}, "gross.amount"),
        ({"gross": {"amount": 100, "currency": "EURO"}, "commission": eur(0)}, "gross.currency"),
        ({"gross": {"amount": 100, "currency": "ABC"}, "commission": eur(0)}, "gross.currency"),
        ({"gross": eur(100), "commission": eur(101)}, "data"),
        ({"gross": eur(100), "commission": eur(1), "tip": 1}, "tip"),
    ],
)
def test_bad_amounts_are_rejected_with_a_field_path(data, field):
    with pytest.raises(InvalidPayload) as err:
        event("paid", 1, data)
    paths = [e["field"] for e in err.value.details]
    assert any(field in p for p in paths), paths


@settings(max_examples=150, deadline=None)
@given(
    gross=st.integers(min_value=1, max_value=10**8),
    commission_pct=st.integers(min_value=0, max_value=100),
    refunds=st.lists(st.integers(min_value=1, max_value=10**8), max_size=6),
    release_at=st.integers(min_value=0, max_value=7),
)
def test_every_entry_balances_and_the_seller_share_is_conserved(gross, commission_pct, refunds, release_at):
    commission = gross * commission_pct // 100
    events = [paid(gross=gross, commission=commission)]
    for i, amount in enumerate(refunds):
        if i == release_at:
            events.append(event("return_window_closed", 100, {"closed_at": T0.isoformat()}))
        events.append(refunded(10 + i, amount, f"r-{i}"))
    line, results = play(*events)
    totals: dict[str, int] = defaultdict(int)
    for r in results:
        for entry in r.entries:
            for p in entry.postings:
                totals[p.amount.currency] += p.amount.amount
    assert all(v == 0 for v in totals.values())
    seller_total = seller(Bucket.PENDING, results) + seller(Bucket.AVAILABLE, results)
    assert seller_total == line.seller_net_remaining
    assert 0 <= line.refunded <= line.gross
    assert 0 <= line.commission_returned <= line.commission
    b = book(results)
    collected = -b.get((PlatformAccount.CUSTOMER_FUNDS, "EUR"), 0)
    assert (
        collected
        == b.get((PlatformAccount.COMMISSION, "EUR"), 0)
        + b.get((PlatformAccount.REFUNDS, "EUR"), 0)
        + seller_total
    )
    assert isinstance(line, OrderLine)
