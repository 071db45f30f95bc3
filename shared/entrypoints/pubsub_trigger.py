"""The common start of every Pub/Sub-triggered function: logging, the push caller's token, the
envelope and the message body.

Two kinds of refusal, on purpose:

- the push request itself is wrong (no or a bad token, over the size cap, a body that is not
  strict JSON): a JSON 4xx, nothing read or written; Pub/Sub redelivers it and, after its last
  attempt, moves it to the subscription's dead-letter topic, so a misconfigured sender loses
  nothing;
- the message can never be valid (no Pub/Sub message in the event, data that is not strict JSON
  or not the message's model): poison, logged and recorded in ``dead_letters`` with its field
  paths, and acknowledged (the function returns), so Pub/Sub does not retry it forever.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Annotated, NoReturn, TypeVar

import flask
from cloudevents.http.event import CloudEvent
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import StringConstraints

from shared import log, strict_json, tracing
from shared.domain.validation import InvalidPayload, StrictModel, parse_payload
from shared.entrypoints import deps
from shared.entrypoints.http import HttpError, error_response
from shared.entrypoints.pubsub_auth import require_push_caller
from shared.entrypoints.pubsub_envelope import EnvelopeError, PubSubMessage, message_from_cloud_event
from shared.settings import Settings, get_settings
from shared.usecases.dead_letters import record_poison

T = TypeVar("T")
logger = logging.getLogger(__name__)

# Set on flask.g once the function runs: an error after it is the function's, not the framework's
# (shared.entrypoints.framework answers the two differently).
FUNCTION_STARTED = "seller_payouts_function_started"


class Tick(StrictModel):
    """A scheduler tick (release-funds, payout-sweeper): Cloud Scheduler sends ``{}``; people and
    harnesses may say why they sent one. Anything else is not a tick."""

    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


def parse_tick(data: bytes) -> Tick:
    return parse_payload(Tick, data or b"{}")


def in_message_trace(function: Callable[[CloudEvent], None]) -> Callable[[CloudEvent], None]:
    """Run a Pub/Sub-triggered function in the trace its message carries (the ``traceparent``
    attribute shared.adapters.pubsub.Publisher puts there), linked to the push request's span;
    a message without one is handled in the push request's trace."""

    @functools.wraps(function)
    def traced(cloud_event: CloudEvent) -> None:
        data = cloud_event.data
        message = data.get("message") if isinstance(data, dict) else None
        attributes = message.get("attributes") if isinstance(message, dict) else None
        parent = tracing.extract(attributes) if isinstance(attributes, dict) else None
        push = trace.get_current_span().get_span_context()
        topic = str(cloud_event.get("source") or "").rsplit("/", 1)[-1] or "pubsub"
        with tracing.span(
            f"{topic} process",
            kind=SpanKind.CONSUMER,
            parent=parent,
            links=[push] if parent is not None else (),
            attributes={
                "messaging.system": "gcp_pubsub",
                "messaging.destination.name": topic,
                "messaging.message.id": str(cloud_event.get("id") or ""),
            },
        ):
            function(cloud_event)

    return traced


def start_trigger() -> Settings:
    """Configure logging and refuse callers other than the Pub/Sub push identity."""
    settings = get_settings()
    log.configure(settings.log_level, settings.project)
    setattr(flask.g, FUNCTION_STARTED, True)
    require_push_caller(settings)
    _require_strict_envelope()
    return settings


def _refuse(err: HttpError) -> NoReturn:
    flask.abort(error_response(err))


def _require_strict_envelope() -> None:
    """The push body is JSON the framework has parsed its own way (the last duplicate key wins):
    it must also be strict JSON, as every body is, or the delivery is refused."""
    try:
        strict_json.check(flask.request.get_data())
    except strict_json.JsonRejected as exc:
        logger.warning("push refused: the envelope is not strict JSON: %s", exc)
        _refuse(
            HttpError(
                400, "malformed_json", "body is not valid JSON", [{"field": exc.path, "reason": exc.reason}]
            )
        )


def open_message(
    cloud_event: CloudEvent,
    *,
    source: str,
    parse: Callable[[bytes], T],
    invalid_code: str,
    invalid_reason: str,
) -> tuple[PubSubMessage, T] | None:
    """The message and its parsed body, or None when it was poison (recorded and logged).

    ``parse`` raises :class:`InvalidPayload` (``shared.domain.validation.parse_payload``) for data
    that can never be valid: not strict JSON (poison code ``malformed_json``) or not the model
    (``invalid_code``); the dead letter keeps each field path.
    """
    start_trigger()
    try:
        message = message_from_cloud_event(cloud_event["id"], cloud_event.data)
    except EnvelopeError as exc:
        record_poison(
            deps.store(),
            source=source,
            message_id=str(cloud_event["id"]),
            code="bad_envelope",
            reason=str(exc),
        )
        return None
    try:
        return message, parse(message.data)
    except InvalidPayload as exc:
        record_poison(
            deps.store(),
            source=source,
            message_id=message.message_id,
            code="malformed_json" if exc.malformed else invalid_code,
            reason="the message data is not valid JSON" if exc.malformed else invalid_reason,
            details=exc.details,
            payload=message.data,
        )
        return None
