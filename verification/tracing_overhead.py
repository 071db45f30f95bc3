"""What tracing costs ``POST /payouts``: the same function twice, traced and not, side by side.

    .venv/bin/python -m verification.tracing_overhead                 # start a stack of its own
    .venv/bin/python -m verification.tracing_overhead --attach        # use the stack in .local/
    .venv/bin/python -m verification.tracing_overhead --requests 600 --concurrency 1,8 --max-overhead 5

Two extra ``payouts-api`` processes run beside the stack with the stack's environment: one
with tracing on (``TRACE_EXPORTER=file``: the Flask instrumentation, every span, the trace
context stored on each payout, the batch exporter writing JSON lines) and one with it off
(``none``: not even instrumented). Sellers are funded through the stack's own API; the transfers
queue is paused so the payouts' transfers stay queued and load nothing. Then each request goes
to both processes, in random order, alternately, so drift in the machine's load hits both
alike; a warm-up is discarded. The overhead is the traced p50 over the untraced p50, minus one.

Prints a table and writes ``bench-results/tracing-overhead-<UTC>.json``. ``measure()`` is the
part the benchmark package calls (``verification/bench``: a ``tracing`` part beside its
``http`` part, same stack, its row under ``"tracing_overhead"`` in the bench JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from local_stack import local_env
from local_stack.client import StackClient
from local_stack.stack import HOST, Stack, StackError, port_free
from shared.topology import QUEUE_TRANSFERS
from stand_ins.sample_sellers import seller_body

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
AMOUNT = 1000  # EUR cents: the French minimum; each seller is funded for many
JSON = dict[str, Any]


def _free_port(start: int) -> int:
    port = start
    while not port_free(port):
        port += 1
    return port


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in a process group: the function's
    gunicorn master and worker. Less swayed by the machine's other load than wall time."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextmanager
def payouts_api(stack: Stack, *, traced: bool, port: int, trace_dir: Path) -> Iterator[tuple[str, int]]:
    """One more payouts-api process on ``port``, like the stack's, tracing on or off."""
    argv, env = stack._command("payouts-api")
    argv = [a if a != str(stack.procs["payouts-api"].port) else str(port) for a in argv]
    url = f"http://{HOST}:{port}"
    env.update(
        OIDC_AUDIENCE=url,
        FUNCTION_NAME=f"payouts-api-{'traced' if traced else 'untraced'}",
        TRACE_EXPORTER="file" if traced else "none",
        TRACE_FILE_DIR=str(trace_dir),
    )
    log = open(stack.state_dir / "logs" / f"tracing-overhead-{port}.log", "w")  # noqa: SIM115
    popen = subprocess.Popen(
        argv, cwd=stack.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.RequestException:
                if popen.poll() is not None or time.monotonic() > deadline:
                    raise StackError(f"payouts-api on {port} did not start; see {log.name}") from None
                time.sleep(0.2)
        yield url, popen.pid
    finally:
        os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=5)
        log.close()


def _queue(stack: Stack, action: str) -> None:
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(stack.env["CLOUD_TASKS_EMULATOR_HOST"])
    try:
        client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        name = f"projects/{stack.project}/locations/{stack.location}/queues/{QUEUE_TRANSFERS}"
        getattr(client, f"{action}_queue")(name=name, timeout=10)
    finally:
        channel.close()


def fund_sellers(client: StackClient, count: int, payouts_each: int, tag: str) -> list[str]:
    """Sellers in France with enough available balance for ``payouts_each`` payouts."""
    gross = AMOUNT * payouts_each * 2

    def one(i: int) -> str:
        seller = f"to-{tag}-{i:03d}"
        body = seller_body("FR", 5000 + i, "paid")
        assert client.call("PUT", "sellers-api", f"/sellers/{seller}", body).status_code == 201
        now = datetime.now(UTC).isoformat()
        base = {"occurred_at": now, "seller_id": seller, "order_line_id": f"ol-{seller}"}
        paid = {
            **base,
            "event_id": f"p-{seller}",
            "type": "order_line.paid",
            "data": {
                "gross": {"amount": gross, "currency": "EUR"},
                "commission": {"amount": 0, "currency": "EUR"},
            },
        }
        closed = {
            **base,
            "event_id": f"c-{seller}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        }
        assert client.post_order_event(paid).status_code == 202
        assert client.post_order_event(closed).status_code == 202
        return seller

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def _stats(samples: list[float]) -> JSON:
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000, 2)

    return {"n": len(ordered), "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99)}


_local = threading.local()


def _post(url: str, token: str, seller: str, key: str) -> tuple[float, int]:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    body = json.dumps({"seller_id": seller, "amount": {"amount": AMOUNT, "currency": "EUR"}})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key}
    started = time.perf_counter()
    status = _local.session.post(url + "/payouts", data=body, headers=headers, timeout=60).status_code
    return time.perf_counter() - started, status


