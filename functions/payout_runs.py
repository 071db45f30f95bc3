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
from pydantic import ValidationError

from shared import deps, log
from shared.domain.validation import StrictModel, field_errors
from shared.pubsub_auth import require_push_caller
from shared.pubsub_envelope import EnvelopeError, message_from_cloud_event
from shared.settings import get_settings
from shared.usecases import payout_runs as runs
from shared.usecases.dead_letters import record_poison

logger = logging.getLogger(__name__)


class RunMessage(StrictModel):
    run_date: date | None = None  # omitted: today (UTC)
    dry_run: bool = False


@functions_framework.cloud_event
def payout_runs(cloud_event: CloudEvent) -> None:
    settings = get_settings()
    log.configure(settings.log_level)
    require_push_caller(settings)
    store = deps.store()
    try:
        message = message_from_cloud_event(cloud_event["id"], cloud_event.data)
        request = RunMessage.model_validate_json(message.data or b"{}")
    except EnvelopeError as exc:
        record_poison(
            store,
            source="payout-runs",
            message_id=str(cloud_event["id"]),
            code="bad_envelope",
            reason=str(exc),
        )
        return
    except ValidationError as exc:
        record_poison(
            store,
            source="payout-runs",
            message_id=message.message_id,
            code="invalid_message",
            reason="not a run request",
            details=field_errors(exc),
            payload=message.data,
        )
        return
    run_date = request.run_date or datetime.now(UTC).date()
    with log.bind(message_id=message.message_id):
        runs.start_run(
            deps.payout_service(),
            run_date,
            dry_run=request.dry_run,
            requested_by=f"pubsub:{message.message_id}",
        )


@functions_framework.cloud_event
def payout_sweeper(cloud_event: CloudEvent) -> None:
    """Resolve stuck payouts, relay unpublished events, and complete finished runs."""
    settings = get_settings()
    log.configure(settings.log_level)
    require_push_caller(settings)
    svc = deps.payout_service()
    with log.bind(message_id=str(cloud_event["id"])):
        svc.sweep()
        runs.complete_runs(svc)
