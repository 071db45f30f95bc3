"""Each rail's records, normalised, from the vendors' own examples: Adyen's OpenAPI examples for
GET /transactions, Stripe's fixtures3.json objects, the sandbox's transfers."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.rail_records.adyen import adyen_transaction
from shared.adapters.rail_records.sandbox import sandbox_transfer
from shared.adapters.rail_records.stripe import stripe_balance_transaction, stripe_payout, stripe_transfer
from shared.domain.money import Money
from shared.domain.payouts import PayoutStatus
from shared.domain.reconciliation import (
    Direction,
    LedgerPayout,
    RailRecordKind,
    RailStatus,
    Window,
    reconcile,
)
from stand_ins.sandbox_provider import create_app

# The vendors' contracts live beside the repository (../shared/specs, as the issues say), or one
# level further up for a git worktree of it.
_ROOT = Path(__file__).resolve().parents[2]
SPECS = next((p / "shared" / "specs" for p in (_ROOT.parent, _ROOT.parent.parent) if (p / "shared" / "specs").is_dir()),
             _ROOT.parent / "shared" / "specs")  # fmt: skip
if not SPECS.is_dir():
    pytest.skip(f"the vendors' specs are not beside the repository ({SPECS})", allow_module_level=True)
ADYEN = json.loads((SPECS / "adyen" / "TransferService-v4.json").read_text())
STRIPE = json.loads((SPECS / "stripe" / "fixtures3.json").read_text())["resources"]


def adyen_example(name: str):
    return ADYEN["components"]["examples"][name]["value"]


def test_adyen_transactions_from_the_spec_example():
    items = adyen_example("get-transactions-success-200")["data"]
    records = [adyen_transaction(item) for item in items]
    assert [(r.kind, r.direction, r.amount) for r in records] == [
        (RailRecordKind.TRANSFER, Direction.OUT, Money(1000, "USD")),
        (RailRecordKind.RETURN, Direction.IN, Money(123, "USD")),
        (RailRecordKind.TRANSFER, Direction.OUT, Money(10000, "USD")),
        (RailRecordKind.RETURN, Direction.IN, Money(1000, "USD")),
    ]
    first = records[0]
    assert first.record_id == "EVJN42272224222B5JB8BRC84N686ZEUR" and first.status is RailStatus.PAID
    assert (
        first.provider_ref == "3JNC3O5ZVFLLGV4B"
        and first.reference == "Your internal reference for the transfer"
    )
    assert first.booked_at == datetime(2023, 8, 10, 12, 51, 33, tzinfo=UTC)
    single = adyen_transaction(adyen_example("get-transactions-id-success-200"))
    assert (
        single is not None and single.amount == Money(10000, "EUR") and single.kind is RailRecordKind.TRANSFER
    )


def test_adyen_fees_funding_and_pending_by_the_schemas_enums():
    base = adyen_example("get-transactions-id-success-200")
    fee = copy.deepcopy(base)
    fee["transfer"]["categoryData"] = {"type": "platformPayment", "platformPaymentType": "AdyenFees"}
    assert adyen_transaction(fee).kind is RailRecordKind.FEE
    top_up = copy.deepcopy(base)
    top_up["amount"]["value"] = 50000
    top_up["transfer"]["categoryData"] = {"type": "platformPayment", "platformPaymentType": "TopUp"}
    assert adyen_transaction(top_up) is None
    internal_in = copy.deepcopy(top_up)
    internal_in["transfer"]["categoryData"] = {"type": "internal"}
    assert adyen_transaction(internal_in).kind is RailRecordKind.OTHER
    pending = copy.deepcopy(base)
    pending["status"] = "pending"
    assert adyen_transaction(pending).status is RailStatus.PROCESSING
    for broken in ({**base, "status": "gone"}, {**base, "amount": {"value": "1", "currency": "EUR"}}):
        with pytest.raises(ValueError):
            adyen_transaction(broken)


def test_adyen_records_reconcile_against_payouts_by_reference():
    item = adyen_example("get-transactions-id-success-200")
    record = adyen_transaction(item)
    window = Window(datetime(2023, 8, 11, tzinfo=UTC), datetime(2023, 8, 12, tzinfo=UTC))
    payout = LedgerPayout(
        item["transfer"]["reference"], PayoutStatus.PAID, Money(10000, "EUR"), "adyen", None
    )
    report = reconcile("adyen", window, [payout], [record], detected_at=window.end)
    assert report.breaks == ()


def test_stripe_balance_transactions_from_the_fixture():
    fixture = STRIPE["balance_transaction"]
    assert stripe_balance_transaction(fixture) == []  # a charge: not a payout movement
    transfer = {**fixture, "type": "transfer", "amount": -1100, "net": -1100, "source": "tr_1"}
    [record] = stripe_balance_transaction(transfer)
    assert (record.kind, record.amount, record.provider_ref) == (
        RailRecordKind.TRANSFER,
        Money(1100, "USD"),
        "tr_1",
    )
    failure = {**fixture, "type": "payout_failure", "amount": 1100, "source": "po_1"}
    [back] = stripe_balance_transaction(failure)
    assert (back.kind, back.status, back.direction) == (
        RailRecordKind.RETURN,
        RailStatus.RETURNED,
        Direction.IN,
    )
    with_fee = {**fixture, "type": "payout", "amount": -1100, "fee": 25, "source": "po_2"}
    moved, fee = stripe_balance_transaction(with_fee)
    assert (moved.kind, fee.kind, fee.amount, fee.record_id) == (
        RailRecordKind.TRANSFER, RailRecordKind.FEE, Money(25, "USD"), f"{fixture['id']}:fee",
    )  # fmt: skip
    [stripe_fee] = stripe_balance_transaction({**fixture, "type": "stripe_fee", "amount": -200})
    assert stripe_fee.kind is RailRecordKind.FEE and stripe_fee.amount == Money(200, "USD")


def test_stripe_transfers_and_payouts_from_the_fixtures():
    transfer = stripe_transfer({**STRIPE["transfer"], "transfer_group": "po_abc"})
    assert (transfer.kind, transfer.status, transfer.amount) == (
        RailRecordKind.TRANSFER,
        RailStatus.PAID,
        Money(1100, "USD"),
    )
    assert transfer.reference == "po_abc" and transfer.provider_ref == STRIPE["transfer"]["id"]
    reversed_ = stripe_transfer({**STRIPE["transfer"], "amount_reversed": 1100, "reversed": True})
    assert reversed_.status is RailStatus.RETURNED
    payout = stripe_payout({**STRIPE["payout"], "metadata": {"payout_id": "po_ours"}})
    assert (payout.status, payout.reference) == (RailStatus.PROCESSING, "po_ours")  # in_transit
    assert stripe_payout({**STRIPE["payout"], "status": "failed"}).status is RailStatus.FAILED
    with pytest.raises(ValueError):
        stripe_payout({**STRIPE["payout"], "status": "lost"})


def test_sandbox_transfers_as_the_sandbox_lists_them():
    app = create_app({}, "sk", "whsec", "http://127.0.0.1:1/unused", None)
    client = app.test_client()
    body = {"amount": 1234, "currency": "EUR", "reference": "po_1",
            "destination": {"scheme": "iban", "country": "FR", "holder_name": "Shop", "iban": "FR7630006000011234567890189"}}  # fmt: skip
    created = client.post(
        "/v1/transfers", json=body, headers={"Authorization": "Bearer sk", "Idempotency-Key": "po_1"}
    )
    assert created.status_code == 201, created.json
    listed = client.get("/v1/transfers?limit=10", headers={"Authorization": "Bearer sk"}).json["data"]
    [record] = [sandbox_transfer(t) for t in listed]
    assert (record.reference, record.amount, record.status) == (
        "po_1",
        Money(1234, "EUR"),
        RailStatus.PROCESSING,
    )
    assert record.provider_ref == record.record_id == created.json["id"]
    with pytest.raises(ValueError):
        sandbox_transfer({**listed[0], "status": "lost"})


def test_a_stripe_payout_is_its_transfer_with_its_bank_payouts_status():
    from shared.adapters.rail_records.stripe import stripe_payout_movement

    ours = {"reason": "bank_payout_failed"}

    def movement(bank_payouts, **transfer):
        return stripe_payout_movement(
            {**STRIPE["transfer"], "transfer_group": "po_abc", **transfer},
            [{**STRIPE["payout"], **p} for p in bank_payouts],
            recovery_reason=ours["reason"],
        )

    def reversals(amount, metadata):
        return {"object": "list", "data": [{"amount": amount, "metadata": metadata}], "has_more": False}

    assert movement([{"status": "paid"}]).status is RailStatus.PAID
    assert movement([{"status": "in_transit"}]).status is RailStatus.PROCESSING
    assert movement([]).status is RailStatus.PROCESSING  # no bank payout yet
    assert (
        movement([{"status": "paid"}, {"status": "paid"}]).status is RailStatus.PROCESSING
    )  # two: never final
    taken_back = {"amount_reversed": 1100, "reversals": reversals(1100, ours)}
    assert movement([{"status": "failed"}], **taken_back).status is RailStatus.CAME_BACK
    # Failed, but the money is still in the connected account: it has left the platform.
    assert movement([{"status": "failed"}]).status is RailStatus.PAID
    reversed_by_someone = {"amount_reversed": 1100, "reversals": reversals(1100, {})}
    assert movement([{"status": "paid"}], **reversed_by_someone).status is RailStatus.RETURNED
    schedule = movement([], metadata={"bank_payout": "account_schedule"})
    assert (schedule.status, schedule.reference, schedule.amount) == (
        RailStatus.PAID,
        "po_abc",
        Money(1100, "USD"),
    )


@pytest.mark.parametrize(
    ("ledger", "agrees"),
    [
        (PayoutStatus.FAILED, True),
        (PayoutStatus.RETURNED, True),
        (PayoutStatus.PAID, False),
        (PayoutStatus.PROCESSING, False),
    ],
)
def test_money_that_came_back_agrees_with_a_failed_or_returned_payout_only(ledger, agrees):
    from shared.domain.reconciliation import MovementClass, RailRecord

    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    window = Window(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    record = RailRecord("stripe", "tr_1", RailRecordKind.TRANSFER, RailStatus.CAME_BACK, Money(500, "EUR"), at,
                        reference="po_1", provider_ref="tr_1")  # fmt: skip
    payout = LedgerPayout("po_1", ledger, Money(500, "EUR"), "stripe", "tr_1")
    report = reconcile("stripe", window, [payout], [record], detected_at=at)
    assert [m.cls for m in report.movements] == [
        MovementClass.MATCHED if agrees else MovementClass.STATUS_MISMATCH
    ]
