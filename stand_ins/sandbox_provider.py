"""Sandbox payment provider: a local stand-in for a PSP's payout API, for end-to-end tests.

Its engine (:class:`Sandbox`: transfers, idempotency keys, fates, webhooks and every fault knob)
also runs the Adyen and Stripe stand-ins (``stand_ins/adyen.py``, ``stand_ins/stripe_connect.py``)
through a :class:`Dialect`, which words and signs their webhooks.

Run::

    SANDBOX_API_KEY=sk_test SANDBOX_WEBHOOK_SECRET=whsec_test \\
    .venv/bin/python -m stand_ins.sandbox_provider --host 127.0.0.1 --port 8300 \\
        --webhook-url http://127.0.0.1:8080/provider-webhook --state-file .local/sandbox.json \\
        [--config '{"settle_delay_ms": 200}']          # or env SANDBOX_CONFIG

API (JSON; every /v1 route needs ``Authorization: Bearer $SANDBOX_API_KEY``, else 401)
  GET  /healthz                          200, no auth
  POST /v1/transfers                     header Idempotency-Key (1-64 chars, else 400); body
       {"amount": int>0, "currency": "EUR", "reference": str, "destination": {"scheme": "iban" |
       "us_aba" | "jp_zengin", "country": "FR", "holder_name": str, iban/bic | routing_number/
       account_number/account_type | bank_code/branch_code/account_number/account_type}, "metadata"?:
       {str: str}} -> 201 transfer {"id": "tr_…", "status": "processing", "reference", "amount",
       "currency", "metadata", "created_at", "created" (unix), "failure_code": null, "sequence" (status
       events so far)}. Bad body -> 422 {"error": {"code":
       "invalid_request", "message", "field"}} (not stored). Same key + same body -> 200 with the
       transfer as it is now (or the stored 422); same key + other body -> 409 idempotency_key_reused.
  GET  /v1/transfers/{id}                the transfer, or 404
  GET  /v1/transfers?reference=X         {"data": [...], "has_more": false}
  GET  /v1/transfers?limit=10&starting_after=tr_…   oldest first, {"data": [...], "has_more": bool}
       &created_gte=&created_lt=         (Unix seconds) only transfers created in that window
  GET  /v1/_webhooks[?transfer_id=]      delivery log {"data": [{"event_id", "transfer_id", "type",
       "attempt", "at", "status_code", "error", "result": delivered|retry_scheduled|gave_up|dropped,
       "replay"}]}
  GET  /v1/balance?currency=EUR          the platform's funds {"object": "balance", "available":
       [{"currency", "amount"}]}: what it put in (10^13 unless set) less what processing and paid
       transfers hold. Where funding was set, a transfer it cannot cover is accepted and then
       fails ``insufficient_platform_funds``.
  POST /v1/_funding {"currency", "balance" | "top_up"}   set the available funds, or add to them
  GET|POST /v1/_config                   read / replace the fault config (omitted keys -> defaults)
  POST /v1/_reset                        forget transfers, keys, events and deliveries
  POST /v1/_replay_webhooks {"transfer_id"?}   re-send delivered events (same ids, fresh signatures)
  GET  /v1/_records                      every transfer as stored
  POST /v1/_records/{id} {"amount"?, "status"?, "failure_code"?}   a planted reconciliation fault:
       the transfer changes silently (no webhook; its planned status changes dropped), e.g. a
       rail-side amount that differs, or a return with no webhook and no status report

Magic accounts, by the last 6 characters of the account code (``schwifty.IBAN(iban).account_code``
for IBANs, ``account_number`` otherwise): 999901 failed account_closed, 999902 failed no_account,
999903 synchronous 422 invalid_account_number (no transfer; stored under the idempotency key),
999904 failed account_frozen, 999905 failed declined, 999906 failed insufficient_platform_funds,
999907 paid then returned (failure_code account_closed); anything else paid.
E.g. IBAN.generate("DE", bank_code="37040044", account_code="0000999901") -> DE72370400440000999901.

Webhooks: each status change POSTs {"id": "evt_…", "type": "transfer.paid" | "transfer.failed" |
"transfer.returned", "created": unix, "data": {"transfer": {...}}} to --webhook-url with
``X-Sandbox-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`` (shared.entrypoints.signing).
Event ids are derived from (transfer, status), so duplicates and replays carry the same id.
Non-2xx or connection errors are retried after base, 2*base, 4*base… ms, re-signed each time.

Config (all optional): latency_ms (every /v1/transfers call), error_rate (POST /v1/transfers answers
500/503, creates nothing), timeout_after_accept_rate + timeout_sleep_ms=5000 (create, then sleep
before answering), duplicate_webhook_rate, out_of_order_rate (a transfer with several events, i.e.
999907, gets them delivered newest first), drop_webhook_rate, settle_delay_ms=500,
return_delay_ms=1000, webhook_retry_base_ms=200, webhook_max_attempts=8, seed=0. Rates are 0.0-1.0,
drawn from random.Random streams seeded by ``seed`` (one for the API, one for webhooks); setting the
config re-seeds them. State lives in memory and is saved atomically to --state-file (JSON): after
each change by default (tests), or, with ``--save-interval S`` (the local stack), as a snapshot at
most every S seconds plus an append-only ``<state-file>.wal`` line per created transfer or stored
idempotency key, written before the API answers, so nothing it acknowledged is lost to a crash (a
status change lost with the last snapshot is redone, and its webhook sent again, like a PSP's
at-least-once delivery). Saving the whole state per change made a 10,000-payout run quadratic.
Tests drive time with ``Sandbox.settle_due(now)`` and ``Sandbox.deliver_due(now)``.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import hashlib
import hmac
import json
import os
import random
import secrets
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from schwifty import IBAN
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from shared.entrypoints.signing import sign

SIGNATURE_HEADER = "X-Sandbox-Signature"
JSON = dict[str, Any]
Sender = Callable[[str, bytes, Mapping[str, str]], int]  # (url, body, headers) -> HTTP status
OUTCOMES: dict[str, list[tuple[str, str | None]]] = {
    "999901": [("failed", "account_closed")],
    "999902": [("failed", "no_account")],
    "999904": [("failed", "account_frozen")],
    "999905": [("failed", "declined")],
    "999906": [("failed", "insufficient_platform_funds")],
    "999907": [("paid", None), ("returned", "account_closed")],
}
OPENING_BALANCE = 10**13  # minor units per currency: the platform is well funded unless told (_funding)
# The currencies the stand-ins' platform holds (a balance lists them all, as a funded account does).
FUNDED_CURRENCIES = (
    *("AUD", "CAD", "CHF", "CZK", "DKK", "EUR", "GBP"),
    *("HUF", "JPY", "NOK", "PLN", "SEK", "USD"),
)
SYNC_REFUSED = "999903"
SCHEME_FIELDS = {
    "iban": {"iban": True, "bic": False},
    "us_aba": {"routing_number": True, "account_number": True, "account_type": False},
    "jp_zengin": {"bank_code": True, "branch_code": True, "account_number": True, "account_type": False},
    # Australia and Canada (shared.domain.bank_accounts): BSB, or institution + transit numbers.
    "au_becs": {"bsb": True, "account_number": True},
    "ca_eft": {
        "institution_number": True,
        "transit_number": True,
        "account_number": True,
        "account_type": False,
    },
}
DIGITS = {
    "routing_number": (9, 9),
    "bank_code": (4, 4),
    "branch_code": (3, 3),
    "bsb": (6, 6),
    "institution_number": (3, 3),
    "transit_number": (5, 5),
}
ACCOUNT_DIGITS = {"us_aba": (4, 17), "jp_zengin": (7, 7), "au_becs": (5, 9), "ca_eft": (5, 12)}


@dataclasses.dataclass(frozen=True)
class Config:
    latency_ms: int = 0
    error_rate: float = 0.0
    timeout_after_accept_rate: float = 0.0
    timeout_sleep_ms: int = 5000
    duplicate_webhook_rate: float = 0.0
    out_of_order_rate: float = 0.0
    drop_webhook_rate: float = 0.0
    settle_delay_ms: int = 500
    return_delay_ms: int = 1000
    webhook_retry_base_ms: int = 200
    webhook_max_attempts: int = 8
    seed: int = 0

    @classmethod
    def parse(cls, data: Any) -> Config:
        """Build a config from JSON; omitted keys take their defaults. Raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError("config must be a JSON object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in data.items():
            if key not in fields:
                raise ValueError(f"unknown config key {key!r}")
            if key.endswith("_rate"):
                ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
            else:
                low = 1 if key == "webhook_max_attempts" else 0 if key != "seed" else -(2**63)
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
            if not ok:
                raise ValueError(f"invalid value for {key!r}: {value!r}")
        values: dict[str, Any] = {k: float(v) if k.endswith("_rate") else v for k, v in data.items()}
        return cls(**values)


class ApiError(Exception):
    """An error answer; ``payload`` is the body in a vendor's own shape (the sandbox's otherwise)."""

    def __init__(
        self, status: int, code: str, message: str = "", field: str | None = None, payload: JSON | None = None
    ) -> None:
        super().__init__(message or code)
        self.status, self.code, self.message, self.field = status, code, message or code, field
        self.payload = payload

    def body(self) -> JSON:
        if self.payload is not None:
            return self.payload
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _string(obj: JSON, key: str, prefix: str, *, required: bool = True, max_len: int = 140) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ApiError(422, "invalid_request", f"{key} must be a non-empty string", prefix + key)
    return value


def validate_transfer(body: Any) -> str:
    """Check a create-transfer body strictly; return the destination's account code."""
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "body must be a JSON object", None)
    for key in body:
        if key not in {"amount", "currency", "reference", "destination", "metadata"}:
            raise ApiError(422, "invalid_request", f"unknown field {key}", key)
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount < 10**15:
        raise ApiError(422, "invalid_request", "amount must be a positive integer (minor units)", "amount")
    currency = _string(body, "currency", "", max_len=3) or ""
    if len(currency) != 3 or not currency.isascii() or not currency.isupper():
        raise ApiError(422, "invalid_request", "currency must be an ISO 4217 code", "currency")
    _string(body, "reference", "", max_len=255)
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict) or len(metadata) > 50:
        raise ApiError(422, "invalid_request", "metadata must be an object (50 keys max)", "metadata")
    if not all(isinstance(v, str) and len(k) <= 40 and len(v) <= 500 for k, v in metadata.items()):
        raise ApiError(422, "invalid_request", "metadata values must be short strings", "metadata")
    dest = body.get("destination")
    if not isinstance(dest, dict):
        raise ApiError(422, "invalid_request", "destination must be an object", "destination")
    scheme = dest.get("scheme")
    if scheme not in SCHEME_FIELDS:
        raise ApiError(422, "invalid_request", "unsupported scheme", "destination.scheme")
    allowed = {"scheme", "country", "holder_name", *SCHEME_FIELDS[scheme]}
    for key in dest:
        if key not in allowed:
            raise ApiError(422, "invalid_request", f"unexpected field for {scheme}", f"destination.{key}")
    country = _string(dest, "country", "destination.", max_len=2) or ""
    if len(country) != 2 or not country.isascii() or not country.isupper():
        raise ApiError(422, "invalid_request", "country must be ISO 3166 alpha-2", "destination.country")
    _string(dest, "holder_name", "destination.")
    for key, required in SCHEME_FIELDS[scheme].items():
        value = _string(dest, key, "destination.", required=required, max_len=64)
        low, high = ACCOUNT_DIGITS[scheme] if key == "account_number" else DIGITS.get(key, (0, 0))
        if value is not None and high and not (value.isdigit() and low <= len(value) <= high):
            raise ApiError(422, "invalid_request", f"{key} must be {low}-{high} digits", f"destination.{key}")
    if scheme != "iban":
        return str(dest["account_number"])
    try:
        return str(IBAN(dest["iban"]).account_code)
    except ValueError as err:
        raise ApiError(422, "invalid_request", f"invalid IBAN: {err}", "destination.iban") from None


