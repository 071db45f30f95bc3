"""A bank's camt.053 statement (read into a BankReport by shared/adapters/bank_files/bank_reports.py):
one record per booked entry (a batch booking's transactions one each).

A debit carrying our end-to-end id is a TRANSFER (its reference the payout id), a credit carrying
it a RETURN, a charge (bank transaction sub-family CHRG) a FEE, anything else OTHER. Pending
entries are not movements yet: no record. The booking date becomes midnight UTC of that day.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from shared.domain.bank_files import BankMessageKind, BankReport, EntryDirection, payout_id_from_end_to_end
from shared.domain.reconciliation import Direction, RailRecord, RailRecordKind, RailStatus

RAIL = "sepa_file"


def statement_records(report: BankReport, rail: str = RAIL) -> list[RailRecord]:
    if report.kind is not BankMessageKind.STATEMENT:
        raise ValueError(f"a {report.kind.value} is not a statement")
    records = []
    for entry in report.entries:
        if not entry.booked or entry.booked_on is None:
            continue
        out = entry.direction is EntryDirection.DEBIT
        if entry.is_charge:
            kind, status = RailRecordKind.FEE, RailStatus.PAID
        elif entry.end_to_end_id is not None:
            kind = RailRecordKind.TRANSFER if out else RailRecordKind.RETURN
            status = RailStatus.PAID if out else RailStatus.RETURNED
        else:
            kind, status = RailRecordKind.OTHER, RailStatus.PAID
        reference = payout_id_from_end_to_end(entry.end_to_end_id) if entry.end_to_end_id else None
        records.append(
            RailRecord(
                rail=rail,
                record_id=f"{report.account_iban or 'account'}:{entry.entry_reference}",
                kind=kind,
                status=status,
                amount=entry.amount,
                booked_at=datetime.combine(entry.booked_on, time(0), UTC),
                direction=Direction.OUT if out else Direction.IN,
                reference=reference,
                description=entry.description,
            )
        )
    return records
