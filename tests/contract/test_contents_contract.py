"""The storage port's contract for what payouts pay for (issue 18), on the fake and on Firestore:
journal entries keep their order line and details, a seller's entries since a time come back in
journal order inside and outside a unit of work, and a payout's contents and the seller's
checkpoint come back whole, however big."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.ledger import (
    Bucket,
    DatedEntry,
    record_refund,
    record_sale,
    release_pending_funds,
    sale_details,
)
from shared.domain.money import Money
from shared.domain.payout_contents import (
    SettlementState,
    add_movement,
    allocate,
    available_movements,
)
from tests.fakes.storage import FakeStore

AT = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
EUR = "EUR"


@pytest.fixture(params=["fake", pytest.param("firestore", marks=pytest.mark.integration)])
def store(request):
    if request.param == "fake":
        return FakeStore(replay_bodies=False)
    from shared.adapters.firestore import FirestoreStore
    from shared.settings import Settings

    return FirestoreStore(Settings(), project=request.getfixturevalue("firestore_project"))


def sale_and_release(seller_id: str, line: str, gross: int, commission: int):
    sale = record_sale(
        f"evt-{line}", seller_id, Money(gross, EUR), Money(commission, EUR), order_line_id=line
    )
    release = release_pending_funds(
        f"release-{line}",
        seller_id,
        Money(gross - commission, EUR),
        order_line_id=line,
        details=sale_details(Money(gross, EUR), Money(commission, EUR)),
    )
    return sale, release


def post(store, entries_at):
    def body(uow):
        for entry, at in entries_at:
            uow.journal.post(entry, at)

    store.atomically(body)


def test_journal_entries_keep_their_order_line_and_details_and_come_back_in_journal_order(store):
    sale, release = sale_and_release("s-c1", "ol-1", 30000, 3000)
    refund = record_refund(
        "refund-1",
        "s-c1",
        Money(15000, EUR),
        Money(1500, EUR),
        Bucket.AVAILABLE,
        refund_id="r-1",
        order_line_id="ol-1",
    )
    post(store, [(sale, AT), (release, AT + timedelta(seconds=1)), (refund, AT + timedelta(seconds=2))])
    other, _ = sale_and_release("s-c2", "ol-2", 100, 10)
    post(store, [(other, AT)])

    everything = store.contents.seller_entries("s-c1", None)
    assert [e.entry for e in everything] == [sale, release, refund]
    assert everything[1].entry.details == release.details and everything[1].entry.order_line_id == "ol-1"
    assert [e.at for e in everything] == [AT, AT + timedelta(seconds=1), AT + timedelta(seconds=2)]
    assert [e.entry for e in store.contents.seller_entries("s-c1", AT + timedelta(seconds=1))] == [
        release,
        refund,
    ]

    inside = store.atomically(lambda uow: uow.settlements.entries_since("s-c1", AT + timedelta(seconds=2)))
    assert [e.entry for e in inside] == [refund]


def _big_history(seller_id: str, lines: int) -> tuple[SettlementState, list[DatedEntry]]:
    state = SettlementState.empty(seller_id, EUR)
    dated = []
    for n in range(lines):
        _, release = sale_and_release(seller_id, f"order-line-with-a-long-id-{n:06d}", 1000 + n, 100)
        dated.append(DatedEntry(release, AT + timedelta(milliseconds=n)))
    for movement in available_movements(seller_id, EUR, dated):
        assert movement.group is not None
        state = add_movement(state, movement.group)
    return state, dated


@pytest.mark.parametrize("lines", [1, 3000])
def test_contents_and_checkpoint_come_back_whole_however_big(store, lines):
    """3,000 order lines settled by one payout: several documents of under 1 MiB on Firestore."""
    seller_id = f"s-big-{lines}"
    state, _ = _big_history(seller_id, lines)
    amount = state.open_total() - Money(50, EUR)  # the last line stays partly open
    at = AT + timedelta(hours=1)
    contents, after = allocate(state, f"po_big_{lines}", amount, at, movement_key=(at, "entry-x"))

    assert store.atomically(lambda uow: uow.settlements.checkpoint(seller_id, EUR)) is None
    store.atomically(lambda uow: uow.settlements.put(contents, after))

    got = store.contents.of_payout(f"po_big_{lines}")
    assert got is not None and got.pieces == contents.pieces and got.total() == amount
    assert got.lines() == contents.lines() and got.left_reason == contents.left_reason
    inside = store.atomically(lambda uow: uow.settlements.contents([f"po_big_{lines}", "po_none"]))
    assert list(inside) == [f"po_big_{lines}"] and inside[f"po_big_{lines}"].pieces == contents.pieces
    checkpoint = store.atomically(lambda uow: uow.settlements.checkpoint(seller_id, EUR))
    assert checkpoint == after
    assert store.contents.of_payout("po_none") is None
