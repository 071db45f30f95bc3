"""Payment providers behind one small interface, routed per country rules.

Adding a provider means one module implementing :class:`PaymentProvider` and one entry in
``_FACTORIES``; the workers never change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

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
from shared.settings import Settings, get_settings

__all__ = [
    "OutcomeUnknown",
    "PaymentProvider",
    "ProviderEvent",
    "ProviderUnavailable",
    "TransferRejected",
    "TransferRequest",
    "TransferState",
    "WebhookRejected",
    "provider_for",
]


def _sandbox(settings: Settings) -> PaymentProvider:
    from shared.adapters.providers.sandbox import SandboxProvider

    return SandboxProvider(settings)


_FACTORIES: dict[str, Callable[[Settings], PaymentProvider]] = {"sandbox": _sandbox}
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
