"""Stripe Connect through Stripe's official library: the marketplace flow.

The seller has a connected account (``acct_…``, :class:`SellerRailIds.stripe_account`). A payout
is a transfer from the platform to that account (``POST /v1/transfers``, ``destination``,
``transfer_group`` = payout id, ``Idempotency-Key`` = ``<payout id>:transfer``) then, when the
country's rules say so (``TransferRequest.bank_payout == "per_payout"``), a payout from the
connected account to its bank (``POST /v1/payouts`` with ``Stripe-Account``, ``Idempotency-Key``
= ``<payout id>:payout``); otherwise the account's own payout schedule moves the money on.

Lookup by our reference: ``GET /v1/transfers?transfer_group=<payout id>``, then the connected
account's ``GET /v1/payouts`` from the transfer's creation, matched on ``metadata.payout_id``. A
lookup that finds the transfer without its bank payout (an attempt stopped between the two calls)
makes that payout, idempotently: so "not found" always means no transfer, and a resend after a
lookup can never make a second transfer, even once Stripe has pruned the key (24 h). Once the
transfer exists, every error of the bank payout step is an unknown outcome, never a reason to
fail over: the money has left the platform.

A bank payout that fails (or comes back after it was paid) leaves the money in the connected
account, not on the platform. Before this adapter reports such a payout failed, from a webhook or
a lookup, it takes the money back: a reversal of the transfer (``POST
/v1/transfers/{id}/reversals``, ``Idempotency-Key`` = ``<payout id>:reversal``, metadata ``reason:
bank_payout_failed``), made once (an existing reversal of ours is found on the transfer first). So
the seller's balance is credited back only with money the platform holds, and the next payout
cannot pay the same money twice. Until the reversal is made (Stripe down, the account's balance
spent), the failure is not reported: the webhook is answered 503 and Stripe delivers it again; a
lookup raises ProviderUnavailable. Our own reversal makes Stripe send ``transfer.reversed``: that
event is recognised by the reversal's metadata and ignored, never booked as a return.

Webhooks are verified with ``stripe.WebhookSignature.verify_header`` under each active secret
(``Stripe-Signature``), parsed strictly and checked against the shapes of Stripe's own fixtures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe

from shared import metrics, strict_json
from shared.adapters.providers import contracts
from shared.adapters.providers.base import (
    BankPayout,
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

SIGNATURE_HEADER = "Stripe-Signature"
_P, _F = PayoutStatus.PROCESSING, PayoutStatus.FAILED

# A bank payout's failure_code -> ours (Stripe's list of payout failure codes).
STRIPE_FAILURE_CODES: dict[str, FailureCode] = {
    "account_closed": FailureCode.ACCOUNT_CLOSED,
    "bank_ownership_changed": FailureCode.ACCOUNT_CLOSED,
    "no_account": FailureCode.NO_ACCOUNT,
    "invalid_account_number": FailureCode.INVALID_ACCOUNT_NUMBER,
    "account_frozen": FailureCode.ACCOUNT_FROZEN,
    "bank_account_restricted": FailureCode.ACCOUNT_FROZEN,
    "insufficient_funds": FailureCode.INSUFFICIENT_PLATFORM_FUNDS,
    "declined": FailureCode.DECLINED,
    "debit_not_authorized": FailureCode.DECLINED,
    "invalid_currency": FailureCode.DECLINED,
    "unsupported_card": FailureCode.DECLINED,
    "incorrect_account_holder_name": FailureCode.ACCOUNT_HOLDER_MISMATCH,
    "incorrect_account_holder_address": FailureCode.ACCOUNT_HOLDER_MISMATCH,
    "incorrect_account_holder_tax_id": FailureCode.ACCOUNT_HOLDER_MISMATCH,
    "could_not_process": FailureCode.COULD_NOT_PROCESS,
}

# The one table: a Stripe object's state (and failure code) -> (our status, failure code). A
# failure code of None is the row for any code not listed. ``payout:failed`` for a payout we
# already saw paid is Stripe's form of a return (base.reported_status turns it into one).
STRIPE_OUTCOMES: dict[tuple[str, str | None], tuple[PayoutStatus, FailureCode | None]] = {
    ("payout:pending", None): (_P, None),
    ("payout:in_transit", None): (_P, None),
    ("payout:paid", None): (PayoutStatus.PAID, None),
    ("payout:failed", None): (_F, FailureCode.DECLINED),
    **{("payout:failed", code): (_F, ours) for code, ours in STRIPE_FAILURE_CODES.items()},
    ("payout:canceled", None): (_F, FailureCode.DECLINED),
    # The transfer to the connected account: with a bank payout per payout it is a step; with the
    # account's own schedule the seller has the money once it is made.
    ("transfer:per_payout", None): (_P, None),
    ("transfer:account_schedule", None): (PayoutStatus.PAID, None),
    ("transfer:reversed", None): (PayoutStatus.RETURNED, FailureCode.TRANSFER_REVERSED),
}
WEBHOOK_TYPES = frozenset(
    {"payout.created", "payout.updated", "payout.paid", "payout.failed", "payout.canceled",
     "transfer.created", "transfer.reversed"}
)  # fmt: skip

# The metadata of the reversals this adapter makes after a failed bank payout.
RECOVERY_REASON = "bank_payout_failed"

T = TypeVar("T")


def outcome(key: str, failure_code: str | None = None) -> tuple[PayoutStatus, FailureCode | None] | None:
    return STRIPE_OUTCOMES.get((key, failure_code)) or STRIPE_OUTCOMES.get((key, None))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _object(obj: Any, kind: str) -> dict[str, Any]:
    """The raw JSON of a Stripe answer, parsed strictly and checked against the fixture's shape."""
    response = getattr(obj, "last_response", None)
    raw = getattr(response, "body", None)
    try:
        data = strict_json.loads(raw) if isinstance(raw, str | bytes) and raw else obj.to_dict()
    except strict_json.JsonRejected as exc:
        raise ContractViolation(f"stripe answer is not strict JSON: {exc.reason}", exc.path) from exc
    check_shape(kind, data)
    return data if isinstance(data, dict) else {}


