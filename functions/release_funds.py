"""Scheduled release of pending funds whose holding period is over (Pub/Sub tick)."""

from __future__ import annotations

import functions_framework
from cloudevents.http.event import CloudEvent

from shared import deps, log
from shared.pubsub_auth import require_push_caller
from shared.settings import get_settings
from shared.usecases.order_events import release_due_funds


@functions_framework.cloud_event
def release_funds(cloud_event: CloudEvent) -> None:
    settings = get_settings()
    log.configure(settings.log_level)
    require_push_caller(settings)
    with log.bind(message_id=str(cloud_event["id"])):
        release_due_funds(deps.store(), batch=settings.release_batch_size)
