"""Hand-made books for the auditor: a consistent journal, balance shards, payouts, outbox and
provider transfers, built with the domain's own functions and stored exactly as the store keeps
them, then written to a dataset file (``python -m verification.auditor --dataset FILE``).

The world: sellers sold goods, their funds were released and a payout run paid them."""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.adapters.firestore_store import (
    journal_to_doc,
    payout_event_data,
    payout_event_type,
    payout_to_doc,
)
from shared.domain.fx import Conversion
from shared.domain.ledger import (
    Bucket,
    JournalEntry,
    parse_seller_account,
    record_refund,
    record_sale,
    release_pending_funds,
)
from shared.domain.money import Money
from shared.domain.payouts import (
    FailureCode,
    Payout,
    PayoutStatus,
    conversion_entries,
    new_payout,
    run_payout_id,
    settlement_entries,
    transition,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RUN = "run-2026-11-20"


class Books:
    """Builds consistent documents: journal, balance shards, payouts, outbox, provider transfers."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self.payouts: dict[str, Payout] = {}
        self.outbox: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []
        self.clock = T0

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def sell(self, seller: str, gross: int, commission: int, ccy: str = "EUR", refund: int = 0) -> None:
        line = f"ol-{seller}-{len(self.entries)}"
        self.entries.append(record_sale(f"evt-{line}", seller, Money(gross, ccy), Money(commission, ccy)))
        net = gross - commission
        if refund:
            returned = commission * refund // gross
            self.entries.append(
                record_refund(f"rf-{line}", seller, Money(refund, ccy), Money(returned, ccy), Bucket.PENDING)
            )
            net -= refund - returned
        self.entries.append(release_pending_funds(f"release:{line}", seller, Money(net, ccy)))

    def pay(
        self,
        seller: str,
        amount: int,
        *steps: PayoutStatus,
        ccy: str = "EUR",
        conversions: tuple[Conversion, ...] = (),
        returned: Money | None = None,
    ) -> str:
        """A run's payout through ``steps``. Issue 17: ``conversions`` made when it was created,
        undone at their rates if it fails or returns (``returned``: in a source currency)."""
        pid = run_payout_id(RUN, seller)
        payout, entry = new_payout(
            pid, seller, Money(amount, ccy), at=self.tick(), origin="run", cause=f"payout run {RUN}",
            actor="payout-run", run_id=RUN, provider="sandbox",
        )  # fmt: skip
        payout = replace(payout, conversions=conversions)
        self.entries += conversion_entries(payout)
        self.entries.append(entry)
        self._event(payout)
        transfer = None
        for step in steps:
            if step is PayoutStatus.PROCESSING or (step is PayoutStatus.PAID and transfer is None):
                transfer = {"id": f"tr_{pid[-8:]}", "reference": pid, "amount": amount, "currency": ccy,
                            "status": "processing"}  # fmt: skip
                self.transfers.append(transfer)
            code = FailureCode.DECLINED if step is PayoutStatus.FAILED else None
            before = payout
            payout, moved = transition(
                payout, step, at=self.tick(), cause="test", actor="test", failure_code=code
            )
            back = returned if step is PayoutStatus.RETURNED else None
            self.entries += settlement_entries(before, step, moved, back)
            if transfer is not None and step is not PayoutStatus.PROCESSING:
                transfer["status"] = step.value
            self._event(payout)
        self.payouts[pid] = payout
        return pid

    def _event(self, payout: Payout) -> None:
        self.outbox.append(
            {
                "event_id": f"{payout.payout_id}-{payout.sequence:06d}",
                "type": payout_event_type(payout.status),
                "payout_id": payout.payout_id,
                "sequence": payout.sequence,
                "data": payout_event_data(payout),
                "created_at": payout.updated_at,
                "published": True,
            }
        )

    def balance_shards(self) -> list[dict[str, Any]]:
        shards: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in self.entries:
            for posting in entry.postings:
                parsed = parse_seller_account(posting.account)
                if parsed:
                    seller, bucket = parsed
                    shard = shards.setdefault(
                        (seller, posting.amount.currency),
                        {"seller_id": seller, "currency": posting.amount.currency},
                    )
                    shard[bucket.value] = shard.get(bucket.value, 0) + posting.amount.amount
        return list(shards.values())

    def dataset(self) -> dict[str, Any]:
        """The store's documents and the provider's transfers, in the dataset file's shape."""
        return {
            "payouts": [payout_to_doc(p) for p in self.payouts.values()],
            "journal": [journal_to_doc(e, T0) for e in self.entries],
            "balance_shards": self.balance_shards(),
            "outbox": copy.deepcopy(self.outbox),
            "runs": [{"run_id": RUN, "dry_run": False, "status": "completed"}],
            "provider_transfers": copy.deepcopy(self.transfers),
        }

    def collected(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for e in self.entries:
            for p in e.postings:
                if p.account == "platform:customer_funds":
                    out[p.amount.currency] -= p.amount.amount
        return dict(out)


def standard_books() -> Books:
    """Four sellers in three currencies: one paid, one failed, one paid then returned, one paid
    whose "paid" overtook "processing"."""
    b = Books()
    b.sell("s-paid", 30000, 3000, refund=4000)
    b.sell("s-failed", 20000, 2000)
    b.sell("s-returned", 15000, 1500, ccy="GBP")
    b.sell("s-jp", 8000, 800, ccy="JPY")
    b.pay("s-paid", 20000, PayoutStatus.PROCESSING, PayoutStatus.PAID)
    b.pay("s-failed", 18000, PayoutStatus.PROCESSING, PayoutStatus.FAILED)
    b.pay("s-returned", 13500, PayoutStatus.PROCESSING, PayoutStatus.PAID, PayoutStatus.RETURNED, ccy="GBP")
    b.pay("s-jp", 7200, PayoutStatus.PAID, ccy="JPY")
    return b


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


def write_dataset(path: Path, dataset: dict[str, Any]) -> Path:
    path.write_text(json.dumps(dataset, default=_plain))
    return path


def fx_books() -> Books:
    """Issue 17: Swedish sellers selling in EUR and paid in SEK: one paid, one failed (converted
    back at the recorded rate), one returned by the rail in EUR at its own rate (the difference
    is FX gain/loss), one Hungarian paid in whole forints (the rounding account)."""
    from decimal import Decimal

    from shared.domain.fx import Rate, convert

    sek = Rate("EUR", "SEK", Decimal("10.9345"), "fixed_table", T0)
    huf = Rate("EUR", "HUF", Decimal("389.63"), "fixed_table", T0)
    b = Books()
    for seller in ("se-paid", "se-failed", "se-returned"):
        b.sell(seller, 27500, 2500)
    b.sell("hu-paid", 11001, 1000)
    for seller, steps, back in (
        ("se-paid", (PayoutStatus.PROCESSING, PayoutStatus.PAID), None),
        ("se-failed", (PayoutStatus.PROCESSING, PayoutStatus.FAILED), None),
        ("se-returned", (PayoutStatus.PAID, PayoutStatus.RETURNED), Money(24810, "EUR")),
    ):
        c = convert(Money(25000, "EUR"), sek)
        b.pay(seller, c.target.amount, *steps, ccy="SEK", conversions=(c,), returned=back)
    c = convert(Money(10001, "EUR"), huf)
    b.pay("hu-paid", c.target.amount, PayoutStatus.PAID, ccy="HUF", conversions=(c,))
    return b
