"""Part 3b, HTTP latency: ``POST /payouts`` under concurrent load against a no-op HTTP function
served by an extra functions-framework process started with the stack's flags."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from local_stack.stack import HOST, StackError, http_answers, port_free
from stand_ins.sample_sellers import CURRENCIES
from verification.bench.console import console
from verification.bench.context import Bench
from verification.bench.load import Tokens, drive, timed_post
from verification.bench.seeding import make_sellers, seed

ROOT = Path(__file__).resolve().parents[2]
JSON = dict[str, Any]


NOOP_SOURCE = '''"""A no-op HTTP function: the floor of functions-framework, for the benchmark."""
import functions_framework


@functions_framework.http
def noop(request):
    request.get_data()
    return ("{}", 200, {"Content-Type": "application/json"})
'''


@contextlib.contextmanager
def noop_function(bench: Bench) -> Iterator[str]:
    port = 8320 + bench.args.port_offset
    if not port_free(port):
        raise StackError(f"port {port} for the no-op function is in use")
    folder = Path(tempfile.mkdtemp(prefix="bench-noop-"))
    (folder / "main.py").write_text(NOOP_SOURCE)
    argv = [str(ROOT / ".venv" / "bin" / "functions-framework"), "--source", str(folder / "main.py")]
    argv += ["--target", "noop", "--host", HOST, "--port", str(port)]
    log = open(bench.stack.state_dir / "logs" / "bench-noop.log", "w")  # noqa: SIM115
    popen = subprocess.Popen(
        argv,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    bench.sampler.groups["noop-function"] = popen.pid
    try:
        deadline = time.monotonic() + 30
        while not http_answers(f"http://{HOST}:{port}/"):
            if popen.poll() is not None or time.monotonic() > deadline:
                raise StackError("the no-op functions-framework process did not start; see bench-noop.log")
            time.sleep(0.1)
        yield f"http://{HOST}:{port}/"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=5)
        log.close()


def http_latency(bench: Bench) -> list[JSON]:
    levels = bench.args.concurrency
    n = bench.args.http_requests
    console.rule(f"[bold]POST /payouts vs a no-op function ({n} requests per level)")
    bench.queues("purge")
    bench.wipe()
    bench.queues("pause")  # the transfers POST /payouts enqueues stay queued
    sellers = make_sellers(n, "http")
    seed(bench, sellers)
    tokens = Tokens(bench.ops.as_identity("marketplace"))
    api = bench.stack.url("payouts-api") + "/payouts"
    out = []
    with noop_function(bench) as noop_url:
        for c in levels:
            out.append(_level(bench, sellers, tokens.get("payouts-api"), api, noop_url, c))
    bench.queues("purge")
    bench.queues("resume")
    return out


def _level(
    bench: Bench, sellers: list[tuple[str, str, int]], token: str, api: str, noop_url: str, c: int
) -> JSON:
    """The same requests (a minimum payout each, its own idempotency key) to both, at concurrency c."""
    bodies = [
        {
            "seller_id": seller_id,
            "amount": {
                "amount": bench.registry.get(country).minimum_payout,
                "currency": CURRENCIES[country],
            },
        }
        for seller_id, country, _ in sellers
    ]
    headers = [
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"bench-{c}-{i:06d}",
        }
        for i in range(len(sellers))
    ]
    app_calls = [functools.partial(timed_post, api, b, h) for b, h in zip(bodies, headers, strict=True)]
    noop_calls = [functools.partial(timed_post, noop_url, b, h) for b, h in zip(bodies, headers, strict=True)]
    app = drive(app_calls, c, f"POST /payouts, concurrency {c}")
    noop = drive(noop_calls, c, f"no-op function, concurrency {c}")
    row = {
        "concurrency": c,
        "requests": len(sellers),
        "payouts_api": app,
        "noop": noop,
        "p50_ratio": _ratio(app["p50_ms"], noop["p50_ms"]),
        "p99_ratio": _ratio(app["p99_ms"], noop["p99_ms"]),
    }
    console.print(
        f"c={c}: POST /payouts p50 {app['p50_ms']} ms p99 {app['p99_ms']} ms ({app['statuses']}); "
        f"no-op p50 {noop['p50_ms']} ms p99 {noop['p99_ms']} ms "
        f"-> x{row['p50_ratio']} / x{row['p99_ratio']}"
    )
    return row


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 1) if a is not None and b else None
