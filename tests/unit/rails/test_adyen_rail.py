"""The Adyen adapter against the Adyen stand-in over HTTP: every request checked against
Adyen's TransferInfo schema, every answer against Transfer / TransferData, the webhooks against
the notification spec; the failure codes, the lookup by reference, the error classification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask, jsonify

from shared.adapters.providers import contracts
from shared.adapters.providers.adyen import ADYEN_OUTCOMES, AdyenProvider, outcome
from shared.adapters.providers.base import (
    ContractViolation,
    OutcomeUnknown,
    ProviderEvent,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    WebhookIgnored,
    WebhookRejected,
    is_failover_safe,
)
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.settings import Settings
from stand_ins import adyen as stand_in
from tests.unit.rails.helpers import Catcher, Clock, account, free_port, served

API_KEY = "adyen_test_key"
KEY_NEW = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
KEY_OLD = "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4A5B6C7D8E9F0A1B2"
BALANCE_ACCOUNT = "BA00000000000000000000001"


class Rig:
    def __init__(self, url: str, app: Flask, clock: Clock, catcher: Catcher) -> None:
        self.url, self.app, self.clock, self.catcher = url, app, clock, catcher
        self.engine = app.extensions["sandbox"]
        self.adyen = provider(url)

    def settle(self, seconds: float = 60) -> None:
        self.clock.now += seconds
        self.engine.settle_due(self.clock.now)
        self.engine.deliver_due(self.clock.now)

    def events(self, adapter: AdyenProvider | None = None) -> list[ProviderEvent]:
        parse = (adapter or self.adyen).parse_webhook
        return [parse(headers, body, now=int(self.clock.now)) for body, headers in self.catcher.deliveries]

    def configure(self, **knobs: Any) -> None:
        self.app.test_client().post("/_config", json=knobs, headers={"x-api-key": API_KEY})


def provider(url: str, keys: str = f"{KEY_NEW},{KEY_OLD}", timeout: float = 1.0) -> AdyenProvider:
    settings = Settings(
        ADYEN_API_KEY=API_KEY,
        ADYEN_HMAC_KEYS=keys,
        ADYEN_BALANCE_ACCOUNT_ID=BALANCE_ACCOUNT,
        ADYEN_TRANSFERS_URL=f"{url}/btl/v4",
        PROVIDER_TIMEOUT_SECONDS=timeout,
    )
    return AdyenProvider(settings)


@pytest.fixture
def rig(tmp_path: Any) -> Iterator[Rig]:
    clock, catcher = Clock(), Catcher()
    app = stand_in.create_app(
        {"settle_delay_ms": 1000, "return_delay_ms": 5000}, API_KEY, KEY_OLD, "http://hooks.test/adyen",
        tmp_path / "adyen.json", clock=clock, sender=catcher,
    )  # fmt: skip
    with served(app) as url:
        yield Rig(url, app, clock, catcher)


def request(
    payout_id: str = "po_0001", country: str = "FR", outcome_name: str = "paid", amount: int = 12_345
):
    currency = {"FR": "EUR", "GB": "GBP", "US": "USD"}[country]
    return TransferRequest(
        payout_id=payout_id,
        amount=Money(amount, currency),
        destination=account(country, 7, outcome_name),
        created_at=datetime.now(UTC),
    )


def test_every_transfer_body_is_valid_against_adyens_transfer_info(rig: Rig):
    for country in ("FR", "GB", "US"):
        body = rig.adyen.transfer_body(request(country=country))
        assert contracts.schema_errors(contracts.ADYEN_TRANSFERS, "TransferInfo", body) == []
        assert body["reference"] == "po_0001" and body["category"] == "bank"
    kinds = {
        c: rig.adyen.transfer_body(request(country=c))["counterparty"]["bankAccount"]
        for c in ("FR", "GB", "US")
    }
    assert kinds["FR"]["accountIdentification"]["type"] == "iban"
    assert kinds["GB"]["accountIdentification"]["type"] == "ukLocal"  # GBP to a GB account: Faster Payments
    assert kinds["US"]["accountIdentification"]["type"] == "usLocal"


def test_a_payout_is_received_then_booked_with_webhooks_in_sequence(rig: Rig):
    state = rig.adyen.create_transfer(request())
    assert (state.status, state.reference, state.amount) == (
        PayoutStatus.PROCESSING,
        "po_0001",
        Money(12_345, "EUR"),
    )
    rig.settle()
    events = rig.events()
    assert [(e.event_type, e.sequence, e.transfer.status) for e in events] == [
        ("balancePlatform.transfer.created", 1, PayoutStatus.PROCESSING),
        ("balancePlatform.transfer.updated", 2, PayoutStatus.PAID),
    ]
    assert {e.transfer.provider_ref for e in events} == {state.provider_ref}
    for body, _ in rig.catcher.deliveries:  # the stand-in speaks the notification contract
        errors = contracts.schema_errors(
            contracts.ADYEN_TRANSFER_WEBHOOKS, "TransferNotificationRequest", json.loads(body)
        )
        assert errors == []
    assert rig.adyen.follow(state.provider_ref).status is PayoutStatus.PAID


def test_the_idempotency_key_is_the_payout_id_so_a_resend_pays_once(rig: Rig):
    first = rig.adyen.create_transfer(request())
    again = rig.adyen.create_transfer(request())
    assert first.provider_ref == again.provider_ref
    assert len(rig.engine.transfers) == 1


@pytest.mark.parametrize(
    ("outcome_name", "final", "code"),
    [
        ("account_closed", PayoutStatus.FAILED, FailureCode.ACCOUNT_CLOSED),
        ("no_account", PayoutStatus.FAILED, FailureCode.NO_ACCOUNT),
        ("account_frozen", PayoutStatus.FAILED, FailureCode.ACCOUNT_FROZEN),
        ("declined", PayoutStatus.FAILED, FailureCode.DECLINED),
        ("insufficient_platform_funds", PayoutStatus.FAILED, FailureCode.INSUFFICIENT_PLATFORM_FUNDS),
        ("returned", PayoutStatus.RETURNED, FailureCode.ACCOUNT_CLOSED),
    ],
)
def test_each_failure_code_reaches_us_by_webhook_and_by_lookup(rig: Rig, outcome_name, final, code):
    rig.adyen.create_transfer(request(outcome_name=outcome_name))
    rig.settle(10)
    rig.settle(10)
    last = rig.events()[-1]
    assert (last.transfer.status, last.transfer.failure_code) == (final, code)
    looked_up = rig.adyen.fetch_transfer("po_0001", created_at=datetime.now(UTC))
    assert looked_up is not None and (looked_up.status, looked_up.failure_code) == (final, code)


def test_a_refused_bank_account_is_a_rejection_not_an_outage(rig: Rig):
    with pytest.raises(TransferRejected) as refused:
        rig.adyen.create_transfer(request(outcome_name="invalid_account_number"))
    assert refused.value.code is FailureCode.INVALID_ACCOUNT_NUMBER


def test_a_timeout_after_acceptance_is_unknown_and_the_lookup_finds_the_transfer(rig: Rig):
    rig.configure(timeout_after_accept_rate=1.0, timeout_sleep_ms=2500, settle_delay_ms=1000)
    with pytest.raises(OutcomeUnknown) as unknown:
        rig.adyen.create_transfer(request())
    assert not is_failover_safe(unknown.value)
    found = rig.adyen.fetch_transfer("po_0001", created_at=datetime.now(UTC))
    assert found is not None and found.reference == "po_0001" and found.status is PayoutStatus.PROCESSING
    assert rig.adyen.fetch_transfer("po_never_sent") is None


def test_a_5xx_is_an_unknown_outcome_never_a_failover(rig: Rig):
    rig.configure(error_rate=1.0)
    with pytest.raises(OutcomeUnknown) as unknown:
        rig.adyen.create_transfer(request())
    assert not is_failover_safe(unknown.value)
    rig.configure(error_rate=0.0)
    assert rig.adyen.fetch_transfer("po_0001") is None  # the stand-in made nothing: the lookup says so


def test_a_refused_connection_is_certainly_not_accepted():
    adapter = provider(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransferNotAccepted) as refused:
        adapter.create_transfer(request())
    assert is_failover_safe(refused.value)


def test_a_wrong_api_key_is_not_processed(rig: Rig):
    adapter = provider(rig.url)
    adapter._adyen.client.xapikey = "wrong"
    with pytest.raises(TransferNotAccepted):
        adapter.create_transfer(request())


def answering(body: Any, status: int = 200) -> Flask:
    app = Flask("liar")

    @app.post("/btl/v4/transfers")
    def lie() -> Any:
        return jsonify(body), status

    return app


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"amount": {"value": 12_345, "currency": "EUR"}, "category": "bank", "counterparty": {}, "status": "teleported"}, 200),
        ({"id": "X", "status": "received"}, 200),  # misses required fields
        ({"amount": {"value": "12345", "currency": "EUR"}, "category": "bank", "counterparty": {}, "status": "received",
          "id": "X", "reference": "po_0001"}, 200),
        ({"id": "X"}, 418),
        ({"message": "not Adyen's error shape"}, 422),
    ],
)  # fmt: skip
def test_an_answer_outside_the_contract_is_an_unknown_outcome(body, status):
    with served(answering(body, status)) as url, pytest.raises(OutcomeUnknown) as unknown:
        provider(url).create_transfer(request())
    assert isinstance(unknown.value, ContractViolation)
    assert not is_failover_safe(unknown.value)


# --- webhooks --------------------------------------------------------------------------------


def signed(body: bytes, key: str) -> dict[str, str]:
    digest = hmac.new(bytes.fromhex(key), body, hashlib.sha256).digest()
    return {"HmacSignature": base64.b64encode(digest).decode(), "Content-Type": "application/json"}


def example(name: str) -> dict[str, Any]:
    for event_type in ("balancePlatform.transfer.created", "balancePlatform.transfer.updated"):
        for found, body in contracts.webhook_examples(event_type):
            if found == name:
                return json.loads(json.dumps(body))
    raise KeyError(name)


def test_adyens_own_payout_examples_parse_with_their_sequence():
    adapter = provider("http://unused")
    for name, status, sequence in (
        ("balancePlatform-transfer-created-outgoing-external", PayoutStatus.PROCESSING, 1),
        ("02.payout-booked", PayoutStatus.PAID, 3),
    ):
        body = json.dumps(example(name)).encode()
        event = adapter.parse_webhook(signed(body, KEY_NEW), body, now=0)
        assert (event.transfer.status, event.sequence) == (status, sequence)
        assert event.event_id == f"{event.transfer.provider_ref}:{sequence}"


def test_a_rotated_key_still_verifies_while_both_are_active_and_not_after():
    body = json.dumps(example("02.payout-booked")).encode()
    assert provider("http://unused", keys=f"{KEY_NEW},{KEY_OLD}").parse_webhook(
        signed(body, KEY_OLD), body, 0
    )
    with pytest.raises(WebhookRejected) as rejected:
        provider("http://unused", keys=KEY_NEW).parse_webhook(signed(body, KEY_OLD), body, 0)
    assert rejected.value.reason.startswith("signature")


@pytest.mark.parametrize(
    "headers",
    [{}, {"HmacSignature": ""}, {"HmacSignature": "bm90IGEgc2lnbmF0dXJl"}],
)
def test_a_missing_or_wrong_signature_is_refused(headers):
    body = json.dumps(example("02.payout-booked")).encode()
    with pytest.raises(WebhookRejected) as rejected:
        provider("http://unused").parse_webhook(headers, body, 0)
    assert rejected.value.reason.startswith("signature")


def test_a_body_outside_the_notification_schema_is_refused_with_its_field():
    data = example("02.payout-booked")
    data["data"]["amount"]["value"] = "10000"
    body = json.dumps(data).encode()
    with pytest.raises(WebhookRejected) as rejected:
        provider("http://unused").parse_webhook(signed(body, KEY_NEW), body, 0)
    assert rejected.value.field == "data.amount.value"
    assert not rejected.value.reason.startswith("signature")


def test_a_duplicate_key_is_refused_with_its_path():
    body = json.dumps(example("02.payout-booked")).encode()
    body = body.replace(b'"sequenceNumber": 3', b'"sequenceNumber": 3, "sequenceNumber": 4')
    with pytest.raises(WebhookRejected) as rejected:
        provider("http://unused").parse_webhook(signed(body, KEY_NEW), body, 0)
    assert rejected.value.field == "data.sequenceNumber"


def test_unknown_event_types_and_other_movements_are_acknowledged_and_ignored():
    adapter = provider("http://unused")
    other = example("02.payout-booked") | {"type": "balancePlatform.balanceAccount.updated"}
    internal = example("04.internal-booked")
    for data in (other, internal):
        body = json.dumps(data).encode()
        with pytest.raises(WebhookIgnored):
            adapter.parse_webhook(signed(body, KEY_NEW), body, 0)


def test_out_of_order_webhooks_keep_their_sequence(rig: Rig):
    rig.configure(out_of_order_rate=1.0, settle_delay_ms=1000, return_delay_ms=1000)
    rig.adyen.create_transfer(request(outcome_name="returned"))
    for _ in range(3):
        rig.settle(1)
    events = rig.events()
    sequences = [e.sequence for e in events]
    assert sorted(sequences) == [1, 2, 3] and sequences != [1, 2, 3]  # delivered out of order
    newest = max(events, key=lambda e: e.sequence or 0)
    assert newest.transfer.status is PayoutStatus.RETURNED


def test_the_mapping_table_covers_every_status_a_payout_can_reach():
    assert outcome("booked", "approved") == (PayoutStatus.PAID, None)
    assert outcome("failed", "someNewReason") == (PayoutStatus.FAILED, FailureCode.DECLINED)
    assert outcome("chargeback", None) is None
    enum = contracts.document(contracts.ADYEN_TRANSFERS)["components"]["schemas"]["Transfer"]["properties"]
    statuses, reasons = set(enum["status"]["enum"]), set(enum["reason"]["enum"])
    assert {s for s, _ in ADYEN_OUTCOMES} <= statuses
    assert {r for _, r in ADYEN_OUTCOMES if r} <= reasons


def test_the_balance_account_answers_in_the_configuration_api_shape(rig: Rig):
    rig.adyen.create_transfer(request())
    answer = rig.app.test_client().get(
        f"/bcl/v2/balanceAccounts/{BALANCE_ACCOUNT}", headers={"x-api-key": API_KEY}
    )
    assert contracts.schema_errors(contracts.ADYEN_BALANCE_PLATFORM, "BalanceAccount", answer.json) == []


def test_reconciliation_reads_the_booked_transactions_of_a_window_through_the_adapter(rig: Rig):
    """``GET /transactions`` with createdSince/createdUntil and the cursor (pages of 100 at Adyen,
    followed to the end), normalised into reconciliation's records: our payout ids as references."""
    from datetime import timedelta

    from shared.adapters.rail_records.sources import AdyenRecords
    from shared.domain.reconciliation import RailRecordKind, RailStatus, Window

    start = datetime.now(UTC) - timedelta(seconds=5)
    for n in range(3):
        rig.adyen.create_transfer(request(payout_id=f"po_rec{n}", amount=1000 + n))
    rig.settle()
    source = AdyenRecords(
        Settings(
            ADYEN_API_KEY=API_KEY,
            ADYEN_BALANCE_ACCOUNT_ID=BALANCE_ACCOUNT,
            ADYEN_TRANSFERS_URL=f"{rig.url}/btl/v4",
        )
    )
    records = list(source.records(Window(start, datetime.now(UTC) + timedelta(minutes=5))))
    transfers = sorted((r for r in records if r.reference), key=lambda r: r.reference or "")
    assert [(r.reference, r.amount, r.kind, r.status) for r in transfers] == [
        (f"po_rec{n}", Money(1000 + n, "EUR"), RailRecordKind.TRANSFER, RailStatus.PAID) for n in range(3)
    ]
    assert list(source.records(Window(start - timedelta(days=2), start - timedelta(days=1)))) == []
