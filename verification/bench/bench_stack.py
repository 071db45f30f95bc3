"""The benchmark's own stack, whose functions count their operations (PAYOUTS_METRICS_FILE)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from local_stack.stack import Stack, StackError
from shared import metrics
from verification.bench.console import console

ROOT = Path(__file__).resolve().parents[2]


def _function_has_metrics(stack: Stack) -> bool:
    pid = stack.procs["transfer-worker"].pid
    with contextlib.suppress(OSError):
        return metrics.ENV.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    return False


def start_stack(args: argparse.Namespace, metrics_base: Path) -> tuple[Stack, bool]:
    """Our own stack; a healthy one already running in the state dir is reused if it counts."""
    with contextlib.suppress(FileNotFoundError):
        found = Stack.load(ROOT, args.state_dir)
        if found.healthy() and _function_has_metrics(found):
            console.print(f"reusing the bench stack already running in {args.state_dir}")
            return found, False
        if found.running():
            raise StackError(f"a stack without metrics runs in {args.state_dir}: stop it first")
    for old in metrics_base.parent.glob(metrics_base.name + ".*"):
        old.unlink()
    stack = Stack.start(
        ROOT,
        port_offset=args.port_offset,
        state_dir=args.state_dir,
        extra_env={metrics.ENV: str(metrics_base)},
    )
    console.print(
        f"bench stack up in {stack.startup_seconds:.1f} s (ports +{args.port_offset}, {args.state_dir})"
    )
    return stack, True
