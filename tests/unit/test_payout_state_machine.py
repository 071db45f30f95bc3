"""The payout state machine: every pair of states, and the ledger side of each transition."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.ledger import Bucket, PlatformAccount, balances_from_entries, seller_account
from shared.domain.money import Money
from shared.domain.payouts import (
    TRANSITIONS,
    FailureCode,
    IllegalTransition,
    PayoutAlreadySent,
    PayoutStatus,
    new_payout,
    transition,
)

T = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
S = PayoutStatus
LEGAL = {
    (S.PENDING, S.PROCESSING),
    (S.PENDING, S.PAID),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELED),
    (S.PROCESSING, S.PAID),
    (S.PROCESSING, S.FAILED),
    (S.PAID, S.RETURNED),
}


def payout(amount: int = 12000):
    return new_payout("po_1", "s-1", Money(amount, "EUR"), at=T, origin="run", cause="run", actor="test")


def walk(*statuses: PayoutStatus):
    p, entry = payout()
    entries = [entry]
    for status in statuses:
        p, e = transition(
            p,
            status,
            at=T,
            cause="test",
            actor="test",
            failure_code=FailureCode.DECLINED if status is S.FAILED else None,
        )
        entries += [e] if e else []
    return p, balances_from_entries(entries)


def test_the_table_lists_exactly_the_legal_transitions():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_pair_of_states_is_legal_or_refused(current, target):
    path = {
        S.PENDING: [],
        S.PROCESSING: [S.PROCESSING],
        S.PAID: [S.PROCESSING, S.PAID],
        S.FAILED: [S.FAILED],
        S.CANCELED: [S.CANCELED],
        S.RETURNED: [S.PROCESSING, S.PAID, S.RETURNED],
    }
    p, _ = walk(*path[current])
    assert p.status is current
    if (current, target) in LEGAL:
        moved, _ = transition(p, target, at=T, cause="c", actor="a")
        assert moved.status is target
        assert moved.sequence == p.sequence + 1
        assert moved.history[-1].from_status is current
    else:
        with pytest.raises(IllegalTransition):
            transition(p, target, at=T, cause="c", actor="a")


def test_creating_a_payout_moves_available_into_flight():
    _, book = walk()
    assert book[(seller_account("s-1", Bucket.AVAILABLE), "EUR")] == -12000
    assert book[(seller_account("s-1", Bucket.IN_FLIGHT), "EUR")] == 12000


def test_paid_empties_in_flight_into_the_platform_payouts_account():
    _, book = walk(S.PROCESSING, S.PAID)
    assert book[(seller_account("s-1", Bucket.IN_FLIGHT), "EUR")] == 0
    assert book[(PlatformAccount.PAYOUTS, "EUR")] == 12000


@pytest.mark.parametrize(
    "path", [[S.FAILED], [S.CANCELED], [S.PROCESSING, S.FAILED], [S.PROCESSING, S.PAID, S.RETURNED]]
)
def test_failure_cancel_and_return_put_the_money_back_into_available(path):
    p, book = walk(*path)
    assert book.get((seller_account("s-1", Bucket.AVAILABLE), "EUR"), 0) == 0
    assert book.get((seller_account("s-1", Bucket.IN_FLIGHT), "EUR"), 0) == 0
    assert book.get((PlatformAccount.PAYOUTS, "EUR"), 0) == 0
    assert [t.to_status for t in p.history][-1] is path[-1]


def test_a_payout_whose_transfer_started_cannot_be_canceled():
    from dataclasses import replace

    p, _ = payout()
    with pytest.raises(PayoutAlreadySent):
        transition(replace(p, transfer_started_at=T), S.CANCELED, at=T, cause="c", actor="ops")


def test_a_payout_needs_a_positive_amount():
    with pytest.raises(Exception, match="greater than zero"):
        payout(0)


@given(st.lists(st.sampled_from(list(S)), max_size=8), st.integers(min_value=1, max_value=10**9))
def test_any_sequence_of_notifications_keeps_the_books_balanced_and_never_goes_back(steps, amount):
    p, entry = payout(amount)
    entries = [entry]
    seen = [p.status]
    for target in steps:
        try:
            p, e = transition(p, target, at=T, cause="c", actor="a")
        except (IllegalTransition, PayoutAlreadySent):
            continue
        entries += [e] if e else []
        seen.append(p.status)
    totals: dict[str, int] = defaultdict(int)
    for e in entries:
        for posting in e.postings:
            totals[posting.amount.currency] += posting.amount.amount
    assert totals["EUR"] == 0
    order = [S.PENDING, S.PROCESSING, S.PAID, S.RETURNED]
    ranks = [order.index(s) if s in order else 99 for s in seen]
    assert ranks == sorted(ranks)
    book = balances_from_entries(entries)
    in_flight = book.get((seller_account("s-1", Bucket.IN_FLIGHT), "EUR"), 0)
    assert in_flight == (amount if p.status in (S.PENDING, S.PROCESSING) else 0)
