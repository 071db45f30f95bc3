"""Scheduled release of pending funds whose holding period is over (Pub/Sub tick)."""

from __future__ import annotations

import functions_framework
from cloudevents.http.event import CloudEvent

from shared import log
from shared.entrypoints import deps
from shared.entrypoints.pubsub_trigger import in_message_trace, open_message, parse_tick
from shared.settings import get_settings
from shared.usecases.order_events import release_due_funds


@functions_framework.cloud_event
@in_message_trace
def release_funds(cloud_event: CloudEvent) -> None:
    opened = open_message(
        cloud_event,
        source="release-funds",
        parse=parse_tick,
        invalid_code="invalid_message",
        invalid_reason="not a tick",
    )
    if opened is None:
        return
    with log.bind(message_id=opened[0].message_id):
        release_due_funds(deps.store(), batch=get_settings().release_batch_size)
