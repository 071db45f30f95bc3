"""The provider interface: create a transfer with an idempotency key, fetch it by our
reference, and verify and parse a webhook."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.validation import InvalidPayload, parse_payload

M = TypeVar("M", bound=BaseModel)


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


class WebhookRejected(ProviderError):
    """A webhook refused before anything runs: a bad signature (``reason`` starts with
    "signature": 401) or a body that is not the provider's documented schema (400
    ``invalid_webhook``, ``details`` naming each field: ``[{"field", "reason"}]``)."""

    def __init__(self, reason: str, details: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = list(details)


def parse_webhook_body(schema: type[M], body: bytes) -> M:
    """A signed webhook's body: strict JSON (no duplicate keys, bounded depth), then the
    provider's documented schema, or :class:`WebhookRejected` with each field's path. Every
    provider adapter calls this after checking the signature and before anything else runs."""
    try:
        return parse_payload(schema, body)
    except InvalidPayload as exc:
        reason = (
            "webhook body is not valid JSON" if exc.malformed else "webhook body does not match its schema"
        )
        raise WebhookRejected(reason, exc.details) from exc


class PaymentProvider(Protocol):
    name: str

    def create_transfer(self, request: TransferRequest) -> TransferState: ...

    def fetch_transfer(self, reference: str) -> TransferState | None: ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent: ...
