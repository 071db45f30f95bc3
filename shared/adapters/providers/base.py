"""The provider interface: create a transfer with an idempotency key, fetch it by our
reference, and verify and parse a webhook."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus


@dataclass(frozen=True)
class TransferRequest:
    payout_id: str  # our reference, and the provider idempotency key
    amount: Money
    destination: ValidatedBankAccount


@dataclass(frozen=True)
class TransferState:
    provider_ref: str
    reference: str
    status: PayoutStatus  # processing, paid, failed or returned
    amount: Money
    failure_code: FailureCode | None = None


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str  # the provider's event id: the de-duplication key
    transfer: TransferState
    occurred_at: datetime


class ProviderError(Exception):
    pass


class TransferRejected(ProviderError):
    """Permanent: the provider refused this transfer; retrying cannot help."""

    def __init__(self, code: FailureCode, message: str = "") -> None:
        super().__init__(message or code.value)
        self.code = code


class ProviderUnavailable(ProviderError):
    """Transient: nothing was created; try again later."""


class OutcomeUnknown(ProviderError):
    """The call may or may not have created the transfer (a timeout): ask before sending again."""


class UnknownProvider(LookupError):
    """No payment provider is configured under that name."""


class WebhookRejected(ProviderError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PaymentProvider(Protocol):
    name: str

    def create_transfer(self, request: TransferRequest) -> TransferState: ...

    def fetch_transfer(self, reference: str) -> TransferState | None: ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent: ...
