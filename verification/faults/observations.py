"""What the faults did, seen from the provider's webhook log and the transfer worker's log."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from verification.faults.context import FaultContext


def observe_sandbox(ctx: FaultContext) -> None:
    log = ctx.client.sandbox("GET", "/v1/_webhooks").json()["data"]
    first_attempts: dict[str, int] = Counter()
    first_seen: dict[tuple[str, str], int] = {}
    for i, e in enumerate(log):
        if e["result"] == "dropped":
            ctx.observed["webhooks_dropped"] += 1
        if e["result"] == "retry_scheduled":
            ctx.observed["webhook_deliveries_retried"] += 1
        if e["attempt"] == 1 and not e["replay"]:
            first_attempts[e["event_id"]] += 1
            first_seen.setdefault((e["transfer_id"], e["type"]), i)
    ctx.observed["webhooks_duplicated"] = sum(n - 1 for n in first_attempts.values() if n > 1)
    ctx.observed["webhooks_out_of_order"] = sum(
        1
        for (tid, kind), i in first_seen.items()
        if kind == "transfer.returned" and i < first_seen.get((tid, "transfer.paid"), -1)
    )
    logs = Path(ctx.stack.procs["transfer-worker"].log).read_text(errors="replace")
    ctx.observed["provider_5xx_seen_by_worker"] = logs.count("provider answered 50")
    ctx.observed["provider_timeouts_seen_by_worker"] = logs.count("provider timed out")
