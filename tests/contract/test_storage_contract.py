"""The storage port's contract, run on the in-memory fake and on the Firestore adapter (emulator).

The use cases' unit tests trust the fake; these tests are why they may: every rule of the port
(``shared/usecases/ports.py``) that a use case relies on holds for both.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.domain.countries import load_country_rules
from shared.domain.eligibility import SkipReason
from shared.domain.events import payout_event, run_completed_event
from shared.domain.ledger import Bucket, record_sale, release_pending_funds, seller_account
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, Outcome, ReleaseState
from shared.domain.payouts import PayoutStatus, new_payout, transition
from shared.domain.runs import (
    PageStatus,
    RunItem,
    RunStatus,
    item_change_tally,
    new_page,
    new_run,
    page_done_tally,
    payout_tally,
)
from shared.domain.sellers import SellerIn, onboard_seller
from shared.entrypoints.views import payout_request_response
from shared.usecases.payouts import PayoutRequestOutcome
from shared.usecases.ports import (
    AlreadyExists,
    BalanceRef,
    IdempotencyRecord,
    PayoutRef,
    ProviderEventRecord,
    ReadAfterWrite,
    ReceivedOrderEvent,
    Refusal,
    RunItemRef,
    SellerRef,
)
from stand_ins.sample_sellers import seller_body
from tests.fakes.storage import FakeStore

RULES = load_country_rules()
AT = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["fake", pytest.param("firestore", marks=pytest.mark.integration)])
def store(request):
    if request.param == "fake":
        return FakeStore(replay_bodies=False)
    from shared.adapters.firestore import FirestoreStore
    from shared.settings import Settings

    return FirestoreStore(Settings(), project=request.getfixturevalue("firestore_project"))


def seller(seller_id="s-1", country="FR", n=1):
    body = SellerIn.model_validate_json(json.dumps(seller_body(country, n)))
    return onboard_seller(seller_id, body, RULES.get(country), AT)


def payout(payout_id="po_1", seller_id="s-1", amount=3000, at=AT, run_id=None):
    return new_payout(
        payout_id,
        seller_id,
        Money(amount, "EUR"),
        at=at,
        origin="run" if run_id else "on_demand",
        cause="test",
        actor="test",
        run_id=run_id,
        provider="sandbox",
    )


def sale(cause="evt-1", seller_id="s-1", net=9000):
    return record_sale(cause, seller_id, Money(net + 1000, "EUR"), Money(1000, "EUR"))


# --- the unit of work ------------------------------------------------------------------------------


def test_what_a_unit_of_work_writes_is_there_after_it_returns(store):
    p, entry = payout()
    result = store.atomically(lambda uow: (uow.payouts.put(p), uow.journal.post(sale(), AT), "done")[-1])
    assert result == "done"
    assert store.payouts.get("po_1") == p
    assert store.atomically(lambda uow: uow.payouts.get("po_1")) == p


def test_nothing_is_written_when_the_body_raises(store):
    p, _ = payout()

    def body(uow):
        uow.payouts.put(p)
        uow.journal.post(sale(), AT)
        raise RuntimeError("changed its mind")

    with pytest.raises(RuntimeError):
        store.atomically(body)
    assert store.payouts.get("po_1") is None
    assert list(store.journal.entries()) == []


def test_a_read_after_a_write_is_refused(store):
    p, _ = payout()

    def body(uow):
        uow.payouts.put(p)
        return uow.payouts.get("po_1")

    with pytest.raises(ReadAfterWrite):
        store.atomically(body)
    assert store.payouts.get("po_1") is None


@pytest.mark.parametrize("record", ["journal", "outbox", "idempotency", "order_event", "provider_event"])
def test_a_record_created_once_by_id_fails_the_second_unit_of_work_whole(store, record):
    p, _ = payout()
    writes = {
        "journal": lambda uow: uow.journal.post(sale(), AT),
        "outbox": lambda uow: uow.outbox.add(payout_event(p, AT)),
        "idempotency": lambda uow: uow.idempotency.add(
            IdempotencyRecord("k1", "f", None, Refusal("below_minimum", "too small", "amount.amount"), AT, AT)
        ),
        "order_event": lambda uow: uow.order_events.add(
            ReceivedOrderEvent(
                "evt-1", "order_line.paid", "s-1", "ol-1", "f", Outcome.APPLIED, None, "test", AT
            )
        ),
        "provider_event": lambda uow: uow.provider_events.add(
            ProviderEventRecord("sandbox", "evt_1", "po_1", "paid", "applied", AT)
        ),
    }
    store.atomically(writes[record])

    def again(uow):
        uow.payouts.put(p)
        writes[record](uow)

    with pytest.raises(AlreadyExists):
        store.atomically(again)
    assert store.payouts.get("po_1") is None


def test_reading_ahead_changes_no_result(store):
    s = seller()
    p, _ = payout()
    store.atomically(lambda uow: (uow.sellers.put(s, bank_account_changed=True), uow.payouts.put(p)))

    def body(uow):
        uow.read_ahead(
            SellerRef("s-1"),
            PayoutRef("po_1"),
            PayoutRef("po_none"),
            BalanceRef("s-1", "EUR"),
            RunItemRef("r", "s-1"),
        )
        return (
            uow.sellers.get("s-1"),
            uow.payouts.get("po_1"),
            uow.payouts.get("po_none"),
            uow.balances.available("s-1", "EUR"),
            uow.runs.get_item("r", "s-1"),
        )

    assert store.atomically(body) == (s, p, None, Money(0, "EUR"), None)


def test_ids_the_store_could_never_hold_find_nothing(store):
    for bad in ("a/b", "..", "__x__", ""):
        assert store.payouts.get(bad) is None
        assert store.sellers.get(bad) is None
        assert store.runs.progress(bad) is None
        assert store.atomically(lambda uow, bad=bad: (uow.payouts.get(bad), uow.idempotency.get(bad))) == (
            None,
            None,
        )


# --- the ledger ----------------------------------------------------------------------------------------


def test_a_posting_adds_to_the_seller_balance_in_the_same_unit_of_work(store):
    store.atomically(lambda uow: uow.sellers.put(seller(), bank_account_changed=True))
    store.atomically(lambda uow: uow.journal.post(sale(net=9000), AT))
    store.atomically(
        lambda uow: uow.journal.post(release_pending_funds("rel-1", "s-1", Money(4000, "EUR")), AT)
    )
    [balance] = store.sellers.balances("s-1")
    assert (balance.currency, balance.pending, balance.available, balance.in_flight) == ("EUR", 5000, 4000, 0)
    assert store.atomically(lambda uow: uow.balances.available("s-1", "EUR")) == Money(4000, "EUR")
    assert store.sellers.available_balances([seller()]) == {"s-1": Money(4000, "EUR")}
    # Issue 17: every wanted currency of every seller, zero where it holds none.
    assert store.sellers.available_by_currency({"s-1": ["EUR", "GBP"], "s-2": ["SEK"]}) == {
        "s-1": {"EUR": Money(4000, "EUR"), "GBP": Money(0, "GBP")},
        "s-2": {"SEK": Money(0, "SEK")},
    }
    stored = store.journal.stored_balances()
    assert stored[(seller_account("s-1", Bucket.PENDING), "EUR")] == 5000
    entries = list(store.journal.entries())
    assert len(entries) == 2 and all(sum(a for _, a, _ in e.postings) == 0 for e in entries)
    assert len(list(store.journal.entries("s-1"))) == 2 and list(store.journal.entries("s-2")) == []


# --- sellers, order lines and events -----------------------------------------------------------------


def test_sellers_are_found_by_run_bucket_in_order_after_a_cursor(store):
    from shared.domain.runs import page_cursor, run_bucket

    made = [seller(f"s-{n}", n=n + 1) for n in range(6)]
    store.atomically(lambda uow: [uow.sellers.put(s, bank_account_changed=True) for s in made])
    everyone = store.sellers.in_buckets(0, 1024, None, 10)
    assert [s.seller_id for s in everyone] == [
        s.seller_id for s in sorted(made, key=lambda s: (run_bucket(s.seller_id), s.seller_id))
    ]
    assert everyone[0] == made[[s.seller_id for s in made].index(everyone[0].seller_id)]
    after = store.sellers.in_buckets(0, 1024, page_cursor(everyone[1].seller_id), 2)
    assert [s.seller_id for s in after] == [s.seller_id for s in everyone[2:4]]
    lo = run_bucket(everyone[0].seller_id)
    assert all(lo <= run_bucket(s.seller_id) < lo + 1 for s in store.sellers.in_buckets(lo, lo + 1, None, 10))


def test_order_lines_events_and_lines_due_for_release(store):
    due = OrderLine(
        "ol-1",
        "s-1",
        "EUR",
        True,
        1000,
        100,
        release_at=AT - timedelta(days=1),
        release_state=ReleaseState.HOLDING,
    )
    later = replace(due, order_line_id="ol-2", release_at=AT + timedelta(days=1))
    event = ReceivedOrderEvent(
        "evt-1", "order_line.delivered", "s-1", "ol-1", "f1", Outcome.PARKED, "waiting", "test", AT
    )

    def body(uow):
        uow.order_lines.put(due)
        uow.order_lines.put(later)
        uow.order_events.add(event)

    store.atomically(body)
    assert store.atomically(lambda uow: uow.order_lines.get("ol-1")) == due
    assert store.due_order_lines(AT, 10) == ["ol-1"]
    store.atomically(lambda uow: uow.order_events.resolve("evt-1", Outcome.APPLIED, None, ["e1"], AT))
    resolved = store.atomically(lambda uow: uow.order_events.get("evt-1"))
    assert (resolved.outcome, resolved.reason, resolved.entry_ids, resolved.fingerprint) == (
        Outcome.APPLIED,
        None,
        ("e1",),
        "f1",
    )


# --- payouts and their records -------------------------------------------------------------------------


def test_payouts_are_listed_newest_first_with_filters_and_a_cursor(store):
    made = [payout(f"po_{n}", seller_id=f"s-{n % 2}", at=AT + timedelta(seconds=n))[0] for n in range(5)]
    store.atomically(lambda uow: [uow.payouts.put(p) for p in made])
    page = store.payouts.newest_first(seller_id=None, status=None, run_id=None, limit=2, after=None)
    assert [p.payout_id for p in page] == ["po_4", "po_3"]
    rest = store.payouts.newest_first(
        seller_id=None, status=None, run_id=None, limit=10, after=(page[-1].created_at, page[-1].payout_id)
    )
    assert [p.payout_id for p in rest] == ["po_2", "po_1", "po_0"]
    mine = store.payouts.newest_first(seller_id="s-1", status="pending", run_id=None, limit=10, after=None)
    assert [p.payout_id for p in mine] == ["po_3", "po_1"]


def test_open_payouts_and_paid_ones_due_for_a_return_check(store):
    old, _ = payout("po_old", at=AT - timedelta(hours=2))
    new, _ = payout("po_new", at=AT)
    paid, _ = transition(old, PayoutStatus.PAID, at=AT - timedelta(hours=2), cause="t", actor="t")
    paid = replace(paid, payout_id="po_paid")
    store.atomically(lambda uow: [uow.payouts.put(p) for p in (old, new, paid)])
    assert [p.payout_id for p in store.payouts.open_before(AT - timedelta(hours=1), 10)] == ["po_old"]
    assert [p.payout_id for p in store.payouts.paid_due_for_return_check(AT, 10)] == ["po_paid"]
    store.payouts.reschedule_return_check(paid, None)
    assert store.payouts.paid_due_for_return_check(AT, 10) == []
    assert store.payouts.get("po_paid").return_checks == 1
    store.payouts.flag_stuck("po_old", "stuck", AT)
    assert store.payouts.get("po_old") == old


def test_outbox_events_are_relayed_once(store):
    p, _ = payout()
    store.atomically(lambda uow: uow.outbox.add(payout_event(p, AT)))
    store.atomically(lambda uow: uow.outbox.add(run_completed_event("run-1", {"run_id": "run-1"}, AT)))
    assert sorted(store.outbox.unpublished(10)) == ["po_1-000001", "run-1-completed"]
    assert store.outbox.get("po_1-000001") == payout_event(p, AT)
    assert store.outbox.get("run-1-completed").subject == "run-1"
    store.outbox.mark_published("po_1-000001", AT)
    assert store.outbox.unpublished(10) == ["run-1-completed"] and store.outbox.get("po_1-000001").published


def test_an_idempotency_record_gives_back_the_first_answer_byte_for_byte(store):
    p, _ = payout()
    store.atomically(
        lambda uow: uow.idempotency.add(IdempotencyRecord("k1", "fp", p, None, AT, AT + timedelta(days=90)))
    )
    refusal = Refusal(
        "insufficient_available_balance", "amount 9000 exceeds the available 5000", "amount.amount"
    )
    store.atomically(lambda uow: uow.idempotency.add(IdempotencyRecord("k2", "fp", None, refusal, AT, AT)))
    kept = store.atomically(lambda uow: (uow.idempotency.get("k1"), uow.idempotency.get("k2")))
    assert kept[0].payout == p and kept[1].refusal == refusal and kept[0].fingerprint == "fp"
    for first, record in (
        (PayoutRequestOutcome(p, None, False), kept[0]),
        (PayoutRequestOutcome(None, refusal, False), kept[1]),
    ):
        a = payout_request_response(first)
        b = payout_request_response(PayoutRequestOutcome(record.payout, record.refusal, True))
        assert (a.status_code, a.get_data()) == (b.status_code, b.get_data())


def test_provider_events_are_seen_once_applied(store):
    assert not store.atomically(lambda uow: uow.provider_events.seen("sandbox", "evt_1"))
    store.atomically(
        lambda uow: uow.provider_events.add(
            ProviderEventRecord("sandbox", "evt/1", "po_1", "paid", "applied", AT)
        )
    )
    assert store.atomically(lambda uow: uow.provider_events.seen("sandbox", "evt/1"))


# --- runs ------------------------------------------------------------------------------------------------


def test_a_run_is_created_once_and_its_progress_is_the_sum_of_its_counters(store):
    run = new_run(date(2026, 11, 24), dry_run=False, buckets=2, requested_by="t", now=AT)
    assert store.runs.create(run) is None
    assert store.runs.create(replace(run, requested_by="other")) == run
    store.runs.mark_fanned_out(run.run_id, AT)
    assert store.runs.get(run.run_id).status is RunStatus.FANNED_OUT
    pages = [new_page(run.run_id, b, 0, None, AT) for b in range(2)]
    assert [store.runs.create_page(p) for p in pages] == [True, True]
    assert store.runs.create_page(pages[0]) is False
    assert store.runs.get_page(run.run_id, pages[0].page_id) == pages[0]
    p, _ = payout("po_r", run_id=run.run_id)
    item = RunItem(run.run_id, "s-1", "FR", "EUR", AT, payout_id="po_r", amount=3000)
    skipped = RunItem(
        run.run_id, "s-2", "FR", "EUR", AT, skip_reason=SkipReason.BELOW_MINIMUM, detail="small"
    )

    def write(uow):
        uow.runs.put_item(item)
        uow.runs.put_item(skipped)
        uow.runs.count(
            run.run_id, item_change_tally(None, item) + payout_tally(PayoutStatus.PENDING, p.amount), "po_r"
        )
        uow.runs.count(run.run_id, item_change_tally(None, skipped), "s-2")
        uow.runs.count(run.run_id, page_done_tally(), pages[0].page_id)
        uow.runs.put_page(pages[0].done(AT, sellers=2, paid=1, skipped=1))

    store.atomically(write)
    progress = store.runs.progress(run.run_id)
    assert (progress.pages_total, progress.pages_done, progress.sellers_seen) == (2, 1, 2)
    assert progress.payouts_by_status == {"pending": 1} and progress.skip_reasons == {"below_minimum": 1}
    assert progress.amounts_by_currency == {"EUR": {"pending": 3000}}
    assert store.atomically(lambda uow: uow.runs.get_item(run.run_id, "s-1")) == item
    assert (
        store.atomically(lambda uow: uow.runs.get_page(run.run_id, pages[0].page_id)).status
        is PageStatus.DONE
    )
    assert store.runs.items(run.run_id, skip_reason=None, seller_id=None, after=None, limit=10) == [
        item,
        skipped,
    ]
    assert store.runs.items(
        run.run_id, skip_reason=SkipReason.BELOW_MINIMUM, seller_id=None, after=None, limit=10
    ) == [skipped]
    assert store.runs.items(run.run_id, skip_reason=None, seller_id=None, after="s-1", limit=10) == [skipped]
    assert store.runs.items(run.run_id, skip_reason=None, seller_id="s-1", after=None, limit=10) == [item]
    assert [r.run_id for r in store.runs.fanned_out(10)] == [run.run_id]
    assert [
        pg.page_id for pg in store.runs.queued_pages_due_before(run.run_id, AT + timedelta(seconds=1), 10)
    ] == [pages[1].page_id]
    assert store.runs.queued_pages_due_before(run.run_id, AT, 10) == []
    done = store.runs.get(run.run_id).moved_to(RunStatus.COMPLETED, AT)
    store.atomically(lambda uow: uow.runs.put(done))
    assert store.runs.get(run.run_id) == done and store.runs.fanned_out(10) == []


def test_a_page_is_finished_and_counted_done_once_without_reading_it(store):
    run = new_run(date(2026, 11, 25), dry_run=False, buckets=1, requested_by="t", now=AT)
    store.runs.create(run)
    page = new_page(run.run_id, 0, 0, None, AT)
    store.runs.create_page(page)
    done = page.done(AT, sellers=3, paid=2, skipped=1)
    assert store.runs.finish_page(done) is True
    assert store.runs.finish_page(done) is False  # a duplicate task: nothing written, nothing counted
    assert store.runs.get_page(run.run_id, page.page_id) == done
    progress = store.runs.progress(run.run_id)
    assert (progress.pages_total, progress.pages_done) == (1, 1)
