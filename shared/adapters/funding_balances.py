"""What the platform holds at each rail (the ``FundingBalances`` port), read from the rail's own
balance endpoint through its provider adapter:

- sandbox: ``GET /v1/balance?currency=`` (``SandboxProvider.platform_balance``);
- adyen: the platform balance account's ``available`` balance, Configuration API
  ``GET /balanceAccounts/{id}`` (official SDK, checked against BalancePlatformService-v2);
- stripe: the platform's ``available`` balance, ``GET /v1/balance`` (official SDK);
- every other rail (sepa_file) reports nothing here yet: its lines say ``unreported`` and never
  hold a run (README, "Known limits").

A rail that does not answer raises ``FundingUnreadable``: the run's check is made at the next sweep.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.adapters.providers.base import ProviderUnavailable
from shared.settings import Settings
from shared.usecases.ports import FundingUnreadable

Reader = Callable[[str], int]


def _sandbox(settings: Settings) -> Reader:
    from shared.adapters.providers.sandbox import SandboxProvider

    return SandboxProvider(settings).platform_balance


def _adyen(settings: Settings) -> Reader:
    from shared.adapters.providers.adyen import AdyenProvider

    return AdyenProvider(settings).platform_balance


def _stripe(settings: Settings) -> Reader:
    from shared.adapters.providers.stripe_connect import StripeConnectProvider

    return StripeConnectProvider(settings).platform_balance


_READERS: dict[str, Callable[[Settings], Reader]] = {"sandbox": _sandbox, "adyen": _adyen, "stripe": _stripe}


class RailFundingBalances:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._readers: dict[str, Reader] = {}

    def reports(self, rail: str) -> bool:
        return rail in _READERS

    def available(self, rail: str, currency: str) -> int | None:
        if rail not in _READERS:
            return None
        if rail not in self._readers:
            self._readers[rail] = _READERS[rail](self._settings)
        try:
            return self._readers[rail](currency)
        except ProviderUnavailable as exc:
            raise FundingUnreadable(f"{rail}: {exc}") from exc
