"""Adyen stand-in: the sandbox provider's engine speaking Adyen's Balance Platform dialect.

Run (the local stack runs it behind Prism, which validates every request and answer against
``TransferService-v4.json``)::

    ADYEN_API_KEY=… ADYEN_HMAC_KEY=<hex> .venv/bin/python -m stand_ins.adyen --port 8296 \\
        --webhook-url http://127.0.0.1:8309/adyen --state-file .local/adyen.json

Transfers API v4 (``/btl/v4``, header ``x-api-key``; errors in Adyen's shape ``{"type", "title",
"status", "detail", "errorCode", "invalidFields"?}``):

  POST /transfers              ``Idempotency-Key`` honoured as Adyen does: the same key and body
       answer the transfer as it is now; the same key with another body is a 422 (errorCode 704,
       "in use"). The body is checked against ``TransferInfo`` (422 with ``invalidFields``);
       ``balanceAccountId`` must be the stand-in's, ``category`` ``bank`` with a
       ``counterparty.bankAccount``. Answers 200 with a ``Transfer`` (status ``received``).
  GET  /transfers/{id}         a ``TransferData`` (422 for an unknown id: Adyen documents no 404)
  GET  /transfers              ``balanceAccountId``, ``createdSince``, ``createdUntil`` (required),
       ``reference``, ``limit`` (≤100), ``cursor``: oldest first, ``_links.next.href`` with a cursor
  GET  /transactions           the booked movements of the balance account (one per booked
       transfer, and its return), same window and cursor rules
Configuration API v2 (``/bcl/v2``): ``GET /balanceAccounts/{id}``: the platform's balance account,
``balances`` per currency (a large opening balance less what is booked): for funding checks.

Webhooks: ``balancePlatform.transfer.created`` (sequence 1, ``received``) when the transfer is
made, then ``balancePlatform.transfer.updated`` per change (``booked``; ``failed``/``refused``
with a ``reason``; ``returned`` after ``booked``), ``sequenceNumber`` counting up per transfer,
signed ``HmacSignature: base64(HMAC-SHA256(hex key, body))`` with ``Adyen.util``.

Fates by the last six digits of the account number (IBAN account code, ``usLocal`` /
``ukLocal`` account number), as the sandbox's: 999901 failed counterpartyAccountClosed, 999902
counterpartyAccountNotFound, 999903 refused at once (422, ``invalidFields`` on the counterparty),
999904 counterpartyAccountBlocked, 999905 refusedByCounterpartyBank, 999906 refused
notEnoughBalance, 999907 booked then returned (counterpartyAccountClosed). Every fault knob of
the sandbox (``/_config``) works here: 5xx bursts (``error_rate``: a 500 in Adyen's shape),
timeouts after accepting, latency, duplicate / out-of-order / dropped webhooks. Control routes
(``x-api-key``): ``GET|POST /_config``, ``POST /_reset``, ``POST /_replay_webhooks``,
``GET /_webhooks``, ``GET /_events?transfer_id=`` (the webhook bodies), ``GET /_records``, ``POST
/_records/{id}`` (a planted reconciliation fault: the transfer changes silently); ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import hmac
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from Adyen import util as adyen_util
from flask import Flask, Response, jsonify, request
from schwifty import IBAN
from werkzeug.exceptions import HTTPException

from shared import strict_json
from shared.adapters.providers import contracts
from stand_ins.sandbox_provider import (
    FUNDED_CURRENCIES,
    JSON,
    ApiError,
    Config,
    Dialect,
    Sandbox,
    Sender,
    _requests_sender,
    add_control_routes,
    fingerprint_of,
    serve,
)

SPEC = contracts.ADYEN_TRANSFERS
BALANCE_PLATFORM = "SellerPayoutsLocal"
# Our failure codes (the engine's) -> Adyen's status and reason.
REASONS: dict[str, tuple[str, str]] = {
    "account_closed": ("failed", "counterpartyAccountClosed"),
    "no_account": ("failed", "counterpartyAccountNotFound"),
    "invalid_account_number": ("failed", "invalidToAccount"),
    "account_frozen": ("failed", "counterpartyAccountBlocked"),
    "declined": ("failed", "refusedByCounterpartyBank"),
    "insufficient_platform_funds": ("refused", "notEnoughBalance"),
}


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def adyen_status(transfer: JSON) -> tuple[str, str]:
    """(status, reason) of an engine transfer, in Adyen's words."""
    status, code = transfer["status"], transfer.get("failure_code")
    if status == "processing":
        return "received", "approved"
    if status == "paid":
        return "booked", "approved"
    reason = REASONS.get(str(code), ("failed", "declined"))[1]
    if status == "returned":
        return "returned", reason
    return REASONS.get(str(code), ("failed", "declined"))[0], reason


