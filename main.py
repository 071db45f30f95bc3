"""Cloud Functions entry points.

Every function is deployed from the repository root with its own ``--entry-point``, so the
``shared`` package travels with each of them. The modules in ``functions/`` hold the code;
this file only names them, as the Python runtime looks for ``main.py``. functions-framework
loads it inside its Flask app's context, where the app gets its request tracing and the
framework's own answers (routing, CloudEvent parsing) become the documented JSON error body.

An entry point is imported on first use (PEP 562 module ``__getattr__``): functions-framework
finds its target with ``getattr(main, target)``, so each function's cold start imports its own
module and dependencies, not every function's.
"""

from __future__ import annotations

import importlib
from typing import Any

from shared import tracing
from shared.entrypoints import framework

framework.install()  # functions-framework imports this file inside its app, before routing it
tracing.instrument_current_app()

# entry point -> the module of functions/ that defines it
ENTRY_POINTS: dict[str, str] = {
    "bank_files_inbound": "functions.bank_files",  # issue 16: the bank's answers (Eventarc)
    "console": "functions.console",
    "order_events_pubsub": "functions.order_events",
    "order_events_webhook": "functions.order_events",
    "payout_runs": "functions.payout_runs",
    "payout_sweeper": "functions.payout_runs",
    "payouts_api": "functions.payouts",
    "provider_webhook": "functions.provider_webhook",
    "reconciliation": "functions.reconciliation",
    "reconciliation_api": "functions.reconciliation",
    "release_funds": "functions.release_funds",
    "remittance_worker": "functions.documents",
    "run_shard_worker": "functions.workers",
    "sellers_api": "functions.sellers",
    "transfer_worker": "functions.workers",
}

__all__ = sorted(ENTRY_POINTS)


def __getattr__(name: str) -> Any:
    if name not in ENTRY_POINTS:
        raise AttributeError(f"module {__name__!r} has no entry point {name!r}")
    function = getattr(importlib.import_module(ENTRY_POINTS[name]), name)
    globals()[name] = function  # found directly from now on
    return function


def __dir__() -> list[str]:
    return sorted([*globals(), *ENTRY_POINTS])
