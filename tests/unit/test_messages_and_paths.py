"""One convention for amounts in messages, one field path per mistake, and one parsing path.

- Messages state an amount as the API takes it, integer minor units, then may add the formatted
  value: ``1000 (10.00 EUR)`` (issue 13, item 10).
- The same mistake gets the same field path wherever it is made: an amount out of range is
  reported at the amount itself (``amount.amount``), never at its parent (item 9).
- Every document goes through ``parse_payload``: strict JSON, then the model (items 2 and 5).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.domain.countries import load_country_rules
from shared.domain.eligibility import amount_decision, requested_amount_decision
from shared.domain.money import Money, amount_text
from shared.domain.order_events import apply_order_event, parse_order_event
from shared.domain.validation import MAX_AMOUNT, InvalidPayload, MoneyIn, PositiveMoneyIn, parse_payload

RULES = load_country_rules()
FR = RULES.get("FR")


def test_an_amount_in_a_message_is_minor_units_then_the_formatted_value():
    assert amount_text(Money(1000, "EUR")) == "1000 (10.00 EUR)"
    assert amount_text(Money(-5400, "EUR")) == "-5400 (-54.00 EUR)"
    assert amount_text(Money(1200, "JPY")) == "1200 (1200 JPY)"
    assert amount_text(Money(1234, "KWD")) == "1234 (1.234 KWD)"


def test_eligibility_messages_follow_the_convention():
    over = requested_amount_decision(Money(1000, "EUR"), Money(-5400, "EUR"), FR)
    assert over.detail == "amount 1000 (10.00 EUR) exceeds the available -5400 (-54.00 EUR)"
    low = requested_amount_decision(Money(1, "EUR"), Money(5000, "EUR"), FR)
    minimum = amount_text(FR.minimum_payout_money)
    assert low.detail == f"amount 1 (0.01 EUR) is below the minimum {minimum}"
    assert amount_decision(Money(-5400, "EUR"), FR).detail == (
        "available balance is -5400 (-54.00 EUR); refunds are owed"
    )


def _event(kind: str, data: dict, event_id: str) -> str:
    return json.dumps(
        {
            "event_id": event_id,
            "type": f"order_line.{kind}",
            "occurred_at": datetime(2026, 11, 2, tzinfo=UTC).isoformat(),
            "seller_id": "s-1",
            "order_line_id": "ol-1",
            "data": data,
        }
    )


def test_order_line_messages_follow_the_convention():
    eur = lambda n: {"amount": n, "currency": "EUR"}  # noqa: E731
    line, _ = apply_order_event(
        None, parse_order_event(_event("paid", {"gross": eur(1000), "commission": eur(100)}, "e1")), FR
    )
    line, results = apply_order_event(
        line, parse_order_event(_event("refunded", {"refund_id": "r1", "amount": eur(2000)}, "e2")), FR
    )
    assert results[0].reason == "refund of 2000 (20.00 EUR) exceeds the refundable 1000 (10.00 EUR)"
    too_big = FR.max_transaction_amount + 1
    _, results = apply_order_event(
        None, parse_order_event(_event("paid", {"gross": eur(too_big), "commission": eur(0)}, "e3")), FR
    )
    assert results[0].reason == (
        f"gross amount {amount_text(Money(too_big, 'EUR'))} exceeds the limit of "
        f"{amount_text(FR.max_transaction_money)}"
    )


# --- field paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [MoneyIn, PositiveMoneyIn])
@pytest.mark.parametrize("amount", [2**63, 10**30, 1.5, "100", True, None])
def test_an_amount_out_of_range_or_of_the_wrong_type_is_reported_at_the_amount(model, amount):
    with pytest.raises(InvalidPayload) as err:
        parse_payload(model, json.dumps({"amount": amount, "currency": "EUR"}))
    assert [d["field"] for d in err.value.details] == ["amount"]


def test_the_largest_amount_is_a_signed_64_bit_integer():
    assert parse_payload(MoneyIn, json.dumps({"amount": MAX_AMOUNT, "currency": "EUR"})).amount == 2**63 - 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"gross": {"amount": 2**63, "currency": "EUR"}, "commission": {"amount": 0, "currency": "EUR"}},
            "data.gross.amount",
        ),
        (
            {"gross": {"amount": 100, "currency": "EUR"}, "commission": {"amount": 2**63, "currency": "EUR"}},
            "data.commission.amount",
        ),
    ],
)
def test_an_order_event_amount_out_of_range_is_reported_at_the_amount(data, field):
    with pytest.raises(InvalidPayload) as err:
        parse_order_event(_event("paid", data, "e1"))
    assert field in [d["field"] for d in err.value.details]


# --- one parsing path ----------------------------------------------------------------------------


def test_a_duplicate_key_in_an_order_event_is_refused_with_its_path():
    raw = _event(
        "paid",
        {"gross": {"amount": 1000, "currency": "EUR"}, "commission": {"amount": 0, "currency": "EUR"}},
        "e1",
    )
    raw = raw.replace('"amount": 1000,', '"amount": 1000, "amount": 3000,')
    with pytest.raises(InvalidPayload) as err:
        parse_order_event(raw)
    assert err.value.malformed
    assert err.value.details == [
        {"field": "data.gross.amount", "reason": "duplicate key", "code": "duplicate_key"}
    ]


def test_deep_nesting_is_refused_before_any_model_sees_it():
    with pytest.raises(InvalidPayload) as err:
        parse_payload(MoneyIn, "[" * 10_000 + "]" * 10_000)
    assert err.value.malformed and err.value.details[0]["field"] == "$"
    assert "nested deeper" in err.value.details[0]["reason"]


def test_a_model_mistake_is_not_malformed_json():
    with pytest.raises(InvalidPayload) as err:
        parse_payload(MoneyIn, '{"amount": -1, "currency": "EUR"}')
    assert not err.value.malformed and err.value.details[0]["field"] == "amount"
