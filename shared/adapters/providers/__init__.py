"""Payment providers behind one small interface, routed per country rules.

Adding a provider means one module implementing :class:`PaymentProvider` and one entry in
``_FACTORIES``; the workers never change. The composition root (``shared/entrypoints/deps.py``)
hands the use cases and the webhook one :class:`ConfiguredProviders`: there is no process-global
lookup. Every provider it builds is observed (``observed.ObservedProvider``: a span per call and
the metric lines), and the real rails sit behind their circuit breakers (``breaker.GuardedRail``),
so a new rail added to ``_FACTORIES`` is traced, measured and guarded without a line of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from shared.adapters.providers.base import (
    CircuitOpen,
    ContractViolation,
    NotForThisRail,
    OutcomeUnknown,
    PaymentProvider,
    ProviderEvent,
    ProviderUnavailable,
    SellerRailIds,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    TransferState,
    UnknownProvider,
    WebhookIgnored,
    WebhookRejected,
    is_failover_safe,
    reported_status,
)
from shared.settings import Settings

__all__ = [
    "CircuitOpen",
    "ConfiguredProviders",
    "ContractViolation",
    "NotForThisRail",
    "OutcomeUnknown",
    "PaymentProvider",
    "ProviderEvent",
    "ProviderUnavailable",
    "SellerRailIds",
    "TransferNotAccepted",
    "TransferRejected",
    "TransferRequest",
    "TransferState",
    "UnknownProvider",
    "WebhookIgnored",
    "WebhookRejected",
    "is_failover_safe",
    "reported_status",
]


def _sandbox(settings: Settings) -> PaymentProvider:
    from shared.adapters.providers.sandbox import SandboxProvider

    return SandboxProvider(settings)


def _adyen(settings: Settings) -> PaymentProvider:
    from shared.adapters.providers.adyen import AdyenProvider
    from shared.adapters.providers.breaker import GuardedRail

    return GuardedRail(AdyenProvider(settings))


def _stripe(settings: Settings) -> PaymentProvider:
    from shared.adapters.providers.breaker import GuardedRail
    from shared.adapters.providers.stripe_connect import StripeConnectProvider

    return GuardedRail(StripeConnectProvider(settings))


# The real rails sit behind their circuit breakers (breaker.py); no country routes to them yet.
_FACTORIES: dict[str, Callable[[Settings], PaymentProvider]] = {
    "sandbox": _sandbox,
    "adyen": _adyen,
    "stripe": _stripe,
}


def _observed(provider: PaymentProvider) -> PaymentProvider:
    from shared.adapters.providers.observed import ObservedProvider

    return ObservedProvider(provider)


class ConfiguredProviders:
    """The payment providers of this deployment by route name (a ``ProviderDirectory``), each
    created on first use and wrapped by ``wrap`` (by default :class:`ObservedProvider`: traced
    and measured whatever the rail)."""

    def __init__(
        self,
        settings: Settings,
        factories: dict[str, Callable[[Settings], PaymentProvider]] | None = None,
        wrap: Callable[[PaymentProvider], PaymentProvider] = _observed,
    ) -> None:
        self._settings = settings
        self._factories = dict(_FACTORIES if factories is None else factories)
        self._wrap = wrap
        self._instances: dict[str, PaymentProvider] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> PaymentProvider:
        with self._lock:
            if name not in self._instances:
                if name not in self._factories:
                    raise UnknownProvider(f"no payment provider {name!r}")
                self._instances[name] = self._wrap(self._factories[name](self._settings))
            return self._instances[name]
