"""Marketplace order events and the rules of an order line, with no I/O.

An order line is paid, delivered, maybe refunded (fully or in parts), and its seller's share
becomes available once the country's holding period after delivery has passed (or the return
window closed early). Each event is applied exactly once; an event that arrives before the
payment it depends on is parked on the line and applied when the payment arrives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter, model_validator

from shared.domain.countries import CountryRules
from shared.domain.ledger import (
    Bucket,
    EntryDetail,
    JournalEntry,
    record_refund,
    record_sale,
    release_pending_funds,
    sale_details,
)
from shared.domain.money import Money, amount_text
from shared.domain.validation import Identifier, MoneyIn, PositiveMoneyIn, StrictModel, parse_payload

# --- Events at the boundary ---------------------------------------------------------------------


class PaidData(StrictModel):
    gross: PositiveMoneyIn
    commission: MoneyIn

    @model_validator(mode="after")
    def _commission_within_gross(self) -> PaidData:
        if self.commission.currency != self.gross.currency:
            raise ValueError("commission.currency must equal gross.currency")
        if self.commission.amount > self.gross.amount:
            raise ValueError("commission.amount must not exceed gross.amount")
        return self


class DeliveredData(StrictModel):
    delivered_at: AwareDatetime


class ReturnWindowClosedData(StrictModel):
    closed_at: AwareDatetime


class RefundedData(StrictModel):
    refund_id: Identifier
    amount: PositiveMoneyIn
    # Part of the commission the marketplace gives back. Omitted: proportional to the refund.
    commission_returned: MoneyIn | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RefundedData:
        ret = self.commission_returned
        if ret is not None:
            if ret.currency != self.amount.currency:
                raise ValueError("commission_returned.currency must equal amount.currency")
            if ret.amount > self.amount.amount:
                raise ValueError("commission_returned.amount must not exceed amount.amount")
        return self


class _EventBase(StrictModel):
    event_id: Identifier
    occurred_at: AwareDatetime
    seller_id: Identifier
    order_line_id: Identifier


class OrderLinePaid(_EventBase):
    type: Literal["order_line.paid"]
    data: PaidData


class OrderLineDelivered(_EventBase):
    type: Literal["order_line.delivered"]
    data: DeliveredData


class OrderLineReturnWindowClosed(_EventBase):
    type: Literal["order_line.return_window_closed"]
    data: ReturnWindowClosedData


class OrderLineRefunded(_EventBase):
    type: Literal["order_line.refunded"]
    data: RefundedData


OrderEvent = Annotated[
    OrderLinePaid | OrderLineDelivered | OrderLineReturnWindowClosed | OrderLineRefunded,
    Field(discriminator="type"),
]
ORDER_EVENT = TypeAdapter[OrderEvent](OrderEvent)


def parse_order_event(raw: bytes | str) -> OrderEvent:
    """Strict JSON (no duplicate keys, bounded depth), then the event model (strict types);
    raises :class:`InvalidPayload` with field paths."""
    return parse_payload(ORDER_EVENT, raw)


def event_fingerprint(event: OrderEvent) -> str:
    """Hash of the event's meaning, independent of JSON formatting: detects an id reused for
    a different body."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


def event_currency(event: OrderEvent) -> str | None:
    if isinstance(event, OrderLinePaid):
        return event.data.gross.currency
    if isinstance(event, OrderLineRefunded):
        return event.data.amount.currency
    return None


# --- The order line ----------------------------------------------------------------------------


class Outcome(StrEnum):
    APPLIED = "applied"  # its postings (if any) are in the journal
    PARKED = "parked"  # waiting for the payment it depends on
    IGNORED = "ignored"  # already true (a second delivery notice, the same refund again)
    REJECTED = "rejected"  # can never apply; the reason says why


class ReleaseState(StrEnum):
    AWAITING_DELIVERY = "awaiting_delivery"
    HOLDING = "holding"  # delivered; funds become available at release_at
    RELEASED = "released"


