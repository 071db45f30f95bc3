"""What each payout pays for: worked examples, then properties over random histories.

The histories are played through the real domain (order lines, the ledger, the payout state
machine), so the contents are checked against the same journal the balances come from.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.ledger import (
    Bucket,
    DatedEntry,
    PlatformAccount,
    make_entry,
    release_pending_funds,
    seller_account,
)
from shared.domain.money import Money
from shared.domain.payout_contents import (
    ContentKind,
    ContentsOutOfStep,
    LeftReason,
    MovementKind,
    PayoutContents,
    SettlementState,
    allocate,
    available_movements,
    check_in_step,
    contents_from_storage,
    contents_to_storage,
    replay,
    state_from_storage,
    state_to_storage,
)
from shared.domain.payouts import PayoutStatus
from tests.unit.seller_book import SELLER, T0, Book, action, play


def lines_of(contents: PayoutContents) -> list[tuple[str, str | None, int]]:
    return [(line.kind.value, line.order_line_id, line.amount.amount) for line in contents.lines()]


# --- Worked examples ------------------------------------------------------------------------------


def test_a_phone_sold_for_300_euros_pays_the_sale_less_the_commission():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    payout = book.pay_out(27000)

    contents = book.contents()[payout]
    assert lines_of(contents) == [("sale", "phone", 30000), ("commission", "phone", -3000)]
    assert contents.total() == Money(27000, "EUR")
    assert contents.left_for_later == ()


def test_a_refund_of_half_before_release_is_netted_inside_the_release():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.refund("phone", 15000, "rf-1")  # proportional commission returned: 1,500
    book.release("phone")
    payout = book.pay_out(13500)

    assert lines_of(book.contents()[payout]) == [
        ("sale", "phone", 30000),
        ("commission", "phone", -3000),
        ("refund", "phone", -15000),
        ("commission_returned", "phone", 1500),
    ]


def test_a_refund_after_payout_is_a_debt_netted_from_the_next_payout():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    first = book.pay_out(27000)
    book.settle(first, PayoutStatus.PAID)
    book.refund("phone", 15000, "rf-1")  # the balance goes to -135.00
    assert book.available() == -13500
    book.sell("case", 20000, 2000)
    book.release("case")
    second = book.pay_out(4500)

    contents = book.contents()[second]
    assert lines_of(contents) == [
        ("refund", "phone", -15000),
        ("commission_returned", "phone", 1500),
        ("sale", "case", 20000),
        ("commission", "case", -2000),
    ]
    assert [line.owed for line in contents.lines()] == [True, True, False, False]
    assert contents.total() == Money(4500, "EUR")


def test_an_on_demand_payout_for_less_leaves_the_rest_of_a_line_for_later():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    book.sell("case", 20000, 2000)
    book.release("case")
    first = book.pay_out(30000)  # of 450.00 available

    contents = book.contents()[first]
    assert lines_of(contents) == [
        ("sale", "phone", 30000),
        ("commission", "phone", -3000),
        ("sale", "case", 20000),
        ("commission", "case", -2000),
        ("left_for_later", "case", -15000),
    ]
    assert contents.lines()[-1].ref == LeftReason.PARTIAL_AMOUNT.value
    assert [(g.group.order_line_id, g.open) for g in contents.left_for_later] == [("case", 15000)]

    second = book.pay_out(15000)
    assert lines_of(book.contents()[second]) == [
        ("sale", "case", 20000),
        ("commission", "case", -2000),
        ("paid_earlier", "case", -3000),
    ]


def test_a_returned_payout_puts_the_same_lines_back_and_the_next_payout_shows_them_again():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    first = book.pay_out(27000)
    book.settle(first, PayoutStatus.PAID)
    book.settle(first, PayoutStatus.RETURNED)
    book.sell("case", 20000, 2000)
    book.release("case")
    second = book.pay_out(45000)

    contents = book.contents()[second]
    assert lines_of(contents) == [
        ("sale", "phone", 30000),
        ("commission", "phone", -3000),
        ("sale", "case", 20000),
        ("commission", "case", -2000),
    ]
    assert [line.reopened_from for line in contents.lines()] == [first, first, None, None]


def test_a_failed_payout_gives_back_its_contents_too():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    first = book.pay_out(27000)
    book.settle(first, PayoutStatus.FAILED)
    assert book.state().open_total() == Money(27000, "EUR")
    second = book.pay_out(27000)
    assert lines_of(book.contents()[second]) == lines_of(book.contents()[first])


def test_a_transaction_cap_says_why_the_rest_waits():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    state = book.state()
    contents, after = allocate(
        state, "po_cap", Money(10000, "EUR"), book.clock, left_reason=LeftReason.TRANSACTION_CAP
    )
    assert contents.lines()[-1].kind is ContentKind.LEFT_FOR_LATER
    assert contents.lines()[-1].ref == "transaction_cap"
    assert after.open_total() == Money(17000, "EUR")


def test_an_opening_balance_is_carried_as_one_line():
    state = SettlementState.opening(SELLER, Money(-5000, "EUR"), T0)
    assert state.open_groups[0].group.parts[0].kind is ContentKind.CARRIED_DEBT
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    state = replay(state, book.movements()).state
    contents, _ = allocate(state, "po_x", Money(22000, "EUR"), book.clock)
    assert lines_of(contents) == [
        ("carried_debt", None, -5000),
        ("sale", "phone", 30000),
        ("commission", "phone", -3000),
    ]


def test_a_payout_larger_than_the_open_contents_is_refused():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    with pytest.raises(ContentsOutOfStep):
        allocate(book.state(), "po_x", Money(27001, "EUR"), book.clock)
    with pytest.raises(ContentsOutOfStep):
        check_in_step(book.state(), Money(1, "EUR"))


def test_a_reversal_of_an_unknown_payout_is_refused():
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    first = book.pay_out(27000)
    book.settle(first, PayoutStatus.FAILED)
    movements = book.movements()
    checkpoint = replay(SettlementState.empty(SELLER, "EUR"), movements[:2]).state
    with pytest.raises(ContentsOutOfStep, match="not known"):
        replay(checkpoint, movements[2:])


# --- Properties over random histories ------------------------------------------------------------

LIVE = {PayoutStatus.PENDING, PayoutStatus.PROCESSING, PayoutStatus.PAID}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=8, max_size=40))
def test_every_payout_is_explained_to_the_cent_and_nothing_is_paid_twice(actions):
    book, _ = play(actions)
    result = replay(SettlementState.empty(SELLER, "EUR"), book.movements())

    # 1. The open contents are the available balance.
    assert result.state.open_total().amount == book.available()
    # 2. Every payout's lines sum to its amount, to the minor unit.
    assert set(result.contents) == set(book.payouts)
    for payout_id, contents in result.contents.items():
        assert contents.total() == book.payouts[payout_id].amount
        assert sum(line.amount.amount for line in contents.lines()) == contents.amount.amount
    # 3. Conservation per movement: what live payouts took plus what is open is the movement itself.
    nets: dict[str, int] = {}
    settled: dict[str, int] = {}
    for contents in result.contents.values():
        for piece in contents.pieces:
            nets[piece.group.movement_id] = piece.group.net
            if book.payouts[contents.payout_id].status in LIVE:
                settled[piece.group.movement_id] = settled.get(piece.group.movement_id, 0) + piece.taken
    open_by_group = {g.group.movement_id: g.open for g in result.state.open_groups}
    for g in result.state.open_groups:
        nets[g.group.movement_id] = g.group.net
    for movement in book.movements():
        if movement.group is not None and movement.group.net:
            nets[movement.entry_id] = movement.group.net
    for movement_id, net in nets.items():
        assert settled.get(movement_id, 0) + open_by_group.get(movement_id, 0) == net, movement_id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=8, max_size=40), st.data())
def test_resuming_from_a_stored_checkpoint_gives_the_same_contents(actions, data):
    book, _ = play(actions)
    movements = book.movements()
    cut = data.draw(st.integers(0, len(movements)))
    whole = replay(SettlementState.empty(SELLER, "EUR"), movements)

    first = replay(SettlementState.empty(SELLER, "EUR"), movements[:cut])
    stored_state = state_from_storage(json.loads(json.dumps(state_to_storage(first.state))))
    stored_contents = {
        pid: contents_from_storage(json.loads(json.dumps(contents_to_storage(c))))
        for pid, c in first.contents.items()
    }
    assert stored_state == first.state
    assert stored_contents == first.contents
    # The query may overlap the checkpoint: movements already folded in are skipped.
    second = replay(stored_state, movements[max(0, cut - 2) :], known_contents=stored_contents)
    assert second.state == whole.state
    for payout_id, contents in second.contents.items():
        assert contents == whole.contents[payout_id]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=8, max_size=40), st.data())
def test_after_a_failure_or_return_the_next_full_payout_shows_the_same_lines_again(actions, data):
    book, _ = play(actions)
    live = [pid for pid, p in book.payouts.items() if p.status in (PayoutStatus.PENDING, PayoutStatus.PAID)]
    if not live:
        return
    payout_id = data.draw(st.sampled_from(live))
    before = book.contents()[payout_id]
    if book.payouts[payout_id].status is PayoutStatus.PENDING:
        book.settle(payout_id, data.draw(st.sampled_from([PayoutStatus.FAILED, PayoutStatus.CANCELED])))
    else:
        book.settle(payout_id, PayoutStatus.RETURNED)
    if book.available() <= 0:  # debts that arrived since outweigh what came back
        return
    last = book.pay_out(book.available())
    after = book.contents()[last]
    taken_after = {p.group.movement_id: p for p in after.pieces}
    for piece in before.pieces:
        again = taken_after[piece.group.movement_id]
        assert again.group.parts == piece.group.parts
        assert abs(again.taken) >= abs(piece.taken)
        assert again.reopened_from == payout_id
    assert after.total() == book.payouts[last].amount
    assert after.left_for_later == ()


def test_an_entry_written_before_details_existed_is_one_line_of_its_net_amount():
    legacy = release_pending_funds(
        "release:old-line", SELLER, Money(12345, "EUR")
    )  # no order line, no details
    [movement] = available_movements(SELLER, "EUR", [DatedEntry(legacy, T0)])
    state = replay(SettlementState.empty(SELLER, "EUR"), [movement]).state
    contents, _ = allocate(state, "po_x", Money(12345, "EUR"), T0)
    assert lines_of(contents) == [("released", None, 12345)]


def test_a_currency_conversion_of_the_balance_is_its_own_line():
    # The hook for the FX issue: an fx.* entry that moves the available balance.
    book = Book()
    book.sell("phone", 30000, 3000)
    book.release("phone")
    fx = make_entry(
        "fx.converted",
        "fx-1",
        [
            (seller_account(SELLER, Bucket.AVAILABLE), Money(-500, "EUR")),
            (PlatformAccount.PAYOUTS, Money(500, "EUR")),
        ],
        SELLER,
    )
    movements = available_movements(SELLER, "EUR", [*book.entries, DatedEntry(fx, book.clock)])
    assert movements[-1].group is not None and movements[-1].group.kind is MovementKind.FX
    state = replay(SettlementState.empty(SELLER, "EUR"), movements).state
    contents, _ = allocate(state, "po_x", Money(26500, "EUR"), book.clock)
    assert ("fx", None, -500) in lines_of(contents)
    assert contents.total() == Money(26500, "EUR")