def fingerprint_of(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def event_id(transfer_id: str, status: str) -> str:
    return "evt_" + hashlib.sha256(f"{transfer_id}:{status}".encode()).hexdigest()[:24]


def _requests_sender(url: str, body: bytes, headers: Mapping[str, str]) -> int:
    return requests.post(url, data=body, headers=dict(headers), timeout=10).status_code


class Dialect:
    """How one vendor words the engine's transfers in webhooks. The engine (:class:`Sandbox`)
    keeps every transfer in its own vocabulary (processing, paid, failed, returned and our
    failure codes) and every fault knob; a dialect renders an event's body and signs it. This
    one is the sandbox's own; ``stand_ins/adyen.py`` and ``stand_ins/stripe_connect.py`` speak
    Adyen's and Stripe's."""

    events_on_create = False  # whether creating a transfer is itself a webhook (Adyen's .created)

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def event_id(self, transfer: JSON, status: str) -> str:
        return event_id(str(transfer["id"]), status)

    def event(self, evt: str, transfer: JSON, status: str, now: float) -> JSON:
        data = {"transfer": dict(transfer)}
        return {"id": evt, "type": f"transfer.{status}", "created": int(now), "data": data}

    def transfer_id(self, event: JSON) -> str:
        return str(event["data"]["transfer"]["id"])

    def event_type(self, event: JSON) -> str:
        return str(event["type"])

    def sign(self, body: bytes, now: int) -> dict[str, str]:
        return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, now, body)}


