"""What each payout pays for: worked examples, then properties over random histories.

The histories are played through the real domain (order lines, the ledger, the payout state
machine), so the contents are checked against the same journal the balances come from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.countries import load_country_rules
from shared.domain.ledger import Bucket, JournalEntry, balances_from_entries, seller_account
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, apply_order_event, parse_order_event
from shared.domain.payout_contents import (
    ContentKind,
    ContentsOutOfStep,
    DatedEntry,
    LeftReason,
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
from shared.domain.payouts import Payout, PayoutStatus, can_transition, new_payout, transition

FR = load_country_rules().get("FR")
SELLER = "s-1"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class Book:
    """One seller's history, played through the domain, with a clock."""

    entries: list[DatedEntry] = field(default_factory=list)
    lines: dict[str, OrderLine] = field(default_factory=dict)
    payouts: dict[str, Payout] = field(default_factory=dict)
    clock: datetime = T0
    n: int = 0

    def _tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        self.n += 1
        return self.clock

    def _post(self, entries: tuple[JournalEntry, ...] | list[JournalEntry], at: datetime) -> None:
        self.entries.extend(DatedEntry(e, at) for e in entries)

    def _event(self, kind: str, line: str, data: dict) -> None:
        at = self._tick()
        event = parse_order_event(
            json.dumps(
                {
                    "event_id": f"evt-{self.n}",
                    "type": f"order_line.{kind}",
                    "occurred_at": at.isoformat(),
                    "seller_id": SELLER,
                    "order_line_id": line,
                    "data": data,
                }
            )
        )
        new_line, results = apply_order_event(self.lines.get(line), event, FR)
        self.lines[line] = new_line
        for r in results:
            assert r.outcome.value in ("applied", "ignored"), r.reason
            self._post(r.entries, at)

    def sell(self, line: str, gross: int, commission: int) -> None:
        self._event(
            "paid",
            line,
            {
                "gross": {"amount": gross, "currency": "EUR"},
                "commission": {"amount": commission, "currency": "EUR"},
            },
        )

    def release(self, line: str) -> None:
        self._event("return_window_closed", line, {"closed_at": self.clock.isoformat()})

    def refund(self, line: str, amount: int, refund_id: str, commission_returned: int | None = None) -> None:
        data: dict = {"refund_id": refund_id, "amount": {"amount": amount, "currency": "EUR"}}
        if commission_returned is not None:
            data["commission_returned"] = {"amount": commission_returned, "currency": "EUR"}
        self._event("refunded", line, data)

    def available(self) -> int:
        return balances_from_entries(d.entry for d in self.entries).get(
            (seller_account(SELLER, Bucket.AVAILABLE), "EUR"), 0
        )

    def pay_out(self, amount: int) -> str:
        at = self._tick()
        payout_id = f"po_{self.n}"
        payout, entry = new_payout(
            payout_id, SELLER, Money(amount, "EUR"), at=at, origin="on_demand", cause="test", actor="test"
        )
        self.payouts[payout_id] = payout
        self._post([entry], at)
        return payout_id

    def settle(self, payout_id: str, status: PayoutStatus) -> None:
        at = self._tick()
        moved, entry = transition(self.payouts[payout_id], status, at=at, cause="test", actor="test")
        self.payouts[payout_id] = moved
        if entry is not None:
            self._post([entry], at)

    def movements(self):
        return available_movements(SELLER, "EUR", self.entries)

    def contents(self) -> dict[str, PayoutContents]:
        return replay(SettlementState.empty(SELLER, "EUR"), self.movements()).contents

    def state(self) -> SettlementState:
        return replay(SettlementState.empty(SELLER, "EUR"), self.movements()).state


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

# Each action names its target by an index into what it can apply to, so nearly every drawn
# action does something (a sale is a new order line; a release picks an unreleased one, ...).
# Sales and releases are drawn twice as often: without them there is nothing to pay out.
sell = st.tuples(st.just("sell"), st.integers(1, 50000), st.integers(0, 100))
release = st.tuples(st.just("release"), st.integers(0, 50))
action = st.one_of(
    sell,
    release,
    sell,
    release,
    st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100), st.booleans()),
    st.tuples(st.just("payout"), st.integers(1, 100)),
    st.tuples(st.just("payout_all")),
    st.tuples(
        st.just("settle"),
        st.integers(0, 50),
        st.sampled_from(
            [PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.CANCELED, PayoutStatus.RETURNED]
        ),
    ),
)


def play(actions) -> tuple[Book, list[tuple[str, str]]]:
    """Apply each action to the book; returns it and the reversals (payout, status)."""
    book = Book()
    reversals: list[tuple[str, str]] = []
    refunds = 0
    for act in actions:
        kind = act[0]
        if kind == "sell":
            _, gross, pct = act
            book.sell(f"ol-{len(book.lines)}", gross, gross * pct // 100)
        elif kind == "release":
            unreleased = [i for i, line in book.lines.items() if line.release_state.value != "released"]
            if unreleased:
                book.release(unreleased[act[1] % len(unreleased)])
        elif kind == "refund":
            _, index, pct, explicit = act
            refundable = [line for line in book.lines.values() if line.refunded < line.gross]
            if not refundable:
                continue
            current = refundable[index % len(refundable)]
            amount = max(1, (current.gross - current.refunded) * pct // 100)
            refunds += 1
            commission_left = current.commission - current.commission_returned
            returned = min(commission_left, amount) if explicit else None
            book.refund(current.order_line_id, amount, f"rf-{refunds}", returned)
        elif kind in ("payout", "payout_all"):
            available = book.available()
            if available <= 0:
                continue
            amount = available if kind == "payout_all" else max(1, available * act[1] // 100)
            book.pay_out(amount)
        else:
            _, index, status = act
            movable = [pid for pid, p in book.payouts.items() if can_transition(p.status, status)]
            if movable:
                payout_id = movable[index % len(movable)]
                book.settle(payout_id, status)
                if status is not PayoutStatus.PAID:
                    reversals.append((payout_id, status.value))
    return book, reversals


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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
