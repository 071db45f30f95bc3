"""Scheduled triggers (Pub/Sub): start a payout run, and sweep stuck payouts.

A run message is ``{"run_date": "YYYY-MM-DD", "dry_run": false}``; Cloud Scheduler sends it,
and any duplicate finds the run already there. A message that can never be valid is logged,
stored and acknowledged.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import functions_framework
from cloudevents.http.event import CloudEvent

from shared import log, monitoring
from shared.domain.runs import RunDateNotBegun
from shared.domain.validation import StrictModel, parse_payload
from shared.entrypoints import deps
from shared.entrypoints.pubsub_trigger import in_message_trace, open_message, parse_tick
from shared.settings import get_settings
from shared.usecases import payout_runs as runs
from shared.usecases.dead_letters import record_poison

logger = logging.getLogger(__name__)


class RunMessage(StrictModel):
    run_date: date | None = None  # omitted: today (UTC)
    dry_run: bool = False


@functions_framework.cloud_event
@in_message_trace
def payout_runs(cloud_event: CloudEvent) -> None:
    opened = open_message(
        cloud_event,
        source="payout-runs",
        parse=_run_message,
        invalid_code="invalid_message",
        invalid_reason="not a run request",
    )
    if opened is None:
        return
    message, request = opened
    with log.bind(message_id=message.message_id):
        try:
            runs.start_run(
                deps.payout_service(),
                request.run_date or datetime.now(UTC).date(),
                dry_run=request.dry_run,
                requested_by=f"pubsub:{message.message_id}",
            )
        except RunDateNotBegun as exc:
            # Never valid as sent (a live run of a date not begun anywhere): kept, acknowledged.
            record_poison(
                deps.store(),
                source="payout-runs",
                message_id=message.message_id,
                code=exc.code,
                reason=exc.message,
                details=[{"field": exc.field or "$", "reason": exc.message}],
                payload=message.data,
            )


def _run_message(data: bytes) -> RunMessage:
    return parse_payload(RunMessage, data or b"{}")


@functions_framework.cloud_event
@in_message_trace
def payout_sweeper(cloud_event: CloudEvent) -> None:
    """Resolve stuck payouts, relay unpublished events, and complete finished runs."""
    opened = open_message(
        cloud_event,
        source="payout-sweeper",
        parse=parse_tick,
        invalid_code="invalid_message",
        invalid_reason="not a tick",
    )
    if opened is None:
        return
    settings = get_settings()
    svc = deps.payout_service()
    with log.bind(message_id=opened[0].message_id):
        monitoring.sweep_done(svc.sweep())
        runs.complete_runs(svc)
        monitoring.report_overdue_runs(svc.store.runs, datetime.now(UTC), settings.run_deadline_seconds)
        monitoring.report_awaiting_funding(svc.store.runs)
        # The SEPA bank-file rail: close the open batches and write their files (the tick is
        # the writer's schedule: shared/usecases/bank_transfers.py).
        deps.bank_file_writer().run()
