"""Statements (issue 18): a seller's movements over a range of its local dates, and what one
payout paid for. Computed from the journal and the stored contents through the ports; the pure
rules are in ``shared/domain/statements.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from shared.domain.countries import CountryRegistry
from shared.domain.errors import DomainError
from shared.domain.ledger import Bucket
from shared.domain.money import Money
from shared.domain.payouts import Payout
from shared.domain.statements import (
    BalanceKey,
    PayoutStatement,
    SellerStatement,
    StatementOutOfStep,
    opening_from_current,
    payout_statement,
    seller_statement,
    statement_range,
)
from shared.usecases.payouts import PayoutNotFound
from shared.usecases.ports import Storage
from shared.usecases.sellers import SellerNotFound

# The stored balances and the journal are read one after the other; an entry written between the
# two reads makes them disagree, and reading again settles it.
READ_ATTEMPTS = 3
PAYOUTS_PAGE = 200


class PayoutContentsNotRecorded(DomainError):
    """A payout created before its contents were recorded: it has no statement."""

    def __init__(self, payout_id: str) -> None:
        super().__init__(
            "payout_statement_not_available",
            f"payout {payout_id} was created before payout contents were recorded",
            "payout_id",
        )


def _stored_balances(store: Storage, seller_id: str) -> dict[BalanceKey, Money]:
    return {
        (b.currency, bucket): Money(b.bucket(bucket), b.currency)
        for b in store.sellers.balances(seller_id)
        for bucket in Bucket
    }


def _payouts_since(store: Storage, seller_id: str, since: datetime) -> list[Payout]:
    """The seller's payouts created at or after ``since``, newest first, page by page."""
    out: list[Payout] = []
    after: tuple[datetime, str] | None = None
    while True:
        page = store.payouts.newest_first(
            seller_id=seller_id, status=None, run_id=None, limit=PAYOUTS_PAGE, after=after
        )
        out.extend(p for p in page if p.created_at >= since)
        if len(page) < PAYOUTS_PAGE or page[-1].created_at < since:
            return out
        after = (page[-1].created_at, page[-1].payout_id)


def seller_statement_for(
    store: Storage,
    registry: CountryRegistry,
    seller_id: str,
    start: date,
    end: date,
    now: datetime | None = None,
) -> SellerStatement:
    """``GET /sellers/{id}/statement?from=&to=``: both dates included, in the seller's timezone.
    The opening balance is today's stored balance less every entry since ``from``; a range that
    reaches the present must close on the stored balance exactly."""
    now = now or datetime.now(UTC)
    seller = store.sellers.get(seller_id)
    if seller is None:
        raise SellerNotFound(seller_id)
    rng = statement_range(start, end, registry.get(seller.country).timezone)
    lo, hi = rng.bounds()
    payouts = _payouts_since(store, seller_id, lo)
    for attempt in range(READ_ATTEMPTS):
        stored = _stored_balances(store, seller_id)
        entries = store.contents.seller_entries(seller_id, lo)
        opening = opening_from_current(seller_id, stored, entries, lo)
        statement = seller_statement(seller_id, rng, entries, opening=opening, payouts=payouts)
        if hi <= now:
            return statement
        try:
            statement.check_against(stored)
            return statement
        except StatementOutOfStep:
            if attempt == READ_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def payout_statement_for(
    store: Storage, payout_id: str, may_read_seller: Callable[[str], bool] | None = None
) -> PayoutStatement:
    """``GET /payouts/{id}/statement``. A payout of a seller the caller may not read is not found
    (404, never 403: no payout's existence leaks)."""
    payout = store.payouts.get(payout_id)
    if payout is None or (may_read_seller is not None and not may_read_seller(payout.seller_id)):
        raise PayoutNotFound(payout_id)
    contents = store.contents.of_payout(payout_id)
    if contents is None:
        raise PayoutContentsNotRecorded(payout_id)
    return payout_statement(payout, contents)
