"""What each payout pays for, recorded with the payout (issue 18 part B), on the fakes: run and
on-demand payouts store their contents and the seller's checkpoint in the same unit of work; a
failed, canceled or returned payout's lines come back in the next payout; the contents always
sum to the amount, whatever the history (a property test)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.money import Money
from shared.domain.payout_contents import ContentKind, LeftReason
from shared.domain.payouts import FailureCode, PayoutStatus, run_payout_id
from shared.usecases import payout_runs as runs
from tests.unit.usecases.conftest import NOW, ONBOARDED, make_world
from tests.unit.usecases.test_runs import drain

EUR = "EUR"
MINIMUM = 1000  # France's smallest payout


def sell(world, seller_id, line, gross, commission, at):
    money = {
        "gross": {"amount": gross, "currency": EUR},
        "commission": {"amount": commission, "currency": EUR},
    }
    world.event(seller_id, "paid", money, line, at=at)
    world.event(seller_id, "return_window_closed", {"closed_at": at.isoformat()}, line, at=at)


def refund(world, seller_id, line, amount, refund_id, at):
    data = {"refund_id": refund_id, "amount": {"amount": amount, "currency": EUR}}
    return world.event(seller_id, "refunded", data, line, at=at)


def on_demand(world, seller_id, amount, key, at):
    outcome = world.svc.request_payout(
        caller="ops@example.com", idempotency_key=key, seller_id=seller_id, amount=Money(amount, EUR), now=at
    )
    assert outcome.payout is not None, outcome.refusal
    return outcome.payout


def settle(world, payout, status, at, code=None):
    world.svc.apply_state(
        payout.payout_id,
        status,
        cause="test",
        actor="test",
        provider_ref="tr_1",
        failure_code=code,
        now=at,
    )


def lines(world, payout_id):
    contents = world.store.contents.of_payout(payout_id)
    assert contents is not None
    return [(line.kind.value, line.order_line_id, line.amount.amount) for line in contents.lines()]


def test_an_on_demand_payout_records_the_sales_and_commissions_it_pays(world):
    world.seller("s-1")
    sell(world, "s-1", "phone", 30000, 3000, ONBOARDED)
    sell(world, "s-1", "case", 2000, 200, ONBOARDED + timedelta(minutes=1))
    payout = on_demand(world, "s-1", 28800, "k-00000001", NOW)
    assert lines(world, payout.payout_id) == [
        ("sale", "phone", 30000),
        ("commission", "phone", -3000),
        ("sale", "case", 2000),
        ("commission", "case", -200),
    ]
    checkpoint = world.store.t.settlements[("s-1", EUR)]
    assert checkpoint.open_groups == () and checkpoint.through is not None and checkpoint.through[0] == NOW


def test_a_partial_payout_leaves_the_rest_for_later_and_the_next_shows_what_was_paid_earlier(world):
    world.seller("s-1")
    sell(world, "s-1", "cable", 20000, 2000, ONBOARDED)
    first = on_demand(world, "s-1", 13000, "k-00000001", NOW)
    assert lines(world, first.payout_id) == [
        ("sale", "cable", 20000),
        ("commission", "cable", -2000),
        ("left_for_later", "cable", -5000),
    ]
    assert world.store.contents.of_payout(first.payout_id).left_reason is LeftReason.PARTIAL_AMOUNT
    second = on_demand(world, "s-1", 5000, "k-00000002", NOW + timedelta(hours=1))
    assert lines(world, second.payout_id) == [
        ("sale", "cable", 20000),
        ("commission", "cable", -2000),
        ("paid_earlier", "cable", -13000),
    ]


def test_a_run_payout_records_its_contents_in_the_same_unit_of_work(world):
    world.seller("s-1")
    sell(world, "s-1", "phone", 30000, 3000, ONBOARDED)
    run_id = runs.start_run(
        world.svc, NOW.date(), dry_run=False, requested_by="test", now=NOW
    ).progress.run.run_id
    drain(world)
    payout = world.store.payouts.get(run_payout_id(run_id, "s-1"))
    assert payout is not None and payout.origin == "run"
    assert lines(world, payout.payout_id) == [("sale", "phone", 30000), ("commission", "phone", -3000)]


def test_a_failed_payout_gives_back_its_lines_and_the_next_payout_shows_them_again(world):
    world.seller("s-1")
    sell(world, "s-1", "phone", 30000, 3000, ONBOARDED)
    first = on_demand(world, "s-1", 27000, "k-00000001", NOW)
    settle(world, first, PayoutStatus.FAILED, NOW + timedelta(minutes=5), FailureCode.DECLINED)
    second = on_demand(world, "s-1", 27000, "k-00000002", NOW + timedelta(hours=1))
    assert lines(world, second.payout_id) == lines(world, first.payout_id)
    contents = world.store.contents.of_payout(second.payout_id)
    assert {line.reopened_from for line in contents.lines()} == {first.payout_id}


def test_a_returned_payout_moves_the_same_contents_back(world):
    world.seller("s-1")
    sell(world, "s-1", "phone", 30000, 3000, ONBOARDED)
    sell(world, "s-1", "case", 2000, 200, ONBOARDED + timedelta(minutes=1))
    first = on_demand(world, "s-1", 28800, "k-00000001", NOW)
    settle(world, first, PayoutStatus.PROCESSING, NOW + timedelta(minutes=1))
    settle(world, first, PayoutStatus.PAID, NOW + timedelta(minutes=2))
    settle(world, first, PayoutStatus.RETURNED, NOW + timedelta(days=2))
    sell(world, "s-1", "cable", 1000, 100, NOW + timedelta(days=3))
    second = on_demand(world, "s-1", 29700, "k-00000002", NOW + timedelta(days=4))
    assert lines(world, second.payout_id) == [
        *lines(world, first.payout_id),
        ("sale", "cable", 1000),
        ("commission", "cable", -100),
    ]


def test_a_refund_after_payout_is_a_debt_netted_first_from_the_next_payout(world):
    world.seller("s-1")
    sell(world, "s-1", "phone", 30000, 3000, ONBOARDED)
    first = on_demand(world, "s-1", 27000, "k-00000001", NOW)
    settle(world, first, PayoutStatus.PROCESSING, NOW + timedelta(minutes=1))
    settle(world, first, PayoutStatus.PAID, NOW + timedelta(minutes=2))
    refund(world, "s-1", "phone", 15000, "r-1", NOW + timedelta(days=1))
    sell(world, "s-1", "cable", 20000, 2000, NOW + timedelta(days=2))
    second = on_demand(world, "s-1", 4000, "k-00000002", NOW + timedelta(days=3))
    contents = world.store.contents.of_payout(second.payout_id)
    assert lines(world, second.payout_id) == [
        ("refund", "phone", -15000),
        ("commission_returned", "phone", 1500),
        ("sale", "cable", 20000),
        ("commission", "cable", -2000),
        ("left_for_later", "cable", -500),
    ]
    assert [line.owed for line in contents.lines()][:2] == [True, True]


def test_an_entry_committed_behind_the_checkpoint_is_found_by_replaying_the_whole_journal(world):
    """A release written with an earlier time than the last payout (its transaction started first
    and committed after): the incremental read misses it, the balance says so, the whole journal
    is replayed and the payout is still explained to the cent."""
    world.seller("s-1")
    sell(world, "s-1", "phone", 30000, 3000, ONBOARDED)
    on_demand(world, "s-1", 27000, "k-00000001", NOW)
    sell(world, "s-1", "late", 5000, 500, NOW - timedelta(hours=1))  # written "before" the payout
    second = on_demand(world, "s-1", 4500, "k-00000002", NOW + timedelta(hours=1))
    assert lines(world, second.payout_id) == [("sale", "late", 5000), ("commission", "late", -500)]


def test_a_seller_whose_journal_cannot_explain_the_balance_is_paid_from_an_opening_line(world):
    world.seller("s-1")
    sell(world, "s-1", "phone", 30000, 3000, ONBOARDED)
    world.store.t.journal.clear()  # a history lost (entries written before this store kept them)
    payout = on_demand(world, "s-1", 27000, "k-00000001", NOW)
    assert lines(world, payout.payout_id) == [("brought_forward", None, 27000)]


# --- the property: random histories through the use cases ----------------------------------------

ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("sell"), st.integers(100, 50000), st.integers(0, 30)),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100)),
        st.tuples(st.just("pay"), st.integers(1, 100)),
        st.tuples(st.just("settle"), st.sampled_from(["paid", "failed", "canceled", "returned"])),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ACTIONS)
def test_every_payout_s_contents_sum_to_its_amount_through_any_history(actions):
    """Sales, refunds before and after release and after payout, payouts full and partial, paid,
    failed, canceled and returned: every payout's stored contents sum to its amount; a reversal
    moves its contents back and the next full payout shows them again."""
    world = make_world(replay_bodies=False)
    world.seller("s-1")
    at = NOW
    sold: list[tuple[str, int]] = []  # (line, gross)
    open_payouts: list = []
    reversed_lines: set[tuple[str, str | None, int]] = set()
    n = 0
    for action in actions:
        n += 1
        at = at + timedelta(minutes=1)
        if action[0] == "sell":
            _, gross, pct = action
            line = f"ol-{n}"
            sell(world, "s-1", line, gross, gross * pct // 100, at)
            sold.append((line, gross))
        elif action[0] == "refund" and sold:
            _, which, pct = action
            line, gross = sold[which % len(sold)]
            refund(world, "s-1", line, max(gross * pct // 100, 1), f"r-{n}", at)  # may be rejected: too much
        elif action[0] == "pay":
            available = world.available("s-1")
            if available < MINIMUM:
                continue
            amount = max(available * action[1] // 100, MINIMUM)
            payout = on_demand(world, "s-1", amount, f"key-{n:08d}", at)
            contents = world.store.contents.of_payout(payout.payout_id)
            assert contents is not None and contents.total() == payout.amount
            if reversed_lines and amount == available:  # the first payout after a reversal, in full
                shown = {(x.kind.value, x.order_line_id, x.amount.amount) for x in contents.lines()}
                assert reversed_lines <= shown
            reversed_lines = set()
            open_payouts.append(payout)
        elif action[0] == "settle" and open_payouts:
            payout = open_payouts.pop(0)
            outcome = action[1]
            if outcome == "canceled":
                world.svc.cancel(payout.payout_id, actor="test", now=at)
            elif outcome == "failed":
                settle(world, payout, PayoutStatus.FAILED, at, FailureCode.DECLINED)
            else:
                settle(world, payout, PayoutStatus.PROCESSING, at)
                settle(world, payout, PayoutStatus.PAID, at + timedelta(seconds=1))
                if outcome == "returned":
                    settle(world, payout, PayoutStatus.RETURNED, at + timedelta(seconds=2))
            if outcome != "paid":
                contents = world.store.contents.of_payout(payout.payout_id)
                reversed_lines |= {
                    (x.kind.value, x.order_line_id, x.amount.amount)
                    for x in contents.lines()
                    if x.kind not in (ContentKind.PAID_EARLIER, ContentKind.LEFT_FOR_LATER)
                }
    # The checkpoint is in step with the balance at the end.
    for payout_id, contents in world.store.t.contents.items():
        assert contents.total() == world.store.payouts.get(payout_id).amount
