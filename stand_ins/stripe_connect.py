"""Stripe stand-in: the sandbox provider's engine speaking Stripe's dialect (Connect).

Run::

    STRIPE_SECRET_KEY=sk_test_… STRIPE_WEBHOOK_SECRET=whsec_… .venv/bin/python -m stand_ins.stripe_connect \\
        --port 8297 --webhook-url http://127.0.0.1:8309/stripe --state-file .local/stripe.json

API (form-encoded requests, ``Authorization: Bearer $STRIPE_SECRET_KEY``, objects in exactly the
shapes of Stripe's fixtures ``shared/contracts/stripe/fixtures3.json``, errors as Stripe's
``{"error": {"type", "code", "message", "param"}}``; unknown parameters are refused as Stripe
does, 400 ``parameter_unknown``):

  POST /v1/transfers            ``amount``, ``currency``, ``destination`` (``acct_…``),
       ``transfer_group``, ``description``, ``metadata[…]``: a transfer from the platform
  GET  /v1/transfers            ``transfer_group``, ``destination``, ``created`` (a Unix time or
       ``created[gt|gte|lt|lte]``), ``limit``, ``starting_after``: newest first, as Stripe lists
  GET  /v1/transfers/{id}
  POST /v1/transfers/{id}/reversals   ``amount`` (default: all): a ``transfer_reversal``, and the
       ``transfer.reversed`` event
  POST /v1/payouts              with ``Stripe-Account``: ``amount``, ``currency``, ``description``,
       ``metadata[…]``: a bank payout of the connected account
  GET  /v1/payouts              with ``Stripe-Account``: ``created``, ``limit``, ``starting_after``
  GET  /v1/balance_transactions the platform balance's movements: ``transfer`` (a debit per
       transfer), ``transfer_refund`` (a credit per reversal), ``stripe_fee``; ``created``, ``type``,
       ``limit``, ``starting_after``, newest first
  GET  /v1/payouts/{id}
  GET  /v1/balance              the platform's (or with ``Stripe-Account`` the account's) balance

``Idempotency-Key`` is honoured as Stripe does, per account: the same key and parameters answer
the first result (errors included), other parameters a 400 ``idempotency_error``.

Events (``Stripe-Signature: t=…,v1=…`` over ``"{t}.{body}"``): ``transfer.created``,
``transfer.reversed``; ``payout.created``, ``payout.paid``, ``payout.failed`` with its
``failure_code``, and ``payout.failed`` after ``payout.paid`` for a return (Stripe's form).
Connected-account events carry ``account``.

Fates by the last six characters of the connected account id (``sample_sellers.stripe_account_for``):
999901 account_closed, 999902 no_account, 999903 invalid_account_number, 999904 account_frozen,
999905 declined (payout.failed); 999906: the transfer is refused at once (``balance_insufficient``);
999907 paid then failed (a return, account_closed). Every fault knob of the sandbox works
(``/v1/_config``, ``/v1/_reset``, ``/v1/_replay_webhooks``, ``/v1/_webhooks``, ``/v1/_events``,
``/v1/_records``), and two planted reconciliation faults: ``POST /v1/_records/{id}`` (a record
changes silently) and ``POST /v1/_fees {"amount", "currency"}`` (a fee taken from the platform's
balance, a ``stripe_fee`` balance transaction).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from shared import strict_json
from shared.entrypoints.signing import sign
from stand_ins.sandbox_provider import (
    FUNDED_CURRENCIES,
    JSON,
    OUTCOMES,
    ApiError,
    Config,
    Dialect,
    Sandbox,
    Sender,
    _requests_sender,
    add_control_routes,
    event_id,
    fingerprint_of,
    serve,
)

API_VERSION = "2026-08-21"
FAILURE_CODES = {  # ours (the engine's) -> Stripe's payout failure_code
    "account_closed": "account_closed",
    "no_account": "no_account",
    "invalid_account_number": "invalid_account_number",
    "account_frozen": "account_frozen",
    "declined": "declined",
    "insufficient_platform_funds": "insufficient_funds",
}
PAYOUT_FATES: dict[str, list[tuple[str, str | None]]] = {
    **OUTCOMES,
    "999903": [("failed", "invalid_account_number")],  # Stripe learns it from the bank, later
}
_ID = re.compile(r"^[A-Za-z0-9_]{1,255}$")


def stripe_error(
    status: int, kind: str, message: str, code: str | None = None, param: str | None = None
) -> ApiError:
    error: JSON = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return ApiError(status, code or kind, message, param, payload={"error": error})


def _token(*parts: Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]


def transfer_object(t: JSON) -> JSON:
    reversals = t.get("reversals", [])
    return {
        "amount": t["amount"],
        "amount_reversed": t.get("amount_reversed", 0),
        "balance_transaction": "txn_" + _token(t["id"], "bt"),
        "created": t["created"],
        "currency": t["currency"],
        "description": t.get("description"),
        "destination": t["destination"],
        "destination_payment": "py_" + _token(t["id"], "py"),
        "id": t["id"],
        "livemode": False,
        "metadata": t.get("metadata", {}),
        "object": "transfer",
        "reversals": {
            "data": reversals,
            "has_more": False,
            "object": "list",
            "url": f"/v1/transfers/{t['id']}/reversals",
        },
        "reversed": t.get("amount_reversed", 0) >= t["amount"],
        "source_transaction": None,
        "source_type": "card",
        "transfer_group": t.get("transfer_group"),
    }


def payout_object(p: JSON) -> JSON:
    status = {"processing": "pending", "paid": "paid", "failed": "failed", "returned": "failed"}[p["status"]]
    code = FAILURE_CODES.get(str(p.get("failure_code"))) if status == "failed" else None
    return {
        "amount": p["amount"],
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": int(p["created"]) + 2 * 86400,
        "automatic": False,
        "balance_transaction": "txn_" + _token(p["id"], "bt"),
        "created": p["created"],
        "currency": p["currency"],
        "description": p.get("description"),
        "destination": "ba_" + _token(p["account"], "bank"),
        "failure_balance_transaction": ("txn_" + _token(p["id"], "fail")) if code else None,
        "failure_code": code,
        "failure_message": f"The bank said: {code}" if code else None,
        "id": p["id"],
        "livemode": False,
        "metadata": p.get("metadata", {}),
        "method": "standard",
        "object": "payout",
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": status,
        "type": "bank_account",
        "trace_id": {"status": "pending" if status == "pending" else "supported", "value": None},
        "payout_method": None,
    }


class StripeDialect(Dialect):
    events_on_create = True  # transfer.created, payout.created

    def event_type_of(self, record: JSON, status: str) -> str:
        if record["kind"] == "transfer":
            return "transfer.reversed" if status == "reversed" else "transfer.created"
        return {"processing": "payout.created", "paid": "payout.paid"}.get(status, "payout.failed")

    def event(self, evt: str, transfer: JSON, status: str, now: float) -> JSON:
        obj = transfer_object(transfer) if transfer["kind"] == "transfer" else payout_object(transfer)
        body: JSON = {
            "api_version": API_VERSION,
            "created": int(now),
            "data": {"object": obj},
            "id": evt,
            "livemode": False,
            "object": "event",
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": self.event_type_of(transfer, status),
        }
        if transfer["kind"] == "payout":
            body["account"] = transfer["account"]  # a connected account's event (Connect)
        return body

    def event_id(self, transfer: JSON, status: str) -> str:
        return event_id(str(transfer["id"]), status)

    def transfer_id(self, event: JSON) -> str:
        return str(event["data"]["object"]["id"])

    def event_type(self, event: JSON) -> str:
        return str(event["type"])

    def sign(self, body: bytes, now: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(self.secret, now, body),
        }


def form() -> JSON:
    """Stripe's form encoding, nested: ``metadata[payout_id]=x`` -> ``{"metadata": {"payout_id": "x"}}``."""
    values = request.form if request.method == "POST" else request.args
    out: JSON = {}
    for key, value in values.items(multi=False):
        match = re.fullmatch(r"([a-z_]+)\[([A-Za-z0-9_]+)\]", key)
        if match:
            out.setdefault(match.group(1), {})[match.group(2)] = value
        elif re.fullmatch(r"[a-z_]+", key):
            out[key] = value
        else:
            raise stripe_error(
                400, "invalid_request_error", f"Received unknown parameter: {key}", "parameter_unknown", key
            )
    return out


