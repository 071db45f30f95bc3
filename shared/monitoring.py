"""Operational metrics, as structured log lines that Cloud Monitoring counts.

Each metric line is one JSON log entry with an ``event`` field and the fields the log-based
metrics of ``infra/monitoring.tf`` extract (labels and values). Why log lines and not
OpenTelemetry metrics: a function instance is frozen between requests and may vanish at any
time, so a periodic metric exporter loses or delays points, and writes one time series per
instance; a log line is written with the request that caused it, and Cloud Logging turns it
into a metric with no exporter at all. ``tests/infra/test_monitoring.py`` checks that every
field a metric reads is one the code emits here.

Events (name: fields):

- ``payout_status_changed``: payout_id, run_id, payout_status, currency, amount, rail,
  failure_code, settle_seconds (creation to a final state). One per status event published
  (the outbox relay: a republished event counts twice, which is rare).
- ``run_completed``: run_id, run_duration_seconds, run_deadline_seconds, dry_run.
- ``run_overdue``: run_id, run_status, run_age_seconds, run_deadline_seconds (each sweep).
- ``payout_sweep``: stuck_payouts (open too long and unresolved), requeued, resolved, relayed.
- ``provider_call``: provider, operation, outcome (ok, rejected, unavailable, unknown,
  not_found), latency_ms, failure_code.
- ``provider_webhook``: provider, outcome (accepted, rejected), payout_status,
  webhook_lag_seconds.
- Dead letters are the lines ``shared/usecases/dead_letters.record_poison`` writes (field
  ``poison_code``).
- ``reconciliation_break``: break_id, break_class, provider (the rail), explained (``false``:
  a new break no known cause explains yet), currency, amount. One per
  ``reconciliation.break_found`` event published (shared/usecases/reconciliation.py).
- ``run_awaiting_funding``: run_id, provider (the rail), currency, shortfall, needed,
  available. One per short rail and currency when ``payout_run.awaiting_funding`` is published,
  and again at each sweep while the run waits (``report_awaiting_funding``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.pubsub import Publisher
from shared.domain.run_funding import FundingState, line_to_dict
from shared.domain.runs import RunStatus
from shared.usecases.ports import RunStore

logger = logging.getLogger("payouts.monitoring")

PAYOUT_STATUS_CHANGED = "payout_status_changed"
RUN_COMPLETED = "run_completed"
RUN_OVERDUE = "run_overdue"
PAYOUT_SWEEP = "payout_sweep"
PROVIDER_CALL = "provider_call"
PROVIDER_WEBHOOK = "provider_webhook"
RECONCILIATION_BREAK = "reconciliation_break"  # one per reconciliation.break_found event published
RUN_AWAITING_FUNDING = "run_awaiting_funding"  # a live run held by its funding check (run_funding.py)

FINAL_STATUSES = frozenset({"paid", "failed", "returned", "canceled"})
OPEN_RUN_STATUSES = (RunStatus.PLANNING, RunStatus.FANNED_OUT)


def emit(event: str, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """One metric line: ``event`` plus ``fields`` at the top of the JSON payload."""
    logger.log(level, message, extra={"fields": {"event": event, **fields}})


def _seconds_between(start: Any, end: Any) -> float | None:
    try:
        a = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        b = end if isinstance(end, datetime) else datetime.fromisoformat(str(end))
    except (TypeError, ValueError):
        return None
    if (a.tzinfo is None) != (b.tzinfo is None):
        return None
    return round((b - a).total_seconds(), 3)


def payout_status_changed(data: dict[str, Any]) -> None:
    """A payout's status event (``payout_event_data``) left through the outbox."""
    status = str(data.get("status"))
    final = status in FINAL_STATUSES
    settle = _seconds_between(data.get("created_at"), data.get("updated_at")) if final else None
    emit(
        PAYOUT_STATUS_CHANGED,
        f"payout {status}",
        payout_id=data.get("payout_id"),
        run_id=data.get("run_id"),
        payout_status=status,
        currency=data.get("currency"),
        amount=data.get("amount"),
        rail=data.get("provider") or "unknown",
        failure_code=data.get("failure_code"),
        settle_seconds=settle,
    )


def run_completed(data: dict[str, Any], completed_at: str | None, deadline_seconds: int) -> None:
    duration = _seconds_between(data.get("created_at"), completed_at)
    emit(
        RUN_COMPLETED,
        f"run {data.get('run_id')} completed",
        run_id=data.get("run_id"),
        run_duration_seconds=duration,
        run_deadline_seconds=deadline_seconds,
        dry_run=bool(data.get("dry_run")),
    )


