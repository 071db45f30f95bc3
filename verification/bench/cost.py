"""Part 4, cost: an estimated GCP cost per 1,000,000 settled payouts from the operations counted
per payout, at list prices (``prices.PRICES``), beside a hosted provider's payout fee."""

from __future__ import annotations

from typing import Any

from verification.bench.prices import PRICES

JSON = dict[str, Any]
MILLION = 1_000_000


def cost_per_million(run: JSON, billed_seconds_per_invocation: float, avg_payout_usd: float) -> JSON:
    """Estimated GCP cost of 1,000,000 settled payouts from the counted operations, at PRICES."""
    firestore_usd, tasks_usd, pubsub_usd = _storage_and_messaging_usd(run["ops_per_payout"])
    requests_usd, compute_low, compute_high, billed = _functions_usd(run, billed_seconds_per_invocation)
    gcp_low = firestore_usd + tasks_usd + pubsub_usd + requests_usd + compute_low
    gcp_high = firestore_usd + tasks_usd + pubsub_usd + requests_usd + compute_high
    hosted = PRICES["hosted_provider"]
    stripe = MILLION * (hosted["per_payout"] + avg_payout_usd * hosted["percent"] / 100)
    return {
        "per_million_payouts_usd": {
            "firestore": round(firestore_usd, 2),
            "cloud_tasks": round(tasks_usd, 2),
            "pubsub": round(pubsub_usd, 2),
            "functions_invocations": round(requests_usd, 2),
            "functions_compute_low": round(compute_low, 2),
            "functions_compute_high": round(compute_high, 2),
            "total_low": round(gcp_low, 2),
            "total_high": round(gcp_high, 2),
        },
        "hosted_provider_per_million_usd": round(stripe, 2),
        "avg_payout_usd": avg_payout_usd,
        "assumptions": _assumptions(run, billed),
    }


def _storage_and_messaging_usd(p: JSON) -> tuple[float, float, float]:
    """(Firestore, Cloud Tasks, Pub/Sub) per million payouts."""
    fs, tasks, ps = (PRICES[k] for k in ("firestore", "cloud_tasks", "pubsub"))
    firestore_usd = MILLION * (
        p["firestore_reads"] * fs["per_100k_reads"] / 1e5
        + p["firestore_writes"] * fs["per_100k_writes"] / 1e5
    )
    tasks_usd = (
        MILLION * p["tasks_created"] * tasks["operations_per_task"] * tasks["per_million_operations"] / 1e6
    )
    msg_bytes = (
        max(ps["min_bytes_per_message"], p["pubsub_bytes"] / p["pubsub_messages"])
        if p["pubsub_messages"]
        else 0
    )
    pubsub_usd = (
        MILLION
        * p["pubsub_messages"]
        * (1 + ps["deliveries_per_message"])
        * msg_bytes
        / 2**40
        * ps["per_tib"]
    )
    return firestore_usd, tasks_usd, pubsub_usd


def _functions_usd(run: JSON, billed_seconds_per_invocation: float) -> tuple[float, float, float, float]:
    """(invocations, compute low, compute high, billed seconds per invocation) per million payouts."""
    fn = PRICES["functions"]
    invocations = run["invocations_per_payout"]
    requests_usd = MILLION * invocations * fn["per_million_invocations"] / 1e6
    per_second = fn["vcpu"] * fn["per_vcpu_second"] + fn["gib"] * fn["per_gib_second"]
    # Low: billed time = the CPU the function processes used (busy instances, concurrency > 1).
    compute_low = MILLION * run["function_cpu_seconds_per_payout"] * per_second
    # High: request-based billing at concurrency 1: each invocation billed its latency (>= 100 ms).
    billed = max(fn["billing_granularity_s"], billed_seconds_per_invocation)
    compute_high = MILLION * invocations * billed * per_second
    return requests_usd, compute_low, compute_high, billed


def _assumptions(run: JSON, billed: float) -> list[str]:
    fn = PRICES["functions"]
    return [
        f"{run['invocations_per_payout']} function invocations per payout "
        "(tasks created + provider webhooks + the run trigger)",
        f"functions at {fn['vcpu']} vCPU / {fn['gib']} GiB; compute low = CPU seconds the function "
        f"processes used ({run['function_cpu_seconds_per_payout']} s per payout); "
        f"high = every invocation billed {billed:.3f} s "
        "(transfer-worker mean latency at concurrency 1, at least 100 ms)",
        "Cloud Tasks: 2 billable operations per task (create + one delivery)",
        "Pub/Sub: each payout event published once and delivered to one subscriber, 1 KB minimum each",
        "free tiers and Firestore storage ignored; provider fee at the given average payout",
    ]
