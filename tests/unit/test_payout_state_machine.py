"""The payout state machine: every pair of states, and the ledger side of each transition."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

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
    next_return_check,
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


# --- the return watch ----------------------------------------------------------------------


def _paid(at: datetime):
    p, _ = new_payout("po_w", "s-1", Money(10000, "EUR"), at=at, origin="run", cause="run", actor="test")
    p, _ = transition(p, S.PROCESSING, at=at, cause="t", actor="t")
    p, _ = transition(p, S.PAID, at=at, cause="t", actor="t")
    return p


def test_a_paid_payout_is_watched_for_a_return_from_the_moment_it_is_paid():
    p = _paid(T)
    assert p.return_check_from == T and p.return_checks == 0
    returned, _ = transition(p, S.RETURNED, at=T + timedelta(days=2), cause="t", actor="t")
    assert returned.return_check_from is None


def test_return_checks_double_their_interval_and_stop_when_the_watch_is_over():
    hour, watch = timedelta(hours=1), timedelta(days=14)
    p, now, due_times = _paid(T), T + hour, []
    while True:
        check_from = next_return_check(p, now=now, check_after=hour, watch_for=watch)
        if check_from is None:
            break
        due = check_from + hour
        due_times.append(due)
        p, now = replace(p, return_check_from=check_from, return_checks=p.return_checks + 1), due
    gaps = [b - a for a, b in itertools.pairwise([T + hour, *due_times])]
    assert gaps == [hour * 2**n for n in range(1, len(gaps) + 1)]
    assert due_times[-1] <= T + watch < due_times[-1] + hour * 2 ** (len(gaps) + 1)
    assert len(due_times) == 7  # 1 h, 3 h, 7 h, ... 255 h after payment: 8 checks in 14 days
