"""Payment providers behind one small interface, routed per country rules.

Adding a provider means one module implementing :class:`PaymentProvider` and one entry in
``_FACTORIES``; the workers never change.
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
    WebhookIgnored,
    WebhookRejected,
    is_failover_safe,
    reported_status,
)
from shared.settings import Settings, get_settings

__all__ = [
    "CircuitOpen",
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
    "WebhookIgnored",
    "WebhookRejected",
    "is_failover_safe",
    "provider_for",
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
_instances: dict[str, PaymentProvider] = {}
_lock = threading.Lock()


def provider_for(route: str, settings: Settings | None = None) -> PaymentProvider:
    """The provider a country's rules route its payouts to (created once per process)."""
    with _lock:
        if route not in _instances:
            if route not in _FACTORIES:
                raise KeyError(f"no payment provider for route {route!r}")
            from shared.adapters.providers.observed import ObservedProvider

            # Traced and measured whatever the rail (shared/adapters/providers/observed.py).
            _instances[route] = ObservedProvider(_FACTORIES[route](settings or get_settings()))
        return _instances[route]
