"""``python -m verification.bench``: its arguments; the run itself is ``runner`` (imported only to
run, so that ``--help`` answers at once)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import verification.bench

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT_OFFSET = 600  # beside the usual stack (0) when STACK_PORT_OFFSET is not set


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    description = (verification.bench.__doc__ or "").split("\n\n")[0]
    p = argparse.ArgumentParser(prog="python -m verification.bench", description=description)
    p.add_argument("--sizes", default="1000,10000", help="sellers per end-to-end run (default 1000,10000)")
    p.add_argument("--large", action="store_true", help="add a run over 50,000 sellers")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results", help="folder of the JSON result")
    p.add_argument(
        "--parts", default="e2e,workers,http,rails,tracing", help="which parts to run (default all)"
    )
    p.add_argument("--rail-sellers", type=int, default=200, help="sellers of each rail's run (part rails)")
    p.add_argument("--concurrency", default="1,8,32", help="levels for the workers and HTTP parts")
    p.add_argument("--worker-payouts", type=int, default=300, help="transfer-worker calls per level")
    p.add_argument("--shard-sellers", type=int, default=1000, help="sellers of each shard-worker level")
    p.add_argument("--shard-buckets", type=int, default=32, help="run buckets (parallel pages) for it")
    p.add_argument("--http-requests", type=int, default=200, help="POST /payouts per level")
    p.add_argument("--settle-delay-ms", type=int, default=200, help="sandbox settle delay in runs")
    p.add_argument("--timeout", type=float, default=0, help="per run (default 120 s + 0.5 s per seller)")
    p.add_argument("--seed-threads", type=int, default=16)
    p.add_argument("--warmup", type=int, default=100, help="sellers of an unrecorded first run (0: none)")
    # argparse formats help strings with %: a literal percent sign is written %%.
    p.add_argument("--avg-payout-usd", type=float, default=100.0, help="for the hosted provider's %% fee")
    p.add_argument(
        "--port-offset",
        type=int,
        default=int(os.environ.get("STACK_PORT_OFFSET") or DEFAULT_PORT_OFFSET),
        help=f"of the bench stack (default: STACK_PORT_OFFSET, else {DEFAULT_PORT_OFFSET})",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="of the bench stack (default /tmp/bench-stack, /tmp/bench-stack-<offset> at another offset)",
    )
    p.add_argument("--keep", action="store_true", help="leave the bench stack running")
    args = p.parse_args(argv)
    if args.state_dir is None:
        suffix = "" if args.port_offset == DEFAULT_PORT_OFFSET else f"-{args.port_offset}"
        args.state_dir = Path(f"/tmp/bench-stack{suffix}")  # noqa: S108 - as asked
    args.sizes = sorted(
        {int(s) for s in args.sizes.split(",") if s.strip()} | ({50_000} if args.large else set())
    )
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.parts = {s.strip() for s in args.parts.split(",") if s.strip()}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from verification.bench.runner import run_bench  # the stack's and the parts' imports, only to run

    return run_bench(args)
