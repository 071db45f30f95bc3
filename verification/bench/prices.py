"""What the benchmark measures against: the writes per settled payout the design needs, and the
list prices that turn counted operations into a cost."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


# Writes per settled payout the design needs (see the module docstring), and where they happen.
MINIMUM_WRITES = {
    "run-shard-worker": 5 + 1,  # creation + the payout.created published mark
    "transfer-worker": 2 + 1,  # processing + its published mark
    "provider-webhook": 5 + 1,  # paid + its published mark
}
MINIMUM_WRITES_TOTAL = sum(MINIMUM_WRITES.values())  # 15

# List prices in USD (public pricing pages as last known; check them before quoting). Free tiers
# are ignored: this is the marginal cost at volume.
PRICES: JSON = {
    "firestore": {
        "table": "Firestore Native, regional us-central1 (nam5 multi-region is about 2x)",
        "per_100k_reads": 0.03,
        "per_100k_writes": 0.09,
    },
    "cloud_tasks": {
        "table": "Cloud Tasks, per billable operation (API call or push delivery attempt)",
        "per_million_operations": 0.40,
        "operations_per_task": 2,  # create + one delivery
    },
    "pubsub": {
        "table": "Pub/Sub throughput (publish and each delivery), 1 KB minimum per message",
        "per_tib": 40.0,
        "min_bytes_per_message": 1000,
        "deliveries_per_message": 1,  # one subscriber of payout-events assumed
    },
    "functions": {
        "table": "Cloud Run functions (2nd gen) = Cloud Run request-based, Tier 1",
        "per_million_invocations": 0.40,
        "per_vcpu_second": 0.000024,
        "per_gib_second": 0.0000025,
        "vcpu": 1.0,
        "gib": 0.5,
        "billing_granularity_s": 0.1,
    },
    "hosted_provider": {
        "table": "Stripe Connect payouts (platform-managed pricing, US list): 0.25% + USD 0.25 per payout "
        "(plus USD 2 per monthly active account, not counted)",
        "per_payout": 0.25,
        "percent": 0.25,
    },
}
