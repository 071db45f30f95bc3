"""One trace per payout, read back from the local stack's span files (.local/traces/): from the
request (or the run's shard task) to ``paid``, across the transfer task, the provider call, the
provider's webhook and the Pub/Sub publishes; and the log lines name that trace."""

from __future__ import annotations

import json
import random
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import tracing
from shared.domain.countries import load_country_rules
from shared.domain.schedule import is_business_day
from tests.e2e.conftest import eventually
from tests.e2e.test_payouts import fund, sandbox_faults, settled

__all__ = ["sandbox_faults"]

pytestmark = pytest.mark.e2e
CALLER_TRACE = uuid.uuid4().hex
CALLER_SPAN = uuid.uuid4().hex[:16]


def spans_of(stack: Any, trace_id: str) -> list[dict[str, Any]]:
    return tracing.trace_of(tracing.read_spans(Path(stack.state_dir) / "traces"), trace_id)


def named(spans: list[dict[str, Any]], name: str, **attributes: str) -> list[dict[str, Any]]:
    return [
        s
        for s in spans
        if s["name"] == name and all(s["attributes"].get(k) == v for k, v in attributes.items())
    ]


def assert_connected(spans: list[dict[str, Any]], root_parent: str | None) -> None:
    """Every span's parent is a span of the trace, or the trace's own root parent."""
    ids = {s["span_id"] for s in spans}
    for s in spans:
        assert s["parent_span_id"] in ids or s["parent_span_id"] == root_parent, s


def test_an_on_demand_payout_is_one_trace_from_its_request_to_paid(
    stack, client, stack_store, uid, sandbox_faults
):
    sandbox_faults()
    seller = f"tr-{uid}"
    fund(client, seller)
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    # The marketplace's own trace context is continued: send one.
    resp = client.call(
        "POST",
        "payouts-api",
        "/payouts",
        {"seller_id": seller, "amount": {"amount": 10000, "currency": "EUR"}},
        headers={"Idempotency-Key": f"traced-{uid}", "traceparent": traceparent},
    )
    assert resp.status_code == 201, resp.text
    payout_id = resp.json()["payout_id"]
    settled(client, payout_id, "paid")
    stored = stack_store.get_payout(payout_id).trace_context
    assert tracing.trace_id_of(stored) == CALLER_TRACE, "the payout stores the request's trace"

    def complete() -> list[dict[str, Any]] | None:
        spans = spans_of(stack, CALLER_TRACE)
        webhook = named(spans, "sandbox webhook", **{"payout.status": "paid"})
        published = {
            s["attributes"].get("cloudevents.event_type") for s in named(spans, "payout-events publish")
        }
        ok = webhook and {"payout.created", "payout.processing", "payout.paid"} <= published
        return spans if ok else None

    spans = eventually(complete, timeout=30)
    by_service = {(s["service"], s["name"]) for s in spans}
    assert ("payouts-api", "POST /payouts") in by_service
    assert ("payouts-api", "payout-transfers enqueue") in by_service
    assert ("transfer-worker", "payout-transfers process") in by_service
    assert ("transfer-worker", "sandbox create_transfer") in by_service
    assert ("provider-webhook", "sandbox webhook") in by_service
    assert_connected(spans, root_parent=CALLER_SPAN)
    # The webhook arrived with no trace context: it joined the one stored on the payout, and
    # stays linked to the request it came in.
    (webhook,) = named(spans, "sandbox webhook", **{"payout.status": "paid"})
    assert webhook["links"], "linked to the webhook's own request span"
    transfer = named(spans, "sandbox create_transfer")[0]
    assert transfer["attributes"]["payout.id"] == payout_id and transfer["attributes"]["outcome"] == "ok"

    # The webhook's log lines name the same trace, in the field Cloud Logging links.
    def logged() -> bool:
        lines = (Path(stack.state_dir) / "logs" / "provider-webhook.log").read_text().splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{") and payout_id in line]
        return any(
            e.get("logging.googleapis.com/trace", "").endswith(f"/traces/{CALLER_TRACE}") for e in entries
        )

    eventually(logged, timeout=10)


def a_run_date(seed: str) -> date:
    rules = load_country_rules().get("FR")
    day = date(2020, 3, 2) + timedelta(days=random.Random(seed).randrange(1800))
    while not is_business_day(rules, day):
        day -= timedelta(days=1)
    return day


def test_each_payout_of_a_run_has_a_trace_of_its_own_linked_to_its_shard(
    stack, client, ops, stack_store, uid, sandbox_faults
):
    sandbox_faults()
    seller = f"trr-{uid}"
    fund(client, seller)
    assert (
        client.call(
            "PATCH", "sellers-api", f"/sellers/{seller}", {"payout_schedule": {"interval": "daily"}}
        ).status_code
        == 200
    )
    run = ops.call("POST", "payouts-api", "/runs", {"run_date": a_run_date(uid).isoformat()}).json()
    payout = eventually(
        lambda: next(
            iter(ops.call("GET", "payouts-api", f"/payouts?seller_id={seller}").json()["data"]), None
        ),
        timeout=60,
    )
    assert payout["run_id"] == run["run_id"]
    settled(client, payout["payout_id"], "paid")
    trace_id = tracing.trace_id_of(stack_store.get_payout(payout["payout_id"]).trace_context)
    assert trace_id

    def complete() -> list[dict[str, Any]] | None:
        spans = spans_of(stack, trace_id)
        return spans if named(spans, "sandbox webhook", **{"payout.status": "paid"}) else None

    spans = eventually(complete, timeout=30)
    (root,) = named(spans, "payout created", **{"payout.id": payout["payout_id"]})
    assert root["parent_span_id"] is None and root["service"] == "run-shard-worker"
    (link,) = root["links"]
    shard = [
        s
        for s in tracing.trace_of(tracing.read_spans(Path(stack.state_dir) / "traces"), link["trace_id"])
        if s["span_id"] == link["span_id"]
    ]
    assert shard and shard[0]["service"] == "run-shard-worker", "linked to the shard task that made it"
    assert link["trace_id"] != trace_id, "the run's trace is not the payout's"
    services = {s["service"] for s in spans}
    assert {"run-shard-worker", "transfer-worker", "provider-webhook"} <= services
    assert_connected(spans, root_parent=None)
