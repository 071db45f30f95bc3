"""Every provider, observed: a span per call in the payout's trace, and the metric lines of its
errors, latency and webhook lag (``shared/monitoring.py``). Wraps whichever provider
``ConfiguredProviders`` builds, so a new rail is observed without a line of its own."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from opentelemetry.trace import SpanKind

from shared import monitoring, tracing
from shared.adapters.providers.base import (
    OutcomeUnknown,
    PaymentProvider,
    ProviderEvent,
    ProviderUnavailable,
    TransferRejected,
    TransferRequest,
    TransferState,
    WebhookRejected,
)


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, TransferRejected):
        return "rejected"
    if isinstance(exc, OutcomeUnknown):
        return "unknown"
    if isinstance(exc, ProviderUnavailable):
        return "unavailable"
    return "error"


class ObservedProvider:
    def __init__(self, inner: PaymentProvider) -> None:
        self.inner = inner
        self.name = inner.name

    def _call(self, operation: str, reference: str, call: object) -> object:
        started = time.perf_counter()
        error: BaseException | None = None
        with tracing.span(
            f"{self.name} {operation}",
            kind=SpanKind.CLIENT,
            parent=tracing.payout_context(reference),
            attributes={"provider": self.name, "payout.id": reference},
        ) as span:
            try:
                assert callable(call)
                return call()
            except Exception as exc:
                error = exc
                raise
            finally:
                outcome = _outcome(error)
                if span.is_recording():
                    span.set_attribute("outcome", outcome)
                code = error.code.value if isinstance(error, TransferRejected) else None
                monitoring.provider_call(
                    self.name, operation, outcome, (time.perf_counter() - started) * 1000, code
                )

    def create_transfer(self, request: TransferRequest) -> TransferState:
        result = self._call("create_transfer", request.payout_id, lambda: self.inner.create_transfer(request))
        assert isinstance(result, TransferState)
        return result

    def fetch_transfer(self, reference: str) -> TransferState | None:
        result = self._call("fetch_transfer", reference, lambda: self.inner.fetch_transfer(reference))
        assert result is None or isinstance(result, TransferState)
        return result

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent:
        try:
            event = self.inner.parse_webhook(headers, body, now)
        except WebhookRejected:
            monitoring.provider_webhook(self.name, "rejected", None, None)
            raise
        lag = (datetime.fromtimestamp(now, UTC) - event.occurred_at).total_seconds()
        monitoring.provider_webhook(self.name, "accepted", event.transfer.status.value, round(lag, 3))
        return event
