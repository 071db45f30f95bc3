"""Issue 17, a property of the use cases on the fakes: random histories of sales in several
currencies, FX payouts (on demand), failures, cancels and returns (in the payout currency or in
the source currency at the rail's own rate) never create or lose a minor unit. After each
history: every entry balances per currency, stored balances equal their postings, money is
conserved per currency with the FX accounts, and a seller whose payouts all came back holds
exactly what it sold, in each currency."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shared.domain.fx import fx_gain_loss_account
from shared.domain.ledger_invariants import money_flows, unknown_accounts
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.usecases.ledger_audit import audit_ledger
from shared.usecases.sellers import expected_next_payout
from tests.unit.usecases.conftest import NOW, make_world
from tests.unit.usecases.test_fx_payouts import LOCAL_RATES

SELLERS = {"se-1": "SE", "hu-1": "HU", "fr-1": "FR"}
HOME = {"SE": "SEK", "HU": "HUF", "FR": "EUR"}

sale = st.tuples(
    st.sampled_from(sorted(SELLERS)), st.sampled_from(["EUR", "GBP", "home"]), st.integers(1_000, 4_000_000)
)
fate = st.sampled_from(["paid", "failed", "canceled", "returned", "returned_in_source"])
payout_step = st.tuples(st.sampled_from(sorted(SELLERS)), st.integers(1, 100), fate, st.integers(-500, 500))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sales=st.lists(sale, min_size=1, max_size=8), payouts=st.lists(payout_step, max_size=6))
def test_fx_payouts_never_create_or_lose_a_minor_unit(sales, payouts):
    world = make_world(replay_bodies=False)
    world.svc.rates = LOCAL_RATES
    for n, (sid, country) in enumerate(sorted(SELLERS.items()), start=1):
        world.seller(sid, country, n)
    sold: dict[tuple[str, str], int] = {}
    for i, (sid, ccy, net) in enumerate(sales):
        currency = HOME[SELLERS[sid]] if ccy == "home" else ccy
        world.fund(sid, net, currency, line=f"line-{i}")
        sold[(sid, currency)] = sold.get((sid, currency), 0) + net
    came_back = {sid: True for sid in SELLERS}
    for i, (sid, percent, end, drift) in enumerate(payouts):
        home = HOME[SELLERS[sid]]
        seller = world.store.sellers.get(sid)
        assert seller is not None
        expected = expected_next_payout(world.store, LOCAL_RATES, seller, NOW).total
        minimum = world.registry.get(SELLERS[sid]).minimum_payout
        ask = max(expected.amount * percent // 100 if expected else 0, minimum)
        outcome = world.svc.request_payout(
            caller="prop",
            idempotency_key=f"key-prop-{i:06d}",
            seller_id=sid,
            amount=Money(ask, home),
            now=NOW,
        )
        payout = outcome.payout
        event("payout" if payout else f"refused: {outcome.refusal and outcome.refusal.code}")
        if payout is None:
            continue
        if payout.conversions:
            event("fx payout")
        pid = payout.payout_id
        if end == "canceled":
            world.svc.cancel(pid, "prop", now=NOW)
            continue
        if end == "failed":
            world.svc.apply_state(
                pid, PayoutStatus.FAILED, cause="p", actor="p", failure_code=FailureCode.DECLINED, now=NOW
            )
            continue
        world.svc.apply_state(pid, PayoutStatus.PAID, cause="p", actor="p", now=NOW)
        if end == "paid":
            came_back[sid] = False
            continue
        back = None
        if (
            end == "returned_in_source"
            and len(payout.conversions) == 1
            and payout.conversions[0].target == payout.amount
        ):
            source = payout.conversions[0].source
            back = Money(max(source.amount + drift, 1), source.currency)
        world.svc.apply_state(
            pid, PayoutStatus.RETURNED, cause="p", actor="p", amount=back, now=NOW + timedelta(days=1)
        )

    report = audit_ledger(world.store)
    assert report.ok, report.problems
    assert not unknown_accounts(report.account_totals)
    for flow in money_flows(report.account_totals, report.stored_balances).values():
        assert flow.conserved, flow
    # A seller none of whose payouts was paid for good holds exactly what it sold, per currency.
    for sid, back in came_back.items():
        if back:
            held = {
                b.currency: b.available + b.pending + b.in_flight for b in world.store.sellers.balances(sid)
            }
            for (seller, currency), net in sold.items():
                if seller == sid:
                    assert held.get(currency, 0) == net, (sid, currency, held, sold)
            assert all(v == 0 for c, v in held.items() if (sid, c) not in sold)
    # Gain/loss only ever comes from returns at the rail's rate.
    gains = [v for (a, _), v in report.account_totals.items() if a.startswith(fx_gain_loss_account(""))]
    assert all(isinstance(v, int) for v in gains)