def check_params(params: JSON, allowed: set[str], required: set[str]) -> None:
    for key in params:
        if key not in allowed:
            raise stripe_error(
                400, "invalid_request_error", f"Received unknown parameter: {key}", "parameter_unknown", key
            )
    for key in sorted(required - params.keys()):
        raise stripe_error(
            400, "invalid_request_error", f"Missing required param: {key}.", "parameter_missing", key
        )


def created_between(params: JSON) -> Callable[[JSON], bool]:
    """Stripe's ``created`` filter of a list: a Unix time, or ``created[gt|gte|lt|lte]``."""
    created = params.get("created")
    if created is None:
        return lambda record: True
    bounds = created if isinstance(created, dict) else {"eq": created}
    tests = {
        "eq": lambda a, b: a == b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    checks: list[tuple[Callable[[int, int], bool], int]] = []
    for op, value in bounds.items():
        if op not in tests or not str(value).isdigit():
            name = "created" if op == "eq" else f"created[{op}]"
            raise stripe_error(
                400, "invalid_request_error", "Invalid timestamp", "parameter_invalid_integer", name
            )
        checks.append((tests[op], int(value)))
    return lambda record: all(test(int(record["created"]), bound) for test, bound in checks)


def balance_transactions_of(record: JSON) -> list[JSON]:
    """The platform balance's movements of one stored record: a transfer's debit and its
    reversals' credits (``transfer`` / ``transfer_refund``), or a fee the rail took."""
    base: JSON = {"exchange_rate": None, "fee": 0, "fee_details": [], "object": "balance_transaction",
            "status": "available", "balance_type": "payments"}  # fmt: skip
    if record.get("kind") == "fee":
        amount = -int(record["amount"])
        return [
            base | {
                "amount": amount, "available_on": record["created"], "created": record["created"],
                "currency": record["currency"], "description": record.get("description") or "Stripe fee",
                "id": record["id"], "net": amount, "reporting_category": "fee",
                "source": "fee_" + _token(record["id"], "fee"), "type": "stripe_fee",
            }
        ]  # fmt: skip
    if record.get("kind") != "transfer":
        return []
    out = [
        base | {
            "amount": -int(record["amount"]), "available_on": record["created"], "created": record["created"],
            "currency": record["currency"], "description": record.get("description") or "Transfer",
            "id": "txn_" + _token(record["id"], "bt"), "net": -int(record["amount"]),
            "reporting_category": "transfer", "source": record["id"], "type": "transfer",
        }
    ]  # fmt: skip
    for reversal in record.get("reversals", []):
        out.append(
            base | {
                "amount": int(reversal["amount"]), "available_on": reversal["created"],
                "created": reversal["created"], "currency": reversal["currency"],
                "description": "Transfer reversal",
                "id": reversal["balance_transaction"], "net": int(reversal["amount"]),
                "reporting_category": "transfer_reversal", "source": reversal["id"],
                "type": "transfer_refund",
            }
        )  # fmt: skip
    return out


def amount_of(params: JSON) -> tuple[int, str]:
    raw, currency = str(params.get("amount", "")), str(params.get("currency", ""))
    if not raw.isdigit() or int(raw) <= 0:
        raise stripe_error(
            400, "invalid_request_error", "Invalid positive integer", "parameter_invalid_integer", "amount"
        )
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise stripe_error(400, "invalid_request_error", "Invalid currency", "parameter_invalid", "currency")
    return int(raw), currency


def create_app(
    config: Config | Mapping[str, Any] | None,
    secret_key: str,
    webhook_secret: str,
    webhook_url: str,
    state_file: str | Path | None,
    *,
    clock: Callable[[], float] = time.time,
    sender: Sender = _requests_sender,
    save_interval: float = 0.0,
) -> Flask:
    """The Stripe stand-in's Flask app; its engine is ``app.extensions["sandbox"]``."""
    cfg = config if isinstance(config, Config) else Config.parse(dict(config or {}))
    engine = Sandbox(
        cfg, webhook_secret, webhook_url, state_file, clock=clock, sender=sender, save_interval=save_interval,
        dialect=StripeDialect(webhook_secret),
    )  # fmt: skip
    app = Flask("stripe_stand_in")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.extensions["sandbox"] = engine

    def json_body() -> Any:
        try:
            return strict_json.loads(request.get_data() or b"null")
        except strict_json.JsonRejected as exc:
            raise stripe_error(400, "invalid_request_error", f"invalid JSON: {exc}") from None

    @app.errorhandler(ApiError)
    def api_error(err: ApiError) -> tuple[Response, int]:
        if err.payload is not None:
            return jsonify(err.payload), err.status
        kind = "invalid_request_error" if err.status < 500 else "api_error"
        return jsonify(stripe_error(err.status, kind, err.message, err.code, err.field).body()), err.status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[Response, int]:
        return jsonify(
            {"error": {"type": "invalid_request_error", "message": err.description}}
        ), err.code or 500

    @app.before_request
    def authenticate() -> None:
        if request.path == "/healthz":
            return
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {secret_key}".encode()):
            raise stripe_error(401, "invalid_request_error", "Invalid API Key provided")
        if request.path.startswith(("/v1/transfers", "/v1/payouts")) and engine.config.latency_ms:
            time.sleep(engine.config.latency_ms / 1000)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    def account_header() -> str | None:
        account = request.headers.get("Stripe-Account")
        if account is not None and not (account.startswith("acct_") and _ID.match(account)):
            raise stripe_error(
                403, "invalid_request_error", "The provided key does not have access to account"
            )
        return account

    def idempotent(
        scope: str, params: JSON, make: Callable[[str, str], tuple[int, JSON]]
    ) -> tuple[int, JSON]:
        if engine.chance(engine.config.error_rate):
            raise stripe_error(500, "api_error", "An unknown error occurred")
        given = request.headers.get("Idempotency-Key")
        key = f"{scope}:{given}" if given else f"{scope}:auto-{time.time_ns()}"
        fingerprint = fingerprint_of({"path": request.path, **params})
        try:
            stored = engine.replay_key(key, fingerprint)
        except ApiError:
            raise stripe_error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters",
            ) from None
        if stored is not None:
            return stored
        answer = make(key, fingerprint)
        if answer[0] == 201 and engine.chance(engine.config.timeout_after_accept_rate):
            time.sleep(engine.config.timeout_sleep_ms / 1000)
        return answer

    def answer(result: tuple[int, JSON], render: Callable[[JSON], JSON]) -> tuple[Response, int]:
        status, body = result
        if status >= 400:
            return jsonify(body), status
        return jsonify(render(body)), 200

    @app.post("/v1/transfers")
    def create_transfer() -> tuple[Response, int]:
        params = form()
        allowed = {"amount", "currency", "destination", "transfer_group", "description", "metadata"}
        check_params(params, allowed, {"amount", "currency", "destination"})
        amount, currency = amount_of(params)
        destination = str(params["destination"])
        if not destination.startswith("acct_") or not _ID.match(destination):
            raise stripe_error(
                400, "invalid_request_error", "No such destination", "resource_missing", "destination"
            )

        def make(key: str, fingerprint: str) -> tuple[int, JSON]:
            refused = None
            if destination[-6:] == "999906":
                error = stripe_error(400, "invalid_request_error", "Insufficient funds in Stripe account",
                                     "balance_insufficient")  # fmt: skip
                refused = (400, error.body())
            fields = {
                "kind": "transfer",
                "reference": params.get("transfer_group") or "",
                "amount": amount,
                "currency": currency,
                "destination": destination,
                "transfer_group": params.get("transfer_group"),
                "description": params.get("description"),
                "metadata": params.get("metadata", {}),
                "amount_reversed": 0,
                "reversals": [],
            }
            return engine.open_transfer(
                key, fingerprint, destination, fields, refused=refused, prefix="tr_", steps=[]
            )

        return answer(idempotent("platform", params, make), transfer_object)

    def listing(kind: str, keep: Callable[[JSON], bool], url: str) -> JSON:
        params = form()
        in_time = created_between(params)
        limit = str(params.get("limit", "10"))
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise stripe_error(
                400, "invalid_request_error", "Invalid limit", "parameter_invalid_integer", "limit"
            )
        with engine.lock:
            records = [engine.transfers[t] for t in engine.order if engine.transfers[t]["kind"] == kind]
            records = [r for r in records if keep(r) and in_time(r)][::-1]  # newest first, as Stripe lists
            after = params.get("starting_after")
            if after is not None:
                ids = [r["id"] for r in records]
                if after not in ids:
                    raise stripe_error(
                        400, "invalid_request_error", "No such object", "resource_missing", "starting_after"
                    )
                records = records[ids.index(after) + 1 :]
            chunk = records[: int(limit)]
            render = transfer_object if kind == "transfer" else payout_object
            return {
                "object": "list",
                "data": [render(r) for r in chunk],
                "has_more": len(records) > len(chunk),
                "url": url,
            }

    @app.get("/v1/transfers")
    def list_transfers() -> Response:
        params = form()
        check_params(params, {"transfer_group", "destination", "limit", "starting_after", "created"}, set())
        group, destination = params.get("transfer_group"), params.get("destination")
        return jsonify(listing(
            "transfer",
            lambda r: group in (None, r.get("transfer_group")) and destination in (None, r["destination"]),
            "/v1/transfers",
        ))  # fmt: skip

    def one(tid: str, kind: str) -> JSON:
        try:
            record = engine.get(tid)
        except ApiError:
            raise stripe_error(
                404, "invalid_request_error", f"No such {kind}: '{tid}'", "resource_missing", "id"
            ) from None
        if record.get("kind") != kind:
            raise stripe_error(
                404, "invalid_request_error", f"No such {kind}: '{tid}'", "resource_missing", "id"
            )
        return record

    @app.get("/v1/transfers/<tid>")
    def get_transfer(tid: str) -> Response:
        return jsonify(transfer_object(one(tid, "transfer")))

    @app.post("/v1/transfers/<tid>/reversals")
    def reverse(tid: str) -> Response:
        params = form()
        check_params(params, {"amount", "description", "metadata"}, set())
        record = one(tid, "transfer")
        left = int(record["amount"]) - int(record.get("amount_reversed", 0))
        amount = int(params["amount"]) if str(params.get("amount", "")).isdigit() else left
        if amount <= 0 or amount > left:
            raise stripe_error(
                400,
                "invalid_request_error",
                "Amount exceeds what is left to reverse",
                "parameter_invalid",
                "amount",
            )
        reversal = {
            "amount": amount,
            "balance_transaction": "txn_" + _token(tid, "rev", amount),
            "created": int(engine.clock()),
            "currency": record["currency"],
            "destination_payment_refund": None,
            "id": "trr_" + _token(tid, amount, left),
            "metadata": params.get("metadata", {}),
            "object": "transfer_reversal",
            "source_refund": None,
            "transfer": tid,
        }
        engine.update_transfer(
            tid, amount_reversed=int(record.get("amount_reversed", 0)) + amount,
            reversals=[*record.get("reversals", []), reversal],
        )  # fmt: skip
        engine.emit(tid, "reversed")
        return jsonify(reversal)

    @app.post("/v1/payouts")
    def create_payout() -> tuple[Response, int]:
        account = account_header()
        if account is None:
            raise stripe_error(400, "invalid_request_error", "Payouts need a Stripe-Account here (Connect)")
        params = form()
        check_params(
            params, {"amount", "currency", "description", "metadata", "method"}, {"amount", "currency"}
        )
        amount, currency = amount_of(params)

        def make(key: str, fingerprint: str) -> tuple[int, JSON]:
            fields = {
                "kind": "payout",
                "reference": (params.get("metadata") or {}).get("payout_id", ""),
                "account": account,
                "amount": amount,
                "currency": currency,
                "description": params.get("description"),
                "metadata": params.get("metadata", {}),
            }
            steps = PAYOUT_FATES.get(account[-6:], [("paid", None)])
            return engine.open_transfer(key, fingerprint, account, fields, prefix="po_", steps=steps)

        return answer(idempotent(account, params, make), payout_object)

    @app.get("/v1/payouts")
    def list_payouts() -> Response:
        account = account_header()
        params = form()
        check_params(params, {"created", "limit", "starting_after", "status"}, set())
        return jsonify(listing("payout", lambda r: r["account"] == account, "/v1/payouts"))

    @app.get("/v1/balance_transactions")
    def list_balance_transactions() -> Response:
        """The platform balance's movements, newest first (``created``, ``limit``, ``starting_after``)."""
        if account_header() is not None:
            raise stripe_error(400, "invalid_request_error", "Only the platform's balance is listed here")
        params = form()
        check_params(params, {"created", "limit", "starting_after", "type"}, set())
        in_time, wanted = created_between(params), params.get("type")
        limit = str(params.get("limit", "10"))
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise stripe_error(
                400, "invalid_request_error", "Invalid limit", "parameter_invalid_integer", "limit"
            )
        with engine.lock:
            rows = [row for tid in engine.order for row in balance_transactions_of(engine.transfers[tid])]
        rows = [r for r in rows if in_time(r) and wanted in (None, r["type"])]
        rows.sort(key=lambda r: (int(r["created"]), str(r["id"])), reverse=True)
        after = params.get("starting_after")
        if after is not None:
            ids = [r["id"] for r in rows]
            if after not in ids:
                raise stripe_error(
                    400, "invalid_request_error", "No such object", "resource_missing", "starting_after"
                )
            rows = rows[ids.index(after) + 1 :]
        chunk = rows[: int(limit)]
        return jsonify(
            {
                "object": "list",
                "data": chunk,
                "has_more": len(rows) > len(chunk),
                "url": "/v1/balance_transactions",
            }
        )

    @app.post("/v1/_fees")
    def plant_fee() -> Response:
        """A fee the rail took from the platform's balance (a planted reconciliation fault)."""
        body = json_body()
        amount, currency = (body or {}).get("amount"), (body or {}).get("currency")
        if type(amount) is not int or amount <= 0 or not isinstance(currency, str) or len(currency) != 3:
            raise ApiError(422, "invalid_request", "amount (positive integer) and currency are required")
        fields = {"kind": "fee", "reference": "", "amount": amount, "currency": currency.lower(),
                  "description": body.get("description") or "Stripe fee"}  # fmt: skip
        return jsonify(balance_transactions_of(engine.add_record("txn_", fields))[0])

    @app.get("/v1/payouts/<pid>")
    def get_payout(pid: str) -> Response:
        return jsonify(payout_object(one(pid, "payout")))

    @app.get("/v1/balance")
    def balance() -> Response:
        account = account_header()
        totals: dict[str, int] = {}
        with engine.lock:
            for r in engine.transfers.values():
                moved = int(r["amount"]) - int(r.get("amount_reversed", 0))
                if r["kind"] == "transfer":
                    sign_ = (
                        1
                        if account is not None and r["destination"] == account
                        else -1
                        if account is None
                        else 0
                    )
                    totals[r["currency"]] = totals.get(r["currency"], 0) + sign_ * moved
                elif account is not None and r["account"] == account and r["status"] != "failed":
                    totals[r["currency"]] = totals.get(r["currency"], 0) - moved
        held = FUNDED_CURRENCIES if account is None else ("EUR",)
        currencies = sorted(set(totals) | {c.lower() for c in (*held, *engine.funding)})

        def opening(c: str) -> int:  # the platform's funding (the engine's, per currency)
            return engine.opening(c.upper()) if account is None else 0

        available = [
            {
                "amount": opening(c) + totals.get(c, 0),
                "currency": c,
                "source_types": {"card": opening(c) + totals.get(c, 0)},
            }
            for c in currencies
        ]
        pending = [{"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies]
        return jsonify({
            "available": available, "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
            "livemode": False, "object": "balance", "pending": pending,
        })  # fmt: skip

    add_control_routes(app, engine, prefix="/v1", json_body=json_body)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stand_ins.stripe_connect", description="Stripe stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8297)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--state-file", default=None)
    parser.add_argument("--save-interval", type=float, default=0.0)
    parser.add_argument("--config", default=os.environ.get("STRIPE_STAND_IN_CONFIG", "{}"))
    args = parser.parse_args(argv)
    key, secret = os.environ.get("STRIPE_SECRET_KEY"), os.environ.get("STRIPE_WEBHOOK_SECRET")
    if not key or not secret:
        print("stand_ins.stripe_connect: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    try:
        config = Config.parse(strict_json.loads(args.config))
    except ValueError as err:
        print(f"stand_ins.stripe_connect: bad --config: {err}", file=sys.stderr)
        return 2
    app = create_app(config, key, secret, args.webhook_url, args.state_file, save_interval=args.save_interval)
    return serve(app, args.host, args.port, f"stripe stand-in, webhooks to {args.webhook_url}")


if __name__ == "__main__":
    sys.exit(main())
