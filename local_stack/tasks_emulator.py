"""Cloud Tasks emulator of the local stack: gcloud-tasks-emulator 0.6.2 with its sharp edges filed off.

Run it with ``.venv-tasks/bin/python local_stack/tasks_emulator.py --port 8290 --default-queue projects/…``
(the package pins a protobuf the app cannot share). What differs from the package, read from its source:

- It listens on 127.0.0.1 only; the package hard-codes ``[::]:PORT``.
- Each HTTP dispatch has a deadline: the task's ``dispatch_deadline`` or ``--dispatch-timeout``
  (default 60 s). The package waits forever, so one hanging handler stalls its queue.
- A failing task is retried at most ``--max-retries`` times (default 50), with exponential backoff
  between ``--min-backoff`` and ``--max-backoff``. The package retries every 0.1 s, forever.
- ``X-CloudTasks-QueueName`` is the short queue id, as in production (the package sends the full path).
- Up to ``--max-concurrent-dispatches`` tasks of a queue are in flight at once (default 8), like
  production's ``rateLimits.maxConcurrentDispatches``; the package sends one at a time per queue,
  and finds each task by a scan of its queue, which is quadratic in a backlog of 10,000 tasks.
- A task with an ``oidc_token`` gets ``Authorization: Bearer <ID token>`` for that service account,
  audience the token's audience or the task URL, as production Cloud Tasks sends. The token is
  signed by the local stack's issuer (``TASKS_EMULATOR_OIDC_KEY``, ``TASKS_EMULATOR_OIDC_ISSUER``,
  ``TASKS_EMULATOR_OIDC_KID``). The package sends none.

Still a stub: no de-duplication of task names, no GetTask/DeleteTask, no dispatch rate limit.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore", category=FutureWarning)  # google-api-core's Python version notices

import grpc  # noqa: E402
from gcloud_tasks_emulator import server as upstream  # type: ignore[import-not-found]  # noqa: E402
from google.cloud.tasks_v2 import Queue, Task  # noqa: E402

log = logging.getLogger("tasks-emulator")

DEFAULT_PORT = 8290
OIDC_KEY_ENV = "TASKS_EMULATOR_OIDC_KEY"


def _oidc_token(task: Task) -> str | None:
    """An ID token like the one production Cloud Tasks mints for the task's service account."""
    key_path = os.environ.get(OIDC_KEY_ENV)
    email = task.http_request.oidc_token.service_account_email
    if not key_path or not email:
        return None
    import jwt  # only needed when the stack asks for tokens

    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": os.environ.get("TASKS_EMULATOR_OIDC_ISSUER", "http://127.0.0.1/local-oidc"),
        "aud": task.http_request.oidc_token.audience or task.http_request.url,
        "sub": email,
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    kid = os.environ.get("TASKS_EMULATOR_OIDC_KID", "local-1")
    return str(jwt.encode(claims, _signing_key(key_path), algorithm="RS256", headers={"kid": kid}))