class Sandbox:
    """All provider state, guarded by one lock and saved to ``state_file`` after each change."""

    transfers: dict[str, JSON]  # in creation order
    keys: dict[str, JSON]  # idempotency key -> {"fingerprint", "transfer_id" | "error"}
    plans: dict[str, JSON]  # transfer id -> {"steps": [[status, failure_code]], "due", "reverse", "held"}
    events: dict[str, JSON]  # event id -> webhook body
    delivered: set[str]  # event ids delivered at least once (replayable)
    deliveries: list[JSON]  # pending: {"seq", "event_id", "due", "attempt", "replay"}
    log: list[JSON]
    seq: int
    funding: dict[str, int]

    def __init__(
        self,
        config: Config,
        webhook_secret: str,
        webhook_url: str,
        state_file: str | Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sender: Sender = _requests_sender,
        save_interval: float = 0.0,
        dialect: Dialect | None = None,
    ) -> None:
        self.secret, self.url, self.clock, self.sender = webhook_secret, webhook_url, clock, sender
        self.dialect = dialect or Dialect(webhook_secret)
        self.state_file = Path(state_file) if state_file else None
        self.wal_file = self.state_file.with_name(self.state_file.name + ".wal") if self.state_file else None
        self.save_interval, self.dirty = save_interval, False
        self.lock = threading.RLock()
        self.set_config(config)
        self._clear()
        if self.state_file:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
        if self.state_file and self.state_file.exists():
            saved = json.loads(self.state_file.read_text("utf-8"))
            for name in ("transfers", "keys", "plans", "events", "deliveries", "log"):
                setattr(self, name, saved[name])
            self.delivered = set(saved["delivered"])
            self.seq = saved["seq"]
            self.funding = {str(c): int(v) for c, v in saved.get("funding", {}).items()}
        if self.wal_file and self.wal_file.exists():
            for line in self.wal_file.read_text("utf-8").splitlines():
                self._redo(json.loads(line))
        self._index()

    def _clear(self) -> None:
        self.transfers, self.keys, self.plans, self.events = {}, {}, {}, {}
        self.delivered, self.deliveries, self.log, self.seq = set(), [], [], 0
        self.funding = {}  # the platform's funding per currency, where set (_funding)
        self._index()

    def _index(self) -> None:
        """Lookups by reference and list positions, so no request scans every transfer."""
        self.by_reference: dict[str, list[str]] = defaultdict(list)
        self.position: dict[str, int] = {}
        self.order: list[str] = []
        self.created_order: list[int] = []  # creation times, in list order (for the time bounds)
        for tid, transfer in self.transfers.items():
            self._add_to_index(tid, transfer)

    def _add_to_index(self, tid: str, transfer: JSON) -> None:
        self.by_reference[str(transfer["reference"])].append(tid)
        self.position[tid] = len(self.order)
        self.order.append(tid)
        # The clock may step back: keep the list sorted so the bounds stay a binary search.
        last = self.created_order[-1] if self.created_order else 0
        self.created_order.append(max(int(transfer.get("created", 0)), last))

    def _redo(self, record: JSON) -> None:
        """Apply one WAL record the last snapshot does not hold yet."""
        self.keys.setdefault(record["key"], record["stored"])
        if "transfer" in record and record["transfer"]["id"] not in self.transfers:
            self.transfers[record["transfer"]["id"]] = record["transfer"]
            self.plans[record["transfer"]["id"]] = record["plan"]

    def set_config(self, config: Config) -> None:
        with self.lock:
            self.config = config
            self.api_rng = random.Random(f"{config.seed}:api")
            self.hook_rng = random.Random(f"{config.seed}:webhooks")

    def reset(self) -> None:
        with self.lock:
            self._clear()
            self.set_config(self.config)
            self.flush()

    def _save(self) -> None:
        """Save now, or mark the state dirty for the next snapshot (``save_interval``)."""
        if self.save_interval > 0:
            self.dirty = True
        else:
            self.flush()

    def _log_ahead(self, record: JSON) -> None:
        """With snapshots, what the API acknowledges goes to the WAL before the answer."""
        if self.save_interval > 0 and self.wal_file is not None:
            with self.wal_file.open("a", encoding="utf-8") as wal:
                wal.write(json.dumps(record, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        """Write the whole state atomically, then start a fresh WAL."""
        if self.state_file is None:
            return
        with self.lock:
            self.dirty = False
            state = {name: getattr(self, name) for name in ("transfers", "keys", "plans", "events")}
            state |= {"deliveries": self.deliveries, "log": self.log, "seq": self.seq}
            state["funding"] = self.funding
            state["delivered"] = sorted(self.delivered)
            tmp = self.state_file.with_name(self.state_file.name + ".tmp")
            tmp.write_text(json.dumps(state, separators=(",", ":")), "utf-8")
            os.replace(tmp, self.state_file)
            if self.wal_file is not None:
                self.wal_file.unlink(missing_ok=True)

    def flush_if_dirty(self) -> float:
        """Snapshot if anything changed; return how long it took (the flusher waits longer after
        a slow one, so a big state costs a bounded share of the time)."""
        if not self.dirty:
            return 0.0
        started = time.monotonic()
        self.flush()
        return time.monotonic() - started

    def chance(self, rate: float, rng: random.Random | None = None) -> bool:
        with self.lock:
            return (rng or self.api_rng).random() < rate  # always draw: one rate never shifts another

    # --- API -------------------------------------------------------------------------------------

    def create(self, key: str, body: Any) -> tuple[int, JSON]:
        """Create a transfer once per idempotency key; answer (status, JSON body)."""
        fingerprint = fingerprint_of(body)
        stored = self.replay_key(key, fingerprint)
        if stored is not None:
            return stored
        code = validate_transfer(body)  # invalid requests are not stored under the key
        refused = None
        if code[-6:] == SYNC_REFUSED:
            refused = (422, ApiError(422, "invalid_account_number", "account number does not exist").body())
        fields = {
            "reference": body["reference"],
            "amount": body["amount"],
            "currency": body["currency"],
            "metadata": body.get("metadata", {}),
        }
        steps: list[tuple[str, str | None]] | None = None
        if refused is None and not self.covers(str(body["currency"]), int(body["amount"])):
            steps = [("failed", "insufficient_platform_funds")]  # accepted, then refused, as PSPs do
        status, answer = self.open_transfer(key, fingerprint, code, fields, refused=refused, steps=steps)
        return status, answer

    # --- the platform's funding (GET /v1/balance, POST /v1/_funding) ------------------------------

    def opening(self, currency: str) -> int:
        """What the platform put in ``currency``: ``OPENING_BALANCE`` unless set by ``_funding``."""
        return self.funding.get(currency, OPENING_BALANCE)

    def available(self, currency: str) -> int:
        """Funding less what transfers hold (processing or paid); failed and returned ones gave it back."""
        with self.lock:
            held = sum(
                int(t["amount"])
                for t in self.transfers.values()
                if str(t["currency"]).upper() == currency.upper() and t["status"] in ("processing", "paid")
            )
            return self.opening(currency) - held

    def covers(self, currency: str, amount: int) -> bool:
        """Whether the platform's funds pay ``amount`` now (checked only where funding was set:
        summing every transfer on each create would make a big run quadratic)."""
        return currency not in self.funding or self.available(currency) >= amount

    def fund(self, currency: str, *, balance: int | None = None, top_up: int = 0) -> int:
        """Set the available balance in ``currency`` to ``balance``, or add ``top_up`` to it."""
        with self.lock:
            current = self.available(currency)
            target = (current if balance is None else balance) + top_up
            self.funding[currency] = self.opening(currency) + (target - current)
            self._save()
            return self.available(currency)

    def replay_key(self, key: str, fingerprint: str) -> tuple[int, JSON] | None:
        """What a key already answered (the transfer as it is now, or the stored refusal), None
        for a new key; a key used with another body is a 409."""
        with self.lock:
            if key not in self.keys:
                return None
            stored = self.keys[key]
            if stored["fingerprint"] != fingerprint:
                raise ApiError(409, "idempotency_key_reused", "key was used with another body")
            if "error" in stored:
                return int(stored.get("status", 422)), stored["error"]
            return 200, dict(self.transfers[stored["transfer_id"]])

    def open_transfer(
        self,
        key: str,
        fingerprint: str,
        account_code: str,
        fields: JSON,
        *,
        refused: tuple[int, JSON] | None = None,
        prefix: str = "tr_",
        steps: list[tuple[str, str | None]] | None = None,
    ) -> tuple[int, JSON]:
        """Store a new transfer under ``key`` (or the refusal ``refused``), with the fate its
        account code's magic suffix gives (or ``steps``; [] for a transfer with no lifecycle)."""
        with self.lock:
            if key in self.keys:  # a concurrent request with this key won the race
                stored = self.replay_key(key, fingerprint)
                assert stored is not None
                return stored
            if refused is not None:
                self.keys[key] = {"fingerprint": fingerprint, "error": refused[1], "status": refused[0]}
                self._log_ahead({"key": key, "stored": self.keys[key]})
                self._save()
                return refused
            now = self.clock()
            tid = prefix + secrets.token_hex(12)
            plan_steps = OUTCOMES.get(account_code[-6:], [("paid", None)]) if steps is None else steps
            self.transfers[tid] = {
                **fields,
                "id": tid,
                "status": "processing",
                "created_at": _iso(now),
                "created": int(now),
                "failure_code": None,
                "sequence": 0,  # events so far (Adyen numbers them from 1)
            }
            self.plans[tid] = {
                "steps": [list(step) for step in plan_steps],
                "due": now + self.config.settle_delay_ms / 1000,
                "reverse": self.chance(self.config.out_of_order_rate) and len(plan_steps) > 1,
                "held": [],
            }
            self.keys[key] = {"fingerprint": fingerprint, "transfer_id": tid}
            self._add_to_index(tid, self.transfers[tid])
            if self.dialect.events_on_create:
                self._emit(tid, "processing", now, hold=False)
            record = {"key": key, "stored": self.keys[key], "transfer": self.transfers[tid]}
            self._log_ahead({**record, "plan": self.plans[tid]})
            self._save()
            return 201, dict(self.transfers[tid])

    def add_record(self, prefix: str, fields: JSON) -> JSON:
        """Store a record with no lifecycle and no webhook (a dialect's movement that is not a
        transfer, e.g. a fee the rail took), listed by the dialect, kept like a transfer."""
        with self.lock:
            now = self.clock()
            tid = prefix + secrets.token_hex(12)
            record = {**fields, "id": tid, "status": "paid", "created_at": _iso(now), "created": int(now),
                      "failure_code": None, "sequence": 0}  # fmt: skip
            key = f"record:{tid}"
            self.transfers[tid] = record
            self.keys[key] = {"fingerprint": "", "transfer_id": tid}
            self._add_to_index(tid, record)
            plan = {"steps": [], "due": now, "reverse": False, "held": []}
            self._log_ahead({"key": key, "stored": self.keys[key], "transfer": record, "plan": plan})
            self._save()
            return dict(record)

    def update_transfer(self, tid: str, **changes: Any) -> JSON:
        """Change a transfer's own fields (a dialect's extra state, e.g. a reversal)."""
        with self.lock:
            self.transfers[tid].update(changes)
            self._save()
            return dict(self.transfers[tid])

    def emit(self, tid: str, status: str) -> None:
        """Record a status change made through the API (not the plan) and send its webhook."""
        with self.lock:
            self.transfers[tid]["status"] = status
            self._emit(tid, status, self.clock(), hold=False)
            self._save()

    def amend(self, tid: str, changes: JSON) -> JSON:
        """A planted reconciliation fault (test tooling): the rail's own record changes silently,
        with no webhook and no status report, and any planned status change is dropped, so the
        platform can learn of it only by reconciling (a rail-side amount that differs, a silent
        return). Only ``amount``, ``status`` and ``failure_code`` may change."""
        allowed = {"amount", "status", "failure_code"}
        if not isinstance(changes, dict) or not changes or set(changes) - allowed:
            raise ApiError(422, "invalid_request", f"only {sorted(allowed)} may change", "body")
        amount = changes.get("amount", 1)
        if type(amount) is not int or amount <= 0:
            raise ApiError(422, "invalid_request", "amount must be a positive integer", "amount")
        if changes.get("status", "paid") not in ("processing", "paid", "failed", "returned"):
            raise ApiError(422, "invalid_request", "unknown status", "status")
        code = changes.get("failure_code")
        if code is not None and not isinstance(code, str):
            raise ApiError(422, "invalid_request", "failure_code must be a string", "failure_code")
        with self.lock:
            if tid not in self.transfers:
                raise ApiError(404, "not_found", f"no transfer {tid}", "id")
            self.plans.pop(tid, None)
            self.transfers[tid].update(changes)
            self._save()
            return dict(self.transfers[tid])

    def get(self, tid: str) -> JSON:
        with self.lock:
            if tid not in self.transfers:
                raise ApiError(404, "not_found", f"no transfer {tid}", "id")
            return dict(self.transfers[tid])

    def list_transfers(
        self,
        reference: str | None,
        limit: int,
        starting_after: str | None,
        created_gte: int | None = None,
        created_lt: int | None = None,
    ) -> JSON:
        """Oldest first. ``created_gte``/``created_lt`` (Unix seconds) bound the creation time, so
        a day's reconciliation reads that day's transfers, not the whole history: transfers are
        kept in creation order, so both bounds are a binary search."""
        with self.lock:
            if reference is not None:
                found = [dict(self.transfers[tid]) for tid in self.by_reference.get(reference, [])]
                return {"data": found, "has_more": False}
            created = self.created_order
            start = bisect.bisect_left(created, created_gte) if created_gte is not None else 0
            stop = bisect.bisect_left(created, created_lt) if created_lt is not None else len(self.order)
            if starting_after is not None:
                if starting_after not in self.position:
                    raise ApiError(422, "invalid_request", "unknown transfer id", "starting_after")
                start = max(start, self.position[starting_after] + 1)
            page = [dict(self.transfers[tid]) for tid in self.order[start : min(start + limit, stop)]]
            return {"data": page, "has_more": start + limit < stop}

    # --- settlement and webhooks -----------------------------------------------------------------

    def settle_due(self, now: float) -> int:
        """Apply every status change due at ``now``; queue its webhooks. Return how many changed."""
        changed = 0
        with self.lock:
            for tid, plan in list(self.plans.items()):
                while plan["steps"] and plan["due"] <= now:
                    status, failure_code = plan["steps"].pop(0)
                    transfer = self.transfers[tid]
                    transfer.update(status=status, failure_code=failure_code)
                    plan["held"].append(self._emit(tid, status, now, hold=True))
                    if not plan["reverse"] or not plan["steps"]:  # out of order: hold until the last
                        for offset, held in enumerate(reversed(plan["held"])):
                            self._queue(held, now + offset * 0.05)
                        plan["held"] = []
                    plan["due"] += self.config.return_delay_ms / 1000
                    changed += 1
                if not plan["steps"]:
                    del self.plans[tid]
            if changed:
                self._save()
        return changed

    def _emit(self, tid: str, status: str, now: float, *, hold: bool) -> str:
        """Record the event of a transfer's new status; queue it now unless held by the caller."""
        transfer = self.transfers[tid]
        transfer["sequence"] = int(transfer.get("sequence", 0)) + 1
        evt = self.dialect.event_id(transfer, status)
        self.events[evt] = self.dialect.event(evt, dict(transfer), status, now)
        if not hold:
            self._queue(evt, now)
        return evt

    def _queue(self, evt: str, due: float, *, replay: bool = False) -> None:
        copies = 1 if replay else 2 if self.chance(self.config.duplicate_webhook_rate, self.hook_rng) else 1
        if not replay and self.chance(self.config.drop_webhook_rate, self.hook_rng):
            self._log(evt, 0, due, None, None, "dropped", replay)
            return
        for _ in range(copies):
            self.seq += 1
            self.deliveries.append(
                {"seq": self.seq, "event_id": evt, "due": due, "attempt": 0, "replay": replay}
            )

    def _log(self, evt: str, attempt: int, at: float, code: int | None, error: str | None, result: str,
             replay: bool) -> None:  # fmt: skip
        event = self.events[evt]
        tid = self.dialect.transfer_id(event)
        kind = self.dialect.event_type(event)
        self.log.append(dict(event_id=evt, transfer_id=tid, type=kind, attempt=attempt, at=_iso(at),
                             status_code=code, error=error, result=result, replay=replay))  # fmt: skip

    def take_due(self, now: float) -> list[JSON]:
        """Lease the deliveries due at ``now`` (re-offered after 60 s if the process dies mid-send)."""
        with self.lock:
            due = sorted((d for d in self.deliveries if d["due"] <= now), key=lambda d: (d["due"], d["seq"]))
            for delivery in due:
                delivery["due"] = now + 60
            return [dict(d) for d in due]

    def attempt(self, delivery: JSON, now: float | None = None) -> bool:
        """Send one delivery, signed at ``now``; record it and schedule a retry if it failed."""
        now = self.clock() if now is None else now
        with self.lock:
            body = json.dumps(self.events[delivery["event_id"]], separators=(",", ":")).encode()
        headers = self.dialect.sign(body, int(now))
        code: int | None = None
        error: str | None = None
        try:
            code = self.sender(self.url, body, headers)
        except Exception as err:  # connection refused, timeout, anything: retry like a PSP would
            error = f"{type(err).__name__}: {err}"
        ok = code is not None and 200 <= code < 300
        with self.lock:
            pending = next((d for d in self.deliveries if d["seq"] == delivery["seq"]), None)
            if pending is None:  # reset meanwhile
                return ok
            pending["attempt"] += 1
            if ok or pending["attempt"] >= self.config.webhook_max_attempts:
                self.deliveries.remove(pending)
                result = "delivered" if ok else "gave_up"
            else:
                pending["due"] = (
                    now + self.config.webhook_retry_base_ms * 2 ** (pending["attempt"] - 1) / 1000
                )
                result = "retry_scheduled"
            if ok:
                self.delivered.add(pending["event_id"])
            self._log(pending["event_id"], pending["attempt"], now, code, error, result, pending["replay"])
            self._save()
        return ok

    def deliver_due(self, now: float) -> int:
        """Synchronously send every delivery due at ``now`` (tests); return how many were tried."""
        due = self.take_due(now)
        for delivery in due:
            self.attempt(delivery, now)
        return len(due)

    def replay(self, transfer_id: str | None) -> int:
        with self.lock:
            if transfer_id is not None and transfer_id not in self.transfers:
                raise ApiError(404, "not_found", f"no transfer {transfer_id}", "transfer_id")
            events = [
                evt_id for evt_id, e in self.events.items()
                if evt_id in self.delivered and transfer_id in (None, self.dialect.transfer_id(e))
            ]  # fmt: skip
            for evt in events:
                self._queue(evt, self.clock(), replay=True)
            self._save()
            return len(events)

    def webhook_log(self, transfer_id: str | None) -> list[JSON]:
        with self.lock:
            return [dict(e) for e in self.log if transfer_id in (None, e["transfer_id"])]


class Worker:
    """Background settlement and webhook delivery for the real server (tests call the methods)."""

    def __init__(self, sandbox: Sandbox, poll_seconds: float = 0.05, threads: int = 8) -> None:
        self.sandbox, self.poll = sandbox, poll_seconds
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="webhook")
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="settlement", daemon=True)
        self.flusher = threading.Thread(target=self._flush_loop, name="snapshots", daemon=True)

    def _run(self) -> None:
        while not self.stop_event.wait(self.poll):
            now = self.sandbox.clock()
            self.sandbox.settle_due(now)
            for delivery in self.sandbox.take_due(now):
                self.pool.submit(self.sandbox.attempt, delivery)

    def start(self) -> None:
        self.thread.start()
        if self.sandbox.save_interval > 0:
            self.flusher.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        if self.flusher.is_alive():
            self.flusher.join(timeout=30)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.sandbox.flush()

    def _flush_loop(self) -> None:
        pause = self.sandbox.save_interval
        while not self.stop_event.wait(pause):
            took = self.sandbox.flush_if_dirty()
            pause = max(self.sandbox.save_interval, 4 * took)


