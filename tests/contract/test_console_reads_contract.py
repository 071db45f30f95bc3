"""The ConsoleReads port's sellers reads (issue 19: the console's Sellers pages), the same checks
on the fake and on Firestore: sellers found by id or display-name prefix, in id order and
bounded; a seller's newest journal entries, newest first and bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.countries import load_country_rules
from shared.domain.ledger import record_sale
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, ReleaseState
from shared.domain.sellers import SellerIn
from shared.usecases.sellers import put_seller
from stand_ins.sample_sellers import seller_body
from tests.fakes.console import FakeConsoleReads
from tests.fakes.storage import FakeStore

AT = datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC)
RULES = load_country_rules()


@pytest.fixture(params=["fake", pytest.param("firestore", marks=pytest.mark.integration)])
def world(request):
    if request.param == "fake":
        store = FakeStore(replay_bodies=False)
        return store, FakeConsoleReads(store)
    from shared.adapters.firestore import FirestoreStore
    from shared.adapters.firestore.console import FirestoreConsoleReads
    from shared.settings import Settings

    store = FirestoreStore(Settings(), project=request.getfixturevalue("firestore_project"))
    return store, FirestoreConsoleReads(store)


def onboard(store, seller_id: str, n: int, name: str) -> None:
    body = seller_body("FR", n, display_name=name)
    put_seller(store, RULES, seller_id, SellerIn.model_validate_json(json.dumps(body)), now=AT)


def test_sellers_are_found_by_id_or_display_name_prefix_in_id_order(world):
    store, reads = world
    onboard(store, "s-b", 1, "Alpha Shop")
    onboard(store, "s-a", 2, "Zeta Books")
    onboard(store, "t-c", 3, "Alpine Crafts")
    onboard(store, "u-d", 4, "alpaca (lower case)")
    assert [s.seller_id for s in reads.find_sellers("s-", 10)] == ["s-a", "s-b"]
    assert [s.seller_id for s in reads.find_sellers("Alp", 10)] == ["s-b", "t-c"]
    assert [s.seller_id for s in reads.find_sellers("", 3)] == ["s-a", "s-b", "t-c"]
    assert [s.seller_id for s in reads.find_sellers("Alp", 1)] == ["s-b"]
    assert reads.find_sellers("nobody", 10) == []
    (found,) = reads.find_sellers("u-d", 10)
    assert found.display_name == "alpaca (lower case)" and found.bank_account.masked


def test_a_sellers_newest_entries_come_newest_first_and_bounded(world):
    store, reads = world
    entries = [
        record_sale(f"evt-{n}", "s-j", Money(1000 + n, "EUR"), Money(100, "EUR"), order_line_id=f"ol-{n}")
        for n in range(5)
    ]
    other = record_sale("evt-x", "s-other", Money(5, "EUR"), Money(1, "EUR"), order_line_id="ol-x")

    def body(uow):
        for n, entry in enumerate(entries):
            uow.journal.post(entry, AT + timedelta(seconds=n))
        uow.journal.post(other, AT + timedelta(seconds=10))

    store.atomically(body)
    newest = reads.seller_entries_newest_first("s-j", 3)
    assert [e.entry.entry_id for e in newest] == [e.entry_id for e in reversed(entries)][:3]
    assert [e.at for e in newest] == [AT + timedelta(seconds=n) for n in (4, 3, 2)]
    assert newest[0].entry == entries[4]
    assert len(reads.seller_entries_newest_first("s-j", 50)) == 5
    assert reads.seller_entries_newest_first("s-none", 5) == []


def test_a_sellers_unreleased_order_lines_come_soonest_release_first(world):
    store, reads = world

    def line(line_id: str, seller_id: str, state: ReleaseState, days: int | None) -> OrderLine:
        release_at = AT + timedelta(days=days) if days is not None else None
        return OrderLine(
            line_id, seller_id, "EUR", True, 1000, 100, release_at=release_at, release_state=state
        )

    lines = [
        line("ol-late", "s-h", ReleaseState.HOLDING, 9),
        line("ol-waiting", "s-h", ReleaseState.AWAITING_DELIVERY, None),
        line("ol-soon", "s-h", ReleaseState.HOLDING, 2),
        line("ol-done", "s-h", ReleaseState.RELEASED, 1),
        line("ol-other", "s-other", ReleaseState.HOLDING, 1),
    ]

    def body(uow):
        for x in lines:
            uow.order_lines.put(x)

    store.atomically(body)
    found = reads.unreleased_order_lines("s-h", 10)
    assert [x.order_line_id for x in found] == ["ol-soon", "ol-late", "ol-waiting"]
    assert found[0] == lines[2]
    assert len(reads.unreleased_order_lines("s-h", 2)) == 2
    assert reads.unreleased_order_lines("s-none", 10) == []
