"""The one Pub/Sub adapter: publish bytes with attributes, client created lazily."""

from __future__ import annotations

import threading
from typing import Any

from shared import metrics
from shared.settings import Settings, get_settings

_publisher: Any = None
_lock = threading.Lock()


def _client() -> Any:
    global _publisher
    with _lock:
        if _publisher is None:
            from google.cloud.pubsub_v1 import PublisherClient
            from google.cloud.pubsub_v1.types import BatchSettings

            # One message per request, sent at once: every caller waits for its message id
            # before it marks the outbox event published, so the default batching only added
            # its 10 ms timer to each status change and to every POST /payouts.
            _publisher = PublisherClient(batch_settings=BatchSettings(max_messages=1))
        return _publisher


class Publisher:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        path = _client().topic_path(self.settings.project, topic)
        message_id = str(_client().publish(path, data, **attributes).result(timeout=30))
        metrics.incr("pubsub.messages")
        metrics.incr("pubsub.bytes", len(data) + sum(len(k) + len(v) for k, v in attributes.items()))
        return message_id