def transfer_view(transfer: JSON, *, full: bool) -> JSON:
    """The engine's transfer as Adyen's ``Transfer`` (``full``: ``TransferData``, with its sequence)."""
    status, reason = adyen_status(transfer)
    view: JSON = {
        "id": transfer["id"],
        "amount": {"value": transfer["amount"], "currency": transfer["currency"]},
        "balanceAccount": {"id": transfer["balanceAccountId"]},
        "category": "bank",
        "categoryData": {"type": "bank", "priority": transfer.get("priority", "regular")},
        "counterparty": transfer["counterparty"],
        "creationDate": transfer["created_at"],
        "description": transfer.get("description", ""),
        "direction": "outgoing",
        "reason": reason,
        "reference": transfer["reference"],
        "referenceForBeneficiary": transfer.get("referenceForBeneficiary", ""),
        "status": status,
        "type": "bankTransfer",
    }
    if full:
        view["balancePlatform"] = BALANCE_PLATFORM
        view["sequenceNumber"] = int(transfer.get("sequence", 1))
    return view


class AdyenDialect(Dialect):
    events_on_create = True  # balancePlatform.transfer.created

    def event_id(self, transfer: JSON, status: str) -> str:
        return f"{transfer['id']}:{transfer['sequence']}"

    def event(self, evt: str, transfer: JSON, status: str, now: float) -> JSON:
        data = transfer_view(transfer, full=True)
        data["updatedAt"] = iso(now)
        kind = "created" if int(transfer["sequence"]) <= 1 else "updated"
        return {
            "data": data,
            "environment": "test",
            "timestamp": iso(now),
            "type": f"balancePlatform.transfer.{kind}",
        }

    def transfer_id(self, event: JSON) -> str:
        return str(event["data"]["id"])

    def event_type(self, event: JSON) -> str:
        return f"{event['type']}:{event['data']['status']}"

    def sign(self, body: bytes, now: int) -> dict[str, str]:
        signature = adyen_util.generate_payload_sig(body, self.secret).decode()
        return {"Content-Type": "application/json", "HmacSignature": signature}


def adyen_error(
    status: int, code: str, detail: str, fields: list[tuple[str, str, str]] | None = None
) -> ApiError:
    """An error in Adyen's shape (``TransferServiceRestServiceError``)."""
    payload: JSON = {
        "type": "https://docs.adyen.com/errors/general/invalid-field-value",
        "title": "Invalid transfer information" if status == 422 else "Error",
        "status": status,
        "detail": detail,
        "errorCode": code,
    }
    if fields:
        payload["invalidFields"] = [{"name": n, "value": v, "message": m} for n, v, m in fields]
    return ApiError(status, code, detail, payload=payload)


UNAUTHORIZED: JSON = {  # Adyen's 401 is a ServiceError
    "status": 401, "errorCode": "000", "message": "HTTP Status Response - Unauthorized",
    "errorType": "security",
}  # fmt: skip


def account_code(bank_account: JSON) -> str:
    ident = bank_account.get("accountIdentification") or {}
    if ident.get("type") == "iban":
        try:
            return str(IBAN(str(ident.get("iban", ""))).account_code)
        except ValueError:
            raise adyen_error(
                422,
                "30_006",
                "Invalid IBAN",
                [("counterparty.bankAccount.accountIdentification.iban", "", "invalid")],
            ) from None
    return str(ident.get("accountNumber", ""))


