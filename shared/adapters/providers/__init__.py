"""Payment providers behind one small interface, routed per country rules.

Adding a provider means one module implementing :class:`PaymentProvider` and one entry in
``_FACTORIES``; the workers never change. The composition root (``shared/entrypoints/deps.py``)
hands the use cases one :class:`ConfiguredProviders`: there is no process-global lookup.
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
    UnknownProvider,
    WebhookRejected,
)
from shared.settings import Settings

__all__ = [
    "ConfiguredProviders",
    "OutcomeUnknown",
    "PaymentProvider",
    "ProviderEvent",
    "ProviderUnavailable",
    "TransferRejected",
    "TransferRequest",
    "TransferState",
    "UnknownProvider",
    "WebhookRejected",
]


def _sandbox(settings: Settings) -> PaymentProvider:
    from shared.adapters.providers.sandbox import SandboxProvider

    return SandboxProvider(settings)


_FACTORIES: dict[str, Callable[[Settings], PaymentProvider]] = {"sandbox": _sandbox}


class ConfiguredProviders:
    """The payment providers of this deployment by route name (a ``ProviderDirectory``), each
    created on first use."""

    def __init__(
        self, settings: Settings, factories: dict[str, Callable[[Settings], PaymentProvider]] | None = None
    ) -> None:
        self._settings = settings
        self._factories = dict(_FACTORIES if factories is None else factories)
        self._instances: dict[str, PaymentProvider] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> PaymentProvider:
        with self._lock:
            if name not in self._instances:
                if name not in self._factories:
                    raise UnknownProvider(f"no payment provider {name!r}")
                self._instances[name] = self._factories[name](self._settings)
            return self._instances[name]
