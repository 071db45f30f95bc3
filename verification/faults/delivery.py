"""How a fault run delivers messages, as the outside world does: Pub/Sub publishes, Pub/Sub push
(through the relay) with a chosen message id, and the order service's signed webhook, each
retried until acknowledged as its sender would."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import requests

from local_stack.client import StackClient
from local_stack.stack import Stack
from shared.topology import function as function_spec
from shared.topology import subscription_for

JSON = dict[str, Any]


class Delivery:
    def __init__(self, stack: Stack, client: StackClient) -> None:
        self.stack = stack
        self.client = client
        self.relay = f"http://{stack.procs['push-relay'].address}"
        self.answers: Counter[str] = Counter()  # "webhook 202", "transfer task 200", ...
        self.lock = threading.Lock()

    def count_answer(self, label: str) -> None:
        with self.lock:
            self.answers[label] += 1

    def publish(self, topic: str, data: JSON) -> Future[Any]:
        publisher = self.client.publisher()
        future: Future[Any] = publisher.publish(
            publisher.topic_path(self.stack.project, topic), json.dumps(data).encode()
        )
        return future

    def publish_and_wait(self, topic: str, data: JSON) -> Any:
        return self.publish(topic, data).result(timeout=60)

    def push(self, function: str, topic: str, data: JSON, message_id: str) -> int:
        """Deliver a message as Pub/Sub push does (through the relay), with a given message id."""
        spec = function_spec(function)
        envelope = {
            "message": {
                "data": base64.b64encode(json.dumps(data).encode()).decode(),
                "messageId": message_id,
                "publishTime": datetime.now(UTC).isoformat(),
                "attributes": {},
            },
            "subscription": f"projects/{self.stack.project}/subscriptions/{subscription_for(spec)}",
        }
        url = f"{self.relay}/push/{function}/projects/{self.stack.project}/topics/{topic}"
        for attempt in range(30):  # Pub/Sub redelivers what is not acknowledged
            try:
                resp = requests.post(url, json=envelope, timeout=60)
            except requests.RequestException:
                resp = None
            if resp is not None and 200 <= resp.status_code < 300:
                return resp.status_code
            time.sleep(min(0.2 * 2**attempt, 5))
        return resp.status_code if resp is not None else 0

    def post_event(self, event: JSON) -> int:
        """The order service's signed webhook, retried until acknowledged."""
        for attempt in range(30):
            try:
                code = self.client.post_order_event(event).status_code
            except requests.RequestException:
                code = 0
            self.count_answer(f"webhook {code}")
            if code in (200, 202):
                return code
            time.sleep(min(0.2 * 2**attempt, 5))
        return code