def create_app(
    config: Config | Mapping[str, Any] | None,
    api_key: str,
    hmac_key: str,
    webhook_url: str,
    state_file: str | Path | None,
    *,
    balance_account: str = "BA00000000000000000000001",
    clock: Callable[[], float] = time.time,
    sender: Sender = _requests_sender,
    save_interval: float = 0.0,
) -> Flask:
    """The Adyen stand-in's Flask app; its engine is ``app.extensions["sandbox"]``."""
    cfg = config if isinstance(config, Config) else Config.parse(dict(config or {}))
    engine = Sandbox(
        cfg, hmac_key, webhook_url, state_file, clock=clock, sender=sender, save_interval=save_interval,
        dialect=AdyenDialect(hmac_key),
    )  # fmt: skip
    app = Flask("adyen_stand_in")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.extensions["sandbox"] = engine

    def body() -> Any:
        try:
            return strict_json.loads(request.get_data() or b"null")
        except strict_json.JsonRejected as exc:
            raise adyen_error(422, "00_702", f"invalid JSON: {exc}") from None

    @app.errorhandler(ApiError)
    def api_error(err: ApiError) -> tuple[Response, int]:
        if err.payload is not None:
            return jsonify(err.payload), err.status
        # An engine error in Adyen's shape; Adyen documents no 404, an unknown id is a 422.
        status = 422 if err.status == 404 else err.status
        return jsonify(adyen_error(status, err.code, err.message).body()), status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[Response, int]:
        return jsonify(adyen_error(err.code or 500, "00_000", err.description or "").body()), err.code or 500

    @app.before_request
    def authenticate() -> None:
        if request.path == "/healthz":
            return
        given = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise ApiError(401, "unauthorized", payload=UNAUTHORIZED)
        if request.path.startswith("/btl/v4/transfers") and engine.config.latency_ms:
            time.sleep(engine.config.latency_ms / 1000)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.post("/btl/v4/transfers")
    def create_transfer() -> tuple[Response, int]:
        data = body()
        errors = contracts.schema_errors(SPEC, "TransferInfo", data)
        if errors:
            invalid = [(path, "", message) for path, message in errors[:5]]
            raise adyen_error(422, "30_001", "Invalid TransferInfo", invalid)
        if data.get("balanceAccountId") != balance_account:
            raise adyen_error(
                422, "30_020", "Balance account not found", [("balanceAccountId", "", "unknown")]
            )
        bank_account = (data.get("counterparty") or {}).get("bankAccount")
        if data.get("category") != "bank" or not isinstance(bank_account, dict):
            raise adyen_error(422, "30_030", "Only bank transfers to a bank account are supported here")
        if engine.chance(engine.config.error_rate):
            raise adyen_error(500, "00_500", "Internal error")
        key = request.headers.get("Idempotency-Key") or f"no-key-{time.time_ns()}"
        fingerprint = fingerprint_of(data)
        try:
            stored = engine.replay_key(key, fingerprint)
        except ApiError:
            raise adyen_error(422, "704", "Idempotency key in use with another request") from None
        if stored is None:
            code = account_code(bank_account)
            refused = None
            if code[-6:] == "999903":
                path = "counterparty.bankAccount.accountIdentification"
                refused_err = adyen_error(
                    422, "30_112", "Invalid bank account", [(path, "", "account does not exist")]
                )
                refused = (422, refused_err.body())
            fields = {
                "reference": str(data.get("reference") or f"ADYEN-{time.time_ns()}"),
                "amount": data["amount"]["value"],
                "currency": data["amount"]["currency"],
                "balanceAccountId": balance_account,
                "counterparty": data["counterparty"],
                "description": data.get("description", ""),
                "priority": data.get("priority", "regular"),
                "referenceForBeneficiary": data.get("referenceForBeneficiary", ""),
            }
            stored = engine.open_transfer(key, fingerprint, code, fields, refused=refused, prefix="")
            if stored[0] == 201 and engine.chance(engine.config.timeout_after_accept_rate):
                time.sleep(engine.config.timeout_sleep_ms / 1000)
        status, answer = stored
        if status >= 400:
            return jsonify(answer), status
        return jsonify(transfer_view(answer, full=False)), 200

    @app.get("/btl/v4/transfers/<tid>")
    def get_transfer(tid: str) -> Response:
        return jsonify(transfer_view(engine.get(tid), full=True))

    def window() -> tuple[str, str]:
        since, until = request.args.get("createdSince"), request.args.get("createdUntil")
        if not since or not until:
            raise adyen_error(422, "00_401", "createdSince and createdUntil are required")
        if request.args.get("balanceAccountId") != balance_account:
            raise adyen_error(
                422, "30_020", "Balance account not found", [("balanceAccountId", "", "unknown")]
            )
        return since, until

    def page(items: list[JSON], path: str) -> JSON:
        limit = request.args.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise adyen_error(422, "00_401", "limit must be 1-100")
        start = int(request.args.get("cursor") or 0) if (request.args.get("cursor") or "0").isdigit() else 0
        chunk = items[start : start + int(limit)]
        result: JSON = {"data": chunk, "_links": {}}
        if start + int(limit) < len(items):
            args = {k: v for k, v in request.args.items() if k != "cursor"}
            args["cursor"] = str(start + int(limit))
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in args.items())
            result["_links"]["next"] = {"href": f"{request.host_url.rstrip('/')}{path}?{query}"}
        return result

    def created_between(transfer: JSON, since: str, until: str) -> bool:
        created = _parse(transfer["created_at"])
        return _parse(since) <= created <= _parse(until)

    @app.get("/btl/v4/transfers")
    def list_transfers() -> Response:
        since, until = window()
        with engine.lock:
            reference = request.args.get("reference")
            ids = engine.by_reference.get(reference, []) if reference is not None else list(engine.order)
            found = [engine.transfers[t] for t in ids if created_between(engine.transfers[t], since, until)]
            views = [transfer_view(t, full=True) for t in found]
        return jsonify(page(views, "/transfers"))

    @app.get("/btl/v4/transactions")
    def list_transactions() -> Response:
        since, until = window()
        with engine.lock:
            booked = [
                t for t in (engine.transfers[tid] for tid in engine.order)
                if t["status"] in ("paid", "returned") and created_between(t, since, until)
            ]  # fmt: skip
            rows = [row for t in booked for row in _transactions(t, balance_account)]
        return jsonify(page(rows, "/transactions"))

    @app.get("/bcl/v2/balanceAccounts/<account_id>")
    def balance_account_route(account_id: str) -> Response:
        if account_id != balance_account:
            raise adyen_error(422, "30_020", "Balance account not found")
        with engine.lock:
            spent: dict[str, int] = {}
            reserved: dict[str, int] = {}
            for t in engine.transfers.values():
                if t["status"] == "paid":
                    spent[t["currency"]] = spent.get(t["currency"], 0) + int(t["amount"])
                elif t["status"] == "processing":
                    reserved[t["currency"]] = reserved.get(t["currency"], 0) + int(t["amount"])
        currencies = sorted(set(spent) | set(reserved) | set(FUNDED_CURRENCIES) | set(engine.funding))
        balances = [
            {
                "currency": c,
                "balance": engine.opening(c) - spent.get(c, 0),
                "reserved": reserved.get(c, 0),
                "available": engine.opening(c) - spent.get(c, 0) - reserved.get(c, 0),
            }
            for c in currencies
        ]
        return jsonify({
            "id": balance_account, "accountHolderId": "AH00000000000000000000001", "balances": balances,
            "defaultCurrencyCode": "EUR", "description": "Platform payouts", "status": "active",
            "timeZone": "Europe/Amsterdam",
        })  # fmt: skip

    add_control_routes(app, engine, prefix="", json_body=body)
    return app


