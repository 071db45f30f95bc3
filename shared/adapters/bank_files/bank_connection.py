"""The ``BankFiles`` port: pain.001 files out to the outbound bucket, the bank's files in from the
inbound bucket, and the ISO 20022 formats (sepa_credit_transfer.py, bank_reports.py)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.adapters.bank_files.bank_reports import read_bank_file
from shared.adapters.bank_files.sepa_credit_transfer import (
    CreditTransfer,
    CreditTransferBatch,
    SepaDebtor,
    write_pain001,
)
from shared.adapters.cloud_storage import ObjectConflict, ObjectStore
from shared.domain.bank_files import BankFileError, BankReport
from shared.usecases.ports import BankFileBatch, BankFileConflict, QueuedBankTransfer

CONTENT_TYPE = "application/xml"


class BucketBankFiles:
    def __init__(self, objects: ObjectStore, outbound_bucket: str, debtor: SepaDebtor) -> None:
        self.objects, self.outbound_bucket, self.debtor = objects, outbound_bucket, debtor

    def write(self, batch: BankFileBatch, transfers: Sequence[QueuedBankTransfer]) -> bool:
        if batch.debtor_iban != self.debtor.iban:
            raise BankFileError(f"batch {batch.batch_id} is for another debtor account", "debtor")
        credit_transfers = CreditTransferBatch(
            execution_date=batch.execution_date,
            created_at=batch.created_at,
            debtor=self.debtor,
            transfers=tuple(
                CreditTransfer(t.payout_id, t.amount, t.creditor, t.remittance)
                for t in sorted(transfers, key=lambda t: t.payout_id)
            ),
        )
        file = write_pain001(credit_transfers)  # validated against the XSD, or Pain001Invalid
        if file.message_id != batch.batch_id or file.object_name != batch.object_name:
            raise BankFileError(f"batch {batch.batch_id} does not give its own file name", "batch")
        try:
            put = self.objects.put_if_absent(
                self.outbound_bucket, file.object_name, file.content, CONTENT_TYPE
            )
        except ObjectConflict as exc:
            raise BankFileConflict(str(exc)) from None
        return put.created

    def fetch(self, bucket: str, name: str) -> bytes | None:
        return self.objects.get(bucket, name)

    def read(self, content: bytes) -> BankReport:
        return read_bank_file(content, account_iban=self.debtor.iban)
