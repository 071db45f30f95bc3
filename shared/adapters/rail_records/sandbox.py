"""The sandbox provider's transfers (``GET /v1/transfers``, stand_ins/sandbox_provider.py): one
record per transfer, its status the transfer's own (a return shows as status ``returned`` on the
transfer, not as a record of its own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.adapters.rail_records._common import integer, text, timestamp
from shared.domain.money import Money
from shared.domain.reconciliation import RailRecord, RailRecordKind, RailStatus

RAIL = "sandbox"
_STATUS = {
    "processing": RailStatus.PROCESSING,
    "paid": RailStatus.PAID,
    "failed": RailStatus.FAILED,
    "returned": RailStatus.RETURNED,
}


def sandbox_transfer(transfer: Mapping[str, Any]) -> RailRecord:
    status = text(transfer, "status")
    if status not in _STATUS:
        raise ValueError(f"unknown sandbox transfer status {status!r}")
    transfer_id = text(transfer, "id")
    return RailRecord(
        rail=RAIL,
        record_id=transfer_id,
        kind=RailRecordKind.TRANSFER,
        status=_STATUS[status],
        amount=Money(integer(transfer, "amount"), text(transfer, "currency")),
        booked_at=timestamp(transfer.get("created_at")),
        reference=text(transfer, "reference"),
        provider_ref=transfer_id,
    )
