"""Scheduled release of pending funds whose holding period is over (Pub/Sub tick)."""

from __future__ import annotations

import functions_framework
from cloudevents.http.event import CloudEvent

from shared import log
from shared.entrypoints import deps
from shared.entrypoints.pubsub_trigger import in_message_trace, start_trigger
from shared.usecases.order_events import release_due_funds


@functions_framework.cloud_event
@in_message_trace
def release_funds(cloud_event: CloudEvent) -> None:
    settings = start_trigger()
    with log.bind(message_id=str(cloud_event["id"])):
        release_due_funds(deps.store(), batch=settings.release_batch_size)
