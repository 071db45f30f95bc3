"""Poison messages kept for ops, and the ledger audit, against the in-memory store."""

from __future__ import annotations

from shared.domain.ledger import Bucket, seller_account
from shared.usecases.dead_letters import record_poison
from shared.usecases.ledger_audit import audit_ledger


def test_a_poison_message_is_kept_with_its_reason_and_fields_and_no_secret(world):
    record_poison(
        world.store,
        source="order-events",
        message_id="m-1",
        code="invalid_event",
        reason="the event is not valid",
        details=[{"field": "data.gross.amount", "reason": "not an integer", "code": "int_type"}],
        payload=b'{"iban": "FR7630006000011234567890189", "event_id": "x"}',
    )
    letter = world.store.t.dead_letters[("order-events", "m-1")]
    assert (letter.code, letter.details) == ("invalid_event", (("data.gross.amount", "not an integer"),))
    assert "30006000011234567890189" not in letter.payload_excerpt


def test_the_audit_finds_the_books_balanced_after_a_whole_cycle(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    payout = world.pay_on_demand("s-1", 3000)
    world.svc.send_transfer(payout.payout_id)
    report = audit_ledger(world.store)
    assert report.ok, report.problems
    assert report.totals_by_currency == {"EUR": 0}
    assert report.stored_balances[(seller_account("s-1", Bucket.IN_FLIGHT), "EUR")] == 3000


def test_the_audit_names_a_balance_that_differs_from_its_postings(world):
    world.seller("s-1")
    world.fund("s-1", 5000)
    world.store.t.balances[("s-1", "EUR")][Bucket.AVAILABLE] += 1
    report = audit_ledger(world.store)
    assert not report.ok and report.balance_mismatches == ["seller:s-1:available EUR"]
