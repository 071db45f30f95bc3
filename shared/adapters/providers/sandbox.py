"""Adapter for the sandbox provider (``stand_ins/sandbox_provider.py``), shaped like a real PSP."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared import metrics
from shared.adapters.providers.base import (
    ContractViolation,
    OutcomeUnknown,
    ProviderEvent,
    ProviderUnavailable,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    TransferState,
    WebhookRejected,
    parse_webhook_body,
    request_never_sent,
)
from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.validation import MAX_AMOUNT, CurrencyCode, ResourceId
from shared.entrypoints import signing
from shared.settings import Settings

SIGNATURE_HEADER = "X-Sandbox-Signature"
_STATUS = {
    "processing": PayoutStatus.PROCESSING,
    "paid": PayoutStatus.PAID,
    "failed": PayoutStatus.FAILED,
    "returned": PayoutStatus.RETURNED,
}


# --- the webhook body, as the sandbox documents it (stand_ins/sandbox_provider.py) -------------------


class _WebhookModel(BaseModel):
    # Strict types, but fields the provider adds later are ignored: a PSP extends its events
    # without notice, and refusing them would stop every payout from settling.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, hide_input_in_errors=True)


ProviderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,255}$")]


class SandboxTransfer(_WebhookModel):
    id: ProviderId
    reference: ResourceId = Field(description="Our payout id.")
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="Integer minor units.")
    currency: CurrencyCode
    status: Literal["processing", "paid", "failed", "returned"] | None = None
    failure_code: Annotated[str, StringConstraints(max_length=100)] | None = None


class SandboxWebhookData(_WebhookModel):
    transfer: SandboxTransfer


class SandboxWebhook(_WebhookModel):
    id: ProviderId = Field(description="The provider's event id (applied once).")
    type: Literal["transfer.processing", "transfer.paid", "transfer.failed", "transfer.returned"]
    created: int = Field(ge=0, le=2**32, description="Unix seconds.")
    data: SandboxWebhookData


def _destination(account: ValidatedBankAccount) -> dict[str, Any]:
    data = account.to_storage()
    data.pop("fingerprint", None)
    data.pop("masked", None)
    return data


def _failure(code: Any) -> FailureCode | None:
    if code is None:
        return None
    try:
        return FailureCode(code)
    except ValueError:
        return FailureCode.DECLINED  # an unknown code from the provider: treat as a decline


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _state(data: Mapping[str, Any]) -> TransferState:
    return TransferState(
        provider_ref=str(data["id"]),
        reference=str(data["reference"]),
        status=_STATUS[str(data["status"])],
        amount=Money(data["amount"], str(data["currency"])),  # Money refuses floats and booleans
        failure_code=_failure(data.get("failure_code")),
    )


class SandboxProvider:
    name = "sandbox"

    def __init__(self, settings: Settings) -> None:
        self._url = settings.sandbox_url.rstrip("/")
        self._timeout = (2.0, settings.provider_timeout_seconds)
        self._headers = {"Authorization": f"Bearer {settings.sandbox_api_key.get_secret_value()}"}
        self._webhook_secrets = [s.get_secret_value() for s in settings.sandbox_webhook_secrets]
        self._tolerance = settings.webhook_tolerance_seconds
        self._http = requests.Session()

    def create_transfer(self, request: TransferRequest) -> TransferState:
        body = {
            "amount": request.amount.amount,
            "currency": request.amount.currency,
            "reference": request.payout_id,
            "destination": _destination(request.destination),
        }
        metrics.incr("provider.create_transfer")
        try:
            resp = self._http.post(
                f"{self._url}/v1/transfers",
                json=body,
                headers={**self._headers, "Idempotency-Key": request.payout_id},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            if request_never_sent(exc):
                raise TransferNotAccepted("provider unreachable: nothing sent") from exc
            # A timeout, or a connection that broke after the request may have reached it.
            raise OutcomeUnknown(
                "provider timed out" if isinstance(exc, requests.Timeout) else "connection to provider failed"
            ) from exc
        if resp.status_code in (200, 201):
            try:
                state = _state(resp.json())
            except (ValueError, KeyError, TypeError) as exc:
                raise ContractViolation("provider answer outside its contract") from exc
            if state.reference != request.payout_id:
                raise ContractViolation("provider answered about another transfer", "reference")
            return state
        if resp.status_code == 422:
            code = _failure((_json(resp).get("error") or {}).get("code"))
            if code is not None:
                raise TransferRejected(code)
            raise TransferNotAccepted("provider refused the request: invalid")  # documented: not stored
        if resp.status_code == 409:
            # The key was used with another body: a transfer may exist under it. Never guess.
            raise OutcomeUnknown("provider: idempotency key reused")
        if resp.status_code >= 500:
            # The sandbox creates nothing on a 5xx, but a real rail may have: treat it as unknown.
            raise OutcomeUnknown(f"provider answered {resp.status_code}")
        if resp.status_code in (400, 401, 429):
            # Not processed: our request or configuration is wrong, or we were rate limited.
            # Not the seller's fault: retry after someone fixes it (the error log pages ops).
            raise TransferNotAccepted(f"provider refused the request: {resp.status_code}")
        raise ContractViolation(f"provider answered {resp.status_code}, outside its contract")

    def fetch_transfer(self, reference: str, created_at: datetime | None = None) -> TransferState | None:
        metrics.incr("provider.fetch_transfer")
        try:
            resp = self._http.get(
                f"{self._url}/v1/transfers",
                params={"reference": reference},
                headers=self._headers,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable("provider unreachable") from exc
        if resp.status_code != 200:
            raise ProviderUnavailable(f"provider answered {resp.status_code}")
        try:
            found = resp.json().get("data") or []
            return _state(found[0]) if found else None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProviderUnavailable("provider lookup answer outside its contract") from exc

    def supports(self, destination: ValidatedBankAccount, currency: str) -> bool:
        return True

    def platform_balance(self, currency: str) -> int:
        """What the platform can pay out in ``currency`` now (``GET /v1/balance?currency=``)."""
        metrics.incr("provider.balance")
        try:
            resp = self._http.get(
                f"{self._url}/v1/balance",
                params={"currency": currency},
                headers=self._headers,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable("provider unreachable") from exc
        if resp.status_code != 200:
            raise ProviderUnavailable(f"provider balance answered {resp.status_code}")
        try:
            lines = resp.json()["available"]
            amounts = [int(x["amount"]) for x in lines if x["currency"] == currency]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable("provider balance outside its contract") from exc
        return sum(amounts)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent:
        """Signature first, then the documented schema (strict JSON, strict types): a body that
        breaks it is refused here, so nothing downstream runs and nothing is written."""
        try:
            signing.verify(
                headers.get(SIGNATURE_HEADER), body, self._webhook_secrets, now=now, tolerance=self._tolerance
            )
        except signing.SignatureError as exc:
            raise WebhookRejected(f"signature {exc.reason}", f"header.{SIGNATURE_HEADER}") from exc
        metrics.incr("provider.webhooks")
        webhook = parse_webhook_body(SandboxWebhook, body)
        transfer = webhook.data.transfer
        status = webhook.type.removeprefix("transfer.")
        if transfer.status is not None and transfer.status != status:
            raise WebhookRejected(
                "webhook body does not match its schema",
                details=[
                    {
                        "field": "data.transfer.status",
                        "reason": f"{transfer.status!r} contradicts type {webhook.type!r}",
                    }
                ],
            )
        return ProviderEvent(
            event_id=webhook.id,
            transfer=TransferState(
                provider_ref=transfer.id,
                reference=transfer.reference,
                status=_STATUS[status],
                amount=Money(transfer.amount, transfer.currency),
                failure_code=_failure(transfer.failure_code),
            ),
            occurred_at=datetime.fromtimestamp(webhook.created, UTC),
        )