def create_app(
    config: Config | Mapping[str, Any] | None,
    api_key: str,
    webhook_secret: str,
    webhook_url: str,
    state_file: str | Path | None,
    *,
    clock: Callable[[], float] = time.time,
    sender: Sender = _requests_sender,
    save_interval: float = 0.0,
) -> Flask:
    """The provider's Flask app; its state is ``app.extensions["sandbox"]`` (no worker started)."""
    cfg = config if isinstance(config, Config) else Config.parse(dict(config or {}))
    sandbox = Sandbox(
        cfg, webhook_secret, webhook_url, state_file, clock=clock, sender=sender, save_interval=save_interval
    )
    app = Flask("sandbox_provider")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.extensions["sandbox"] = sandbox

    def json_body() -> Any:
        body = request.get_json(silent=True)
        if body is None and request.get_data():
            raise ApiError(400, "invalid_json", "body is not valid JSON")
        return body

    @app.errorhandler(ApiError)
    def api_error(err: ApiError) -> tuple[Response, int]:
        return jsonify(err.body()), err.status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[Response, int]:
        code = (err.name or "error").lower().replace(" ", "_")
        return jsonify({"error": {"code": code, "message": err.description, "field": None}}), err.code or 500

    @app.before_request
    def authenticate() -> None:
        if not request.path.startswith("/v1/"):
            return
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise ApiError(401, "unauthorized", "missing or wrong API key")
        if request.path.startswith("/v1/transfers") and sandbox.config.latency_ms:
            time.sleep(sandbox.config.latency_ms / 1000)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.post("/v1/transfers")
    def create_transfer() -> tuple[Response, int, dict[str, str]]:
        key = request.headers.get("Idempotency-Key", "")
        if not key or len(key) > 64:
            raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key is required (64 chars max)")
        if sandbox.chance(sandbox.config.error_rate):
            status = 500 if sandbox.chance(0.5) else 503
            raise ApiError(status, "internal_error" if status == 500 else "service_unavailable")
        existed = key in sandbox.keys
        status, body = sandbox.create(key, json_body())
        if status == 201 and sandbox.chance(sandbox.config.timeout_after_accept_rate):
            time.sleep(sandbox.config.timeout_sleep_ms / 1000)
        return jsonify(body), status, {"Idempotent-Replayed": str(existed).lower()}

    @app.get("/v1/transfers/<tid>")
    def get_transfer(tid: str) -> Response:
        return jsonify(sandbox.get(tid))

    @app.get("/v1/balance")
    def balance() -> Response:
        currency = request.args.get("currency", "")
        if not (len(currency) == 3 and currency.isascii() and currency.isupper()):
            raise ApiError(422, "invalid_request", "currency must be an ISO 4217 code", "currency")
        return jsonify({
            "object": "balance",
            "available": [{"currency": currency, "amount": sandbox.available(currency)}],
        })  # fmt: skip

    @app.get("/v1/transfers")
    def list_transfers() -> Response:
        limit = request.args.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise ApiError(422, "invalid_request", "limit must be 1-100", "limit")
        args = request.args
        bounds: dict[str, int | None] = {}
        for name in ("created_gte", "created_lt"):
            value = args.get(name)
            if value is not None and not value.isdigit():
                raise ApiError(422, "invalid_request", f"{name} must be a Unix time in seconds", name)
            bounds[name] = int(value) if value is not None else None
        return jsonify(
            sandbox.list_transfers(args.get("reference"), int(limit), args.get("starting_after"), **bounds)
        )

    add_control_routes(app, sandbox, prefix="/v1", json_body=json_body)
    return app


