"""Through the running stack: a live run for a date not begun anywhere is refused (HTTP and
Pub/Sub) and never takes that date's run; an on-demand payout over the limit of one payout is a
422 naming the field (issue 13, items 1 and 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.firestore_store import DEAD_LETTERS
from shared.topology import TOPIC_PAYOUT_RUNS
from tests.e2e.conftest import eventually
from tests.e2e.test_payouts import fund

pytestmark = pytest.mark.e2e


def a_future_date() -> str:
    """Days ahead of every timezone, different each session."""
    return (datetime.now(UTC).date() + timedelta(days=3 + uuid.uuid4().int % 3000)).isoformat()


def test_a_live_run_for_a_date_not_begun_anywhere_is_refused_and_a_dry_run_is_not(ops):
    run_date = a_future_date()
    refused = ops.call("POST", "payouts-api", "/runs", {"run_date": run_date})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "run_date_not_begun" and error["details"][0]["field"] == "run_date"
    assert ops.call("GET", "payouts-api", f"/runs/run-{run_date}").status_code == 404
    dry = ops.call("POST", "payouts-api", "/runs", {"run_date": run_date, "dry_run": True})
    assert dry.status_code == 202 and dry.json()["run_id"].startswith(f"dry-{run_date}-")
    assert ops.call("GET", "payouts-api", f"/runs/run-{run_date}").status_code == 404
    assert ops.call("POST", "payouts-api", "/runs", {"run_date": run_date}).status_code == 422


def test_a_run_message_for_a_date_not_begun_anywhere_is_kept_as_poison_and_acknowledged(ops, stack_store):
    run_date = a_future_date()
    message_id = ops.publish(TOPIC_PAYOUT_RUNS, {"run_date": run_date})
    letter = eventually(lambda: stack_store.get(DEAD_LETTERS, f"payout-runs-{message_id}"))
    assert letter["code"] == "run_date_not_begun" and letter["details"][0]["field"] == "run_date"
    assert ops.call("GET", "payouts-api", f"/runs/run-{run_date}").status_code == 404


def test_an_on_demand_payout_over_the_limit_of_one_payout_is_refused_with_its_field(client, uid):
    seller = f"s-{uid}"
    fund(client, seller)
    body = {"seller_id": seller, "amount": {"amount": 5_000_001, "currency": "EUR"}}
    headers = {"Idempotency-Key": f"limit-{uid}"}
    first = client.call("POST", "payouts-api", "/payouts", body, headers=headers)
    again = client.call("POST", "payouts-api", "/payouts", body, headers=headers)
    assert first.status_code == again.status_code == 422
    assert first.content == again.content  # the replay is the first answer, byte for byte
    error = first.json()["error"]
    assert error["code"] == "amount_over_limit" and error["details"][0]["field"] == "amount.amount"
