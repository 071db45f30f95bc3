"""The operations the function processes counted (``shared/metrics.py``), read as deltas between
snapshots and named for the report."""

from __future__ import annotations

from collections import Counter

from shared import metrics
from verification.bench.prices import MINIMUM_WRITES, MINIMUM_WRITES_TOTAL

JSON = dict[str, object]


def counters_delta(
    after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    out = {fn: metrics.delta(c, before.get(fn, {})) for fn, c in after.items()}
    return {fn: c for fn, c in out.items() if c}


def summed(by_function: dict[str, dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in by_function.values():
        total.update(c)
    return dict(sorted(total.items()))


def ops_view(c: dict[str, int]) -> dict[str, int]:
    """The counted operations, named for the report."""
    return {
        "firestore_reads": c.get("firestore.reads", 0),
        "firestore_reads_in_tx": c.get("firestore.reads_in_tx", 0),
        "firestore_reads_missing": c.get("firestore.reads_missing", 0),
        "firestore_writes": c.get("firestore.writes", 0),
        "firestore_writes_in_tx": c.get("firestore.writes_in_tx", 0),
        "firestore_commits": c.get("firestore.commits", 0),
        "firestore_queries": c.get("firestore.queries", 0),
        "firestore_aggregations": c.get("firestore.aggregations", 0),
        "firestore_transactions": c.get("firestore.transactions", 0),
        "firestore_tx_attempts": c.get("firestore.tx_attempts", 0),
        "firestore_tx_retries": c.get("firestore.tx_attempts", 0) - c.get("firestore.transactions", 0),
        "firestore_rollbacks": c.get("firestore.rollbacks", 0),
        "tasks_created": c.get("tasks.created", 0),
        "pubsub_messages": c.get("pubsub.messages", 0),
        "pubsub_bytes": c.get("pubsub.bytes", 0),
        "provider_calls": c.get("provider.create_transfer", 0) + c.get("provider.fetch_transfer", 0),
        "provider_webhooks": c.get("provider.webhooks", 0),
    }


def per(ops: dict[str, int], n: int) -> dict[str, float]:
    return {k: round(v / n, 3) for k, v in ops.items()} if n else {}


def writes_vs_minimum(by_function: dict[str, dict[str, int]], settled: int) -> JSON:
    if not settled:
        return {}
    actual = sum(c.get("firestore.writes", 0) for c in by_function.values()) / settled
    rows = {}
    for fn in sorted(set(MINIMUM_WRITES) | set(by_function)):
        writes = by_function.get(fn, {}).get("firestore.writes", 0) / settled
        if writes or fn in MINIMUM_WRITES:
            rows[fn] = {"actual": round(writes, 3), "minimum": MINIMUM_WRITES.get(fn, 0)}
    return {
        "minimum": MINIMUM_WRITES_TOTAL,
        "actual": round(actual, 3),
        "ratio": round(actual / MINIMUM_WRITES_TOTAL, 3),
        "by_function": rows,
    }