def _parse(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise adyen_error(422, "00_401", f"not an ISO 8601 time: {value}") from None


def _transactions(transfer: JSON, balance_account: str) -> list[JSON]:
    """A booked transfer is one debit of the balance account; a return adds a credit."""
    base = {
        "accountHolder": {"id": "AH00000000000000000000001"},
        "balanceAccount": {"id": balance_account},
        "balancePlatform": BALANCE_PLATFORM,
        "bookingDate": transfer["created_at"],
        "creationDate": transfer["created_at"],
        "status": "booked",
        "transfer": {"id": transfer["id"], "reference": transfer["reference"]},
        "valueDate": transfer["created_at"],
    }
    value, currency = int(transfer["amount"]), transfer["currency"]
    rows = [{**base, "id": f"{transfer['id']}-DEBIT", "amount": {"value": -value, "currency": currency}}]
    if transfer["status"] == "returned":
        rows.append(
            {**base, "id": f"{transfer['id']}-RETURN", "amount": {"value": value, "currency": currency}}
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stand_ins.adyen", description="Adyen stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8296)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--state-file", default=None)
    parser.add_argument("--save-interval", type=float, default=0.0)
    parser.add_argument("--balance-account", default="BA00000000000000000000001")
    parser.add_argument("--config", default=os.environ.get("ADYEN_STAND_IN_CONFIG", "{}"))
    args = parser.parse_args(argv)
    api_key, hmac_key = os.environ.get("ADYEN_API_KEY"), os.environ.get("ADYEN_HMAC_KEY")
    if not api_key or not hmac_key:
        print("stand_ins.adyen: set ADYEN_API_KEY and ADYEN_HMAC_KEY (hex)", file=sys.stderr)
        return 2
    try:
        config = Config.parse(strict_json.loads(args.config))
    except ValueError as err:
        print(f"stand_ins.adyen: bad --config: {err}", file=sys.stderr)
        return 2
    app = create_app(
        config, api_key, hmac_key, args.webhook_url, args.state_file,
        balance_account=args.balance_account, save_interval=args.save_interval,
    )  # fmt: skip
    return serve(app, args.host, args.port, f"adyen stand-in, webhooks to {args.webhook_url}")


if __name__ == "__main__":
    sys.exit(main())
