"""Checks of the payout runs themselves."""

from __future__ import annotations

from collections.abc import Sequence

from verification.auditor.report import Check
from verification.auditor.store_data import Doc


def runs_completed(runs: Sequence[Doc]) -> Check:
    real = [r for r in runs if not r.get("dry_run")]
    check = Check("runs_completed", "every payout run completed", len(real))
    check.breaches = [f"{r['run_id']} is {r.get('status')}" for r in real if r.get("status") != "completed"]
    return check
