"""The metric lines Cloud Monitoring counts: one per status change, provider call, webhook,
sweep and run, with the fields infra/monitoring.tf extracts."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from shared import log, monitoring
from shared.adapters import pubsub
from shared.adapters.providers.base import (
    OutcomeUnknown,
    ProviderEvent,
    ProviderUnavailable,
    TransferRejected,
    TransferState,
    WebhookRejected,
)
from shared.adapters.providers.observed import ObservedProvider
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.runs import new_run
from shared.settings import Settings
from tests.fakes.storage import FakeStore


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(log.CloudLoggingFormatter())
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(json.loads(self.format(record)))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("event") == name]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("payouts.monitoring")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def payout_event(status: str, **extra: Any) -> dict[str, Any]:
    created = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    return {
        "payout_id": "po_1",
        "seller_id": "s1",
        "amount": 12345,
        "currency": "EUR",
        "status": status,
        "sequence": 3,
        "run_id": "run-2026-12-01",
        "provider_ref": "tr_1",
        "failure_code": None,
        "updated_at": (created + timedelta(seconds=90)).isoformat(),
        "provider": "sandbox",
        "created_at": created.isoformat(),
        **extra,
    }


def test_a_status_change_is_one_line_with_status_currency_rail_and_settle_time(lines):
    monitoring.payout_status_changed(payout_event("paid"))
    monitoring.payout_status_changed(payout_event("processing"))
    paid, processing = lines.events("payout_status_changed")
    assert paid["payout_status"] == "paid" and paid["currency"] == "EUR" and paid["rail"] == "sandbox"
    assert paid["settle_seconds"] == 90.0 and paid["amount"] == 12345
    assert processing["settle_seconds"] is None, "only a final state is a settlement"


def test_an_event_from_before_these_fields_still_counts(lines):
    old = payout_event("failed", failure_code="account_closed")
    del old["provider"], old["created_at"]
    monitoring.payout_status_changed(old)
    (line,) = lines.events("payout_status_changed")
    assert line["rail"] == "unknown" and line["settle_seconds"] is None
    assert line["failure_code"] == "account_closed"


def test_the_observed_publisher_writes_a_line_per_status_event_it_publishes(lines, monkeypatch):
    monkeypatch.setattr(pubsub.Publisher, "publish", lambda self, topic, data, attributes: "m1")
    publisher = monitoring.ObservedPublisher(Settings(RUN_DEADLINE_SECONDS=3600))
    publisher.publish("payout-events", json.dumps(payout_event("paid")).encode(), {"ce-type": "payout.paid"})
    run = {"run_id": "run-1", "created_at": "2026-12-01T10:00:00+00:00", "dry_run": False}
    publisher.publish(
        "payout-events",
        json.dumps(run).encode(),
        {"ce-type": "payout_run.completed", "ce-time": "2026-12-01T11:30:00+00:00"},
    )
    publisher.publish("order-events", b"not json", {"ce-type": "order_line.paid"})
    assert len(lines.events("payout_status_changed")) == 1
    (completed,) = lines.events("run_completed")
    assert completed["run_duration_seconds"] == 5400.0 and completed["run_deadline_seconds"] == 3600


def test_a_published_break_event_is_one_unexplained_reconciliation_break_line(lines, monkeypatch):
    from shared.domain.reconciliation import Break, MovementClass, break_found_event

    monkeypatch.setattr(pubsub.Publisher, "publish", lambda self, topic, data, attributes: "m1")
    at = datetime(2026, 12, 1, tzinfo=UTC)
    brk = Break("brk_1", "sandbox", MovementClass.UNKNOWN_TO_US, "EUR", 777, None, (), "no payout", at)
    event = break_found_event(brk)
    publisher = monitoring.ObservedPublisher(Settings())
    publisher.publish("payout-events", json.dumps(dict(event.data)).encode(), {"ce-type": event.type})
    (line,) = lines.events("reconciliation_break")
    assert (line["break_class"], line["provider"], line["explained"]) == ("unknown_to_us", "sandbox", "false")
    assert (line["break_id"], line["currency"], line["amount"]) == ("brk_1", "EUR", 777)
    assert line["severity"] == "WARNING"


def test_a_sweep_reports_how_many_payouts_are_stuck(lines):
    monitoring.sweep_done({"requeued": 1, "resolved": 2, "flagged": 3, "relayed": 4, "return_checked": 9})
    (line,) = lines.events("payout_sweep")
    assert (line["stuck_payouts"], line["requeued"], line["resolved"], line["relayed"]) == (3, 1, 2, 4)


def test_runs_open_past_their_deadline_are_reported_each_sweep(lines):
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    store = FakeStore()

    def run(run_id: str, age: timedelta, *, dry_run: bool, fanned_out: bool) -> None:
        made = new_run(date(2026, 12, 1), dry_run=dry_run, buckets=1, requested_by="t", now=now - age)
        made = replace(made, run_id=run_id)
        store.runs.create(made)
        if fanned_out:
            store.runs.mark_fanned_out(run_id, now - age)

    run("late", timedelta(hours=5), dry_run=False, fanned_out=True)
    run("on-time", timedelta(hours=1), dry_run=False, fanned_out=True)
    run("dry", timedelta(hours=9), dry_run=True, fanned_out=False)
    assert monitoring.report_overdue_runs(store.runs, now, 4 * 3600) == ["late"]
    (line,) = lines.events("run_overdue")
    assert line["severity"] == "WARNING" and line["run_age_seconds"] == 5 * 3600


class FakeProvider:
    name = "sandbox"

    def __init__(self, outcome: BaseException | TransferState | None) -> None:
        self.outcome = outcome

    def create_transfer(self, request: Any) -> TransferState:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        assert isinstance(self.outcome, TransferState)
        return self.outcome

    def fetch_transfer(self, reference: str) -> TransferState | None:
        return None

    def parse_webhook(self, headers: Any, body: bytes, now: int) -> ProviderEvent:
        if body == b"bad":
            raise WebhookRejected("signature mismatch")
        state = TransferState("tr_1", "po_1", PayoutStatus.PAID, Money(100, "EUR"))
        return ProviderEvent("evt_1", state, datetime.fromtimestamp(now - 42, UTC))


@pytest.mark.parametrize(
    ("outcome", "expected", "code"),
    [
        (TransferState("tr_1", "po_1", PayoutStatus.PROCESSING, Money(100, "EUR")), "ok", None),
        (TransferRejected(FailureCode.ACCOUNT_CLOSED), "rejected", "account_closed"),
        (ProviderUnavailable("503"), "unavailable", None),
        (OutcomeUnknown("timeout"), "unknown", None),
    ],
)
def test_every_provider_call_is_measured_with_its_outcome(lines, outcome, expected, code):
    provider = ObservedProvider(FakeProvider(outcome))  # type: ignore[arg-type]
    request = SimpleNamespace(payout_id="po_1")
    if isinstance(outcome, BaseException):
        with pytest.raises(type(outcome)):
            provider.create_transfer(request)  # type: ignore[arg-type]
    else:
        provider.create_transfer(request)  # type: ignore[arg-type]
    (line,) = lines.events("provider_call")
    assert (line["provider"], line["operation"], line["outcome"]) == ("sandbox", "create_transfer", expected)
    assert line["failure_code"] == code and line["latency_ms"] >= 0


def test_webhooks_report_their_lag_and_refusals(lines):
    provider = ObservedProvider(FakeProvider(None))  # type: ignore[arg-type]
    provider.parse_webhook({}, b"{}", now=1_800_000_000)
    with pytest.raises(WebhookRejected):
        provider.parse_webhook({}, b"bad", now=1_800_000_000)
    accepted, rejected = lines.events("provider_webhook")
    assert accepted["webhook_lag_seconds"] == 42.0 and accepted["payout_status"] == "paid"
    assert rejected["outcome"] == "rejected" and rejected["severity"] == "WARNING"


def test_a_remittance_advice_event_is_not_counted_as_a_status_change(lines, monkeypatch):
    """payout.remittance_ready (issue 18) carries the paid payout's status but is no change of it."""
    monkeypatch.setattr(pubsub.Publisher, "publish", lambda self, topic, data, attributes: "m1")
    publisher = monitoring.ObservedPublisher(Settings(RUN_DEADLINE_SECONDS=3600))
    body = json.dumps(payout_event("paid")).encode()
    publisher.publish("payout-events", body, {"ce-type": "payout.paid"})
    publisher.publish("payout-events", body, {"ce-type": "payout.remittance_ready"})
    assert len(lines.events("payout_status_changed")) == 1