def add_control_routes(app: Flask, engine: Sandbox, *, prefix: str, json_body: Callable[[], Any]) -> None:
    """The fault knobs and the delivery log, the same for every dialect (behind its auth)."""

    @app.route(f"{prefix}/_config", methods=["GET", "POST"])
    def config_route() -> Response:
        if request.method == "POST":
            try:
                engine.set_config(Config.parse(json_body()))
            except ValueError as err:
                raise ApiError(422, "invalid_request", str(err), "config") from None
        return jsonify(dataclasses.asdict(engine.config))

    @app.post(f"{prefix}/_reset")
    def reset() -> Response:
        engine.reset()
        return jsonify({"reset": True})

    @app.post(f"{prefix}/_replay_webhooks")
    def replay() -> Response:
        body = json_body() or {}
        if not isinstance(body, dict) or not isinstance(body.get("transfer_id", ""), str):
            raise ApiError(422, "invalid_request", "transfer_id must be a string", "transfer_id")
        return jsonify({"replayed": engine.replay(body.get("transfer_id"))})

    @app.get(f"{prefix}/_webhooks")
    def webhooks() -> Response:
        return jsonify({"data": engine.webhook_log(request.args.get("transfer_id"))})

    @app.post(f"{prefix}/_funding")
    def funding() -> Response:
        """Set the platform's available balance in a currency (``balance``) or add to it
        (``top_up``): a short-funded account, and the treasury's top-up."""
        body = json_body() or {}
        currency = body.get("currency") if isinstance(body, dict) else None
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
            raise ApiError(422, "invalid_request", "currency must be an ISO 4217 code", "currency")
        values = {k: body.get(k) for k in ("balance", "top_up")}
        for name, value in values.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ApiError(422, "invalid_request", f"{name} must be a non-negative integer", name)
        if (values["balance"] is None) == (values["top_up"] is None):
            raise ApiError(422, "invalid_request", "give one of balance or top_up", "balance")
        available = engine.fund(currency, balance=values["balance"], top_up=values["top_up"] or 0)
        return jsonify({"currency": currency, "available": available})

    @app.get(f"{prefix}/_records")
    def records() -> Response:
        """Every object the engine holds, as stored (test tooling: the fault harness's auditor
        counts every rail's transfers per payout)."""
        with engine.lock:
            found = [dict(t) for t in engine.transfers.values()]
        return jsonify({"data": found})

    @app.post(f"{prefix}/_records/<tid>")
    def amend_record(tid: str) -> Response:
        """Plant a reconciliation fault: change a transfer silently (``Sandbox.amend``)."""
        return jsonify(engine.amend(tid, json_body()))

    @app.get(f"{prefix}/_events")
    def events() -> Response:
        wanted = request.args.get("transfer_id")
        with engine.lock:
            found = [
                {"event_id": evt, "body": body}
                for evt, body in engine.events.items()
                if wanted in (None, engine.dialect.transfer_id(body))
            ]
        return jsonify({"data": found})