@dataclass(frozen=True)
class EventResult:
    event_id: str
    outcome: Outcome
    reason: str | None = None
    entries: tuple[JournalEntry, ...] = ()


@dataclass(frozen=True)
class OrderLine:
    order_line_id: str
    seller_id: str
    currency: str | None = None
    paid: bool = False
    gross: int = 0
    commission: int = 0
    refunded: int = 0
    commission_returned: int = 0
    refunds: dict[str, int] = field(default_factory=dict)  # refund_id -> amount
    delivered_at: datetime | None = None
    release_at: datetime | None = None
    release_state: ReleaseState = ReleaseState.AWAITING_DELIVERY
    parked: tuple[str, ...] = ()  # events (as JSON) awaiting the payment

    @property
    def seller_net_remaining(self) -> int:
        """The seller's share still attached to this line (pending or already released)."""
        return self.gross - self.commission - (self.refunded - self.commission_returned)


def _money(line: OrderLine, amount: int) -> Money:
    assert line.currency is not None
    return Money(amount, line.currency)


def apply_order_event(
    line: OrderLine | None, event: OrderEvent, rules: CountryRules
) -> tuple[OrderLine, list[EventResult]]:
    """Apply one event to its order line. Returns the new line and the result of this event
    followed by the results of any parked events that it unblocked."""
    if line is None:
        line = OrderLine(order_line_id=event.order_line_id, seller_id=event.seller_id)
    if line.seller_id != event.seller_id:
        return line, [_reject(event, f"order line {line.order_line_id} belongs to another seller")]
    currency = event_currency(event)
    if currency is not None and currency != rules.currency:
        return line, [_reject(event, f"currency {currency} does not match the seller's {rules.currency}")]
    if currency is not None and line.currency not in (None, currency):
        return line, [_reject(event, f"currency {currency} does not match the order line's")]

    if isinstance(event, OrderLinePaid):
        return _apply_paid(line, event, rules)
    if not line.paid:
        parked = (*line.parked, event.model_dump_json())
        return replace(line, parked=parked), [
            EventResult(event.event_id, Outcome.PARKED, "waiting for order_line.paid")
        ]
    line, result = _apply_after_payment(line, event, rules)
    return line, [result]


def _reject(event: OrderEvent, reason: str) -> EventResult:
    return EventResult(event.event_id, Outcome.REJECTED, reason)


def _apply_paid(
    line: OrderLine, event: OrderLinePaid, rules: CountryRules
) -> tuple[OrderLine, list[EventResult]]:
    if line.paid:
        return line, [_reject(event, "order line is already paid by another event")]
    gross, commission = event.data.gross.to_money(), event.data.commission.to_money()
    if gross.amount > rules.max_transaction_amount:
        limit = amount_text(rules.max_transaction_money)
        return line, [_reject(event, f"gross amount {amount_text(gross)} exceeds the limit of {limit}")]
    waiting = [parse_order_event(raw) for raw in line.parked]
    line = replace(
        line, paid=True, currency=gross.currency, gross=gross.amount, commission=commission.amount, parked=()
    )
    results = [
        EventResult(
            event.event_id,
            Outcome.APPLIED,
            entries=(
                record_sale(
                    event.event_id, line.seller_id, gross, commission, order_line_id=line.order_line_id
                ),
            ),
        )
    ]
    for parked_event in sorted(waiting, key=lambda e: e.occurred_at):
        line, result = _apply_after_payment(line, parked_event, rules)
        results.append(result)
    return line, results