@functools.cache
def _signing_key(path: str) -> Any:
    """The issuer's private key, parsed once: loading an RSA key checks it, which costs ~30 ms of
    CPU. Parsed per task, it made this emulator the busiest process of a 10,000-payout run."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(Path(path).read_bytes(), password=None)


class _Response:
    """What the package reads from a dispatch: the status code."""

    def __init__(self, status: int) -> None:
        self.status = status


_UPSTREAM_MAKE_TASK_REQUEST = upstream._make_task_request


def _dispatcher(default_timeout: float) -> Any:
    def make_task_request(queue_name: str, task: Task, host: str, port: int) -> _Response:
        if not task.http_request.url:  # App Engine tasks: unused here, keep the package's behaviour
            return _UPSTREAM_MAKE_TASK_REQUEST(queue_name, task, host, port)  # type: ignore[no-any-return]
        http = task.http_request
        headers = dict(http.headers)
        headers.update(
            {
                "User-Agent": "Google-Cloud-Tasks",
                "X-CloudTasks-QueueName": queue_name.rsplit("/", 1)[-1],
                "X-CloudTasks-TaskName": task.name.rsplit("/", 1)[-1],
                "X-CloudTasks-TaskRetryCount": str(task.dispatch_count - 1),
                "X-CloudTasks-TaskExecutionCount": str(task.dispatch_count - 1),
                "X-CloudTasks-TaskETA": str(task.schedule_time.timestamp()) if task.schedule_time else "",
            }
        )
        if http.body and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/octet-stream"  # production's default
        token = _oidc_token(task)
        if token and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(http.url, method=http.http_method.name, data=http.body or None)  # noqa: S310
        for key, value in headers.items():
            req.add_header(key, value)
        deadline = task.dispatch_deadline.total_seconds() or default_timeout
        log.info("[TASKS] %s %s (deadline %.0f s)", req.method, req.full_url, deadline)
        try:
            with urllib.request.urlopen(req, timeout=deadline) as resp:  # noqa: S310 - URL comes from the task
                resp.read()
                return _Response(resp.status)
        except urllib.error.HTTPError as err:
            err.close()
            raise
        except TimeoutError as err:  # the package logs a one-line error for URLError, a traceback otherwise
            raise urllib.error.URLError(f"no response within the {deadline:.0f} s dispatch deadline") from err

    return make_task_request


class BackoffQueueState(upstream.QueueState):  # type: ignore[misc]
    """The package's queue state, plus a retry delay that doubles after each failed attempt."""

    def __init__(self, max_retries: int, min_backoff: float, max_backoff: float) -> None:
        super().__init__("127.0.0.1", 80, max_retries)
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff

    def submit_task(self, task_name: str, force_run: bool = False) -> Task:
        queue = task_name.rsplit("/", 2)[0]
        before = next(
            (t.dispatch_count for t in self._queue_tasks.get(queue, ()) if t.name == task_name), None
        )
        task: Task = super().submit_task(task_name, force_run)
        dispatched = before is not None and task.dispatch_count > before
        failed = 400 <= task.last_attempt.response_status.code < 600
        requeued = any(t is task for t in self._queue_tasks.get(queue, ()))
        if dispatched and failed and requeued:
            delay = min(self._max_backoff, self._min_backoff * 2 ** (task.dispatch_count - 1))
            task.schedule_time = datetime.now(UTC) + timedelta(seconds=delay)
        return task


class ConcurrentQueueState(BackoffQueueState):
    """Takes due tasks from the front of a queue in batches and dispatches them on a thread pool,
    at most ``concurrency`` per queue; a failed one goes to the back with its backoff."""

    def __init__(self, max_retries: int, min_backoff: float, max_backoff: float, concurrency: int) -> None:
        super().__init__(max_retries, min_backoff, max_backoff)
        self.concurrency = concurrency
        self.lock = threading.Lock()

    def create_task(self, queue: str, task: Task) -> Task:
        with self.lock:
            return super().create_task(queue, task)  # type: ignore[no-any-return]

    def submit_task(self, task_name: str, force_run: bool = False) -> Task:  # RunTask
        with self.lock:
            return super().submit_task(task_name, force_run)

    def take_due(self, queue: str, limit: int) -> list[Task]:
        now = datetime.now(UTC)
        with self.lock:
            tasks = self._queue_tasks.get(queue)
            if not tasks or limit <= 0:
                return []
            picked: list[int] = []
            for i, task in enumerate(tasks):
                if not task.schedule_time or task.schedule_time < now:
                    picked.append(i)
                    if len(picked) == limit:
                        break
            if picked and picked[-1] == len(picked) - 1:  # the usual case: a prefix
                taken = tasks[: len(picked)]
                del tasks[: len(picked)]
                return list(taken)
            chosen = set(picked)
            taken = [t for i, t in enumerate(tasks) if i in chosen]
            tasks[:] = [t for i, t in enumerate(tasks) if i not in chosen]
            return taken

    def dispatch(self, queue: str, task: Task) -> None:
        task.dispatch_count += 1
        try:
            status = upstream._make_task_request(queue, task, "127.0.0.1", 80).status
        except urllib.error.HTTPError as err:
            status = err.code
        except Exception as err:  # connection refused, deadline: like the package, a 500
            log.error("[TASKS] dispatch of %s failed: %s", task.name, err)
            status = 500
        if not 400 <= status < 600:
            return
        if self._max_retries >= 0 and task.dispatch_count > self._max_retries:
            log.warning("[TASKS] giving up task %s after %d attempts", task.name, task.dispatch_count)
            return
        delay = min(self._max_backoff, self._min_backoff * 2 ** (task.dispatch_count - 1))
        task.schedule_time = datetime.now(UTC) + timedelta(seconds=delay)
        with self.lock:
            if queue in self._queue_tasks:
                self._queue_tasks[queue].append(task)


