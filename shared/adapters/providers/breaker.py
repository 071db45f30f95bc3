"""A circuit breaker per rail (``pybreaker``), and each rail's health for ops.

:class:`GuardedRail` wraps any provider. Consecutive transient failures (a timeout, a 5xx, a
refused connection, an answer outside the contract) open the rail's circuit; while it is open,
``create_transfer`` raises :class:`CircuitOpen` without calling the rail (certainly not accepted:
another rail may be tried) and a lookup raises :class:`ProviderUnavailable`. After
``reset_timeout`` one trial call goes through (half-open): success closes the circuit, failure
opens it again. A refusal on the merits (:class:`TransferRejected`) or a payout that is not for
this rail (:class:`NotForThisRail`) says the rail is up. Webhooks are inbound and not guarded.

pybreaker holds its lock for the whole guarded call, which would let one slow call hold up
every other thread of a function instance; :class:`_Breaker` takes the lock only to decide and
to record, and leaves the counting, tripping and state changes to pybreaker.

The breaker is per process (per function instance), as the rail's health seen from there is.
:func:`rails_health` gives ops each rail's state, consecutive failures, error rate and latency
over its last ``window`` calls.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker

from shared.adapters.providers.base import (
    CircuitOpen,
    NotForThisRail,
    PaymentProvider,
    ProviderEvent,
    ProviderUnavailable,
    TransferRejected,
    TransferRequest,
    TransferState,
)
from shared.domain.bank_accounts import ValidatedBankAccount

T = TypeVar("T")


class _Breaker(pybreaker.CircuitBreaker):
    """pybreaker's breaker, without holding its lock while the guarded call runs."""

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            if self.current_state == pybreaker.STATE_OPEN:
                opened_at = self._state_storage.opened_at
                if opened_at and datetime.now(UTC) < opened_at + timedelta(seconds=self.reset_timeout):
                    raise pybreaker.CircuitBreakerError("circuit open")
                self.half_open()
            state = self.state
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            with self._lock:
                state._handle_error(exc)  # counts it (or not: excluded), may trip; re-raises
            raise
        with self._lock:
            state._handle_success()
        return result


class GuardedRail:
    """A provider behind its rail's circuit breaker, its calls measured."""

    def __init__(
        self, provider: PaymentProvider, *, fail_max: int = 5, reset_timeout: float = 30.0, window: int = 200
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self.breaker = _Breaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            exclude=[TransferRejected, NotForThisRail],
            name=provider.name,
            throw_new_error_on_trip=False,  # the caller must see the real outcome of the call
        )
        self._calls: deque[tuple[bool, float]] = deque(maxlen=window)
        self._stats_lock = threading.Lock()
        _register(self)

    def _guarded(self, func: Callable[..., T], *args: Any) -> T:
        started = time.monotonic()
        ok = False
        try:
            result = self.breaker.call(func, *args)
            ok = True
            return result
        except (TransferRejected, NotForThisRail):
            ok = True  # the rail answered on the merits
            raise
        finally:
            with self._stats_lock:
                self._calls.append((ok, time.monotonic() - started))

    def create_transfer(self, request: TransferRequest) -> TransferState:
        try:
            return self._guarded(self.provider.create_transfer, request)
        except pybreaker.CircuitBreakerError as exc:
            raise CircuitOpen(self.name) from exc

    def fetch_transfer(self, reference: str, created_at: datetime | None = None) -> TransferState | None:
        fetch: Any = self.provider.fetch_transfer
        try:
            if created_at is None:
                return self._guarded(fetch, reference)  # type: ignore[no-any-return]
            return self._guarded(fetch, reference, created_at)  # type: ignore[no-any-return]
        except pybreaker.CircuitBreakerError as exc:
            # Not CircuitOpen: a lookup that was not made says nothing about the transfer.
            raise ProviderUnavailable(f"circuit open for {self.name}: lookup not made") from exc

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent:
        return self.provider.parse_webhook(headers, body, now)

    def supports(self, destination: ValidatedBankAccount, currency: str) -> bool:
        supports = getattr(self.provider, "supports", None)
        return bool(supports(destination, currency)) if supports else True

    def health(self) -> dict[str, Any]:
        with self._stats_lock:
            calls = list(self._calls)
        latencies = sorted(seconds for _, seconds in calls)
        failures = sum(1 for ok, _ in calls if not ok)

        def percentile(p: float) -> float | None:
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

        return {
            "rail": self.name,
            "state": self.breaker.current_state,  # closed, open or half-open
            "consecutive_failures": self.breaker.fail_counter,
            "calls": len(calls),
            "error_rate": round(failures / len(calls), 3) if calls else 0.0,
            "latency_ms_p50": percentile(0.5),
            "latency_ms_p95": percentile(0.95),
        }


_rails: dict[str, GuardedRail] = {}
_rails_lock = threading.Lock()


def _register(rail: GuardedRail) -> None:
    with _rails_lock:
        _rails[rail.name] = rail


def rails_health() -> list[dict[str, Any]]:
    """Each guarded rail of this process: circuit state, failures, error rate, latency."""
    with _rails_lock:
        rails = list(_rails.values())
    return [rail.health() for rail in sorted(rails, key=lambda r: r.name)]