def check_shape(kind: str, data: Any) -> None:
    if kind == "list":
        listed = isinstance(data, dict) and data.get("object") == "list"
        if not listed or not isinstance(data.get("data"), list):
            raise ContractViolation("stripe list answer is not a list object")
        return
    errors = contracts.stripe_shape_errors(kind, data)
    if errors:
        raise ContractViolation(f"stripe {kind} outside its shape: {errors[0][1]}", errors[0][0])


class StripeConnectProvider:
    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        self._webhook_secrets = [s.get_secret_value() for s in settings.stripe_webhook_secrets]
        self._tolerance = settings.webhook_tolerance_seconds
        base = {"api": settings.stripe_api_url.rstrip("/")} if settings.stripe_api_url else None
        self._stripe = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses=base,  # type: ignore[arg-type]
            http_client=stripe.RequestsClient(timeout=(2.0, settings.provider_timeout_seconds)),
            max_network_retries=0,  # retries are the task queue's, after a lookup
        )

    def supports(self, destination: ValidatedBankAccount, currency: str) -> bool:
        return True  # the connected account holds the bank account; its absence is caught at send

    def platform_balance(self, currency: str) -> int:
        """The platform's ``available`` balance in ``currency`` (``GET /v1/balance``): what its
        transfers to connected accounts can draw on. A currency Stripe does not list holds 0."""
        metrics.incr("provider.balance")
        try:
            balance = self._stripe.v1.balance.retrieve()
        except stripe.StripeError as exc:
            raise ProviderUnavailable(f"stripe balance failed ({type(exc).__name__})") from exc
        wanted = currency.lower()
        try:
            return sum(int(x["amount"]) for x in balance["available"] if str(x["currency"]) == wanted)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderUnavailable("stripe balance outside its contract") from exc

    # --- create ---------------------------------------------------------------------------------

    def create_transfer(self, request: TransferRequest) -> TransferState:
        account = request.rail_ids.stripe_account
        if not account or not account.startswith("acct_"):
            raise NotForThisRail("the seller has no Stripe connected account")
        metrics.incr("provider.create_transfer")
        params: dict[str, Any] = {
            "amount": request.amount.amount,
            "currency": request.amount.currency.lower(),
            "destination": account,
            "transfer_group": request.payout_id,
            "description": "Seller payout",
            "metadata": {"payout_id": request.payout_id, "bank_payout": request.bank_payout}
            | ({"run_id": request.run_id} if request.run_id else {}),
        }
        created = self._call(
            lambda: self._stripe.v1.transfers.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"{request.payout_id}:transfer"},
            )
        )
        transfer = _object(created, "transfer")
        if transfer.get("destination") != account or transfer.get("transfer_group") != request.payout_id:
            raise ContractViolation("stripe answered about another transfer", "transfer_group")
        state = self._transfer_state(transfer)
        if state.amount != request.amount:
            raise ContractViolation("stripe answered with another amount", "amount")
        # The money is in the connected account now: from here nothing is failover-safe.
        try:
            return self._finish(transfer, state)
        except (stripe.StripeError, ContractViolation) as exc:
            raise OutcomeUnknown(f"transfer made, bank payout not confirmed: {type(exc).__name__}") from exc

    def _finish(self, transfer: Mapping[str, Any], state: TransferState) -> TransferState:
        """The payout's state once its transfer exists: with a bank payout per payout, that payout
        (made now if missing: idempotent, key ``<payout id>:payout``)."""
        if _mode(transfer) == "account_schedule" or state.status is PayoutStatus.RETURNED:
            return state
        account, reference = str(transfer["destination"]), state.reference
        payout = self._find_payout(reference, account, int(transfer["created"]))
        if payout is None:
            metrics.incr("provider.create_transfer")
            answer = self._stripe.v1.payouts.create(
                params={
                    "amount": state.amount.amount,
                    "currency": state.amount.currency.lower(),
                    "description": "Seller payout",
                    "metadata": {"payout_id": reference, "transfer_id": str(transfer["id"])},
                },
                options={"idempotency_key": f"{reference}:payout", "stripe_account": account},
            )
            payout = _object(answer, "payout")
        state = self._payout_state(payout, transfer_id=str(transfer["id"]))
        if state.status is PayoutStatus.FAILED:
            self._recover(transfer, state)
        return state

    def _recover(self, transfer: Mapping[str, Any], state: TransferState) -> None:
        """Take a failed bank payout's money back from the connected account (module docstring):
        once, whatever happens around it."""
        if _our_reversals(transfer):
            return
        metrics.incr("provider.reverse_transfer")
        try:
            answer = self._stripe.v1.transfers.reversals.create(
                str(transfer["id"]),
                params={
                    "amount": state.amount.amount,
                    "description": "Bank payout failed: funds back to the platform",
                    "metadata": {"payout_id": state.reference, "reason": RECOVERY_REASON},
                },
                options={"idempotency_key": f"{state.reference}:reversal"},
            )
        except stripe.InvalidRequestError:
            # Another delivery (the webhook, a lookup) may have reversed it since the transfer
            # was read: read it again; ours there means done, anything else is still an error.
            metrics.incr("provider.fetch_transfer")
            fresh = _object(self._stripe.v1.transfers.retrieve(str(transfer["id"])), "transfer")
            if _our_reversals(fresh):
                return
            raise
        _object(answer, "transfer_reversal")
        logger.warning(
            "bank payout of %s failed: transfer %s reversed to the platform", state.reference, transfer["id"]
        )

    def _recover_from_webhook(self, payout: Mapping[str, Any], state: TransferState) -> None:
        transfer_id = (payout.get("metadata") or {}).get("transfer_id")
        if not transfer_id:
            raise ContractViolation("a failed bank payout of ours without its transfer_id", "metadata")
        try:
            metrics.incr("provider.fetch_transfer")
            transfer = _object(self._stripe.v1.transfers.retrieve(str(transfer_id)), "transfer")
            self._recover(transfer, state)
        except (stripe.StripeError, ContractViolation) as exc:
            raise ProviderUnavailable(
                f"stripe: the failed payout's transfer could not be reversed yet ({type(exc).__name__})"
            ) from exc

    def _call(self, call: Callable[[], T]) -> T:
        """Run the transfer call, classifying its errors (module docstring)."""
        try:
            return call()
        except stripe.IdempotencyError as exc:
            raise OutcomeUnknown("stripe: idempotency key used with other parameters") from exc
        except stripe.InvalidRequestError as exc:
            if exc.code == "balance_insufficient":
                code = FailureCode.INSUFFICIENT_PLATFORM_FUNDS
                raise TransferRejected(code, "platform balance too low") from exc
            if exc.param == "destination" or exc.code in ("account_invalid", "resource_missing"):
                raise TransferRejected(FailureCode.NO_ACCOUNT, "no such connected account") from exc
            raise TransferNotAccepted(f"stripe refused the request: {exc.code}") from exc
        except (stripe.AuthenticationError, stripe.PermissionError, stripe.RateLimitError) as exc:
            raise TransferNotAccepted(f"stripe did not process the request: {type(exc).__name__}") from exc
        except stripe.APIConnectionError as exc:
            if request_never_sent(exc):
                raise TransferNotAccepted("stripe unreachable: nothing sent") from exc
            raise OutcomeUnknown("stripe did not answer") from exc
        except stripe.StripeError as exc:  # APIError (5xx) and anything unforeseen
            raise OutcomeUnknown(f"stripe answered {exc.http_status}") from exc
        except ContractViolation:
            raise

    # --- look up --------------------------------------------------------------------------------

    def _find_transfer(self, reference: str) -> dict[str, Any] | None:
        metrics.incr("provider.fetch_transfer")
        answer = self._stripe.v1.transfers.list(params={"transfer_group": reference, "limit": 10})
        page = _object(answer, "list")
        found = []
        for item in page["data"]:
            check_shape("transfer", item)
            if item.get("transfer_group") == reference:
                found.append(item)
        if len(found) > 1:
            logger.error("stripe has %d transfers in group %s", len(found), reference)
            raise ContractViolation(f"stripe has {len(found)} transfers for one payout")
        return found[0] if found else None

    def _find_payout(self, reference: str, account: str, since: int) -> dict[str, Any] | None:
        params: dict[str, Any] = {"created": {"gte": since - 60}, "limit": 100}
        for _page in range(100):
            metrics.incr("provider.fetch_transfer")
            answer = self._stripe.v1.payouts.list(params=params, options={"stripe_account": account})  # type: ignore[arg-type]
            page = _object(answer, "list")
            for item in page["data"]:
                check_shape("payout", item)
                if (item.get("metadata") or {}).get("payout_id") == reference:
                    return dict(item)
            if not page.get("has_more") or not page["data"]:
                return None
            params["starting_after"] = page["data"][-1]["id"]
        raise ContractViolation("stripe payouts list: too many pages")

    def fetch_transfer(self, reference: str, created_at: datetime | None = None) -> TransferState | None:
        """The payout as Stripe has it, or None if no transfer was ever made for it. A transfer
        whose bank payout is missing (an attempt stopped between the two calls) gets it now, so
        None always means "nothing was sent" and a resend can never make a second transfer."""
        try:
            transfer = self._find_transfer(reference)
            if transfer is None:
                return None
            return self._finish(transfer, self._transfer_state(transfer))
        except (stripe.StripeError, ContractViolation) as exc:
            raise ProviderUnavailable(f"stripe lookup failed ({type(exc).__name__}: {exc})") from exc

    # --- webhooks -------------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: int) -> ProviderEvent:
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected("signature missing")
        if not any(self._signed_with(signature, secret, body) for secret in self._webhook_secrets):
            raise WebhookRejected("signature mismatch")
        metrics.incr("provider.webhooks")
        try:
            event = strict_json.loads(body)
        except strict_json.JsonRejected as exc:
            raise WebhookRejected(f"malformed webhook body: {exc.reason}", exc.path) from exc
        if not isinstance(event, dict):
            raise WebhookRejected("body outside Stripe's event shape: not an object", "$")
        errors = contracts.stripe_event_errors(event)
        if errors:
            raise WebhookRejected(f"body outside Stripe's event shape: {errors[0][1]}", errors[0][0])
        event_type, event_id = str(event.get("type")), str(event.get("id"))
        if event_type not in WEBHOOK_TYPES:
            raise WebhookIgnored(event_type, event_id, "not a payout or transfer event")
        obj = event["data"].get("object")
        kind = event_type.split(".", 1)[0]
        try:
            check_shape(kind, obj)
        except ContractViolation as exc:
            raise WebhookRejected(f"body outside Stripe's {kind} shape", f"data.object.{exc.field}") from exc
        assert isinstance(obj, dict)
        try:
            if kind == "payout":
                if not (obj.get("metadata") or {}).get("payout_id"):
                    raise WebhookIgnored(event_type, event_id, "a payout the platform did not make")
                state = self._payout_state(obj, transfer_id=None)
                if state.status is PayoutStatus.FAILED:
                    self._recover_from_webhook(obj, state)  # the money first, then the failure
            else:
                if not obj.get("transfer_group") or not (obj.get("metadata") or {}).get("payout_id"):
                    # Money left the platform's balance without a payout of ours (made from the
                    # dashboard, another integration): its own id as the reference, which no
                    # payout has, so it is kept for ops as an unknown transfer, never applied.
                    return _unknown_transfer(event, obj, now)
                if event_type == "transfer.reversed" and not _returned_amount(obj):
                    why = "our own reversal of a failed bank payout" if obj.get("amount_reversed") else None
                    raise WebhookIgnored(event_type, event_id, why or "nothing reversed")
                state = self._transfer_state(obj)
        except ContractViolation as exc:
            raise WebhookRejected(str(exc), f"data.object.{exc.field or ''}".rstrip(".")) from exc
        created = event.get("created")
        return ProviderEvent(
            event_id=event_id,
            transfer=state,
            occurred_at=datetime.fromtimestamp(created if isinstance(created, int) else now, UTC),
            sequence=None,  # Stripe has no per-object sequence: the state machine orders
            event_type=event_type,
        )

    def _signed_with(self, signature: str, secret: str, body: bytes) -> bool:
        """Stripe's own check of the signature and its age, on the raw body; the body is parsed
        after, strictly (a signed body of any shape must be a 400, never a crash)."""
        try:
            stripe.WebhookSignature.verify_header(body, signature, secret, tolerance=self._tolerance)
        except stripe.SignatureVerificationError:
            return False
        return True

    # --- the platform's records by time (reconciliation) ----------------------------------------

    def platform_transfers(self, start: int, end: int, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        """The platform's transfers created in [start, end) (Unix seconds), newest first."""
        return self._pages(
            lambda p: self._stripe.v1.transfers.list(params=p),  # type: ignore[arg-type]
            {"created": {"gte": start, "lt": end}, "limit": limit},
            "transfer",
        )

    def bank_payouts(self, account: str, since: int, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        """A connected account's bank payouts created from ``since`` on, newest first."""
        return self._pages(
            lambda p: self._stripe.v1.payouts.list(params=p, options={"stripe_account": account}),  # type: ignore[arg-type]
            {"created": {"gte": since}, "limit": limit},
            "payout",
        )

    def balance_transactions(self, start: int, end: int, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        """The platform balance's movements created in [start, end), newest first."""
        return self._pages(
            lambda p: self._stripe.v1.balance_transactions.list(params=p),  # type: ignore[arg-type]
            {"created": {"gte": start, "lt": end}, "limit": limit},
            "balance_transaction",
        )

    def _pages(
        self, call: Callable[[dict[str, Any]], Any], params: dict[str, Any], kind: str
    ) -> Iterator[dict[str, Any]]:
        """Every item of a Stripe list, page by page, each checked against its fixture's shape."""
        params = dict(params)
        while True:
            metrics.incr("provider.list_records")
            try:
                page = _object(call(params), "list")
                for item in page["data"]:
                    check_shape(kind, item)
            except (stripe.StripeError, ContractViolation) as exc:
                raise ProviderUnavailable(f"stripe {kind} list failed ({type(exc).__name__}: {exc})") from exc
            yield from page["data"]
            if not page.get("has_more") or not page["data"]:
                return
            params["starting_after"] = page["data"][-1]["id"]

    # --- objects -> states ----------------------------------------------------------------------

    def _transfer_state(self, transfer: Mapping[str, Any]) -> TransferState:
        reference = transfer.get("transfer_group") or (transfer.get("metadata") or {}).get("payout_id")
        if not reference:
            raise ContractViolation("stripe transfer without transfer_group", "transfer_group")
        reversed_amount = _returned_amount(transfer)  # our own recoveries are not returns
        key = "transfer:reversed" if reversed_amount else f"transfer:{_mode(transfer)}"
        mapped = outcome(key)
        assert mapped is not None
        amount = reversed_amount if reversed_amount else transfer["amount"]
        return TransferState(
            provider_ref=str(transfer["id"]),
            reference=str(reference),
            status=mapped[0],
            amount=_money(amount, transfer.get("currency")),
            failure_code=mapped[1],
        )

    def _payout_state(self, payout: Mapping[str, Any], transfer_id: str | None) -> TransferState:
        metadata = payout.get("metadata") or {}
        reference = metadata.get("payout_id")
        mapped = outcome(f"payout:{payout.get('status')}", payout.get("failure_code"))
        if not reference or mapped is None:
            raise ContractViolation(f"stripe payout status {payout.get('status')!r} unknown", "status")
        return TransferState(
            # The transfer is our handle on Stripe (the bank payout hangs off it).
            provider_ref=transfer_id or str(metadata.get("transfer_id") or payout["id"]),
            reference=str(reference),
            status=mapped[0],
            amount=_money(payout.get("amount"), payout.get("currency")),
            failure_code=mapped[1],
        )


def _unknown_transfer(event: Mapping[str, Any], transfer: Mapping[str, Any], now: int) -> ProviderEvent:
    """A platform transfer no payout of ours made, as an event about a reference no payout has."""
    created = event.get("created")
    return ProviderEvent(
        event_id=str(event.get("id")),
        transfer=TransferState(
            provider_ref=str(transfer["id"]),
            reference=str(transfer["id"]),
            status=PayoutStatus.PAID,
            amount=_money(transfer.get("amount"), transfer.get("currency")),
        ),
        occurred_at=datetime.fromtimestamp(created if isinstance(created, int) else now, UTC),
        sequence=None,
        event_type=str(event.get("type")),
    )


def _our_reversals(transfer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    listed = (transfer.get("reversals") or {}).get("data") or []
    return [r for r in listed if (r.get("metadata") or {}).get("reason") == RECOVERY_REASON]


def _returned_amount(transfer: Mapping[str, Any]) -> int:
    """What was reversed other than by this adapter's recoveries: a return of the transfer."""
    ours = sum(int(r.get("amount") or 0) for r in _our_reversals(transfer))
    return max(0, int(transfer.get("amount_reversed") or 0) - ours)


def _mode(transfer: Mapping[str, Any]) -> BankPayout:
    mode = (transfer.get("metadata") or {}).get("bank_payout")
    return "account_schedule" if mode == "account_schedule" else "per_payout"


def _money(amount: Any, currency: Any) -> Money:
    try:
        return Money(amount, str(currency).upper())
    except (ValueError, TypeError) as exc:
        raise ContractViolation(f"stripe amount unusable: {exc}", "amount") from exc
