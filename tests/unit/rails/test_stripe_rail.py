"""The Stripe Connect adapter against the Stripe stand-in over HTTP: the transfer to the
connected account then its bank payout, both idempotent; objects in the shapes of Stripe's own
fixtures; webhooks verified with Stripe's library under two secrets; every failure code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, jsonify

from shared.adapters.providers import contracts
from shared.adapters.providers.base import (
    BankPayout,
    ContractViolation,
    NotForThisRail,
    OutcomeUnknown,
    ProviderEvent,
    ProviderUnavailable,
    SellerRailIds,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    WebhookIgnored,
    WebhookRejected,
    is_failover_safe,
    reported_status,
)
from shared.adapters.providers.stripe_connect import STRIPE_FAILURE_CODES, StripeConnectProvider
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.entrypoints.signing import sign
from shared.settings import Settings
from stand_ins import stripe_connect as stand_in
from stand_ins.sample_sellers import stripe_account_for
from tests.unit.rails.helpers import Catcher, Clock, account, free_port, served

SECRET_KEY = "sk_test_standin"
WHSEC_NEW, WHSEC_OLD = "whsec_new_secret", "whsec_old_secret"


class Rig:
    def __init__(self, url: str, app: Flask, clock: Clock, catcher: Catcher) -> None:
        self.url, self.app, self.clock, self.catcher = url, app, clock, catcher
        self.engine = app.extensions["sandbox"]
        self.stripe = provider(url)

    def settle(self, seconds: float = 60) -> None:
        self.clock.now += seconds
        self.engine.settle_due(self.clock.now)
        self.engine.deliver_due(self.clock.now)

    def events(self) -> list[ProviderEvent]:
        found = []
        for body, headers in self.catcher.deliveries:
            # Signed at the stand-in's clock; Stripe's library checks against the real time.
            fresh = {**headers, "Stripe-Signature": sign(WHSEC_OLD, int(time.time()), body)}
            found.append(self.stripe.parse_webhook(fresh, body, now=int(time.time())))
        return found

    def configure(self, **knobs: Any) -> None:
        self.app.test_client().post(
            "/v1/_config", json=knobs, headers={"Authorization": f"Bearer {SECRET_KEY}"}
        )


def provider(url: str, secrets: str = f"{WHSEC_NEW},{WHSEC_OLD}") -> StripeConnectProvider:
    return StripeConnectProvider(
        Settings(
            STRIPE_SECRET_KEY=SECRET_KEY,
            STRIPE_WEBHOOK_SECRETS=secrets,
            STRIPE_API_URL=url,
            PROVIDER_TIMEOUT_SECONDS=1,
        )
    )


@pytest.fixture
def rig(tmp_path: Any) -> Iterator[Rig]:
    clock, catcher = Clock(), Catcher()
    app = stand_in.create_app(
        {"settle_delay_ms": 1000, "return_delay_ms": 5000}, SECRET_KEY, WHSEC_OLD, "http://hooks.test/stripe",
        tmp_path / "stripe.json", clock=clock, sender=catcher,
    )  # fmt: skip
    with served(app) as url:
        yield Rig(url, app, clock, catcher)


def request(
    outcome: str = "paid", bank_payout: BankPayout = "per_payout", payout_id: str = "po_0001"
) -> TransferRequest:
    return TransferRequest(
        payout_id=payout_id,
        amount=Money(12_345, "EUR"),
        destination=account("FR", 3),
        rail_ids=SellerRailIds(stripe_account=stripe_account_for("FR", 3, outcome)),
        run_id="run-2026-12-01",
        bank_payout=bank_payout,
    )


def kinds(rig: Rig) -> list[str]:
    return sorted(t["kind"] for t in rig.engine.transfers.values())


def test_a_payout_is_a_transfer_then_a_bank_payout_and_is_paid(rig: Rig):
    state = rig.stripe.create_transfer(request())
    assert state.status is PayoutStatus.PROCESSING and state.provider_ref.startswith("tr_")
    assert kinds(rig) == ["payout", "transfer"]
    rig.settle()
    events = rig.events()
    assert [e.event_type for e in events] == ["transfer.created", "payout.created", "payout.paid"]
    assert events[-1].transfer.status is PayoutStatus.PAID and events[-1].transfer.reference == "po_0001"
    assert {e.transfer.provider_ref for e in events} == {state.provider_ref}
    found = rig.stripe.fetch_transfer("po_0001")
    assert found is not None and found.status is PayoutStatus.PAID


def test_with_the_accounts_own_schedule_the_transfer_is_the_payout(rig: Rig):
    state = rig.stripe.create_transfer(request(bank_payout="account_schedule"))
    assert state.status is PayoutStatus.PAID
    assert kinds(rig) == ["transfer"]
    assert rig.stripe.fetch_transfer("po_0001") == state


def test_a_resend_makes_neither_a_second_transfer_nor_a_second_payout(rig: Rig):
    first = rig.stripe.create_transfer(request())
    again = rig.stripe.create_transfer(request())
    assert first.provider_ref == again.provider_ref
    assert kinds(rig) == ["payout", "transfer"]


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        ("account_closed", FailureCode.ACCOUNT_CLOSED),
        ("no_account", FailureCode.NO_ACCOUNT),
        ("invalid_account_number", FailureCode.INVALID_ACCOUNT_NUMBER),
        ("account_frozen", FailureCode.ACCOUNT_FROZEN),
        ("declined", FailureCode.DECLINED),
    ],
)
def test_each_payout_failure_code(rig: Rig, outcome, code):
    rig.stripe.create_transfer(request(outcome))
    rig.settle()
    last = rig.events()[-1]
    assert (last.event_type, last.transfer.status, last.transfer.failure_code) == (
        "payout.failed",
        PayoutStatus.FAILED,
        code,
    )


def test_a_low_platform_balance_refuses_the_transfer_at_once(rig: Rig):
    with pytest.raises(TransferRejected) as refused:
        rig.stripe.create_transfer(request("insufficient_platform_funds"))
    assert refused.value.code is FailureCode.INSUFFICIENT_PLATFORM_FUNDS


def test_a_payout_failed_after_paid_is_a_return(rig: Rig):
    rig.stripe.create_transfer(request("returned"))
    rig.settle(2)
    rig.settle(10)
    events = rig.events()
    assert [e.event_type for e in events][-2:] == ["payout.paid", "payout.failed"]
    failed = events[-1].transfer
    assert failed.status is PayoutStatus.FAILED and failed.failure_code is FailureCode.ACCOUNT_CLOSED
    assert reported_status(PayoutStatus.PAID, failed) is PayoutStatus.RETURNED
    assert reported_status(PayoutStatus.PROCESSING, failed) is PayoutStatus.FAILED


def test_a_reversed_transfer_is_returned(rig: Rig):
    state = rig.stripe.create_transfer(request(bank_payout="account_schedule"))
    reversed_ = rig.app.test_client().post(
        f"/v1/transfers/{state.provider_ref}/reversals", headers={"Authorization": f"Bearer {SECRET_KEY}"}
    )
    assert contracts.stripe_shape_errors("transfer_reversal", reversed_.json) == []
    rig.settle(1)
    last = rig.events()[-1]
    assert last.event_type == "transfer.reversed"
    assert (last.transfer.status, last.transfer.failure_code) == (
        PayoutStatus.RETURNED,
        FailureCode.TRANSFER_REVERSED,
    )


def test_a_timeout_after_the_transfer_is_unknown_and_the_lookup_finishes_the_payout(rig: Rig):
    rig.configure(timeout_after_accept_rate=1.0, timeout_sleep_ms=1500)
    with pytest.raises(OutcomeUnknown) as unknown:
        rig.stripe.create_transfer(request())
    assert not is_failover_safe(unknown.value)
    rig.configure(timeout_after_accept_rate=0.0)
    looked_up = rig.stripe.fetch_transfer("po_0001")
    assert looked_up is not None and looked_up.status is PayoutStatus.PROCESSING
    assert kinds(rig) == ["payout", "transfer"]  # one transfer, its bank payout made once
    assert rig.stripe.fetch_transfer("po_0001") == looked_up
    assert kinds(rig) == ["payout", "transfer"]


def test_a_lookup_finds_nothing_for_a_payout_never_sent(rig: Rig):
    assert rig.stripe.fetch_transfer("po_never") is None


def test_a_5xx_is_unknown_and_a_refused_connection_is_not_accepted(rig: Rig):
    rig.configure(error_rate=1.0)
    with pytest.raises(OutcomeUnknown) as unknown:
        rig.stripe.create_transfer(request())
    assert not is_failover_safe(unknown.value)
    rig.configure(error_rate=0.0)
    with pytest.raises(TransferNotAccepted) as refused:
        provider(f"http://127.0.0.1:{free_port()}").create_transfer(request())
    assert is_failover_safe(refused.value)


def test_a_seller_without_a_connected_account_is_not_for_this_rail(rig: Rig):
    bare = TransferRequest(payout_id="po_0002", amount=Money(100, "EUR"), destination=account("FR"))
    with pytest.raises(NotForThisRail) as refused:
        rig.stripe.create_transfer(bare)
    assert is_failover_safe(refused.value)


def test_objects_are_exactly_in_the_fixture_shapes(rig: Rig):
    state = rig.stripe.create_transfer(request())
    client, auth = rig.app.test_client(), {"Authorization": f"Bearer {SECRET_KEY}"}
    assert (
        contracts.stripe_shape_errors(
            "transfer", client.get(f"/v1/transfers/{state.provider_ref}", headers=auth).json
        )
        == []
    )
    connected = {**auth, "Stripe-Account": stripe_account_for("FR", 3)}
    payouts = client.get("/v1/payouts", headers=connected).json
    assert payouts["object"] == "list" and contracts.stripe_shape_errors("payout", payouts["data"][0]) == []
    assert contracts.stripe_shape_errors("balance", client.get("/v1/balance", headers=auth).json) == []
    rig.settle()
    for body, _ in rig.catcher.deliveries:
        assert contracts.stripe_event_errors(json.loads(body)) == []
    # and Stripe's own fixtures parse
    for kind in ("transfer", "payout"):
        assert contracts.stripe_shape_errors(kind, contracts.stripe_fixture(kind)) == []


def liar(body: Any, status: int = 200) -> Flask:
    app = Flask("liar")

    @app.post("/v1/transfers")
    def lie() -> Any:
        return jsonify(body), status

    return app


def test_an_answer_outside_the_fixture_shape_is_an_unknown_outcome():
    odd = dict(contracts.stripe_fixture("transfer"))
    odd.pop("amount_reversed")
    with served(liar(odd)) as url, pytest.raises(ContractViolation):
        provider(url).create_transfer(request())


# --- webhooks --------------------------------------------------------------------------------


def stripe_event(kind: str, obj: dict[str, Any], event_type: str, account: str | None = "acct_1") -> bytes:
    event = dict(contracts.stripe_fixture("event"))
    event.update(
        {"type": event_type, "data": {"object": obj}, "id": "evt_test_1", "created": int(time.time())}
    )
    if account:
        event["account"] = account
    return json.dumps(event).encode()


def paid_payout() -> dict[str, Any]:
    return {
        **contracts.stripe_fixture("payout"),
        "status": "paid",
        "metadata": {"payout_id": "po_9", "transfer_id": "tr_9"},
    }


def test_stripes_fixture_objects_parse_as_events():
    body = stripe_event("payout", paid_payout(), "payout.paid")
    event = provider("http://unused").parse_webhook(
        {"Stripe-Signature": sign(WHSEC_NEW, int(time.time()), body)}, body, 0
    )
    assert (event.transfer.status, event.transfer.reference, event.transfer.provider_ref) == (
        PayoutStatus.PAID,
        "po_9",
        "tr_9",
    )
    assert event.transfer.amount == Money(1100, "USD")


def test_rotation_two_secrets_then_the_old_one_is_refused():
    body = stripe_event("payout", paid_payout(), "payout.paid")
    header = {"Stripe-Signature": sign(WHSEC_OLD, int(time.time()), body)}
    assert provider("http://unused").parse_webhook(header, body, 0)
    with pytest.raises(WebhookRejected) as rejected:
        provider("http://unused", secrets=WHSEC_NEW).parse_webhook(header, body, 0)
    assert rejected.value.reason.startswith("signature")


@pytest.mark.parametrize("header", [None, "", "t=1,v1=00", "garbage"])
def test_a_missing_or_wrong_signature_is_refused(header):
    body = stripe_event("payout", paid_payout(), "payout.paid")
    headers = {} if header is None else {"Stripe-Signature": header}
    with pytest.raises(WebhookRejected) as rejected:
        provider("http://unused").parse_webhook(headers, body, 0)
    assert rejected.value.reason.startswith("signature")


def test_unknown_events_and_foreign_payouts_are_ignored():
    adapter = provider("http://unused")
    price = json.dumps(
        contracts.stripe_fixture("event") | {"created": int(time.time())}
    ).encode()  # plan.created
    foreign = stripe_event(
        "payout", {**paid_payout(), "metadata": {}}, "payout.paid"
    )  # the account's own payout
    for body in (price, foreign):
        with pytest.raises(WebhookIgnored):
            adapter.parse_webhook({"Stripe-Signature": sign(WHSEC_NEW, int(time.time()), body)}, body, 0)


def test_a_body_outside_the_shape_is_refused_with_its_field():
    bad = paid_payout() | {"amount": "1100"}
    body = stripe_event("payout", bad, "payout.paid")
    with pytest.raises(WebhookRejected) as rejected:
        provider("http://unused").parse_webhook(
            {"Stripe-Signature": sign(WHSEC_NEW, int(time.time()), body)}, body, 0
        )
    assert rejected.value.field == "data.object.amount"


def test_every_failure_code_maps():
    assert set(STRIPE_FAILURE_CODES) >= {
        "account_closed",
        "no_account",
        "insufficient_funds",
        "invalid_account_number",
    }
    assert STRIPE_FAILURE_CODES["insufficient_funds"] is FailureCode.INSUFFICIENT_PLATFORM_FUNDS


# --- a failed bank payout's money comes back to the platform before the failure is reported ----


def parse_all(rig: Rig) -> list[ProviderEvent | WebhookIgnored]:
    """Every delivery parsed as the webhook function would: an event, or why it is ignored."""
    found: list[ProviderEvent | WebhookIgnored] = []
    for body, headers in rig.catcher.deliveries:
        fresh = {**headers, "Stripe-Signature": sign(WHSEC_OLD, int(time.time()), body)}
        try:
            found.append(rig.stripe.parse_webhook(fresh, body, now=int(time.time())))
        except WebhookIgnored as ignored:
            found.append(ignored)
    return found


def transfer_record(rig: Rig) -> dict[str, Any]:
    return next(t for t in rig.engine.transfers.values() if t["kind"] == "transfer")


@pytest.mark.parametrize("outcome", ["account_closed", "returned"])
def test_a_failed_bank_payout_is_reported_only_with_its_transfer_reversed_once(rig: Rig, outcome):
    rig.stripe.create_transfer(request(outcome))
    rig.settle(2)
    rig.settle(10)
    failed = [e for e in parse_all(rig) if isinstance(e, ProviderEvent) and e.event_type == "payout.failed"]
    assert len(failed) == 1 and failed[0].transfer.status is PayoutStatus.FAILED
    record = transfer_record(rig)
    assert record["amount_reversed"] == 12_345  # the money is back on the platform
    assert [r["metadata"] for r in record["reversals"]] == [
        {"payout_id": "po_0001", "reason": "bank_payout_failed"}
    ]
    # The same webhook again, and lookups: nothing reversed twice; still a failure, never a return.
    parse_all(rig)
    looked_up = rig.stripe.fetch_transfer("po_0001")
    assert looked_up is not None and looked_up.status is PayoutStatus.FAILED
    assert len(transfer_record(rig)["reversals"]) == 1
    # Our own reversal's transfer.reversed is recognised and ignored, not booked as a return.
    rig.settle(1)
    ignored = [e for e in parse_all(rig) if isinstance(e, WebhookIgnored)]
    assert any(i.event_type == "transfer.reversed" and "our own reversal" in i.why for i in ignored)


def test_until_the_money_is_back_the_failure_is_not_reported(rig: Rig):
    rig.stripe.create_transfer(request("account_closed"))
    rig.settle()
    body, headers = next(
        (b, h) for b, h in rig.catcher.deliveries if json.loads(b)["type"] == "payout.failed"
    )
    fresh = {**headers, "Stripe-Signature": sign(WHSEC_OLD, int(time.time()), body)}
    unreachable = provider(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderUnavailable):
        unreachable.parse_webhook(fresh, body, now=int(time.time()))
    assert transfer_record(rig)["amount_reversed"] == 0
    event = rig.stripe.parse_webhook(fresh, body, now=int(time.time()))  # Stripe delivers it again
    assert event.transfer.status is PayoutStatus.FAILED and transfer_record(rig)["amount_reversed"] == 12_345


def test_a_platform_transfer_no_payout_made_is_an_event_about_no_payout():
    """Made from the dashboard or another integration: its own id as the reference (no payout has
    it), so the use case keeps it for ops as an unknown transfer instead of ignoring it."""
    foreign = {
        **contracts.stripe_fixture("transfer"),
        "id": "tr_dashboard1",
        "transfer_group": None,
        "metadata": {},
    }
    body = stripe_event("transfer", foreign, "transfer.created", account=None)
    event = provider("http://unused").parse_webhook(
        {"Stripe-Signature": sign(WHSEC_NEW, int(time.time()), body)}, body, 0
    )
    assert (event.transfer.reference, event.transfer.provider_ref) == ("tr_dashboard1", "tr_dashboard1")
    assert event.transfer.amount.amount == foreign["amount"]