def measure(stack: Stack, *, requests_per_side: int = 400, concurrency: int = 1, warmup: int = 40) -> JSON:
    """p50/p90/p99 of POST /payouts with tracing on and off, the overhead at p50, and the CPU
    each side's function process spent per request (spans' export included)."""
    client = StackClient.from_stack(stack, identity="marketplace")
    tag = uuid.uuid4().hex[:6]
    per_seller = 20
    sellers = fund_sellers(client, (requests_per_side + warmup) * 2 // per_seller + 1, per_seller, tag)
    trace_dir = Path(tempfile.mkdtemp(prefix="tracing-overhead-"))
    base_port = stack.procs["payouts-api"].port
    _queue(stack, "pause")
    try:
        with (
            payouts_api(
                stack, traced=True, port=_free_port(base_port + 1000), trace_dir=trace_dir
            ) as on_side,
            payouts_api(
                stack, traced=False, port=_free_port(base_port + 1010), trace_dir=trace_dir
            ) as off_side,
        ):
            (traced, on_pid), (untraced, off_pid) = on_side, off_side
            email = local_env.identity("marketplace", stack.project)
            tokens = {
                url: local_env.mint_token(stack.state_dir, email=email, audience=url, ttl=3600)
                for url in (traced, untraced)
            }
            rng = random.Random(7)
            calls: list[tuple[str, str, str]] = []
            for i in range(requests_per_side + warmup):
                pair = [traced, untraced]
                rng.shuffle(pair)  # which goes first changes every time
                for url in pair:
                    seller = sellers[len(calls) % len(sellers)]
                    calls.append((url, seller, f"to-{tag}-{i}-{url[-5:]}"))
            results: dict[str, list[float]] = {traced: [], untraced: []}
            statuses: dict[str, int] = {}

            def drive(batch: list[tuple[str, str, str]], keep: bool) -> None:
                with ThreadPoolExecutor(concurrency) as pool:
                    timed = pool.map(lambda c: (c[0], _post(c[0], tokens[c[0]], c[1], c[2])), batch)
                    for url, (seconds, status) in timed:
                        statuses[str(status)] = statuses.get(str(status), 0) + 1
                        if keep:
                            results[url].append(seconds)

            drive(calls[: warmup * 2], keep=False)
            time.sleep(1.5)  # the traced side exports the warm-up's spans
            cpu_on, cpu_off = group_cpu_seconds(on_pid), group_cpu_seconds(off_pid)
            drive(calls[warmup * 2 :], keep=True)
            time.sleep(1.5)  # and the measured ones: their export is part of tracing's cost
            cpu_on, cpu_off = group_cpu_seconds(on_pid) - cpu_on, group_cpu_seconds(off_pid) - cpu_off
            spans = sum(1 for p in trace_dir.glob("*.jsonl") for _ in p.open())
    finally:
        _queue(stack, "purge")
        _queue(stack, "resume")
    on, off = _stats(results[traced]), _stats(results[untraced])
    return {
        "concurrency": concurrency,
        "requests_per_side": requests_per_side,
        "traced": on,
        "untraced": off,
        "overhead_p50_percent": round((on["p50_ms"] / off["p50_ms"] - 1) * 100, 1),
        "overhead_p99_percent": round((on["p99_ms"] / off["p99_ms"] - 1) * 100, 1),
        "cpu_ms_per_request": {
            "traced": round(cpu_on / requests_per_side * 1000, 3),
            "untraced": round(cpu_off / requests_per_side * 1000, 3),
        },
        "cpu_overhead_ms_per_request": round((cpu_on - cpu_off) / requests_per_side * 1000, 3),
        "statuses": statuses,
        "spans_written": spans,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verification.tracing_overhead", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=400, help="measured requests per side and level")
    parser.add_argument("--concurrency", default="1", help="comma-separated levels (default 1)")
    parser.add_argument("--attach", action="store_true", help="use the running stack of --state-dir")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--port-offset", type=int, default=int(os.environ.get("STACK_PORT_OFFSET", "0")))
    parser.add_argument(
        "--max-overhead", type=float, default=None, help="exit 1 above this p50 overhead (%%)"
    )
    args = parser.parse_args(argv)
    stack = (
        Stack.load(ROOT, args.state_dir)
        if args.attach
        else Stack.start(ROOT, port_offset=args.port_offset, state_dir=args.state_dir)
    )
    os.environ.update(stack.env)
    rows = []
    try:
        for level in [int(c) for c in args.concurrency.split(",")]:
            row = measure(stack, requests_per_side=args.requests, concurrency=level)
            rows.append(row)
            print(
                f"POST /payouts, concurrency {level}, {args.requests} requests a side: "
                f"traced p50 {row['traced']['p50_ms']} ms p99 {row['traced']['p99_ms']} ms; "
                f"untraced p50 {row['untraced']['p50_ms']} ms p99 {row['untraced']['p99_ms']} ms; "
                f"overhead p50 {row['overhead_p50_percent']:+.1f} %, "
                f"p99 {row['overhead_p99_percent']:+.1f} % "
                f"({row['spans_written']} spans written; answers {row['statuses']}); CPU per request "
                f"{row['cpu_ms_per_request']['traced']} ms traced, "
                f"{row['cpu_ms_per_request']['untraced']} ms untraced: "
                f"tracing costs {row['cpu_overhead_ms_per_request']} ms"
            )
    finally:
        if not args.attach:
            stack.stop()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"tracing-overhead-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    load = os.getloadavg()[0]
    out.write_text(
        json.dumps({"at": datetime.now(UTC).isoformat(), "load_average": load, "rows": rows}, indent=2)
    )
    print(f"written {out}")
    worst = max(r["overhead_p50_percent"] for r in rows)
    return 1 if args.max_overhead is not None and worst > args.max_overhead else 0


if __name__ == "__main__":
    sys.exit(main())
