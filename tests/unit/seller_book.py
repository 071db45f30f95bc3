"""A seller's history played through the real domain (order lines, ledger, payouts), with a
clock: shared by the payout-contents, statement and document tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from shared.domain.countries import load_country_rules
from shared.domain.ledger import Bucket, DatedEntry, JournalEntry, balances_from_entries, seller_account
from shared.domain.money import Money
from shared.domain.order_events import (
    OrderLine,
    apply_order_event,
    is_release_due,
    parse_order_event,
    release_line,
)
from shared.domain.payout_contents import PayoutContents, SettlementState, available_movements, replay
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
        """The return window closed early: released now."""
        self._event("return_window_closed", line, {"closed_at": self.clock.isoformat()})

    def deliver(self, line: str) -> None:
        """Delivered: the country's holding period starts."""
        self._event("delivered", line, {"delivered_at": self.clock.isoformat()})

    def release_due(self, days: int) -> None:
        """``days`` later, the release tick releases every line whose holding period is over."""
        self.clock += timedelta(days=days)
        at = self._tick()
        for line_id, line in list(self.lines.items()):
            if is_release_due(line, at):
                self.lines[line_id], entry = release_line(line)
                if entry is not None:
                    self._post([entry], at)

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


# Each action names its target by an index into what it can apply to, so nearly every drawn
# action does something (a sale is a new order line; a release picks an unreleased one, ...).
# Sales and releases are drawn twice as often: without them there is nothing to pay out.
sell = st.tuples(st.just("sell"), st.integers(1, 50000), st.integers(0, 100))
release = st.tuples(st.just("release"), st.integers(0, 50))
action = st.one_of(
    sell,
    release,
    st.tuples(st.just("deliver"), st.integers(0, 50)),
    st.tuples(st.just("release_due"), st.integers(0, 20)),
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


def play(actions, book: Book | None = None) -> tuple[Book, list[tuple[str, str]]]:
    """Apply each action to the book (a new one by default); returns it and the reversals
    (payout, status)."""
    book = book or Book()
    reversals: list[tuple[str, str]] = []
    for act in actions:
        kind = act[0]
        if kind == "sell":
            _, gross, pct = act
            book.sell(f"ol-{len(book.lines)}", gross, gross * pct // 100)
        elif kind == "deliver":
            undelivered = [i for i, line in book.lines.items() if line.delivered_at is None]
            if undelivered:
                book.deliver(undelivered[act[1] % len(undelivered)])
        elif kind == "release_due":
            book.release_due(act[1])
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
            commission_left = current.commission - current.commission_returned
            returned = min(commission_left, amount) if explicit else None
            book.refund(current.order_line_id, amount, f"rf-{book.n}", returned)
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
