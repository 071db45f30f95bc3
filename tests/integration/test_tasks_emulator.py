"""The stack's Cloud Tasks emulator (local_stack/tasks_emulator.py) dispatches like production: several
tasks of a queue at once, a failed one retried with backoff and the retry count in its headers."""

from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

pytestmark = pytest.mark.integration


class Target:
    """A local HTTP endpoint that records what the emulator sends and how many at once."""

    def __init__(self, hold_seconds: float, fail_first: set[str]) -> None:
        self.hold, self.fail_first = hold_seconds, fail_first
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.seen: list[dict[str, str]] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with target.lock:
                    target.now += 1
                    target.peak = max(target.peak, target.now)
                    target.seen.append({k.lower(): v for k, v in self.headers.items()})
                time.sleep(target.hold)
                name = self.headers["X-CloudTasks-TaskName"]
                status = (
                    503
                    if name in target.fail_first and self.headers["X-CloudTasks-TaskRetryCount"] == "0"
                    else 200
                )
                with target.lock:
                    target.now -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/task"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_tasks_of_one_queue_are_dispatched_concurrently_and_failures_retried(stack):
    client = tasks_v2.CloudTasksClient(
        transport=CloudTasksGrpcTransport(
            channel=grpc.insecure_channel(stack.env["CLOUD_TASKS_EMULATOR_HOST"])
        )
    )
    parent = f"projects/{stack.project}/locations/{stack.env['TASKS_LOCATION']}"
    queue = client.create_queue(parent=parent, queue={"name": f"{parent}/queues/t-{uuid.uuid4().hex[:8]}"})
    failing = "task-00"
    target = Target(hold_seconds=0.3, fail_first={failing})
    try:
        for i in range(16):
            client.create_task(
                parent=queue.name,
                task={
                    "name": f"{queue.name}/tasks/task-{i:02d}",
                    "http_request": {
                        "http_method": tasks_v2.HttpMethod.POST,
                        "url": target.url,
                        "body": b"{}",
                    },
                },
            )
        deadline = time.monotonic() + 30
        while len(target.seen) < 17 and time.monotonic() < deadline:
            time.sleep(0.1)
        names = [h["x-cloudtasks-taskname"] for h in target.seen]
        assert sorted(set(names)) == [f"task-{i:02d}" for i in range(16)]
        assert names.count(failing) == 2  # the 503 was retried once, then succeeded
        retry = [h for h in target.seen if h["x-cloudtasks-taskname"] == failing][-1]
        assert retry["x-cloudtasks-taskretrycount"] == "1"
        assert {h["x-cloudtasks-queuename"] for h in target.seen} == {queue.name.rsplit("/", 1)[-1]}
        assert 2 <= target.peak <= 8  # several at once, never more than the queue's limit
    finally:
        target.server.shutdown()
        client.delete_queue(name=queue.name)
