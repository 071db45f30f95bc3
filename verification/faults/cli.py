"""``python -m verification.faults``: the seeded fault run and its audit; exits 1 on a breach."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import verification.faults
from verification.faults.plan import FX_SHARE, make_plan

DEFAULT_PORT_OFFSET = 400  # beside the usual stack (0) when STACK_PORT_OFFSET is not set


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m verification.faults",
        description=verification.faults.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--sellers", type=int, default=None, help="default 1000 (120 with --short)")
    p.add_argument("--short", action="store_true", help="fewer faults of each kind, no second run")
    p.add_argument(
        "--port-offset",
        type=int,
        default=int(os.environ.get("STACK_PORT_OFFSET") or DEFAULT_PORT_OFFSET),
        help=f"of its own stack (default: STACK_PORT_OFFSET, else {DEFAULT_PORT_OFFSET})",
    )
    p.add_argument("--state-dir", type=Path, default=None, help="default /tmp/faults-stack-<offset>")
    p.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    p.add_argument(
        "--sandbox-only",
        action="store_true",
        help="every seller through the sandbox (no SE/Adyen, PL/Stripe sellers, no rail outage)",
    )
    p.add_argument(
        "--fx-share",
        type=float,
        default=FX_SHARE,
        help=f"share of order lines sold on another storefront, paid converted (default {FX_SHARE}; 0: none)",
    )
    p.add_argument("--plan-only", action="store_true", help="print the plan and exit")
    p.add_argument(
        "--plan-out", type=Path, default=None, help="with --plan-only: also write the plan as JSON"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sellers = args.sellers or (120 if args.short else 1000)
    if args.plan_only:
        plan = make_plan(
            args.seed, sellers, args.short, mixed_rails=not args.sandbox_only, fx_share=args.fx_share
        )
        print("\n".join(plan.summary()))
        if args.plan_out is not None:
            args.plan_out.write_text(json.dumps(plan.as_json(), indent=1, sort_keys=True, default=str) + "\n")
        return 0
    from verification.faults.runner import run_fault_injection  # the stack's imports, only to run

    outcome = run_fault_injection(
        args.seed,
        sellers,
        short=args.short,
        port_offset=args.port_offset,
        state_dir=args.state_dir,
        keep=args.keep,
        mixed_rails=not args.sandbox_only,
        fx_share=args.fx_share,
    )
    return 0 if outcome.ok else 1