class ConcurrentProcessor(threading.Thread):
    """One loop over every queue: fill each queue's free dispatch slots with its due tasks."""

    def __init__(self, state: ConcurrentQueueState) -> None:
        super().__init__(name="tasks-processor", daemon=True)
        self.state = state
        self.pool = futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="dispatch")
        self.in_flight: dict[str, int] = {}
        self.guard = threading.Lock()
        self.running = threading.Event()

    def _done(self, queue: str) -> None:
        with self.guard:
            self.in_flight[queue] -= 1

    def _run_one(self, queue: str, task: Task) -> None:
        try:
            self.state.dispatch(queue, task)
        finally:
            self._done(queue)

    def run(self) -> None:
        self.running.set()
        while self.running.is_set():
            busy = False
            for queue in list(self.state._queues):
                found = self.state._queues.get(queue)  # None once deleted
                if found is None or found.state != Queue.State.RUNNING:
                    continue
                with self.guard:
                    free = self.state.concurrency - self.in_flight.get(queue, 0)
                batch = self.state.take_due(queue, free)
                with self.guard:
                    self.in_flight[queue] = self.in_flight.get(queue, 0) + len(batch)
                for task in batch:
                    self.pool.submit(self._run_one, queue, task)
                busy = busy or bool(batch)
            time.sleep(0.005 if busy else 0.02)

    def join(self, timeout: float | None = None) -> None:
        self.running.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)
        super().join(timeout)


class _QuietRequeues(logging.Filter):
    """Drop the package's per-loop chatter (every 0.1 s for each waiting task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return "scheduled for future execution" not in msg and "Processing next task" not in msg


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Local Cloud Tasks emulator (gcloud-tasks-emulator, patched)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("-p", "--port", type=int, default=DEFAULT_PORT)
    p.add_argument(
        "-d",
        "--default-queue",
        action="append",
        default=[],
        help="create this queue at start: projects/PROJECT/locations/LOCATION/queues/ID (repeatable)",
    )
    p.add_argument(
        "-r", "--max-retries", type=int, default=50, help="retries of a failing task; -1 = forever"
    )
    p.add_argument(
        "--dispatch-timeout",
        type=float,
        default=float(os.environ.get("TASKS_EMULATOR_DISPATCH_TIMEOUT", "60")),
        help="seconds to wait for a task handler unless the task sets dispatch_deadline (default 60)",
    )
    p.add_argument("--min-backoff", type=float, default=0.1, help="first retry delay, seconds")
    p.add_argument("--max-backoff", type=float, default=5.0, help="longest retry delay, seconds")
    p.add_argument(
        "--max-concurrent-dispatches",
        type=int,
        default=int(os.environ.get("TASKS_EMULATOR_CONCURRENCY", "8")),
        help="tasks of one queue in flight at once (default 8; 1 = the package's serial dispatch)",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    return p.parse_args(argv)


def serve(args: argparse.Namespace) -> int:
    upstream._make_task_request = _dispatcher(args.dispatch_timeout)
    state = ConcurrentQueueState(
        args.max_retries, args.min_backoff, args.max_backoff, max(1, args.max_concurrent_dispatches)
    )
    for name in args.default_queue:
        state.create_queue(name.rsplit("/", 2)[0], Queue(name=name))

    # gRPC sets SO_REUSEPORT by default, which lets a second emulator share the port unnoticed.
    api = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    upstream.add_CloudTasksServicer_to_server(upstream.Greeter(state), api)
    address = f"{args.host}:{args.port}"
    try:
        api.add_insecure_port(address)
    except RuntimeError as err:
        log.error("[API] cannot listen on %s: %s", address, err)
        return 1
    api.start()
    processor = ConcurrentProcessor(state)
    processor.start()
    log.warning(
        "[API] Cloud Tasks emulator listening on %s, queues: %s", address, args.default_queue or "none"
    )

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.warning("[API] stopping")
    processor.join(timeout=1)
    api.stop(grace=0)
    return 0


def main() -> None:
    args = parse_args()
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("gcloud-tasks-emulator").addFilter(_QuietRequeues())
    code = serve(args)
    logging.shutdown()
    # Queue threads are not daemons and may sit in a dispatch; the process must still end now.
    os._exit(code)


if __name__ == "__main__":
    main()
