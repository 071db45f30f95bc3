"""Eventarc, locally: Cloud Storage ``object.finalized`` events delivered to a function.

In production an Eventarc trigger on a bucket turns each finalized object into a CloudEvent
``google.cloud.storage.object.v1.finalized`` and pushes it to the function's Cloud Run service in
binary mode: the ``ce-*`` headers carry the attributes, the body is the object resource (JSON),
and ``Authorization`` carries an ID token of the trigger's service account whose audience is the
service URL. Delivery is at least once (a Pub/Sub subscription underneath): anything but a 2xx is
retried with backoff, so the function must be idempotent.

Here the storage emulator wrapper (local_stack/storage_emulator.py) calls :meth:`Eventarc.finalized`
after each object it creates, and a small pool delivers the events the same way, with a token
minted by the stack's local issuer (local_stack/local_env.py). What it lacks: events live in
memory (a restart of the emulator loses undelivered ones, production keeps them for 24 h), and
only ``finalized`` is delivered (no ``deleted``, ``archived`` or ``metadataUpdated``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack import local_env

log = logging.getLogger("eventarc")

FINALIZED = "google.cloud.storage.object.v1.finalized"
# The trigger's service account (production: google_service_account.eventarc_trigger, infra/).
TRIGGER_IDENTITY = "eventarc-trigger"

Sender = Callable[[str, bytes, Mapping[str, str], float], int]  # (url, body, headers, timeout) -> status


@dataclass(frozen=True)
class Trigger:
    bucket: str
    url: str  # the function's URL: events are POSTed to it, and it is the token's audience


def cloud_event(obj: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """Binary-mode headers and body of the ``finalized`` CloudEvent of one object resource."""
    bucket, name, generation = str(obj["bucket"]), str(obj["name"]), str(obj["generation"])
    event_id = hashlib.sha256(f"{bucket}/{name}#{generation}".encode()).hexdigest()[:16]
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "ce-specversion": "1.0",
        "ce-id": str(int(event_id, 16)),  # a numeric id, as Eventarc's (a Pub/Sub message id)
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-type": FINALIZED,
        "ce-subject": f"objects/{name}",
        "ce-time": str(obj.get("updated") or obj.get("timeCreated") or ""),
        "ce-bucket": bucket,
    }
    return headers, json.dumps(dict(obj), separators=(",", ":")).encode()


def _urllib_sender(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - the stack's own URL
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Eventarc:
    """Delivers finalize events of the triggers' buckets, retrying until a 2xx or ``max_attempts``."""

    def __init__(
        self,
        triggers: list[Trigger],
        state_dir: Path,
        project: str,
        *,
        sender: Sender = _urllib_sender,
        first_retry: float = 0.5,
        max_backoff: float = 30.0,
        max_attempts: int = 50,
        timeout: float = 60.0,
    ) -> None:
        self.triggers, self.state_dir, self.sender = triggers, state_dir, sender
        self.email = local_env.identity(TRIGGER_IDENTITY, project)
        self.first_retry, self.max_backoff, self.max_attempts = first_retry, max_backoff, max_attempts
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(4, thread_name_prefix="eventarc")
        self.stopping = threading.Event()
        self.delivered: list[dict[str, Any]] = []  # (tests) one record per attempt

    def finalized(self, obj: Mapping[str, Any]) -> None:
        for trigger in self.triggers:
            if trigger.bucket == obj.get("bucket"):
                self.pool.submit(self._deliver, trigger, dict(obj))

    def _deliver(self, trigger: Trigger, obj: dict[str, Any]) -> None:
        headers, body = cloud_event(obj)
        delay = self.first_retry
        for attempt in range(1, self.max_attempts + 1):  # noqa: B007 - logged after the loop
            token = local_env.mint_token(self.state_dir, email=self.email, audience=trigger.url, ttl=3600)
            try:
                status = self.sender(
                    trigger.url, body, {**headers, "Authorization": f"Bearer {token}"}, self.timeout
                )
            except OSError as exc:
                status = 0
                log.info("event %s to %s: %s", headers["ce-id"], trigger.url, type(exc).__name__)
            self.delivered.append({"ce-id": headers["ce-id"], "url": trigger.url, "status": status})
            log.info("event %s objects/%s -> %s: %s", headers["ce-id"], obj["name"], trigger.url, status)
            if 200 <= status < 300 or self.stopping.wait(delay):
                return
            delay = min(delay * 2, self.max_backoff)
        log.error("event %s objects/%s: gave up after %d attempts", headers["ce-id"], obj["name"], attempt)

    def stop(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
