"""``python -m verification.auditor``: audit the running local stack, or dataset files."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import verification.auditor
from verification.auditor.audit import audit
from verification.auditor.fingerprints import journal_fingerprints
from verification.auditor.report import AuditReport
from verification.auditor.store_data import load_store, read_dataset, write_dataset

ROOT = Path(__file__).resolve().parents[2]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m verification.auditor",
        description=(verification.auditor.__doc__ or "").split("\n\n")[0] + " Exits 1 on any breach.",
    )
    p.add_argument(
        "--dataset",
        type=Path,
        action="append",
        default=[],
        help="audit this dataset file instead of the running stack (repeatable; see --export)",
    )
    p.add_argument("--export", type=Path, default=None, help="also write what was read from the stack here")
    p.add_argument("--json", action="store_true", help="print each report as one line of JSON")
    p.add_argument("--allow-unfinished-runs", action="store_true", help="skip the runs-completed check")
    p.add_argument("--state-dir", type=Path, default=None, help="the stack's state (see local_stack.stack)")
    p.add_argument(
        "--port-offset", type=int, default=None, help="the stack's port offset (STACK_PORT_OFFSET)"
    )
    return p


def audit_dataset(path: Path, require_runs_completed: bool) -> AuditReport:
    dataset = read_dataset(path)
    return audit(
        dataset.data,
        dataset.provider_transfers,
        journal_snapshots=[journal_fingerprints(journal) for journal in dataset.journal_checkpoints],
        expected_collected=dataset.expected_collected,
        require_runs_completed=require_runs_completed,
    )


def audit_stack(args: argparse.Namespace) -> AuditReport:
    from local_stack.client import StackClient
    from local_stack.stack import Stack
    from shared.adapters.firestore_store import FirestoreStore
    from shared.settings import Settings

    stack = Stack.load(ROOT, args.state_dir, port_offset=args.port_offset)
    os.environ.update({k: v for k, v in stack.env.items() if not k.startswith("FUNCTION_URL")})
    data = load_store(FirestoreStore(Settings(), project=stack.project))
    transfers = StackClient.from_stack(stack).sandbox_transfers()
    if args.export is not None:
        write_dataset(args.export, data, transfers)
    return audit(data, transfers, require_runs_completed=not args.allow_unfinished_runs)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.dataset:
        reports = [(str(p), audit_dataset(p, not args.allow_unfinished_runs)) for p in args.dataset]
    else:
        reports = [("stack", audit_stack(args))]
    for source, report in reports:
        if args.json:
            print(json.dumps({"dataset": source, **report.as_json()}, sort_keys=True))
        else:
            if len(reports) > 1:
                print(f"== {source}")
            print(report.render())
    return 0 if all(report.ok for _, report in reports) else 1
