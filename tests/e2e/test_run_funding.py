"""A live run the platform cannot fund, through the running stack (issue 16, section 3): the
sandbox's funds in EUR are set below what the run needs, so the run's funding check holds it
(`GET /runs/{id}` shows `awaiting_funding` with the shortfall; `payout_run.awaiting_funding` is in
the outbox); its payouts stay pending, with no transfer at the rail, through sweeps; treasury tops
up, the next sweep releases the run (`payout_run.funded`), and every payout is paid once."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta

import pytest

from shared.domain.countries import load_country_rules
from shared.domain.schedule import is_business_day
from shared.topology import TOPIC_SWEEPER
from tests.e2e.conftest import eventually
from tests.e2e.test_payouts import assert_books_agree
from tests.e2e.test_rail_routes import onboard_and_fund

pytestmark = pytest.mark.e2e
WELL_FUNDED = 10**13


def a_run_date(seed: str) -> date:
    """A past French business day of this test's own (every live run takes its date once)."""
    rules = load_country_rules().get("FR")
    day = date(2019, 3, 4) + timedelta(days=random.Random(f"funding-{seed}").randrange(300))
    while not is_business_day(rules, day):
        day -= timedelta(days=1)
    return day


def test_a_short_funded_run_waits_for_funds_then_pays_each_seller_once(stack, client, ops, stack_store, uid):
    sellers = [f"fund-{n}-{uid}" for n in range(2)]
    for seller_id in sellers:
        onboard_and_fund(client, seller_id, "FR", 80_000, payout_schedule={"interval": "daily"})
    ops.sandbox("POST", "/v1/_funding", {"currency": "EUR", "balance": 1})
    try:
        run_date = a_run_date(uid).isoformat()
        run_id = f"run-{run_date}"
        assert ops.call("POST", "payouts-api", "/runs", {"run_date": run_date}).status_code in (200, 202)

        def run() -> dict:
            return dict(ops.call("GET", "payouts-api", f"/runs/{run_id}").json())

        held = eventually(
            lambda: (r := run()).get("funding", {}).get("state") == "awaiting_funding" and r, 60
        )
        [eur] = [x for x in held["funding"]["lines"] if x["rail"] == "sandbox" and x["currency"] == "EUR"]
        assert eur["available"] == 1 and eur["shortfall"] == eur["needed"] - 1 and eur["payouts"] >= 2
        assert (
            stack_store.get("outbox", f"{run_id}-awaiting_funding-0001")["type"]
            == "payout_run.awaiting_funding"
        )

        def ours() -> list[dict]:
            found = [
                client.call("GET", "payouts-api", f"/payouts?seller_id={s}&run_id={run_id}").json()["data"]
                for s in sellers
            ]
            return [p for page in found for p in page]

        assert [p["status"] for p in ours()] == ["pending", "pending"]
        ops.publish(TOPIC_SWEEPER, {"reason": "test_run_funding: still short"})
        time.sleep(3)
        assert run()["funding"]["state"] == "awaiting_funding"
        for payout in ours():  # nothing reached the rail
            assert ops.sandbox("GET", f"/v1/transfers?reference={payout['payout_id']}").json()["data"] == []
    finally:
        ops.sandbox("POST", "/v1/_funding", {"currency": "EUR", "balance": WELL_FUNDED})

    ops.publish(TOPIC_SWEEPER, {"reason": "test_run_funding: funded"})
    funded = eventually(lambda: (r := run())["funding"]["state"] == "released" and r, 60)
    assert funded["funding"]["awaiting_since"] is None
    assert stack_store.get("outbox", f"{run_id}-funded-{funded['funding']['checks']:04d}")["type"] == (
        "payout_run.funded"
    )
    paid = eventually(lambda: (p := ours()) and all(x["status"] == "paid" for x in p) and p, 90)
    for payout in paid:
        assert len(ops.sandbox("GET", f"/v1/transfers?reference={payout['payout_id']}").json()["data"]) == 1
    for seller_id in sellers:
        assert_books_agree(stack_store, seller_id)
