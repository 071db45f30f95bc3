"""The one Cloud Tasks adapter: enqueue an HTTP task for one of our functions.

Tasks carry an OIDC token for the invoker service account (production Cloud Tasks mints it;
the local emulator wrapper mints the same shape with the local issuer). Names are hashed from
a de-duplication key: production drops a second task with a recent name (ALREADY_EXISTS); the
emulator does not, so every handler is idempotent anyway.

Each task carries the W3C ``traceparent`` of the trace that enqueued it (a payout's own trace
for its transfer, ``shared/tracing.py``), so the target's span continues that trace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2
from opentelemetry.trace import SpanKind

from shared import metrics, tracing
from shared.settings import Settings, get_settings

logger = logging.getLogger(__name__)

_client: Any = None
_client_lock = threading.Lock()


def _tasks_client(settings: Settings) -> Any:
    global _client
    with _client_lock:
        if _client is None:
            if settings.cloud_tasks_emulator_host:
                import grpc
                from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

                channel = grpc.insecure_channel(settings.cloud_tasks_emulator_host)
                _client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
            else:
                _client = tasks_v2.CloudTasksClient()
        return _client


class CloudTaskQueue:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def queue_path(self, queue: str) -> str:
        return f"projects/{self.settings.project}/locations/{self.settings.tasks_location}/queues/{queue}"

    def enqueue(
        self,
        queue: str,
        function: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        delay_seconds: float = 0,
    ) -> str:
        """Create an HTTP task that POSTs ``payload`` to one of our functions."""
        payout_id = payload.get("payout_id")
        with tracing.span(
            f"{queue} enqueue",
            kind=SpanKind.PRODUCER,
            parent=tracing.payout_context(payout_id),
            attributes={
                "messaging.system": "gcp_cloud_tasks",
                "messaging.destination.name": queue,
                "payout.id": payout_id,
            },
        ):
            headers = {"Content-Type": "application/json"}
            tracing.inject(headers)  # the enqueue span: the target's span is its child
            return self._create(queue, function, payload, headers, dedupe_key, delay_seconds)

    def _create(
        self,
        queue: str,
        function: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        dedupe_key: str | None,
        delay_seconds: float,
    ) -> str:
        url = self.settings.function_url(function)
        task: dict[str, Any] = {
            "http_request": {
                "http_method": tasks_v2.HttpMethod.POST,
                "url": url,
                "headers": headers,
                "body": json.dumps(payload).encode(),
                "oidc_token": {
                    "service_account_email": self.settings.tasks_invoker_email,
                    "audience": url,
                },
            },
            "dispatch_deadline": {"seconds": self.settings.task_dispatch_deadline_seconds},
        }
        if dedupe_key:
            digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
            task["name"] = f"{self.queue_path(queue)}/tasks/{digest}"
        if delay_seconds:
            when = timestamp_pb2.Timestamp()
            when.FromDatetime(datetime.now(UTC) + timedelta(seconds=delay_seconds))
            task["schedule_time"] = when
        try:
            created = _tasks_client(self.settings).create_task(parent=self.queue_path(queue), task=task)
        except gexc.AlreadyExists:
            metrics.incr("tasks.already_exists")
            logger.info("task %s already exists; not enqueued twice", dedupe_key)
            return str(task.get("name", ""))
        metrics.incr("tasks.created")
        metrics.incr(f"tasks.created.{queue}")
        return str(created.name)


TaskQueue = CloudTaskQueue  # the name the harnesses and tests know
