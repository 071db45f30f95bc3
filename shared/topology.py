"""What the system is made of: every function, topic, subscription and queue, named once.

The local stack launcher, the settings and the infrastructure checks all read this module,
so a function or queue added here is added everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Trigger = Literal["http", "pubsub", "task", "eventarc"]  # eventarc: a Cloud Storage object event


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # deployed function name, also the local process name
    entry_point: str  # attribute of main.py
    trigger: Trigger
    default_port: int  # local port; override with PORT_<NAME> (dashes as underscores, upper case)
    topic: str | None = None  # for pubsub triggers: the topic whose push subscription feeds it
    public: bool = False  # only signature-guarded webhooks are reachable without IAM
    iap: bool = False  # people reach it through Identity-Aware Proxy (a load balancer), not IAM

    @property
    def port_env(self) -> str:
        return "PORT_" + self.name.upper().replace("-", "_")


# Topics
TOPIC_ORDER_EVENTS = "order-events"
TOPIC_RELEASE_FUNDS = "release-funds-tick"
TOPIC_PAYOUT_RUNS = "payout-runs"
TOPIC_SWEEPER = "payout-sweeper-tick"
TOPIC_PAYOUT_EVENTS = "payout-events"
TOPIC_RECONCILIATION = "reconciliation-tick"

# Cloud Tasks queues
QUEUE_RUN_SHARDS = "payout-run-shards"
QUEUE_TRANSFERS = "payout-transfers"
QUEUE_DOCUMENTS = "payout-documents"  # remittance advice (issue 18)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("sellers-api", "sellers_api", "http", 8301),
    FunctionSpec("order-events-webhook", "order_events_webhook", "http", 8302),
    FunctionSpec("order-events", "order_events_pubsub", "pubsub", 8303, topic=TOPIC_ORDER_EVENTS),
    FunctionSpec("release-funds", "release_funds", "pubsub", 8304, topic=TOPIC_RELEASE_FUNDS),
    FunctionSpec("payouts-api", "payouts_api", "http", 8305),
    FunctionSpec("payout-runs", "payout_runs", "pubsub", 8306, topic=TOPIC_PAYOUT_RUNS),
    FunctionSpec("run-shard-worker", "run_shard_worker", "task", 8307),
    FunctionSpec("transfer-worker", "transfer_worker", "task", 8308),
    FunctionSpec("provider-webhook", "provider_webhook", "http", 8309, public=True),
    FunctionSpec("payout-sweeper", "payout_sweeper", "pubsub", 8310, topic=TOPIC_SWEEPER),
    FunctionSpec("console", "console", "http", 8311, iap=True),
    # Reconciliation (issue 16): ops' API and the daily job.
    FunctionSpec("reconciliation-api", "reconciliation_api", "http", 8321),
    FunctionSpec("reconciliation", "reconciliation", "pubsub", 8322, topic=TOPIC_RECONCILIATION),
    FunctionSpec("remittance-worker", "remittance_worker", "task", 8320),  # issue 18
    # The SEPA bank-file rail (issue 16): the bank's files, from the inbound bucket through Eventarc.
    FunctionSpec("bank-files-inbound", "bank_files_inbound", "eventarc", 8323),
)

# Topics the code publishes to but no function of ours consumes.
OUTBOUND_TOPICS: tuple[str, ...] = (TOPIC_PAYOUT_EVENTS,)

# Cloud Tasks queues (short ids).
QUEUES: tuple[str, ...] = (QUEUE_RUN_SHARDS, QUEUE_TRANSFERS, QUEUE_DOCUMENTS)


def function(name: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def subscription_for(spec: FunctionSpec) -> str:
    """Push subscription id that delivers a topic to its function."""
    assert spec.topic is not None
    return f"{spec.topic}--{spec.name}"


def all_topics() -> tuple[str, ...]:
    consumed = tuple(s.topic for s in FUNCTIONS if s.topic)
    return tuple(dict.fromkeys(consumed + OUTBOUND_TOPICS))
