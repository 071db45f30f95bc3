"""Adyen Balance Platform (Transfers API v4) through Adyen's official library.

A payout is ``POST /transfers`` with ``category: bank`` from the platform's balance account to
the seller's bank account, ``reference`` = payout id and ``Idempotency-Key`` = payout id, so a
resend can never pay twice. ``GET /transfers/{id}`` follows one transfer; an unknown outcome is
settled by ``GET /transfers`` filtered by ``reference`` over a creation window (the spec's lookup
by our reference: it lists transfers in every status, where ``GET /transactions`` only lists the
booked and pending movements of a balance account, so it cannot tell a refused transfer from one
never made). Webhooks ``balancePlatform.transfer.created`` / ``.updated`` are verified with
``Adyen.util.is_valid_hmac_payload`` under up to two HMAC keys (rotation), parsed strictly and
checked against Adyen's notification schema; their ``sequenceNumber`` orders the events.

Every answer is checked against ``TransferService-v4.json`` (``contracts``): one outside the
contract is a :class:`ContractViolation` (unknown outcome: the payout waits for a lookup).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests
from Adyen import Adyen as AdyenClient
from Adyen import util as adyen_util
from Adyen.exceptions import AdyenAPIResponseError, AdyenError
from schwifty import IBAN

from shared import metrics, strict_json
from shared.adapters.providers import contracts
from shared.adapters.providers.base import (
    ContractViolation,
    NotForThisRail,
    OutcomeUnknown,
    ProviderEvent,
    ProviderUnavailable,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    TransferState,
    WebhookIgnored,
    WebhookRejected,
    request_never_sent,
)
from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.settings import Settings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "HmacSignature"
WEBHOOK_TYPES = frozenset({"balancePlatform.transfer.created", "balancePlatform.transfer.updated"})
SCHEMES = frozenset({"iban", "us_aba"})  # Adyen has no Zengin identification (JP): not this rail
SPEC = contracts.ADYEN_TRANSFERS
_P, _F, _R = PayoutStatus.PROCESSING, PayoutStatus.FAILED, PayoutStatus.RETURNED

# Why Adyen failed, refused or returned a transfer (its ``reason``) -> our failure code.
ADYEN_REASONS: dict[str, FailureCode] = {
    "counterpartyAccountClosed": FailureCode.ACCOUNT_CLOSED,
    "counterpartyAccountNotFound": FailureCode.NO_ACCOUNT,
    "invalidToAccount": FailureCode.INVALID_ACCOUNT_NUMBER,
    "invalidAccount": FailureCode.INVALID_ACCOUNT_NUMBER,
    "counterpartyAccountBlocked": FailureCode.ACCOUNT_FROZEN,
    "notEnoughBalance": FailureCode.INSUFFICIENT_PLATFORM_FUNDS,
    "refusedByCounterpartyBank": FailureCode.DECLINED,
    "declined": FailureCode.DECLINED,
    "declinedByTransactionRule": FailureCode.DECLINED,
    "transactionNotPermitted": FailureCode.DECLINED,
    "amountLimitExceeded": FailureCode.DECLINED,
    "counterpartyAddressRequired": FailureCode.DECLINED,
    "counterpartyBankTimedOut": FailureCode.COULD_NOT_PROCESS,
    "counterpartyBankUnavailable": FailureCode.COULD_NOT_PROCESS,
    "internalTimeout": FailureCode.COULD_NOT_PROCESS,
    "routeNotFound": FailureCode.COULD_NOT_PROCESS,
    "unableToRouteTransaction": FailureCode.COULD_NOT_PROCESS,
    "error": FailureCode.COULD_NOT_PROCESS,
    "unknown": FailureCode.COULD_NOT_PROCESS,
}
_ENDINGS = {
    "failed": _F, "refused": _F, "error": _F, "rejected": _F, "cancelled": _F, "expired": _F, "returned": _R,
}  # fmt: skip
_UNDER_WAY = (
    "received", "authorised", "pendingApproval", "approvalPending", "bookingPending", "pending",
    "pendingExecution",
)  # fmt: skip

# The one table: Adyen (status, reason) -> (our status, failure code). A reason of None is the
# row for any reason not listed (failed for an unlisted reason: declined).
ADYEN_OUTCOMES: dict[tuple[str, str | None], tuple[PayoutStatus, FailureCode | None]] = {
    **{(s, None): (_P, None) for s in _UNDER_WAY},
    ("booked", None): (PayoutStatus.PAID, None),
    **{(s, None): (ours, FailureCode.DECLINED) for s, ours in _ENDINGS.items()},
    **{(s, r): (ours, code) for s, ours in _ENDINGS.items() for r, code in ADYEN_REASONS.items()},
}


def outcome(status: str, reason: str | None) -> tuple[PayoutStatus, FailureCode | None] | None:
    """Our status and code for an Adyen status and reason (None: a status we do not follow)."""
    return ADYEN_OUTCOMES.get((status, reason)) or ADYEN_OUTCOMES.get((status, None))


def counterparty(account: ValidatedBankAccount, currency: str) -> dict[str, Any]:
    """The seller's bank account as Adyen's ``counterparty.bankAccount``: an IBAN (a GB account
    paid in GBP as ``ukLocal``, sort code and number, for Faster Payments), or ``usLocal``."""
    holder = {"fullName": account.holder_name}
    if account.scheme == "iban" and account.iban is not None:
        iban = IBAN(account.iban.get_secret_value())
        if iban.country_code == "GB" and currency == "GBP":
            ident: dict[str, Any] = {
                "type": "ukLocal",
                "sortCode": str(iban.branch_code),
                "accountNumber": str(iban.account_code),
            }
        else:
            ident = {"type": "iban", "iban": str(iban.compact)}
            if account.bic:
                ident["bic"] = account.bic
    elif account.scheme == "us_aba" and account.account_number is not None and account.routing_number:
        ident = {
            "type": "usLocal",
            "accountNumber": account.account_number.get_secret_value(),
            "routingNumber": account.routing_number,
            "accountType": account.account_type or "checking",
        }
    else:
        raise NotForThisRail(f"adyen cannot pay a {account.scheme} account")
    return {"bankAccount": {"accountHolder": holder, "accountIdentification": ident}}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


class AdyenProvider:
    name = "adyen"

    def __init__(self, settings: Settings, *, lookup_days: int = 180) -> None:
        self._balance_account = settings.adyen_balance_account_id
        self._hmac_keys = [k.get_secret_value() for k in settings.adyen_hmac_keys]
        self._lookup = timedelta(days=lookup_days)  # Adyen allows at most 6 months per query
        self._adyen = AdyenClient(
            xapikey=settings.adyen_api_key.get_secret_value(),
            platform=settings.adyen_environment,
            http_timeout=(2.0, settings.provider_timeout_seconds),  # requests takes (connect, read)
            application_name="seller-payouts",
        )
        self._transfers = self._adyen.transfers.transfers_api
        self._transactions = self._adyen.transfers.transactions_api  # reconciliation's reads
        if settings.adyen_transfers_url:  # the local stand-in (through Prism); Adyen's own otherwise
            self._transfers.baseUrl = settings.adyen_transfers_url.rstrip("/")
            self._transactions.baseUrl = settings.adyen_transfers_url.rstrip("/")
        self._accounts = self._adyen.balancePlatform.balance_accounts_api  # the funding check's read
        if settings.adyen_balance_platform_url:
            self._accounts.baseUrl = settings.adyen_balance_platform_url.rstrip("/")

    def supports(self, destination: ValidatedBankAccount, currency: str) -> bool:
        return destination.scheme in SCHEMES

    # --- create ---------------------------------------------------------------------------------

    def transfer_body(self, request: TransferRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "amount": {"value": request.amount.amount, "currency": request.amount.currency},
            "balanceAccountId": self._balance_account,
            "category": "bank",
            "counterparty": counterparty(request.destination, request.amount.currency),
            "priority": "regular",
            "reference": request.payout_id,
            "referenceForBeneficiary": request.payout_id[:80],
            "description": "Seller payout",
        }
        return body

    def create_transfer(self, request: TransferRequest) -> TransferState:
        body = self.transfer_body(request)
        metrics.incr("provider.create_transfer")
        try:
            result = self._transfers.transfer_funds(body, idempotency_key=request.payout_id)
        except AdyenAPIResponseError as exc:
            raise self._refusal(exc) from exc
        except requests.RequestException as exc:
            if request_never_sent(exc):
                raise TransferNotAccepted("adyen unreachable: nothing sent") from exc
            raise OutcomeUnknown(f"adyen did not answer ({type(exc).__name__})") from exc
        except AdyenError as exc:  # the library refused before sending (configuration)
            raise TransferNotAccepted(f"adyen client: {exc}") from exc
        answered = self._answer(result.raw_response, "/transfers", "post", str(result.status_code))
        state = self._state(answered)
        if state.reference != request.payout_id:
            raise ContractViolation("adyen answered about another transfer", "reference")
        if state.amount != request.amount:
            raise ContractViolation("adyen answered with another amount", "amount")
        return state

    def _refusal(self, exc: AdyenAPIResponseError) -> Exception:
        """Classify an HTTP error answer of ``POST /transfers`` (see the module docstring)."""
        status = int(exc.status_code or 0)
        if status in (401, 403, 422):
            try:
                body = strict_json.loads(exc.raw_response or "")
            except strict_json.JsonRejected:
                return ContractViolation(f"adyen {status} without a JSON body")
            schema = contracts.operation_schema(SPEC, "/transfers", "post", str(status)) or ""
            errors = contracts.schema_errors(SPEC, schema, body)
            if errors:
                where, what = errors[0]
                return ContractViolation(f"adyen {status} outside its error contract: {what}", where)
            if status == 422:
                if str(body.get("errorCode", "")) == IDEMPOTENCY_IN_USE:
                    return OutcomeUnknown("adyen: the idempotency key is in use by another request")
                fields = [str(f.get("name", "")) for f in body.get("invalidFields", [])]
                if any(f.startswith("counterparty.bankAccount") for f in fields):
                    code = FailureCode.INVALID_ACCOUNT_NUMBER
                    return TransferRejected(code, "adyen refused the bank account")
            # Documented as "not processed": our credentials or request are wrong. No transfer.
            return TransferNotAccepted(f"adyen refused the request: {status} {body.get('errorCode')}")
        if status == 429:
            return TransferNotAccepted("adyen rate limit: not processed")
        if status >= 500:
            return OutcomeUnknown(f"adyen answered {status}")
        return ContractViolation(f"adyen answered {status}, which its contract does not document")

    # --- follow and look up ---------------------------------------------------------------------

    def follow(self, provider_ref: str) -> TransferState:
        """``GET /transfers/{id}``: the transfer as Adyen has it now."""
        metrics.incr("provider.fetch_transfer")
        try:
            result = self._transfers.get_transfer(quote(provider_ref, safe=""))
        except (AdyenError, requests.RequestException) as exc:
            raise ProviderUnavailable(f"adyen lookup failed ({type(exc).__name__})") from exc
        try:
            return self._state(self._answer(result.raw_response, "/transfers/{id}", "get", "200"))
        except ContractViolation as exc:
            raise ProviderUnavailable(str(exc)) from exc

    def fetch_transfer(self, reference: str, created_at: datetime | None = None) -> TransferState | None:
        """The transfer whose ``reference`` is our payout id, or None if Adyen has none: ``GET
        /transfers`` for our balance account, filtered by reference, from a little before the
        payout was created (or ``lookup_days`` back) until now, every page followed."""
        now = datetime.now(UTC)
        since = (created_at - timedelta(minutes=5)) if created_at else now - self._lookup
        since = max(since, now - self._lookup)
        query = {
            "balanceAccountId": self._balance_account,
            "reference": reference,
            "createdSince": _iso(since),
            "createdUntil": _iso(now + timedelta(minutes=5)),
            "limit": "100",
        }
        found: list[TransferState] = []
        for _page in range(100):
            metrics.incr("provider.fetch_transfer")
            params = {k: quote(v, safe="") for k, v in query.items()}
            try:
                result = self._transfers.get_all_transfers(query_parameters=params)
                page = self._answer(result.raw_response, "/transfers", "get", "200")
            except (AdyenError, requests.RequestException, ContractViolation) as exc:
                raise ProviderUnavailable(f"adyen lookup failed ({type(exc).__name__}: {exc})") from exc
            for item in page.get("data", []):
                if item.get("reference") == reference:  # the filter, checked: never trust blindly
                    try:
                        found.append(self._state(item))
                    except ContractViolation as exc:
                        raise ProviderUnavailable(str(exc)) from exc
            cursor = _next_cursor(page)
            if cursor is None:
                break
            query["cursor"] = cursor
        else:
            raise ProviderUnavailable("adyen lookup: too many pages")
        if len({s.provider_ref for s in found}) > 1:
            # Two transfers for one payout: never pick one. Ops must look (the auditor says so too).
            logger.error("adyen has %d transfers with reference %s", len(found), reference)
            raise ProviderUnavailable(f"adyen has {len(found)} transfers for one payout")
        return found[0] if found else None

    # --- reconciliation ---------------------------------------------------------------------------

    def booked_transactions(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """``GET /transactions`` of our balance account created in [since, until), every page
        followed by its cursor, each answer checked against the contract: what reconciliation
        reads (shared/adapters/rail_records/sources.py). ``createdUntil`` is inclusive at
        Adyen, so a transaction created at ``until`` is left to the next window."""
        query = {
            "balanceAccountId": self._balance_account,
            "createdSince": _iso(since),
            "createdUntil": _iso(until),
            "limit": "100",
        }
        for _page in range(10_000):
            metrics.incr("provider.list_transactions")
            params = {k: quote(v, safe="") for k, v in query.items()}
            try:
                result = self._transactions.get_all_transactions(query_parameters=params)
                page = self._answer(result.raw_response, "/transactions", "get", "200")
            except (AdyenError, requests.RequestException, ContractViolation) as exc:
                raise ProviderUnavailable(f"adyen transactions failed ({type(exc).__name__}: {exc})") from exc
            for item in page.get("data", []):
                created = _parse_time(item.get("creationDate"))
                if created is None or since <= created < until:
                    yield item
            cursor = _next_cursor(page)
            if cursor is None:
                return
            query["cursor"] = cursor
        raise ProviderUnavailable("adyen transactions: too many pages")

    # --- funding --------------------------------------------------------------------------------

    def platform_balance(self, currency: str) -> int:
        """The ``available`` balance of our balance account in ``currency`` (Configuration API
        ``GET /balanceAccounts/{id}``, checked against BalancePlatformService-v2): what transfers
        can draw on now. A currency the account does not list holds 0."""
        metrics.incr("provider.balance")
        try:
            result = self._accounts.get_balance_account(self._balance_account)
            data = self._answer(
                result.raw_response, "/balanceAccounts/{id}", "get", "200", contracts.ADYEN_BALANCE_PLATFORM
            )
        except (AdyenError, requests.RequestException, ContractViolation) as exc:
            raise ProviderUnavailable(f"adyen balance account failed ({type(exc).__name__}: {exc})") from exc
        return sum(int(b["available"]) for b in data.get("balances", []) if b.get("currency") == currency)

    # --- webhooks -------------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent:
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected("signature missing")
        if not any(self._signed_with(signature, key, body) for key in self._hmac_keys):
            raise WebhookRejected("signature mismatch")
        metrics.incr("provider.webhooks")
        try:
            data = strict_json.loads(body)
        except strict_json.JsonRejected as exc:
            raise WebhookRejected(f"malformed webhook body: {exc.reason}", exc.path) from exc
        if not isinstance(data, dict):
            raise WebhookRejected("body outside Adyen's contract: not an object", "$")
        event_type = data.get("type") if isinstance(data, dict) else None
        transfer = data.get("data") if isinstance(data, dict) else None
        transfer_id = str(transfer.get("id", "")) if isinstance(transfer, dict) else ""
        if event_type not in WEBHOOK_TYPES:
            raise WebhookIgnored(str(event_type), transfer_id, "not a transfer webhook")
        errors = contracts.schema_errors(
            contracts.ADYEN_TRANSFER_WEBHOOKS, "TransferNotificationRequest", data
        )
        if errors:
            raise WebhookRejected(f"body outside Adyen's contract: {errors[0][1]}", errors[0][0])
        assert isinstance(transfer, dict)
        if transfer.get("category") != "bank" or transfer.get("direction", "outgoing") != "outgoing":
            raise WebhookIgnored(str(event_type), transfer_id, "not an outgoing bank transfer")
        if not transfer_id or not transfer.get("reference"):
            raise WebhookIgnored(str(event_type), transfer_id, "no transfer id or reference")
        mapped = outcome(str(transfer["status"]), transfer.get("reason"))
        if mapped is None:
            raise WebhookIgnored(str(event_type), transfer_id, f"status {transfer['status']} not followed")
        sequence = transfer.get("sequenceNumber")
        occurred = (
            _parse_time(transfer.get("updatedAt"))
            or _parse_time(data.get("timestamp"))
            or _parse_time(transfer.get("creationDate"))
            or datetime.fromtimestamp(now, UTC)
        )
        return ProviderEvent(
            # One id per state of one transfer: a redelivery of the same webhook is a duplicate.
            event_id=f"{transfer_id}:{sequence if sequence is not None else transfer['status']}",
            transfer=self._state(transfer),
            occurred_at=occurred,
            sequence=int(sequence) if sequence is not None else None,
            event_type=str(event_type),
        )

    @staticmethod
    def _signed_with(signature: str, key: str, body: bytes) -> bool:
        try:
            return bool(adyen_util.is_valid_hmac_payload(signature, key, body))
        except (ValueError, TypeError):  # a malformed key (not hex): it cannot have signed this
            logger.error("an Adyen HMAC key is not hex; check ADYEN_HMAC_KEYS")
            return False

    # --- answers --------------------------------------------------------------------------------

    def _answer(self, raw: Any, path: str, method: str, status: str, spec: str = SPEC) -> dict[str, Any]:
        """Parse an answer strictly and check it against the operation's schema."""
        schema = contracts.operation_schema(spec, path, method, status)
        if schema is None:
            raise ContractViolation(f"adyen answered {status} to {method.upper()} {path}")
        try:
            data = strict_json.loads(raw if isinstance(raw, str | bytes) else "")
        except strict_json.JsonRejected as exc:
            raise ContractViolation(f"adyen answer is not JSON: {exc.reason}", exc.path) from exc
        errors = contracts.schema_errors(spec, schema, data)
        if errors:
            raise ContractViolation(f"adyen answer outside {schema}: {errors[0][1]}", errors[0][0])
        if not isinstance(data, dict):
            raise ContractViolation("adyen answer is not an object")
        return data

    def _state(self, transfer: Mapping[str, Any]) -> TransferState:
        status = str(transfer.get("status", ""))
        mapped = outcome(status, transfer.get("reason"))
        if mapped is None:
            raise ContractViolation(f"adyen transfer status {status!r} is not a payout's", "status")
        if not transfer.get("id") or not transfer.get("reference"):
            raise ContractViolation("adyen transfer without id or reference", "id")
        amount = transfer["amount"]
        try:
            money = Money(amount["value"], str(amount["currency"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise ContractViolation(f"adyen amount unusable: {exc}", "amount") from exc
        ours, code = mapped
        return TransferState(
            provider_ref=str(transfer["id"]),
            reference=str(transfer["reference"]),
            status=ours,
            amount=money,
            failure_code=code,
        )


# The stand-in's errorCode for a key in use with another request (Adyen answers 422 for a key
# still being processed; the transfer may exist, so it is never read as "not processed").
IDEMPOTENCY_IN_USE = "704"


def _next_cursor(page: Mapping[str, Any]) -> str | None:
    href = ((page.get("_links") or {}).get("next") or {}).get("href")
    if not href:
        return None
    values = parse_qs(urlsplit(str(href)).query).get("cursor")
    return values[0] if values else None
