"""Use cases of the order-event ledger: ingest an event, release funds whose holding is over.

Both the Pub/Sub function and the signed webhook call :func:`ingest_order_event`.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import log
from shared.domain.countries import CountryRegistry, CountryRules, rules_for_sale_currency
from shared.domain.errors import DomainError
from shared.domain.money import amount_text
from shared.domain.order_events import (
    EventResult,
    OrderEvent,
    OrderLinePaid,
    OrderLineRefunded,
    Outcome,
    apply_order_event,
    event_currency,
    event_fingerprint,
    is_release_due,
    release_line,
)
from shared.domain.payout_currency import check_sales_currency
from shared.domain.sellers import Seller
from shared.keyed_lock import KeyedLocks
from shared.usecases.ports import Contention, ReceivedOrderEvent, Storage, UnitOfWork

logger = logging.getLogger(__name__)
_line_locks = KeyedLocks()
_release_lock = KeyedLocks()  # one release tick at a time per process


class UnknownSeller(DomainError):
    def __init__(self, seller_id: str) -> None:
        super().__init__("unknown_seller", f"seller {seller_id} does not exist", "seller_id")


class EventConflict(DomainError):
    """The event id was already used for a different body."""

    def __init__(self, event_id: str) -> None:
        super().__init__(
            "event_id_conflict", f"event {event_id} was already received with a different body", "event_id"
        )


class InvalidForSeller(DomainError):
    pass


@dataclass(frozen=True)
class IngestResult:
    event_id: str
    outcome: Outcome
    reason: str | None
    duplicate: bool  # True when this delivery changed nothing because the event was seen before

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "duplicate": self.duplicate,
        }


def check_event_for_seller(event: OrderEvent, rules: CountryRules) -> None:
    """Checks that need the seller but not the ledger, so they fail before anything is written."""
    currency = event_currency(event)
    if currency is not None and currency != rules.currency:
        field = "data.gross.currency" if isinstance(event, OrderLinePaid) else "data.amount.currency"
        raise InvalidForSeller(
            "currency_mismatch",
            f"currency {currency} does not match the seller's currency {rules.currency}",
            field,
        )
    if isinstance(event, OrderLinePaid) and event.data.gross.amount > rules.max_transaction_amount:
        raise InvalidForSeller(
            "amount_over_limit",
            f"amount {amount_text(event.data.gross.to_money())} exceeds the limit of "
            f"{amount_text(rules.max_transaction_money)}",
            "data.gross.amount",
        )
    if isinstance(event, OrderLineRefunded) and event.data.amount.amount > rules.max_transaction_amount:
        raise InvalidForSeller(
            "amount_over_limit",
            f"amount {amount_text(event.data.amount.to_money())} exceeds the limit of "
            f"{amount_text(rules.max_transaction_money)}",
            "data.amount.amount",
        )


def rules_for_event(event: OrderEvent, seller: Seller, registry: CountryRegistry) -> CountryRules:
    """The rules an order event of this seller follows. Issue 17: an event may be in any
    currency the seller sells in (its country's, its payout currency, the storefronts':
    ``payout_currency.sales_currencies``); in another currency than its country's, the line
    keeps the country's holding period and schedule, with the limit of one order line of a
    country of that currency (the first by code). Any other currency is refused, by field."""
    rules = registry.get(seller.country)
    currency = event_currency(event)
    if currency is None or currency == rules.currency:
        return rules
    field = "data.gross.currency" if isinstance(event, OrderLinePaid) else "data.amount.currency"
    try:
        check_sales_currency(currency, seller.currency, seller.payout_currency, field)
    except DomainError as exc:
        raise InvalidForSeller(exc.code, exc.message, field) from None
    return rules_for_sale_currency(rules, currency, registry)


def _seller_of(store: Storage, seller_id: str) -> Seller:
    # Country and currencies are read outside the transaction, to keep a hot seller's events
    # from contending on the seller document.
    seller = store.sellers.get(seller_id)
    if seller is None:
        raise UnknownSeller(seller_id)
    return seller


def ingest_order_event(
    store: Storage,
    registry: CountryRegistry,
    event: OrderEvent,
    *,
    source: str,
    now: datetime | None = None,
) -> IngestResult:
    """Apply an event exactly once, keyed by its id, in one transaction with its postings."""
    now = now or datetime.now(UTC)
    with log.bind(event_id=event.event_id, seller_id=event.seller_id, order_line_id=event.order_line_id):
        rules = rules_for_event(event, _seller_of(store, event.seller_id), registry)
        check_event_for_seller(event, rules)
        fingerprint = event_fingerprint(event)

        def apply(uow: UnitOfWork) -> IngestResult:
            seen = uow.order_events.get(event.event_id)
            if seen is not None:
                if seen.fingerprint != fingerprint:
                    raise EventConflict(event.event_id)
                return IngestResult(event.event_id, seen.outcome, seen.reason, True)
            line = uow.order_lines.get(event.order_line_id)
            new_line, results = apply_order_event(line, event, rules)
            for result in results:
                for entry in result.entries:
                    uow.journal.post(entry, now)
            _record_results(uow, event, fingerprint, results, source, now)
            if new_line != line:
                uow.order_lines.put(new_line)
            main = results[0]
            return IngestResult(event.event_id, main.outcome, main.reason, False)

        with _line_locks.hold(event.order_line_id):
            result = store.atomically(apply)
        level = logging.WARNING if result.outcome is Outcome.REJECTED else logging.INFO
        logger.log(
            level,
            "order event %s %s%s",
            event.type,
            "duplicate, unchanged" if result.duplicate else result.outcome.value,
            f": {result.reason}" if result.reason else "",
        )
        return result


def _record_results(
    uow: UnitOfWork,
    event: OrderEvent,
    fingerprint: str,
    results: list[EventResult],
    source: str,
    now: datetime,
) -> None:
    first, *unblocked = results
    uow.order_events.add(
        ReceivedOrderEvent(
            event_id=event.event_id,
            type=event.type,
            seller_id=event.seller_id,
            order_line_id=event.order_line_id,
            fingerprint=fingerprint,
            outcome=first.outcome,
            reason=first.reason,
            source=source,
            received_at=now,
            entry_ids=tuple(e.entry_id for e in first.entries),
        )
    )
    # Events that were parked on this line and have now been applied (or found invalid).
    for result in unblocked:
        uow.order_events.resolve(
            result.event_id, result.outcome, result.reason, [e.entry_id for e in result.entries], now
        )


@dataclass(frozen=True)
class ReleaseSummary:
    examined: int
    released: int

    def as_dict(self) -> dict[str, int]:
        return {"examined": self.examined, "released": self.released}


def release_due_funds(store: Storage, *, now: datetime | None = None, batch: int = 200) -> ReleaseSummary:
    """Move every order line whose holding period has passed from pending to available.

    Idempotent: each line is released in its own transaction that re-checks its state, and
    the journal entry id is derived from the line, so a second run changes nothing. Ticks are
    delivered at least once, sometimes together: in one process they take turns, and across
    processes each walks its batch in its own random order and skips a line whose transaction
    stays contended (another tick is releasing it; if not, it is still due at the next tick),
    so duplicate ticks never fail each other."""
    now = now or datetime.now(UTC)
    examined = released = contended = 0
    with _release_lock.hold("release"):
        while True:
            ids = store.due_order_lines(now, batch)
            if not ids:
                break
            random.shuffle(ids)
            done = 0
            for order_line_id in ids:
                examined += 1
                try:
                    done += int(_release_one(store, order_line_id, now))
                except Contention:
                    contended += 1
                    logger.warning("order line %s contended; left for the next tick", order_line_id)
            released += done
            if len(ids) < batch or done == 0:
                break
    logger.info("released funds of %d order lines (%d examined, %d contended)", released, examined, contended)
    return ReleaseSummary(examined, released)


def _release_one(store: Storage, order_line_id: str, now: datetime) -> bool:
    def release(uow: UnitOfWork) -> bool:
        line = uow.order_lines.get(order_line_id)
        if line is None or not is_release_due(line, now):
            return False
        new_line, entry = release_line(line)
        if entry is not None:
            uow.journal.post(entry, now)
        uow.order_lines.put(new_line)
        return True

    with log.bind(order_line_id=order_line_id):
        return store.atomically(release)
