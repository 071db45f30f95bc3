"""What every part of the benchmark shares: its stack, the store and use cases it seeds through,
the ops client, the memory sampler, and the resets between parts."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from local_stack.client import StackClient
from local_stack.stack import Stack
from shared import metrics
from shared.adapters.firestore_store import FirestoreStore
from shared.domain.countries import CountryRegistry
from shared.topology import QUEUES
from shared.usecases.payouts import PayoutService
from verification.bench.processes import MemorySampler


@dataclass
class Bench:
    args: argparse.Namespace
    stack: Stack
    metrics_base: Path
    store: FirestoreStore
    registry: CountryRegistry
    svc: PayoutService
    ops: StackClient
    sampler: MemorySampler

    # -- resets --
    def wipe(self) -> None:
        """Empty the stack's Firestore project (the emulator's own endpoint) and the sandbox."""
        host = self.stack.env["FIRESTORE_EMULATOR_HOST"]
        url = f"http://{host}/emulator/v1/projects/{self.stack.project}/databases/(default)/documents"
        requests.delete(url, timeout=120).raise_for_status()
        self.ops.sandbox("POST", "/v1/_reset").raise_for_status()

    def sandbox_config(self, **config: int) -> None:
        self.ops.sandbox("POST", "/v1/_config", config).raise_for_status()

    def queues(self, action: str) -> None:
        """pause / resume / purge both Cloud Tasks queues of the emulator."""
        import grpc
        from google.cloud import tasks_v2
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        channel = grpc.insecure_channel(self.stack.env["CLOUD_TASKS_EMULATOR_HOST"])
        try:
            client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
            for q in QUEUES:
                name = f"projects/{self.stack.project}/locations/{self.stack.location}/queues/{q}"
                getattr(client, f"{action}_queue")(name=name, timeout=10)
        finally:
            channel.close()

    # -- counters of the function processes --
    def function_counters(self) -> dict[str, dict[str, int]]:
        return metrics.totals_by_function(metrics.read_dumps(self.metrics_base))

    def quiet_counters(self, timeout: float = 30) -> dict[str, dict[str, int]]:
        """The function processes' counters once they stop moving (files are rewritten twice a second)."""
        deadline = time.monotonic() + timeout
        previous: dict[str, dict[str, int]] | None = None
        while True:
            time.sleep(metrics.DUMP_INTERVAL * 2 + 0.2)
            current = self.function_counters()
            if current == previous or time.monotonic() > deadline:
                return current
            previous = current
