"""Fakes of the outside systems' ports: Cloud Tasks, Pub/Sub and a payment provider. Their
contract tests (``tests/contract/``) run against the real adapters on the local stack too."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.domain.events import OutboxEvent
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.usecases.ports import (
    OutcomeUnknown,
    PaymentProvider,
    ProviderEvent,
    ProviderUnavailable,
    TransferRejected,
    TransferRequest,
    TransferState,
    UnknownProvider,
    WebhookRejected,
)


@dataclass(frozen=True)
class Task:
    queue: str
    function: str
    payload: dict[str, Any]
    dedupe_key: str | None
    delay_seconds: float
    name: str


class FakeTaskQueue:
    """Records tasks (a ``TaskQueue``); ``fail`` makes enqueue raise, as a down queue would."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.fail = False

    def enqueue(
        self,
        queue: str,
        function: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        delay_seconds: float = 0,
    ) -> str:
        if self.fail:
            raise RuntimeError("tasks unavailable")
        digest = hashlib.sha256((dedupe_key or str(len(self.tasks))).encode()).hexdigest()[:32]
        name = f"projects/p/locations/l/queues/{queue}/tasks/{digest}"
        self.tasks.append(Task(queue, function, dict(payload), dedupe_key, delay_seconds, name))
        return name

    def to(self, function: str) -> list[dict[str, Any]]:
        return [t.payload for t in self.tasks if t.function == function]


class FakePublisher:
    """Records published events (an ``EventPublisher``); ``fail`` makes publishing raise."""

    def __init__(self) -> None:
        self.events: list[tuple[str, OutboxEvent]] = []
        self.fail = False

    def publish_event(self, topic: str, event: OutboxEvent) -> str:
        if self.fail:
            raise RuntimeError("pubsub unavailable")
        self.events.append((topic, event))
        return str(len(self.events))

    def types(self) -> list[str]:
        return [e.type for _, e in self.events]


Behaviour = Callable[[TransferRequest], TransferState]


class FakeProvider:
    """A payment provider in memory (a ``PaymentProvider``): transfers by our reference,
    idempotent on it. ``next_create`` decides the outcome of the next creates (accept, raise a
    refusal, unavailable, unknown outcome); ``events`` are what ``parse_webhook`` answers."""

    def __init__(self, name: str = "sandbox", secret: str = "whsec") -> None:  # noqa: S107 - a fake
        self.name = name
        self.secret = secret
        self.transfers: dict[str, TransferState] = {}
        self.creates = 0
        self.fetches = 0
        self.outcomes: list[Exception | PayoutStatus] = []
        self.fetch_fails = False
        self._lock = threading.Lock()

    def next_create(self, *outcomes: Exception | PayoutStatus) -> None:
        self.outcomes.extend(outcomes)

    def create_transfer(self, request: TransferRequest) -> TransferState:
        with self._lock:
            self.creates += 1
            if request.payout_id in self.transfers:
                return self.transfers[request.payout_id]
            outcome = self.outcomes.pop(0) if self.outcomes else PayoutStatus.PROCESSING
            if isinstance(outcome, OutcomeUnknown):
                # The provider got it, the answer was lost.
                self.transfers[request.payout_id] = self._state(request, PayoutStatus.PROCESSING)
                raise outcome
            if isinstance(outcome, Exception):
                raise outcome
            state = self._state(request, outcome)
            self.transfers[request.payout_id] = state
            return state

    def _state(self, request: TransferRequest, status: PayoutStatus) -> TransferState:
        return TransferState(
            provider_ref=f"tr_{hashlib.sha256(request.payout_id.encode()).hexdigest()[:12]}",
            reference=request.payout_id,
            status=status,
            amount=request.amount,
        )

    def settle(
        self, reference: str, status: PayoutStatus, failure_code: FailureCode | None = None
    ) -> TransferState:
        """The bank moved the transfer on (what a webhook would then say)."""
        with self._lock:
            from dataclasses import replace

            state = replace(self.transfers[reference], status=status, failure_code=failure_code)
            self.transfers[reference] = state
            return state

    def fetch_transfer(self, reference: str) -> TransferState | None:
        with self._lock:
            self.fetches += 1
            if self.fetch_fails:
                raise ProviderUnavailable("fake provider down")
            return self.transfers.get(reference)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent:
        if headers.get("X-Fake-Signature") != self.secret:
            raise WebhookRejected("signature mismatch")
        reference, status, event_id = body.decode().split(":")
        state = self.settle(reference, PayoutStatus(status))
        return ProviderEvent(event_id, state, datetime.fromtimestamp(now, UTC))


def rejected(code: FailureCode) -> TransferRejected:
    return TransferRejected(code)


class FakeProviders:
    """A ``ProviderDirectory`` over fakes."""

    def __init__(self, *providers: PaymentProvider) -> None:
        self.by_name = {p.name: p for p in providers}

    def get(self, name: str) -> PaymentProvider:
        if name not in self.by_name:
            raise UnknownProvider(f"no payment provider {name!r}")
        return self.by_name[name]


class FakeFundingBalances:
    """What the platform holds at each rail, in memory (a ``FundingBalances``): ``fund`` sets a
    rail's balance in a currency; a rail never funded reports nothing (None); ``down`` makes a
    rail unreadable."""

    def __init__(self) -> None:
        self.balances: dict[tuple[str, str], int] = {}
        self.down: set[str] = set()
        self.asked: list[tuple[str, str]] = []

    def fund(self, rail: str, currency: str, amount: int) -> None:
        self.balances[(rail, currency)] = amount

    def available(self, rail: str, currency: str) -> int | None:
        from shared.usecases.ports import FundingUnreadable

        self.asked.append((rail, currency))
        if rail in self.down:
            raise FundingUnreadable(f"{rail} did not answer")
        if not any(r == rail for r, _ in self.balances):
            return None
        return self.balances.get((rail, currency), 0)
