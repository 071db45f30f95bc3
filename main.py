"""Cloud Functions entry points.

Every function is deployed from the repository root with its own ``--entry-point``, so the
``shared`` package travels with each of them. The modules in ``functions/`` hold the code;
this file only names them, as the Python runtime looks for ``main.py``. functions-framework
loads it inside its Flask app's context, where the app gets its request tracing and the
framework's own answers (routing, CloudEvent parsing) become the documented JSON error body.
"""

from functions.console import console
from functions.order_events import order_events_pubsub, order_events_webhook
from functions.payout_runs import payout_runs, payout_sweeper
from functions.payouts import payouts_api
from functions.provider_webhook import provider_webhook
from functions.release_funds import release_funds
from functions.sellers import sellers_api
from functions.workers import run_shard_worker, transfer_worker
from shared import tracing
from shared.entrypoints import framework

framework.install()  # functions-framework imports this file inside its app, before routing it
tracing.instrument_current_app()

__all__ = [
    "console",
    "order_events_pubsub",
    "order_events_webhook",
    "payout_runs",
    "payout_sweeper",
    "payouts_api",
    "provider_webhook",
    "release_funds",
    "run_shard_worker",
    "sellers_api",
    "transfer_worker",
]