def serve(app: Flask, host: str, port: int, banner: str) -> int:
    """Run a stand-in's app and its engine's worker until SIGTERM or SIGINT."""
    worker = Worker(app.extensions["sandbox"])
    server = make_server(host, port, app, threaded=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    print(f"{banner} on http://{host}:{port}", flush=True)
    stop.wait()
    server.shutdown()
    worker.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stand_ins.sandbox_provider", description="Sandbox PSP")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--state-file", default=None, help="JSON file keeping state across restarts")
    parser.add_argument(
        "--save-interval",
        type=float,
        default=0.0,
        help="seconds between state snapshots (0: save after every change), with a WAL for creates",
    )
    parser.add_argument("--config", default=os.environ.get("SANDBOX_CONFIG", "{}"), help="fault config JSON")
    args = parser.parse_args(argv)
    api_key, secret = os.environ.get("SANDBOX_API_KEY"), os.environ.get("SANDBOX_WEBHOOK_SECRET")
    missing = [n for n, v in (("SANDBOX_API_KEY", api_key), ("SANDBOX_WEBHOOK_SECRET", secret)) if not v]
    if missing:
        print(f"sandbox_provider: set {' and '.join(missing)} in the environment", file=sys.stderr)
        return 2
    try:
        config = Config.parse(json.loads(args.config))
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        print(f"sandbox_provider: bad --config / SANDBOX_CONFIG: {err}", file=sys.stderr)
        return 2
    app = create_app(
        config, str(api_key), str(secret), args.webhook_url, args.state_file, save_interval=args.save_interval
    )
    return serve(app, args.host, args.port, f"sandbox provider, webhooks to {args.webhook_url}")


if __name__ == "__main__":
    sys.exit(main())
