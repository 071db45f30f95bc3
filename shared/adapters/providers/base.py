"""The provider interface: create a transfer with an idempotency key, fetch it by our
reference, and verify and parse a webhook.

Errors of ``create_transfer`` say whether the rail **certainly did not accept** the transfer
(:class:`TransferNotAccepted`: nothing was sent, or the rail says in its contract that it did not
process the request; another rail may be tried) or whether the outcome is **unknown**
(:class:`OutcomeUnknown`: a timeout, a 5xx after sending, an answer outside the rail's contract;
never fail over, resolve by lookup first). :func:`is_failover_safe` is the one test of that.
A lookup (``fetch_transfer``) that fails raises :class:`ProviderUnavailable`: ask again later,
and never read a failed lookup as "no such transfer".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel

from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.validation import InvalidPayload, parse_payload

M = TypeVar("M", bound=BaseModel)

# Where a rail that pays a connected account (Stripe Connect) sends the money on to the bank:
# one bank payout per payout, or the account's own payout schedule (the country's rules decide).
BankPayout = Literal["per_payout", "account_schedule"]


@dataclass(frozen=True)
class SellerRailIds:
    """The seller's ids on the rails that need them (onboarding validates them)."""

    stripe_account: str | None = None  # Stripe Connect connected account, "acct_…"
    adyen_account_holder: str | None = None  # Adyen account holder, "AH…", where used
    adyen_balance_account: str | None = None  # the seller's own Adyen balance account, where used


@dataclass(frozen=True)
class TransferRequest:
    payout_id: str  # our reference, and the provider idempotency key
    amount: Money
    destination: ValidatedBankAccount
    # When the payout was created: rails whose lookup needs a time window search from here.
    created_at: datetime | None = None
    rail_ids: SellerRailIds = field(default_factory=SellerRailIds)
    run_id: str | None = None  # for the rail's own grouping and reports, where it has one
    bank_payout: BankPayout = "per_payout"


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
    # The rail's own order of the events of one transfer (Adyen's sequenceNumber), where it has
    # one: a consumer applies an event only if its sequence is above the last applied.
    sequence: int | None = None
    event_type: str = ""  # the rail's event type, for the logs


def reported_status(current: PayoutStatus, reported: TransferState) -> PayoutStatus:
    """What a rail's report means for a payout in ``current``: a rail that says "failed" about a
    payout it already paid is telling us the bank sent the money back (Stripe marks a paid
    payout failed), which is a return."""
    if current is PayoutStatus.PAID and reported.status is PayoutStatus.FAILED:
        return PayoutStatus.RETURNED
    return reported.status


class ProviderError(Exception):
    pass


class TransferRejected(ProviderError):
    """Permanent: the provider refused this transfer; retrying cannot help."""

    def __init__(self, code: FailureCode, message: str = "") -> None:
        super().__init__(message or code.value)
        self.code = code


class ProviderUnavailable(ProviderError):
    """Transient: this call did not get an answer we can use; try again later. From a lookup it
    says nothing about whether the transfer exists."""


class TransferNotAccepted(ProviderUnavailable):
    """From ``create_transfer``: the rail certainly did not accept the transfer (the connection
    was refused before anything was sent, or the rail answered with an error its contract
    documents as "not processed"). Retrying is safe, and so is failing over to another rail."""


class NotForThisRail(TransferNotAccepted):
    """Nothing was sent: this payout cannot go to this rail (the seller lacks the rail's ids, or
    the rail cannot pay the seller's bank scheme). Not a sign of the rail's health."""


class CircuitOpen(TransferNotAccepted):
    """The rail's circuit breaker is open: no call was made."""

    def __init__(self, rail: str) -> None:
        super().__init__(f"circuit open for {rail}")
        self.rail = rail


class OutcomeUnknown(ProviderError):
    """The call may or may not have created the transfer (a timeout, a 5xx after sending): ask
    before sending again, and never fail over until a lookup has settled it."""


class ContractViolation(OutcomeUnknown):
    """The rail answered outside its published contract: the adapter refuses to guess."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{message} (at {field})" if field else message)
        self.field = field


def is_failover_safe(error: BaseException) -> bool:
    """May a payout whose ``create_transfer`` raised ``error`` go to another rail?"""
    return isinstance(error, TransferNotAccepted)


class UnknownProvider(LookupError):
    """No payment provider is configured under that name."""


class WebhookRejected(ProviderError):
    """A webhook refused before anything runs: a bad signature (``reason`` starts with
    "signature": 401) or a signed body outside the rail's documented schema (400
    ``invalid_webhook``; ``field`` names where, ``details`` each field: ``[{"field", "reason"}]``)."""

    def __init__(self, reason: str, field: str | None = None, details: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(f"{reason} at {field}" if field else reason)
        self.reason = reason
        self.field = field
        self.details = list(details) or ([{"field": field, "reason": reason}] if field else [])


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
        raise WebhookRejected(reason, details=exc.details) from exc


class WebhookIgnored(ProviderError):
    """A correctly signed webhook of a type or about an object the platform does not follow:
    acknowledge it (2xx), log it, apply nothing."""

    def __init__(self, event_type: str, event_id: str, why: str) -> None:
        super().__init__(f"{event_type} {event_id}: {why}")
        self.event_type = event_type
        self.event_id = event_id
        self.why = why


class PaymentProvider(Protocol):
    name: str

    def create_transfer(self, request: TransferRequest) -> TransferState: ...

    def fetch_transfer(self, reference: str) -> TransferState | None: ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent: ...


def request_never_sent(error: BaseException) -> bool:
    """True when an HTTP client error means the request never reached the rail: the TCP
    connection was refused or not established in time. Anything else (a read timeout, a reset
    after sending) may have reached it."""
    import requests
    import urllib3.exceptions

    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, requests.ConnectTimeout | urllib3.exceptions.NewConnectionError):
            return True
        if isinstance(item, urllib3.exceptions.ConnectTimeoutError):
            return True
        pending.extend([item.__cause__, item.__context__, *item.args])
        reason = getattr(item, "reason", None)
        if reason is not None:
            pending.append(reason)
    return False
