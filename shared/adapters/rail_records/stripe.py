"""Stripe's records (shapes as in fixtures3.json): balance transactions, transfers and payouts.

Two ways to feed a reconciliation of the platform's Stripe balance; use one per movement:

- balance transactions (``GET /v1/balance_transactions``, by ``created``): every movement of the
  balance, matched to payouts by ``source`` (our payout's ``provider_ref``: the ``tr_…``/``po_…``
  id). ``transfer`` and ``payout`` are TRANSFERs; ``payout_failure``, ``payout_cancel``,
  ``transfer_cancel``, ``transfer_failure`` and ``transfer_refund`` are RETURNs; Stripe's own
  fee types are FEEs, and so is the ``fee`` of any other balance transaction (a record
  ``<txn>:fee``). Other types (charges, refunds, …) are not payout movements: no record.
- transfers and payouts (``GET /v1/transfers``, ``GET /v1/payouts``), which carry our payout id
  (``metadata.payout_id``, else ``transfer_group``) and their own status, plus the fee records of
  the balance transactions. The reconciliation reader (``sources.py:StripeRecords``) takes this
  way: one movement per payout, its platform transfer with its bank payout's status
  (:func:`stripe_payout_movement`), and only the FEE records of the balance transactions (their
  ``transfer`` and ``transfer_refund`` rows are the same money as the transfers).

Currencies come lower-case from Stripe and are upper-cased; amounts are minor units already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shared.adapters.rail_records._common import integer, optional_text, text, timestamp
from shared.domain.money import Money
from shared.domain.reconciliation import Direction, RailRecord, RailRecordKind, RailStatus

RAIL = "stripe"
TRANSFER_TYPES = frozenset({"transfer", "payout"})
RETURN_TYPES = frozenset(
    {"payout_failure", "payout_cancel", "transfer_cancel", "transfer_failure", "transfer_refund"}
)
FEE_TYPES = frozenset({"stripe_fee", "application_fee", "tax_fee", "payout_minimum_balance_hold"})
PAYOUT_STATUS = {
    "pending": RailStatus.PROCESSING,
    "in_transit": RailStatus.PROCESSING,
    "paid": RailStatus.PAID,
    "failed": RailStatus.FAILED,
    "canceled": RailStatus.FAILED,
}


def _money(data: Mapping[str, Any], key: str = "amount") -> Money:
    return Money(abs(integer(data, key)), text(data, "currency").upper())


def _our_reference(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    found = metadata.get("payout_id") if isinstance(metadata, Mapping) else None
    return found if isinstance(found, str) and found else optional_text(obj, "transfer_group")


def stripe_balance_transaction(txn: Mapping[str, Any]) -> list[RailRecord]:
    """The movement (if it is one of a payout's) and the fee of one balance transaction."""
    txn_type, txn_id = text(txn, "type"), text(txn, "id")
    source = txn.get("source")
    source_id = source if isinstance(source, str) else optional_text(source or {}, "id")

    def record(
        record_id: str,
        kind: RailRecordKind,
        status: RailStatus,
        amount: Money,
        direction: Direction = Direction.OUT,
    ) -> RailRecord:
        return RailRecord(
            rail=RAIL,
            record_id=record_id,
            kind=kind,
            status=status,
            amount=amount,
            booked_at=timestamp(txn.get("created")),
            direction=direction,
            provider_ref=source_id,
            description=optional_text(txn, "description"),
        )

    if txn_type in FEE_TYPES:
        return [record(txn_id, RailRecordKind.FEE, RailStatus.PAID, _money(txn))]
    records: list[RailRecord] = []
    if txn_type in TRANSFER_TYPES:
        records.append(record(txn_id, RailRecordKind.TRANSFER, RailStatus.PAID, _money(txn)))
    elif txn_type in RETURN_TYPES:
        records.append(record(txn_id, RailRecordKind.RETURN, RailStatus.RETURNED, _money(txn), Direction.IN))
    fee = integer(txn, "fee") if "fee" in txn else 0
    if fee:
        fee_money = Money(abs(fee), text(txn, "currency").upper())
        records.append(record(f"{txn_id}:fee", RailRecordKind.FEE, RailStatus.PAID, fee_money))
    return records


def stripe_transfer(transfer: Mapping[str, Any]) -> RailRecord:
    """A transfer to a connected account: paid when made, returned once wholly reversed."""
    amount = _money(transfer)
    reversed_minor = integer(transfer, "amount_reversed") if "amount_reversed" in transfer else 0
    fully_reversed = bool(transfer.get("reversed")) or (reversed_minor and reversed_minor >= amount.amount)
    transfer_id = text(transfer, "id")
    return RailRecord(
        rail=RAIL,
        record_id=transfer_id,
        kind=RailRecordKind.TRANSFER,
        status=RailStatus.RETURNED if fully_reversed else RailStatus.PAID,
        amount=amount,
        booked_at=timestamp(transfer.get("created")),
        reference=_our_reference(transfer),
        provider_ref=transfer_id,
        description=optional_text(transfer, "description"),
    )


def stripe_payout(payout: Mapping[str, Any]) -> RailRecord:
    """A payout to a bank account, with its status (a payout that fails after paid is Stripe's
    form of a return: it shows ``failed`` here and a ``payout_failure`` balance transaction)."""
    status = text(payout, "status")
    if status not in PAYOUT_STATUS:
        raise ValueError(f"unknown Stripe payout status {status!r}")
    payout_id = text(payout, "id")
    return RailRecord(
        rail=RAIL,
        record_id=payout_id,
        kind=RailRecordKind.TRANSFER,
        status=PAYOUT_STATUS[status],
        amount=_money(payout),
        booked_at=timestamp(payout.get("created")),
        reference=_our_reference(payout),
        provider_ref=payout_id,
        description=optional_text(payout, "description"),
    )


def _reversed_by(transfer: Mapping[str, Any], reason: str) -> int:
    listed = (transfer.get("reversals") or {}).get("data") or []
    return sum(int(r.get("amount") or 0) for r in listed if (r.get("metadata") or {}).get("reason") == reason)


def stripe_payout_movement(
    transfer: Mapping[str, Any], bank_payouts: list[Mapping[str, Any]], *, recovery_reason: str
) -> RailRecord:
    """One payout's movement at Stripe, as the platform's money sees it: its transfer to the
    seller's connected account (amount, time, our reference), with the status of what happened
    next (shared/adapters/providers/stripe_connect.py):

    - reversed by anyone but our recovery: returned (the money came back after the seller had it);
    - with the account's own payout schedule: paid once transferred;
    - otherwise its bank payout (``metadata.payout_id``): none yet or pending/in transit →
      processing; paid → paid; failed or canceled → came back once our recovery reversed the
      transfer (``reason: recovery_reason``), else paid (the money is still in the connected
      account: it has left the platform); two bank payouts for one payout → processing, which
      agrees with no final payout.
    """
    record = stripe_transfer(transfer)
    amount = record.amount.amount
    reversed_total = integer(transfer, "amount_reversed") if "amount_reversed" in transfer else 0
    ours = _reversed_by(transfer, recovery_reason)
    metadata = transfer.get("metadata") or {}
    if reversed_total - ours >= amount:
        status = RailStatus.RETURNED
    elif isinstance(metadata, Mapping) and metadata.get("bank_payout") == "account_schedule":
        status = RailStatus.PAID
    elif len(bank_payouts) != 1:
        status = RailStatus.PROCESSING
    else:
        payout_status = PAYOUT_STATUS.get(text(bank_payouts[0], "status"))
        if payout_status is None:
            raise ValueError(f"unknown Stripe payout status {bank_payouts[0].get('status')!r}")
        if payout_status is RailStatus.FAILED:
            status = RailStatus.CAME_BACK if ours >= amount else RailStatus.PAID
        else:
            status = payout_status
    return replace(record, status=status)
