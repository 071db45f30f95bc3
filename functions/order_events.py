"""Order events in: a Pub/Sub-triggered function and a signed HTTP webhook, one use case."""

from __future__ import annotations

import logging
import time

import flask
import functions_framework
from cloudevents.http.event import CloudEvent

from shared import log
from shared.domain.errors import DomainError
from shared.domain.order_events import Outcome, parse_order_event
from shared.entrypoints import deps, signing
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import HttpError, json_response, raw_body, serve
from shared.entrypoints.pubsub_trigger import in_message_trace, open_message
from shared.settings import Settings
from shared.usecases.dead_letters import record_poison
from shared.usecases.order_events import ingest_order_event

logger = logging.getLogger(__name__)


@functions_framework.cloud_event
@in_message_trace
def order_events_pubsub(cloud_event: CloudEvent) -> None:
    """Apply one order event. Poison is recorded and acknowledged; transient errors raise."""
    opened = open_message(
        cloud_event,
        source="order-events",
        parse=parse_order_event,
        invalid_code="invalid_event",
        invalid_reason="the event is not valid",
    )
    if opened is None:
        return
    message, event = opened
    with log.bind(message_id=message.message_id):
        try:
            ingest_order_event(deps.store(), deps.country_rules(), event, source="pubsub")
        except DomainError as exc:
            # Unknown seller, currency mismatch, over-limit, or an event id reused for another body.
            record_poison(
                deps.store(),
                source="order-events",
                message_id=message.message_id,
                code=exc.code,
                reason=exc.message,
                details=[{"field": exc.field or "$", "reason": exc.message}],
                payload=message.data,
            )


@functions_framework.http
def order_events_webhook(request: flask.Request) -> flask.Response:
    """POST an order event, signed with ``X-Signature: t=…,v1=…`` (HMAC-SHA256)."""
    return serve(request, _handle_webhook, require_oidc=False)


def _handle_webhook(request: flask.Request, settings: Settings, _caller: Caller | None) -> flask.Response:
    if request.method != "POST":
        raise HttpError(405, "method_not_allowed", "POST an order event")
    body = raw_body(request, settings)
    try:
        signing.verify(
            request.headers.get(signing.HEADER),
            body,
            [secret.get_secret_value() for secret in settings.order_webhook_secrets],
            now=int(time.time()),
            tolerance=settings.webhook_tolerance_seconds,
        )
    except signing.SignatureError as exc:
        raise HttpError(
            401, "invalid_signature", str(exc), [{"field": f"header.{signing.HEADER}", "reason": exc.reason}]
        ) from exc
    event = parse_order_event(body)
    result = ingest_order_event(deps.store(), deps.country_rules(), event, source="webhook")
    if result.outcome is Outcome.REJECTED:
        raise HttpError(
            422, "event_rejected", result.reason or "rejected", [{"field": "$", "reason": result.reason}]
        )
    return json_response(result.as_dict(), 200 if result.duplicate else 202)
