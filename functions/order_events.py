"""Order events in: a Pub/Sub-triggered function and a signed HTTP webhook, one use case."""

from __future__ import annotations

import logging
import time

import flask
import functions_framework
from cloudevents.http.event import CloudEvent
from pydantic import ValidationError

from shared import deps, log, signing
from shared.auth import Caller
from shared.domain.errors import DomainError
from shared.domain.order_events import Outcome, parse_order_event
from shared.domain.validation import field_errors
from shared.http import HttpError, json_response, raw_body, serve
from shared.pubsub_auth import require_push_caller
from shared.pubsub_envelope import EnvelopeError, message_from_cloud_event
from shared.settings import Settings, get_settings
from shared.usecases.dead_letters import record_poison
from shared.usecases.order_events import EventConflict, ingest_order_event

logger = logging.getLogger(__name__)


@functions_framework.cloud_event
def order_events_pubsub(cloud_event: CloudEvent) -> None:
    """Apply one order event. Poison is recorded and acknowledged; transient errors raise."""
    settings = get_settings()
    log.configure(settings.log_level)
    require_push_caller(settings)
    store = deps.store()
    try:
        message = message_from_cloud_event(cloud_event["id"], cloud_event.data)
    except EnvelopeError as exc:
        record_poison(
            store,
            source="order-events",
            message_id=str(cloud_event["id"]),
            code="bad_envelope",
            reason=str(exc),
        )
        return
    with log.bind(message_id=message.message_id):
        try:
            event = parse_order_event(message.data)
        except ValidationError as exc:
            record_poison(
                store,
                source="order-events",
                message_id=message.message_id,
                code="invalid_event",
                reason="the event is not valid",
                details=field_errors(exc),
                payload=message.data,
            )
            return
        try:
            ingest_order_event(store, deps.country_rules(), event, source="pubsub")
        except DomainError as exc:
            # Unknown seller, currency mismatch, over-limit, or an event id reused for another body.
            record_poison(
                store,
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
    try:
        result = ingest_order_event(deps.store(), deps.country_rules(), event, source="webhook")
    except EventConflict as exc:
        raise HttpError(409, exc.code, exc.message, [{"field": "event_id", "reason": exc.message}]) from exc
    if result.outcome is Outcome.REJECTED:
        raise HttpError(
            422, "event_rejected", result.reason or "rejected", [{"field": "$", "reason": result.reason}]
        )
    return json_response(result.as_dict(), 200 if result.duplicate else 202)