def sweep_done(counts: dict[str, int]) -> None:
    """One line per sweep: ``stuck_payouts`` stays above zero while payouts stay stuck."""
    emit(
        PAYOUT_SWEEP,
        "sweep done",
        stuck_payouts=int(counts.get("flagged", 0)),
        requeued=int(counts.get("requeued", 0)),
        resolved=int(counts.get("resolved", 0)),
        relayed=int(counts.get("relayed", 0)),
    )


def report_overdue_runs(runs: RunStore, now: datetime, deadline_seconds: int) -> list[str]:
    """Each sweep, one warning line per live run still open past its deadline (created + deadline)."""
    overdue = []
    cutoff = now - timedelta(seconds=deadline_seconds)
    for status in OPEN_RUN_STATUSES:
        for run in runs.in_status(status, limit=100):
            if run.dry_run or run.created_at > cutoff:
                continue
            overdue.append(run.run_id)
            emit(
                RUN_OVERDUE,
                f"run {run.run_id} is not complete {deadline_seconds} s after it started",
                level=logging.WARNING,
                run_id=run.run_id,
                run_status=status.value,
                run_age_seconds=round((now - run.created_at).total_seconds()),
                run_deadline_seconds=deadline_seconds,
            )
    return overdue


def run_awaiting_funding(run_id: str, lines: list[dict[str, Any]]) -> None:
    """One warning line per rail and currency a held run is short at."""
    for line in lines:
        if not line.get("shortfall"):
            continue
        emit(
            RUN_AWAITING_FUNDING,
            f"run {run_id} awaits funding: {line.get('currency')} short at {line.get('rail')}",
            level=logging.WARNING,
            run_id=run_id,
            provider=line.get("rail"),
            currency=line.get("currency"),
            shortfall=line.get("shortfall"),
            needed=line.get("needed"),
            available=line.get("available"),
        )


def report_awaiting_funding(runs: RunStore) -> list[str]:
    """Each sweep, the lines of every live run its funding check holds: the alert stays open
    while a run waits, and closes once it is funded."""
    waiting = []
    for run in runs.in_status(RunStatus.FANNED_OUT, limit=100):
        if run.funding is None or run.funding.state is not FundingState.AWAITING_FUNDING:
            continue
        waiting.append(run.run_id)
        run_awaiting_funding(run.run_id, [line_to_dict(line) for line in run.funding.short_lines])
    return waiting


def provider_call(
    provider: str, operation: str, outcome: str, latency_ms: float, failure_code: str | None = None
) -> None:
    level = logging.WARNING if outcome in ("unavailable", "unknown") else logging.INFO
    emit(
        PROVIDER_CALL,
        f"{provider} {operation}: {outcome}",
        level=level,
        provider=provider,
        operation=operation,
        outcome=outcome,
        latency_ms=round(latency_ms, 1),
        failure_code=failure_code,
    )


def provider_webhook(provider: str, outcome: str, status: str | None, lag_seconds: float | None) -> None:
    emit(
        PROVIDER_WEBHOOK,
        f"{provider} webhook {outcome}",
        level=logging.INFO if outcome == "accepted" else logging.WARNING,
        provider=provider,
        outcome=outcome,
        payout_status=status,
        webhook_lag_seconds=lag_seconds,
    )


def reconciliation_break(data: dict[str, Any]) -> None:
    """A break reconciliation found (its event is published once per break)."""
    emit(
        RECONCILIATION_BREAK,
        f"reconciliation break {data.get('break_id')}: {data.get('class')} on {data.get('rail')}",
        level=logging.WARNING,
        break_id=data.get("break_id"),
        break_class=data.get("class"),
        provider=data.get("rail"),
        explained="false",
        currency=data.get("currency"),
        amount=data.get("amount"),
    )


class ObservedPublisher(Publisher):
    """The Pub/Sub publisher, plus one metric line per status event it publishes: every status
    change of a payout leaves through the outbox relay, and its event holds what the metrics
    need (status, currency, amount, rail, creation and change times)."""

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        message_id = super().publish(topic, data, attributes)
        kind = attributes.get("ce-type", "")
        # payout.remittance_ready (issue 18) announces a document, not a status change.
        if (kind.startswith("payout.") and kind != "payout.remittance_ready") or kind in (
            "payout_run.completed",
            "payout_run.awaiting_funding",
            "reconciliation.break_found",
        ):
            try:
                body = json.loads(data)
                if kind == "reconciliation.break_found" and isinstance(body, dict):
                    reconciliation_break(body)
                elif kind == "payout_run.awaiting_funding" and isinstance(body, dict):
                    run_awaiting_funding(str(body.get("run_id")), list(body.get("lines") or []))
                elif kind == "payout_run.completed":
                    run_completed(body, attributes.get("ce-time"), self.settings.run_deadline_seconds)
                elif isinstance(body, dict):
                    payout_status_changed(body)
            except ValueError:
                logger.warning("status event %s not readable for metrics", attributes.get("ce-id"))
        return message_id
