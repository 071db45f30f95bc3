"""The two real rails end to end on the local stack: the adapters against the vendor stand-ins,
Adyen's traffic through Prism validating every request and answer against Adyen's OpenAPI (any
violation fails the test), the stand-ins' webhooks delivered to the provider-webhook function
(which verifies their signatures: 401 otherwise), a lookup by reference after a timeout, and
each failure code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from local_stack import local_env
from local_stack.stack import Stack
from shared.adapters.providers.adyen import AdyenProvider
from shared.adapters.providers.base import (
    OutcomeUnknown,
    SellerRailIds,
    TransferRejected,
    TransferRequest,
    TransferState,
    is_failover_safe,
)
from shared.adapters.providers.stripe_connect import StripeConnectProvider
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.entrypoints.signing import sign
from shared.settings import Settings
from stand_ins.sample_sellers import stripe_account_for
from tests.unit.rails.helpers import account

pytestmark = pytest.mark.integration

FINAL = {PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.RETURNED}


class Rails:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.secrets = local_env.local_secrets(stack.state_dir)
        env = {**local_env.rail_env(self.secrets), "PROVIDER_TIMEOUT_SECONDS": "10"}
        env |= {k: stack.env[k] for k in ("ADYEN_TRANSFERS_URL", "STRIPE_API_URL")}
        self.settings = Settings(**env)
        # Patient adapters for the tests' own calls and lookups (a loaded machine answers slowly);
        # impatient ones where a test needs a timeout (the stand-in sleeps 3 s after accepting).
        self.adyen = AdyenProvider(self.settings)
        self.stripe = StripeConnectProvider(self.settings)
        impatient = self.settings.model_copy(update={"provider_timeout_seconds": 1.5})
        self.impatient_adyen = AdyenProvider(impatient)
        self.impatient_stripe = StripeConnectProvider(impatient)
        self.adyen_url = stack.env["ADYEN_STAND_IN_URL"]
        self.stripe_url = stack.env["STRIPE_API_URL"]
        self.adyen_auth = {"x-api-key": str(self.secrets["adyen_api_key"])}
        self.stripe_auth = {"Authorization": f"Bearer {self.secrets['stripe_secret_key']}"}
        self.prism_log = stack.procs["prism-adyen"].log

    def configure(self, rail: str, **knobs: Any) -> None:
        url, auth = (f"{self.adyen_url}/_config", self.adyen_auth) if rail == "adyen" else (
            f"{self.stripe_url}/v1/_config", self.stripe_auth)  # fmt: skip
        assert requests.post(url, json=knobs, headers=auth, timeout=5).status_code == 200

    def deliveries(self, rail: str, transfer_id: str) -> list[dict[str, Any]]:
        url, auth = (f"{self.adyen_url}/_webhooks", self.adyen_auth) if rail == "adyen" else (
            f"{self.stripe_url}/v1/_webhooks", self.stripe_auth)  # fmt: skip
        data: list[dict[str, Any]] = requests.get(
            url, params={"transfer_id": transfer_id}, headers=auth, timeout=5
        ).json()["data"]
        return data

    def events(self, rail: str, transfer_id: str) -> list[dict[str, Any]]:
        url, auth = (f"{self.adyen_url}/_events", self.adyen_auth) if rail == "adyen" else (
            f"{self.stripe_url}/v1/_events", self.stripe_auth)  # fmt: skip
        data: list[dict[str, Any]] = requests.get(
            url, params={"transfer_id": transfer_id}, headers=auth, timeout=5
        ).json()["data"]
        return data

    def prism_errors(self) -> list[str]:
        with open(self.prism_log, encoding="utf-8", errors="replace") as log:
            return [line for line in log if "✖" in line and "NO_PATH_MATCHED" not in line]


@pytest.fixture(scope="module")
def rails(stack: Stack) -> Iterator[Rails]:
    found = Rails(stack)
    found.configure("adyen")
    found.configure("stripe")
    yield found
    found.configure("adyen")  # back to the defaults for whoever comes next
    found.configure("stripe")


@pytest.fixture
def no_contract_violations(rails: Rails) -> Iterator[None]:
    before = len(rails.prism_errors())
    yield
    # A violation also fails the call itself (Prism answers it with an error, --errors); the log
    # is the second net. Prism writes it asynchronously: give it a moment to show up.
    late = until(lambda: rails.prism_errors()[before:], seconds=0.5)
    assert not late, f"Prism saw traffic outside Adyen's contract: {late}"


def payout_id() -> str:
    return "po_it_" + uuid.uuid4().hex[:18]


def adyen_request(outcome: str = "paid", country: str = "FR") -> TransferRequest:
    currency = {"FR": "EUR", "DE": "EUR", "GB": "GBP", "US": "USD"}[country]
    return TransferRequest(
        payout_id=payout_id(), amount=Money(4_200, currency), destination=account(country, 11, outcome),
        created_at=datetime.now(UTC),
    )  # fmt: skip


def stripe_request(outcome: str = "paid") -> TransferRequest:
    return TransferRequest(
        payout_id=payout_id(), amount=Money(4_200, "EUR"), destination=account("FR", 12),
        rail_ids=SellerRailIds(stripe_account=stripe_account_for("FR", 12, outcome)),
    )  # fmt: skip


def until(what: Callable[[], Any], seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = what()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def settled(lookup: Callable[[], TransferState | None], status: PayoutStatus) -> TransferState:
    state = until(lambda: (s := lookup()) is not None and s.status is status and s)
    assert state, f"never reached {status.value}"
    return state  # type: ignore[no-any-return]


# --- Adyen, through Prism --------------------------------------------------------------------


@pytest.mark.parametrize("country", ["FR", "GB", "US"])
def test_adyen_pays_through_prism_and_its_webhooks_are_verified_by_our_function(
    rails: Rails, no_contract_violations: None, country: str
):
    request = adyen_request(country=country)
    state = rails.adyen.create_transfer(request)
    assert state.status is PayoutStatus.PROCESSING
    settled(lambda: rails.adyen.fetch_transfer(request.payout_id, request.created_at), PayoutStatus.PAID)
    delivered = until(
        lambda: (
            len([d for d in rails.deliveries("adyen", state.provider_ref) if d["result"] == "delivered"]) >= 2
            and rails.deliveries("adyen", state.provider_ref)
        )
    )
    assert delivered and all(d["status_code"] == 200 for d in delivered if d["result"] == "delivered")
    # The same bodies, signed with our second (rotation) key, parse in order of their sequence.
    key = local_env.rail_env(rails.secrets)["ADYEN_HMAC_KEYS"].split(",")[1]
    parsed = []
    for item in rails.events("adyen", state.provider_ref):
        body = _json_bytes(item["body"])
        signature = base64.b64encode(hmac.new(bytes.fromhex(key), body, hashlib.sha256).digest()).decode()
        parsed.append(rails.adyen.parse_webhook({"HmacSignature": signature}, body, int(time.time())))
    assert [(e.sequence, e.transfer.status) for e in sorted(parsed, key=lambda e: e.sequence or 0)] == [
        (1, PayoutStatus.PROCESSING), (2, PayoutStatus.PAID),
    ]  # fmt: skip
    assert rails.adyen.follow(state.provider_ref).status is PayoutStatus.PAID


def _json_bytes(body: Any) -> bytes:
    import json

    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("outcome", "final", "code"),
    [
        ("account_closed", PayoutStatus.FAILED, FailureCode.ACCOUNT_CLOSED),
        ("no_account", PayoutStatus.FAILED, FailureCode.NO_ACCOUNT),
        ("account_frozen", PayoutStatus.FAILED, FailureCode.ACCOUNT_FROZEN),
        ("declined", PayoutStatus.FAILED, FailureCode.DECLINED),
        ("insufficient_platform_funds", PayoutStatus.FAILED, FailureCode.INSUFFICIENT_PLATFORM_FUNDS),
        ("returned", PayoutStatus.RETURNED, FailureCode.ACCOUNT_CLOSED),
    ],
)
def test_adyen_each_failure_code(rails: Rails, no_contract_violations: None, outcome, final, code):
    request = adyen_request(outcome)
    rails.adyen.create_transfer(request)
    state = settled(lambda: rails.adyen.fetch_transfer(request.payout_id, request.created_at), final)
    assert state.failure_code is code


def test_adyen_refuses_an_account_at_once(rails: Rails, no_contract_violations: None):
    with pytest.raises(TransferRejected) as refused:
        rails.adyen.create_transfer(adyen_request("invalid_account_number"))
    assert refused.value.code is FailureCode.INVALID_ACCOUNT_NUMBER


def test_adyen_timeout_then_lookup_by_reference(rails: Rails, no_contract_violations: None):
    rails.configure("adyen", timeout_after_accept_rate=1.0, timeout_sleep_ms=3000)
    request = adyen_request()
    try:
        with pytest.raises(OutcomeUnknown) as unknown:
            rails.impatient_adyen.create_transfer(request)
    finally:
        rails.configure("adyen")
    assert not is_failover_safe(unknown.value)
    found = until(lambda: rails.adyen.fetch_transfer(request.payout_id, request.created_at))
    assert found and found.reference == request.payout_id
    again = rails.adyen.create_transfer(request)  # the same idempotency key: the same transfer
    assert again.provider_ref == found.provider_ref


def test_prism_refuses_a_request_outside_adyens_contract(rails: Rails):
    before = len(rails.prism_errors())
    answer = requests.post(
        f"{rails.stack.env['ADYEN_TRANSFERS_URL']}/transfers",
        json={"amount": {"value": "4200", "currency": "EUR"}, "category": "bank", "counterparty": {}},
        headers=rails.adyen_auth,
        timeout=10,
    )
    assert answer.status_code == 422 and "prism" in answer.json()["type"]
    assert until(lambda: len(rails.prism_errors()) == before + 1, seconds=5)


# --- Stripe ----------------------------------------------------------------------------------


def test_stripe_pays_a_connected_account_then_its_bank_with_verified_webhooks(rails: Rails):
    request = stripe_request()
    state = rails.stripe.create_transfer(request)
    assert state.status is PayoutStatus.PROCESSING and state.provider_ref.startswith("tr_")
    settled(lambda: rails.stripe.fetch_transfer(request.payout_id), PayoutStatus.PAID)
    payout_events = until(
        lambda: [
            d for d in rails.deliveries("stripe", _payout_id_of(rails, request)) if d["result"] == "delivered"
        ]
    )
    assert payout_events and all(d["status_code"] == 200 for d in payout_events)
    secret = str(local_env.rail_env(rails.secrets)["STRIPE_WEBHOOK_SECRETS"]).split(",")[1]
    for item in rails.events("stripe", _payout_id_of(rails, request)):
        body = _json_bytes(item["body"])
        event = rails.stripe.parse_webhook(
            {"Stripe-Signature": sign(secret, int(time.time()), body)}, body, 0
        )
        assert (
            event.transfer.reference == request.payout_id
            and event.transfer.provider_ref == state.provider_ref
        )


def _payout_id_of(rails: Rails, request: TransferRequest) -> str:
    assert request.rail_ids.stripe_account
    listed = requests.get(
        f"{rails.stripe_url}/v1/payouts",
        headers={**rails.stripe_auth, "Stripe-Account": request.rail_ids.stripe_account},
        timeout=5,
    ).json()["data"]
    return next(p["id"] for p in listed if p["metadata"].get("payout_id") == request.payout_id)


@pytest.mark.parametrize(
    ("outcome", "final", "code"),
    [
        ("account_closed", PayoutStatus.FAILED, FailureCode.ACCOUNT_CLOSED),
        ("no_account", PayoutStatus.FAILED, FailureCode.NO_ACCOUNT),
        ("invalid_account_number", PayoutStatus.FAILED, FailureCode.INVALID_ACCOUNT_NUMBER),
        ("account_frozen", PayoutStatus.FAILED, FailureCode.ACCOUNT_FROZEN),
        ("declined", PayoutStatus.FAILED, FailureCode.DECLINED),
        ("returned", PayoutStatus.FAILED, FailureCode.ACCOUNT_CLOSED),  # failed after paid: a return
    ],
)
def test_stripe_each_failure_code(rails: Rails, outcome, final, code):
    request = stripe_request(outcome)
    rails.stripe.create_transfer(request)
    if outcome == "returned":
        settled(lambda: rails.stripe.fetch_transfer(request.payout_id), PayoutStatus.PAID)
    state = settled(lambda: rails.stripe.fetch_transfer(request.payout_id), final)
    assert state.failure_code is code


def test_stripe_refuses_a_transfer_beyond_the_platform_balance(rails: Rails):
    with pytest.raises(TransferRejected) as refused:
        rails.stripe.create_transfer(stripe_request("insufficient_platform_funds"))
    assert refused.value.code is FailureCode.INSUFFICIENT_PLATFORM_FUNDS


def test_stripe_timeout_then_lookup_finishes_the_payout(rails: Rails):
    rails.configure("stripe", timeout_after_accept_rate=1.0, timeout_sleep_ms=3000)
    request = stripe_request()
    try:
        with pytest.raises(OutcomeUnknown):
            rails.impatient_stripe.create_transfer(request)
    finally:
        rails.configure("stripe")
    found = until(lambda: rails.stripe.fetch_transfer(request.payout_id))
    assert found and found.reference == request.payout_id
    assert found.status in {PayoutStatus.PROCESSING} | FINAL
