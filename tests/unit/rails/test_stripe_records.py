"""Stripe's records for reconciliation (``StripeRecords``), read through the Stripe adapter (the
official SDK) from the Stripe stand-in over HTTP: the platform's transfers of a window, newest
first by ``created`` and followed page by page, each with its bank payout's status, and only the
fees of the balance transactions; then reconciled against the ledger's payouts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.providers.base import SellerRailIds, TransferRequest
from shared.adapters.providers.stripe_connect import StripeConnectProvider
from shared.adapters.rail_records.sources import RailRecordsUnavailable, StripeRecords
from shared.domain.money import Money
from shared.domain.payouts import PayoutStatus
from shared.domain.reconciliation import (
    LedgerPayout,
    MovementClass,
    RailRecordKind,
    RailStatus,
    Window,
    reconcile,
)
from shared.settings import Settings
from stand_ins import stripe_connect as stand_in
from stand_ins.sample_sellers import stripe_account_for
from tests.unit.rails.helpers import Catcher, Clock, account, served

SECRET_KEY = "sk_test_standin"
AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}


class Counting:
    """The adapter, counting the list calls the reader makes (each page is one call)."""

    def __init__(self, provider: StripeConnectProvider) -> None:
        self.provider, self.calls = provider, Counter[str]()

    def _count(self, name: str, items: Iterator[dict[str, Any]], limit: int) -> Iterator[dict[str, Any]]:
        self.calls[name] += 1
        for n, item in enumerate(items, 1):
            if n > limit and n % limit == 1:  # the first item of the next page: another call
                self.calls[name] += 1
            yield item

    def platform_transfers(self, start: int, end: int, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        return self._count("transfers", self.provider.platform_transfers(start, end, limit=limit), limit)

    def bank_payouts(self, account: str, since: int, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        return self._count("payouts", self.provider.bank_payouts(account, since, limit=limit), limit)

    def balance_transactions(self, start: int, end: int, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        return self._count("balance", self.provider.balance_transactions(start, end, limit=limit), limit)


class Rig:
    def __init__(self, url: str, app: Any, clock: Clock) -> None:
        self.url, self.app, self.clock = url, app, clock
        self.engine = app.extensions["sandbox"]
        self.settings = Settings(STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_API_URL=url, PROVIDER_TIMEOUT_SECONDS=5)
        self.stripe = StripeConnectProvider(self.settings)

    def pay(self, payout_id: str, outcome: str = "paid", n: int = 3, **kw: Any) -> str:
        request = TransferRequest(
            payout_id=payout_id,
            amount=Money(10_000 + n, "EUR"),
            destination=account("FR", n),
            rail_ids=SellerRailIds(stripe_account=stripe_account_for("FR", n, outcome)),
            **kw,
        )
        return self.stripe.create_transfer(request).provider_ref

    def settle(self, seconds: float = 60) -> None:
        self.clock.now += seconds
        self.engine.settle_due(self.clock.now)

    def window(self, before: float = 60, after: float = 600) -> Window:
        now = datetime.fromtimestamp(self.clock.now, UTC)
        return Window(now - timedelta(seconds=before), now + timedelta(seconds=after))


@pytest.fixture
def rig(tmp_path: Any) -> Iterator[Rig]:
    clock = Clock()
    app = stand_in.create_app(
        {"settle_delay_ms": 1000, "return_delay_ms": 5000}, SECRET_KEY, "whsec_x", "http://hooks.test/stripe",
        tmp_path / "stripe.json", clock=clock, sender=Catcher(),
    )  # fmt: skip
    with served(app) as url:
        yield Rig(url, app, clock)


def test_each_payout_is_its_transfer_with_its_bank_payouts_status_and_fees_are_records(rig: Rig) -> None:
    window = rig.window()
    refs = {
        "po_paid": rig.pay("po_paid", n=1),
        "po_failed": rig.pay("po_failed", "account_closed", n=2),
        "po_returned": rig.pay("po_returned", "returned", n=3),
        "po_schedule": rig.pay("po_schedule", n=4, bank_payout="account_schedule"),
        "po_pending": rig.pay("po_pending", n=5),
    }
    rig.settle(2)
    rig.settle(10)
    for payout_id in ("po_paid", "po_failed", "po_returned"):
        rig.stripe.fetch_transfer(payout_id)  # a failed bank payout's money taken back (our reversal)
    rig.engine.plans.pop(rig.engine.transfers[refs["po_pending"]]["id"], None)
    pending = next(
        t
        for t in rig.engine.transfers.values()
        if t.get("reference") == "po_pending" and t["kind"] == "payout"
    )
    pending["status"] = "processing"
    fee = rig.app.test_client().post("/v1/_fees", json={"amount": 250, "currency": "eur"}, headers=AUTH)
    assert fee.status_code == 200 and fee.json["type"] == "stripe_fee"

    records = list(StripeRecords(rig.settings).records(window))
    by_ref = {r.reference: r for r in records if r.kind is RailRecordKind.TRANSFER}
    assert {ref: r.status for ref, r in by_ref.items()} == {
        "po_paid": RailStatus.PAID,
        "po_failed": RailStatus.CAME_BACK,
        "po_returned": RailStatus.CAME_BACK,
        "po_schedule": RailStatus.PAID,
        "po_pending": RailStatus.PROCESSING,
    }
    assert all(by_ref[ref].provider_ref == tr for ref, tr in refs.items())
    assert by_ref["po_paid"].amount == Money(10_001, "EUR")
    [fee_record] = [r for r in records if r.kind is RailRecordKind.FEE]
    assert (fee_record.amount, fee_record.record_id) == (Money(250, "EUR"), fee.json["id"])

    ledger = [
        LedgerPayout("po_paid", PayoutStatus.PAID, Money(10_001, "EUR"), "stripe", refs["po_paid"]),
        LedgerPayout("po_failed", PayoutStatus.FAILED, Money(10_002, "EUR"), "stripe", refs["po_failed"]),
        LedgerPayout(
            "po_returned", PayoutStatus.RETURNED, Money(10_003, "EUR"), "stripe", refs["po_returned"]
        ),
        LedgerPayout("po_schedule", PayoutStatus.PAID, Money(10_004, "EUR"), "stripe", refs["po_schedule"]),
        LedgerPayout(
            "po_pending", PayoutStatus.PROCESSING, Money(10_005, "EUR"), "stripe", refs["po_pending"]
        ),
    ]
    report = reconcile("stripe", window, ledger, records, detected_at=datetime.now(UTC))
    assert report.breaks == ()
    assert (report.count(MovementClass.MATCHED), report.count(MovementClass.FEE)) == (5, 1)


def test_a_failed_bank_payout_whose_money_is_still_in_the_connected_account_has_left_the_platform(
    rig: Rig,
) -> None:
    window = rig.window()
    rig.pay("po_stuck", "account_closed", n=2)
    rig.settle(2)  # the bank payout failed; nobody has taken the money back yet
    [record] = list(StripeRecords(rig.settings).records(window))
    assert record.status is RailStatus.PAID
    ledger = [
        LedgerPayout("po_stuck", PayoutStatus.FAILED, Money(10_002, "EUR"), "stripe", record.provider_ref)
    ]
    [brk] = reconcile("stripe", window, ledger, [record], detected_at=datetime.now(UTC)).breaks
    assert brk.cls is MovementClass.STATUS_MISMATCH


def test_pages_are_followed_to_the_end_inside_the_window_only(rig: Rig) -> None:
    early = rig.window(before=60, after=30)
    rig.pay("po_before", n=9)
    rig.settle(120)  # what follows is created two minutes later, outside ``early``
    window = rig.window(before=5, after=600)
    for n in range(5):
        rig.pay(f"po_page{n}", n=n)
    rig.settle(2)
    counting = Counting(StripeConnectProvider(rig.settings))
    records = list(StripeRecords(rig.settings, provider=counting, page=2).records(window))
    assert sorted(r.reference or "" for r in records) == [f"po_page{n}" for n in range(5)]
    assert [r.reference for r in records] == [f"po_page{n}" for n in range(5)]  # oldest first
    assert counting.calls["transfers"] == 3  # 2 + 2 + 1
    assert counting.calls["payouts"] == 5  # one connected account each, a page each
    rig.pay("po_schedule", n=7, bank_payout="account_schedule")
    counting.calls.clear()
    assert len(list(StripeRecords(rig.settings, provider=counting, page=2).records(window))) == 6
    assert counting.calls["payouts"] == 5  # the transfer is the payout: its account is not listed
    assert [r.reference for r in StripeRecords(rig.settings).records(early)] == ["po_before"]


def test_the_stand_in_lists_by_created_as_stripe_does(rig: Rig) -> None:
    rig.pay("po_a", n=1)
    rig.settle(10)
    rig.pay("po_b", n=2)
    created = sorted(int(t["created"]) for t in rig.engine.transfers.values() if t["kind"] == "transfer")
    client = rig.app.test_client()
    listed = client.get(f"/v1/transfers?created[gte]={created[1]}&limit=10", headers=AUTH).json
    assert [t["transfer_group"] for t in listed["data"]] == ["po_b"]
    both = client.get(f"/v1/transfers?created[lte]={created[1]}&created[gt]={created[0] - 1}", headers=AUTH)
    assert [t["transfer_group"] for t in both.json["data"]] == ["po_b", "po_a"]  # newest first
    refused = client.get("/v1/transfers?created[gte]=yesterday", headers=AUTH)
    assert refused.status_code == 400 and refused.json["error"]["param"] == "created[gte]"
    txns = client.get(f"/v1/balance_transactions?created[gte]={created[0]}&limit=1", headers=AUTH).json
    assert txns["has_more"] and txns["data"][0]["type"] == "transfer" and txns["data"][0]["amount"] == -10_002


def test_an_answer_outside_stripes_shapes_makes_the_records_unavailable(rig: Rig) -> None:
    settings = Settings(STRIPE_SECRET_KEY="sk_wrong", STRIPE_API_URL=rig.url, PROVIDER_TIMEOUT_SECONDS=5)
    with pytest.raises(RailRecordsUnavailable):
        list(StripeRecords(settings).records(rig.window()))
