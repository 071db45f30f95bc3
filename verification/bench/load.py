"""Driving a function directly, as its caller does: OIDC tokens, Cloud Tasks headers, timed POSTs
at a given concurrency, and their latency percentiles."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from rich.progress import Progress

from local_stack.client import StackClient
from verification.bench.console import bar_columns, console

JSON = dict[str, Any]


class Tokens:
    """OIDC tokens of one identity per function, minted once and renewed before they expire."""

    def __init__(self, client: StackClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, str]] = {}

    def get(self, function: str) -> str:
        with self._lock:
            minted, token = self._tokens.get(function, (0.0, ""))
            if time.monotonic() - minted > 300:
                token = self.client.token(function)
                self._tokens[function] = (time.monotonic(), token)
            return token


_sessions = threading.local()


def _session() -> requests.Session:
    if not hasattr(_sessions, "s"):
        _sessions.s = requests.Session()
    session: requests.Session = _sessions.s
    return session


def timed_post(url: str, body: JSON, headers: dict[str, str]) -> tuple[float, int, str]:
    t = time.perf_counter()
    try:
        resp = _session().post(url, data=json.dumps(body), headers=headers, timeout=120)
        code, text = resp.status_code, resp.text
    except requests.RequestException as exc:
        code, text = 0, type(exc).__name__
    return time.perf_counter() - t, code, text


def latency_stats(samples: list[float]) -> JSON:
    if not samples:
        return {"p50_ms": None, "p99_ms": None}
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000, 1)

    return {"p50_ms": pct(0.50), "p99_ms": pct(0.99), "mean_ms": round(sum(ordered) / len(ordered) * 1000, 1)}


def drive(calls: Sequence[Callable[[], tuple[float, int, str]]], concurrency: int, label: str) -> JSON:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    t0 = time.perf_counter()
    with (
        Progress(*bar_columns(), console=console, transient=True) as progress,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        bar = progress.add_task(label, total=len(calls))
        for seconds, code, _ in pool.map(lambda call: call(), calls):
            latencies.append(seconds)
            statuses[str(code)] += 1
            progress.advance(bar)
    wall = time.perf_counter() - t0
    return {
        "calls": len(calls),
        "seconds": round(wall, 2),
        "per_s": round(len(calls) / wall, 1),
        **latency_stats(latencies),
        "statuses": dict(statuses),
    }


def task_headers(token: str, queue_name: str, task_key: str) -> dict[str, str]:
    """What Cloud Tasks sends with an HTTP task (the emulator wrapper sends the same)."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Tasks",
        "X-CloudTasks-QueueName": queue_name,
        "X-CloudTasks-TaskName": hashlib.sha256(task_key.encode()).hexdigest()[:32],
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
    }
