"""Product bugs this harness has found, by key; all fixed. A breach that matches one is printed
with its key, to name the regression; it is still a breach (the run exits 1)."""

from __future__ import annotations

FINDINGS = {
    "returned-not-reconciled": (
        "a transfer.returned webhook that never arrives left the payout paid for ever: the sweeper "
        "only asked the provider about open payouts. Fixed by the return watch "
        "(next_return_check in shared/domain/payouts.py, PayoutService.recheck_returns)"
    ),
    "run-start-contention": (
        "concurrent starts of one run contended on payout_runs/{run_id}: start_run's read-then-set "
        "transaction hit the emulator's lock timeouts, starters retried and failed, and the run "
        "existed only after minutes. Fixed: a plain create() (shared/usecases/payout_runs.py start_run)"
    ),
}
