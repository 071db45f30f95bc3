"""Scheduled payout runs against the in-memory store: who is paid and why not, the counters of
progress, completion, the limit of one payout, dry runs and run dates that have not begun."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.domain.eligibility import SkipReason
from shared.domain.payouts import PayoutStatus
from shared.domain.runs import PageStatus, RunDateNotBegun, RunStatus, page_done_tally
from shared.domain.sellers import BankAccountStatus, KycStatus, PayoutHold, SellerPatch
from shared.usecases import payout_runs as runs
from shared.usecases.sellers import update_seller
from tests.unit.usecases.conftest import NOW

TODAY = NOW.date()


def drain(world, now=NOW, include_delayed=False):
    """Run every queued shard task, as Cloud Tasks would (a delayed one only when asked)."""
    done = 0
    while True:
        due = [
            t
            for t in world.tasks.tasks
            if t.function == "run-shard-worker" and (include_delayed or not t.delay_seconds)
        ]
        if not due:
            return done
        task = due[0]
        world.tasks.tasks.remove(task)
        runs.process_page(world.svc, task.payload["run_id"], task.payload["page_id"], now=now)
        done += 1


def items(world, run_id):
    return {i.seller_id: i for (rid, _), i in world.store.t.items.items() if rid == run_id}


def progress(world, run_id):
    return runs.run_progress(world.svc, run_id)


@pytest.fixture
def sellers(world):
    """One seller of each fate on a Tuesday in France."""
    world.seller("paid-1", n=1)
    world.fund("paid-1", 5000)
    world.seller("paid-2", n=2)
    world.fund("paid-2", 7000)
    world.seller("below-min", n=3)
    world.fund("below-min", 500)
    world.seller("nothing", n=4)
    world.seller("kyc", n=5)
    world.fund("kyc", 5000)
    update_seller(world.store, world.registry, "kyc", SellerPatch(kyc_status=KycStatus.PENDING), now=NOW)
    world.seller("held", n=6)
    world.fund("held", 5000)
    update_seller(
        world.store,
        world.registry,
        "held",
        SellerPatch(payout_hold=PayoutHold(held=True, reason="review")),
        now=NOW,
    )
    world.seller("bad-account", n=7)
    world.fund("bad-account", 5000)
    seller = world.store.t.sellers["bad-account"]
    world.store.t.sellers["bad-account"] = replace(
        seller, bank_account_status=BankAccountStatus.INVALID, bank_account_invalid_reason="account_closed"
    )
    world.seller("monday", country="DE", n=8)  # German sellers are paid on Mondays
    world.fund("monday", 5000)
    return world


def test_a_run_pays_the_eligible_and_says_why_not_for_everyone_else(world, sellers):
    started = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW)
    assert started.created and started.progress.run.status is RunStatus.FANNED_OUT
    drain(world)
    run_id = started.progress.run.run_id
    found = items(world, run_id)
    assert {s: (i.skip_reason.value if i.skip_reason else "paid") for s, i in found.items()} == {
        "paid-1": "paid",
        "paid-2": "paid",
        "below-min": "below_minimum",
        "nothing": "no_available_balance",
        "kyc": "kyc_pending",
        "held": "on_hold",
        "bad-account": "bank_account_invalid",
        "monday": "not_a_payout_day",
    }
    p = progress(world, run_id)
    assert p.sellers_seen == 8 and p.all_pages_done
    assert p.payouts_by_status == {"pending": 2}
    assert p.amounts_by_currency == {"EUR": {"pending": 12000}}
    assert p.payouts_by_currency == {"EUR": {"pending": 2}}
    assert p.skip_reasons == {
        "below_minimum": 1,
        "no_available_balance": 1,
        "kyc_pending": 1,
        "on_hold": 1,
        "bank_account_invalid": 1,
        "not_a_payout_day": 1,
    }
    assert sorted(world.tasks.to("transfer-worker"), key=str) == sorted(
        ({"payout_id": i.payout_id} for i in found.values() if i.paid), key=str
    )


def test_the_counters_follow_every_payout_to_its_end_and_complete_the_run(world, sellers):
    run_id = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run.run_id
    drain(world)
    assert runs.complete_runs(world.svc, now=NOW) == []  # payouts still open
    paid = [i.payout_id for i in items(world, run_id).values() if i.paid]
    world.svc.send_transfer(paid[0], now=NOW)
    assert progress(world, run_id).payouts_by_status == {"pending": 1, "processing": 1}
    world.provider.next_create(PayoutStatus.PAID)
    world.svc.send_transfer(paid[1], now=NOW)
    world.svc.apply_state(paid[0], PayoutStatus.RETURNED, cause="bank", actor="test", now=NOW)
    p = progress(world, run_id)
    assert p.payouts_by_status == {"paid": 1, "returned": 1} and p.open_payouts == 0
    assert sum(p.amounts_by_currency["EUR"].values()) == 12000
    assert runs.complete_runs(world.svc, now=NOW) == [run_id]
    assert runs.complete_runs(world.svc, now=NOW) == []
    completed = [e for _, e in world.publisher.events if e.type == "payout_run.completed"]
    assert len(completed) == 1 and completed[0].data["payouts_by_status"] == {"paid": 1, "returned": 1}
    assert world.store.runs.get(run_id).status is RunStatus.COMPLETED


def test_a_cancel_moves_the_counters_too(world, sellers):
    run_id = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run.run_id
    drain(world)
    payout_id = next(i.payout_id for i in items(world, run_id).values() if i.paid)
    world.svc.cancel(payout_id, actor="ops")
    assert progress(world, run_id).payouts_by_status == {"pending": 1, "canceled": 1}


def test_starting_a_run_twice_finds_the_first(world, sellers):
    first = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="a", now=NOW)
    again = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="b", now=NOW)
    assert not again.created and again.progress.run.requested_by == "a"
    assert again.progress.pages_total == first.progress.pages_total == 2
    assert len(world.tasks.to("run-shard-worker")) == 2


def test_a_page_processed_twice_or_again_after_a_crash_counts_once(world, sellers):
    run_id = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run.run_id
    pages = [t.payload["page_id"] for t in world.tasks.tasks if t.function == "run-shard-worker"]
    drain(world)
    before = (progress(world, run_id).tally, dict(world.store.t.payouts), items(world, run_id))
    assert runs.process_page(world.svc, run_id, pages[0], now=NOW).outcome == "duplicate"
    for page_id in pages:  # as if each had crashed before it was marked done (one batch undone)
        page = world.store.t.pages[(run_id, page_id)]
        world.store.t.pages[(run_id, page_id)] = replace(page, status=PageStatus.QUEUED)
        world.store.t.pages_done.discard((run_id, page_id))
        world.store.t.counters[run_id] = world.store.t.counters[run_id] + -page_done_tally()
        runs.process_page(world.svc, run_id, page_id, now=NOW + timedelta(minutes=1))
    after = (progress(world, run_id).tally, dict(world.store.t.payouts), items(world, run_id))
    assert after[0] == before[0] and after[1] == before[1]
    assert {s: (i.payout_id, i.skip_reason) for s, i in after[2].items()} == {
        s: (i.payout_id, i.skip_reason) for s, i in before[2].items()
    }


def test_a_full_page_queues_the_next_one(world):
    for n in range(7):
        world.seller(f"s-{n}", n=n + 1)
        world.fund(f"s-{n}", 2000)
    run_id = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run.run_id
    drain(world)
    p = progress(world, run_id)
    assert p.pages_total > 2 and p.pages_done == p.pages_total
    assert p.payouts_by_status == {"pending": 7} and p.sellers_seen == 7


def test_a_balance_over_the_limit_of_one_payout_is_paid_up_to_it_and_the_rest_waits(world):
    world.seller("big")
    world.fund("big", 3_000_000, line="a")
    world.fund("big", 2_400_000, line="b")
    run_id = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run.run_id
    drain(world)
    item = items(world, run_id)["big"]
    assert (item.amount, item.left_for_next_run, item.left_reason) == (
        5_000_000,
        400_000,
        "max_transaction_amount",
    )
    assert world.balance("big") == (0, 400_000, 5_000_000)
    assert progress(world, run_id).left_for_next_run == {"EUR": 400_000}
    assert world.store.payouts.get(item.payout_id).amount.amount == 5_000_000


def test_a_dry_run_decides_the_same_and_moves_nothing(world, sellers):
    started = runs.start_run(world.svc, TODAY, dry_run=True, requested_by="test", now=NOW)
    run_id = started.progress.run.run_id
    assert run_id.startswith("dry-")
    drain(world)
    p = progress(world, run_id)
    assert p.would_pay == (2, {"EUR": 12000}) and p.payouts_by_status == {}
    assert world.store.t.payouts == {} and world.available("paid-1") == 5000
    assert items(world, run_id)["paid-1"].would_pay == 5000


def test_a_live_run_of_a_date_not_begun_anywhere_is_refused_and_writes_nothing(world, sellers):
    with pytest.raises(RunDateNotBegun) as refused:
        runs.start_run(world.svc, date(2030, 1, 1), dry_run=False, requested_by="test", now=NOW)
    assert refused.value.field == "run_date" and "2026-11-2" in refused.value.message
    assert world.store.t.runs == {} and world.tasks.tasks == []


def test_a_dry_run_of_any_date_never_takes_the_live_runs_id(world, sellers):
    dry = runs.start_run(world.svc, date(2030, 1, 1), dry_run=True, requested_by="test", now=NOW)
    again = runs.start_run(world.svc, date(2030, 1, 1), dry_run=True, requested_by="test", now=NOW)
    assert dry.created and again.created and dry.progress.run.run_id != again.progress.run.run_id
    drain(world)
    assert set(items(world, dry.progress.run.run_id).values()) and "run-2030-01-01" not in world.store.t.runs
    assert {i.skip_reason for i in items(world, dry.progress.run.run_id).values()} == {
        SkipReason.NOT_YET_IN_TIMEZONE
    }
    live_on_the_day = runs.start_run(
        world.svc,
        date(2030, 1, 1),
        dry_run=False,
        requested_by="test",
        now=datetime(2030, 1, 1, 9, tzinfo=UTC),
    )
    assert live_on_the_day.created


def test_sellers_whose_run_date_has_not_begun_are_decided_again_once_it_has(world):
    """Tokyo is already on Wednesday the 25th while Paris and New York are still on the 24th:
    the run of the 25th may start, and pays the others once their 25th has begun."""
    evening = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
    world.seller("jp", country="JP", n=1)  # paid on the 25th of the month
    world.fund("jp", 50000, currency="JPY")
    world.seller("us", country="US", n=2)  # paid every business day
    world.fund("us", 5000, currency="USD")
    started = runs.start_run(world.svc, date(2026, 11, 25), dry_run=False, requested_by="test", now=evening)
    run_id = started.progress.run.run_id
    drain(world, now=evening)
    assert items(world, run_id)["us"].skip_reason is SkipReason.NOT_YET_IN_TIMEZONE
    assert items(world, run_id)["jp"].paid
    p = progress(world, run_id)
    assert not p.all_pages_done and p.skip_reasons == {"not_yet_in_timezone": 1}
    delayed = [t for t in world.tasks.tasks if t.function == "run-shard-worker"]
    assert len(delayed) == 1 and delayed[0].delay_seconds > 4 * 3600  # New York's 25th, 05:00 UTC
    assert runs.complete_runs(world.svc, now=evening) == []
    drain(world, now=datetime(2026, 11, 25, 6, 0, tzinfo=UTC), include_delayed=True)
    assert items(world, run_id)["us"].paid
    p = progress(world, run_id)
    assert p.all_pages_done and p.skip_reasons == {} and p.payouts_by_status == {"pending": 2}
    assert p.sellers_seen == 2


def test_a_page_lost_by_its_queue_is_queued_again_by_the_sweeper(world, sellers):
    runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW)
    world.tasks.tasks.clear()  # the queue gave up on them
    assert runs.complete_runs(world.svc, now=NOW + timedelta(hours=1)) == []
    assert len(world.tasks.to("run-shard-worker")) == 2


def test_run_items_are_listed_by_seller_with_a_filter_and_pages(world, sellers):
    run_id = runs.start_run(world.svc, TODAY, dry_run=False, requested_by="test", now=NOW).progress.run.run_id
    drain(world)
    first = runs.run_items(world.svc, run_id, limit=3)
    assert [i.seller_id for i in first.items] == ["bad-account", "below-min", "held"]
    rest = runs.run_items(world.svc, run_id, after=first.next_after, limit=10)
    assert rest.next_after is None and len(rest.items) == 5
    only = runs.run_items(world.svc, run_id, skip_reason=SkipReason.ON_HOLD)
    assert [i.seller_id for i in only.items] == ["held"]
    with pytest.raises(runs.RunNotFound):
        runs.run_items(world.svc, "run-1999-01-01")
    with pytest.raises(runs.RunNotFound):
        runs.run_progress(world.svc, "nope")
