"""The circuit breaker per rail: consecutive transient failures open it; while open a transfer
is refused without a call (certainly not accepted, failover-safe) and a lookup is "ask again";
after the reset timeout one trial call decides. A refusal on the merits keeps it closed."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime
from typing import Any

import pytest

from shared.adapters.providers.base import (
    CircuitOpen,
    NotForThisRail,
    OutcomeUnknown,
    ProviderUnavailable,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    TransferState,
    is_failover_safe,
)
from shared.adapters.providers.breaker import GuardedRail, rails_health
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from tests.unit.rails.helpers import account

REQUEST = TransferRequest(payout_id="po_1", amount=Money(100, "EUR"), destination=account("FR"))
STATE = TransferState("ref", "po_1", PayoutStatus.PROCESSING, Money(100, "EUR"))


class Scripted:
    """A provider that raises or answers as told, and counts its calls."""

    def __init__(self, name: str = "scripted") -> None:
        self.name = name
        self.script: list[Any] = []
        self.calls = 0

    def _next(self) -> Any:
        self.calls += 1
        step = self.script.pop(0) if self.script else STATE
        if isinstance(step, BaseException):
            raise step
        return step

    def create_transfer(self, request: TransferRequest) -> TransferState:
        return self._next()  # type: ignore[no-any-return]

    def fetch_transfer(self, reference: str, created_at: datetime | None = None) -> TransferState | None:
        return self._next()  # type: ignore[no-any-return]

    def parse_webhook(self, headers: Any, body: bytes, now: int) -> Any:
        raise NotImplementedError


def test_consecutive_failures_open_the_circuit_and_the_real_outcome_is_kept():
    inner = Scripted("opens")
    rail = GuardedRail(inner, fail_max=3, reset_timeout=60)
    inner.script = [OutcomeUnknown("timeout"), TransferNotAccepted("refused"), OutcomeUnknown("500")]
    for expected in (OutcomeUnknown, TransferNotAccepted, OutcomeUnknown):
        with pytest.raises(expected):  # the call that trips still says what really happened
            rail.create_transfer(REQUEST)
    assert rail.health()["state"] == "open"
    with pytest.raises(CircuitOpen) as opened:
        rail.create_transfer(REQUEST)
    assert is_failover_safe(opened.value) and inner.calls == 3  # no call was made
    with pytest.raises(ProviderUnavailable) as lookup:
        rail.fetch_transfer("po_1")
    assert not isinstance(lookup.value, TransferNotAccepted)  # a lookup not made proves nothing


def test_a_rejection_or_a_payout_for_another_rail_says_the_rail_is_up():
    inner = Scripted("merits")
    rail = GuardedRail(inner, fail_max=2, reset_timeout=60)
    inner.script = [OutcomeUnknown("timeout"), TransferRejected(FailureCode.NO_ACCOUNT), OutcomeUnknown("t"),
                    NotForThisRail("no acct"), OutcomeUnknown("t")]  # fmt: skip
    for _ in range(5):
        with pytest.raises((OutcomeUnknown, TransferRejected, NotForThisRail)):
            rail.create_transfer(REQUEST)
    assert rail.health()["state"] == "closed"


def test_after_the_reset_timeout_one_trial_decides():
    inner = Scripted("trial")
    rail = GuardedRail(inner, fail_max=1, reset_timeout=0.2)
    inner.script = [OutcomeUnknown("down")]
    with pytest.raises(OutcomeUnknown):
        rail.create_transfer(REQUEST)
    assert rail.health()["state"] == "open"
    time.sleep(0.25)
    inner.script = [OutcomeUnknown("still down")]
    with pytest.raises(OutcomeUnknown):
        rail.create_transfer(REQUEST)  # the trial failed: open again
    assert rail.health()["state"] == "open"
    time.sleep(0.25)
    assert rail.create_transfer(REQUEST) == STATE  # the trial passed: closed
    assert rail.health()["state"] == "closed"


def test_calls_run_concurrently_through_the_breaker():
    """pybreaker holds its lock during a call; ours does not, so one slow call holds no one up."""

    class Slow(Scripted):
        def create_transfer(self, request: TransferRequest) -> TransferState:
            time.sleep(0.3)
            return STATE

    rail = GuardedRail(Slow("slow"), fail_max=3)
    started = time.monotonic()
    threads = [threading.Thread(target=rail.create_transfer, args=(REQUEST,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 1.0


def test_health_reports_each_rail_for_ops():
    inner = Scripted("reported")
    rail = GuardedRail(inner, fail_max=5)
    inner.script = [STATE, OutcomeUnknown("t"), STATE, STATE]
    for _ in range(4):
        with contextlib.suppress(OutcomeUnknown):
            rail.create_transfer(REQUEST)
    health = next(h for h in rails_health() if h["rail"] == "reported")
    assert health["state"] == "closed" and health["calls"] == 4 and health["error_rate"] == 0.25
    assert health["latency_ms_p50"] is not None and health["consecutive_failures"] == 0
