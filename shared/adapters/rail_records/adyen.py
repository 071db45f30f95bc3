"""Adyen Transfers API v4 ``GET /transactions`` items (``Transaction`` in TransferService-v4.json):
the booked (or pending) movements of the platform's balance account.

- ``amount.value`` is signed, in minor units: negative is money out, positive money in.
- Money out is a TRANSFER (``transfer.reference`` is what we sent as ``reference``: the payout
  id; ``transfer.id`` is Adyen's transfer id), unless ``transfer.categoryData`` is a
  ``platformPayment`` of a fee type, which is a FEE.
- Money in that carries a transfer of category ``bank`` (or none) is a RETURN: a bank sends a
  transfer back as an incoming transfer with the original's reference. A ``platformPayment`` of
  type ``TopUp`` is funding, not a payout movement: None. Anything else in is OTHER.
- ``status``: ``booked`` → paid (returned for a return), ``pending`` → processing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.adapters.rail_records._common import integer, optional_text, text, timestamp
from shared.domain.money import Money
from shared.domain.reconciliation import Direction, RailRecord, RailRecordKind, RailStatus

RAIL = "adyen"
FEE_TYPES = frozenset(
    {"AcquiringFees", "AdyenCommission", "AdyenFees", "AdyenMarkup", "DCCMarkup", "Interchange",
     "PaymentFee", "SchemeFee"}
)  # fmt: skip
FUNDING_TYPES = frozenset({"TopUp"})


def adyen_transaction(transaction: Mapping[str, Any]) -> RailRecord | None:
    amount = transaction.get("amount")
    if not isinstance(amount, Mapping):
        raise ValueError("amount must be an object")
    value, currency = integer(amount, "value"), text(amount, "currency")
    status = text(transaction, "status")
    if status not in ("booked", "pending"):
        raise ValueError(f"unknown Adyen transaction status {status!r}")
    transfer = transaction.get("transfer") or {}
    if not isinstance(transfer, Mapping):
        raise ValueError("transfer must be an object")
    category = transfer.get("categoryData") or {}
    category_type = category.get("type") if isinstance(category, Mapping) else None
    payment_type = category.get("platformPaymentType") if isinstance(category, Mapping) else None
    out = value < 0
    if out:
        kind = (
            RailRecordKind.FEE
            if category_type == "platformPayment" and payment_type in FEE_TYPES
            else (RailRecordKind.TRANSFER)
        )
    elif category_type == "platformPayment" and payment_type in FUNDING_TYPES:
        return None
    elif category_type in (None, "bank"):
        kind = RailRecordKind.RETURN
    else:
        kind = RailRecordKind.OTHER
    booked = status == "booked"
    if kind is RailRecordKind.RETURN:
        rail_status = RailStatus.RETURNED if booked else RailStatus.PROCESSING
    else:
        rail_status = RailStatus.PAID if booked else RailStatus.PROCESSING
    return RailRecord(
        rail=RAIL,
        record_id=text(transaction, "id"),
        kind=kind,
        status=rail_status,
        amount=Money(abs(value), currency),
        booked_at=timestamp(
            transaction.get("bookingDate") or transaction.get("valueDate") or transaction.get("creationDate")
        ),
        direction=Direction.OUT if out else Direction.IN,
        reference=optional_text(transfer, "reference"),
        provider_ref=optional_text(transfer, "id"),
        description=optional_text(transaction, "description"),
    )
