"""The common start of every Pub/Sub-triggered function: logging, the push caller's token, the
envelope and the message body. A message that can never be valid is recorded as poison and
acknowledged (the function returns), so Pub/Sub does not retry it forever."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from cloudevents.http.event import CloudEvent
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from shared import log, tracing
from shared.domain.validation import field_errors
from shared.entrypoints import deps
from shared.entrypoints.pubsub_auth import require_push_caller
from shared.entrypoints.pubsub_envelope import EnvelopeError, PubSubMessage, message_from_cloud_event
from shared.settings import Settings, get_settings
from shared.usecases.dead_letters import record_poison

T = TypeVar("T")


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
    require_push_caller(settings)
    return settings


def open_message(
    cloud_event: CloudEvent,
    *,
    source: str,
    parse: Callable[[bytes], T],
    invalid_code: str,
    invalid_reason: str,
) -> tuple[PubSubMessage, T] | None:
    """The message and its parsed body, or None when it was poison (recorded and logged)."""
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
    except ValidationError as exc:
        record_poison(
            deps.store(),
            source=source,
            message_id=message.message_id,
            code=invalid_code,
            reason=invalid_reason,
            details=field_errors(exc),
            payload=message.data,
        )
        return None