def _apply_after_payment(
    line: OrderLine, event: OrderEvent, rules: CountryRules
) -> tuple[OrderLine, EventResult]:
    if isinstance(event, OrderLineDelivered):
        if line.delivered_at is not None:
            return line, EventResult(event.event_id, Outcome.IGNORED, "already delivered")
        delivered_at = event.data.delivered_at
        line = replace(line, delivered_at=delivered_at)
        if line.release_state is ReleaseState.AWAITING_DELIVERY:
            release_at = delivered_at + timedelta(days=rules.holding_period_days)
            line = replace(line, release_at=release_at, release_state=ReleaseState.HOLDING)
        return line, EventResult(event.event_id, Outcome.APPLIED)
    if isinstance(event, OrderLineReturnWindowClosed):
        if line.release_state is ReleaseState.RELEASED:
            return line, EventResult(event.event_id, Outcome.IGNORED, "funds already released")
        line, entry = release_line(line)
        return line, EventResult(event.event_id, Outcome.APPLIED, entries=(entry,) if entry else ())
    if isinstance(event, OrderLineRefunded):
        return _apply_refund(line, event)
    raise AssertionError(f"unexpected event {event.type}")


def _apply_refund(line: OrderLine, event: OrderLineRefunded) -> tuple[OrderLine, EventResult]:
    data = event.data
    if data.refund_id in line.refunds:
        if line.refunds[data.refund_id] == data.amount.amount:
            return line, EventResult(
                event.event_id, Outcome.IGNORED, f"refund {data.refund_id} already applied"
            )
        return line, _reject(event, f"refund {data.refund_id} was already applied with another amount")
    refundable = line.gross - line.refunded
    if data.amount.amount > refundable:
        return line, _reject(
            event,
            f"refund of {amount_text(data.amount.to_money())} exceeds the refundable "
            f"{amount_text(_money(line, refundable))}",
        )
    commission_left = line.commission - line.commission_returned
    if data.commission_returned is not None:
        returned = data.commission_returned.amount
        if returned > commission_left:
            return line, _reject(
                event,
                f"commission_returned {amount_text(data.commission_returned.to_money())} exceeds the "
                f"commission left {amount_text(_money(line, commission_left))}",
            )
    elif data.amount.amount == refundable:
        returned = commission_left  # the last refund returns whatever commission is left
    else:
        # Never more than is left: an earlier refund may have returned more than its share.
        returned = min(commission_left, line.commission * data.amount.amount // line.gross)
    from_bucket = Bucket.AVAILABLE if line.release_state is ReleaseState.RELEASED else Bucket.PENDING
    entry = record_refund(
        event.event_id,
        line.seller_id,
        _money(line, data.amount.amount),
        _money(line, returned),
        from_bucket,
        order_line_id=line.order_line_id,
        refund_id=data.refund_id,
    )
    line = replace(
        line,
        refunded=line.refunded + data.amount.amount,
        commission_returned=line.commission_returned + returned,
        refunds={**line.refunds, data.refund_id: data.amount.amount},
    )
    return line, EventResult(event.event_id, Outcome.APPLIED, entries=(entry,))


def release_line(line: OrderLine) -> tuple[OrderLine, JournalEntry | None]:
    """Move the line's remaining seller share from pending to available, once."""
    if line.release_state is ReleaseState.RELEASED:
        return line, None
    remaining = line.seller_net_remaining
    released = replace(line, release_state=ReleaseState.RELEASED)
    if remaining <= 0:
        return released, None
    return released, release_pending_funds(
        f"release:{line.order_line_id}",
        line.seller_id,
        _money(line, remaining),
        order_line_id=line.order_line_id,
        details=release_details(line),
    )


def release_details(line: OrderLine) -> tuple[EntryDetail, ...]:
    """What a release is made of: the sale at its gross amount, the commission, and every refund
    netted from pending before release (with the commission the marketplace gave back). They sum
    to the amount released, ``seller_net_remaining``."""
    refunds = tuple(
        EntryDetail("refund", _money(line, -amount), refund_id)
        for refund_id, amount in sorted(line.refunds.items())
    )
    returned = EntryDetail("commission_returned", _money(line, line.commission_returned))
    return (*sale_details(_money(line, line.gross), _money(line, line.commission)), *refunds, returned)


def is_release_due(line: OrderLine, now: datetime) -> bool:
    return (
        line.paid
        and line.release_state is ReleaseState.HOLDING
        and line.release_at is not None
        and line.release_at <= now
    )
