"""SEPA credit-transfer files (pain.001.001.09) with ``sepaxml``, checked against its own XSD.

A file is one batch: one currency (EUR), one execution date, one debtor (the platform's account),
and the payouts as transactions whose EndToEndId carries the payout id
(``shared.domain.bank_files.end_to_end_id``). Everything in it is derived from the batch: the
message id, the payment-information id, the creation time (the batch's, not the clock's) and the
object name, so writing the same batch twice gives byte-identical files under one name, which the
outbound bucket then keeps once (create-if-absent).

sepaxml draws a random MsgId and PmtInfId and stamps the current time; the subclass below puts
the batch's values in their place before the file is serialised and validated.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import sepaxml
import xmlschema
from schwifty import BIC, IBAN
from sepaxml import SepaTransfer
from text_unidecode import unidecode

from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.bank_files import (
    BankFileError,
    batch_message_id,
    end_to_end_id,
    outbound_object_name,
    payment_information_id,
    sepa_text,
)
from shared.domain.money import Money, sum_money
from shared.settings import Settings

SCHEMA = "pain.001.001.09"
SEPA_CURRENCY = "EUR"
# SEPA's largest single credit transfer: 999,999,999.99 EUR.
MAX_AMOUNT_MINOR = 99_999_999_999
NAME_MAX, REMITTANCE_MAX = 70, 140


class Pain001Invalid(BankFileError):
    """The file does not validate against the pain.001.001.09 XSD: it must not leave."""


@dataclass(frozen=True)
class SepaDebtor:
    """The platform's account that every credit transfer is paid from."""

    name: str
    iban: str
    bic: str | None = None

    def __post_init__(self) -> None:
        try:
            IBAN(self.iban)
            if self.bic:
                BIC(self.bic)
        except ValueError as exc:
            raise BankFileError(f"the platform's SEPA account is invalid: {exc}", "debtor") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> SepaDebtor:
        return cls(settings.sepa_debtor_name, settings.sepa_debtor_iban, settings.sepa_debtor_bic or None)


@dataclass(frozen=True)
class CreditTransfer:
    """One payout as a SEPA credit transfer."""

    payout_id: str
    amount: Money
    creditor: ValidatedBankAccount  # an IBAN account; its BIC is optional in SEPA
    remittance: str  # what the seller sees on their statement


@dataclass(frozen=True)
class CreditTransferBatch:
    execution_date: date
    created_at: datetime  # when the batch was formed (stored with it): the file's CreDtTm
    debtor: SepaDebtor
    transfers: tuple[CreditTransfer, ...]

    @property
    def message_id(self) -> str:
        return batch_message_id(SEPA_CURRENCY, self.execution_date, (t.payout_id for t in self.transfers))


@dataclass(frozen=True)
class Pain001File:
    object_name: str
    message_id: str
    content: bytes
    end_to_end_ids: Mapping[str, str]  # payout id -> EndToEndId
    control_sum: Money
    transaction_count: int


def batches(
    transfers: Iterable[CreditTransfer],
    *,
    execution_date: date,
    created_at: datetime,
    debtor: SepaDebtor,
    max_per_file: int,
) -> list[CreditTransferBatch]:
    """Transfers in files of at most ``max_per_file``, in payout-id order. The split depends on
    the whole set: store the batches once formed (their payout ids), and write those."""
    if max_per_file < 1:
        raise BankFileError("max_per_file must be at least 1", "max_per_file")
    ordered = sorted(transfers, key=lambda t: t.payout_id)
    return [
        CreditTransferBatch(execution_date, created_at, debtor, tuple(ordered[i : i + max_per_file]))
        for i in range(0, len(ordered), max_per_file)
    ]


class _BatchTransfer(SepaTransfer):  # type: ignore[misc]  # sepaxml has no type information
    """sepaxml's writer with the batch's ids and time instead of random ones and the clock."""

    def __init__(self, config: dict[str, Any], message_id: str, created_at: datetime) -> None:
        self._message_id, self._created_at = message_id, created_at
        super().__init__(config, schema=SCHEMA, clean=False)

    def _create_header(self) -> None:
        super()._create_header()
        header = self._xml.find("CstmrCdtTrfInitn/GrpHdr")
        header.find("MsgId").text = self._message_id
        header.find("CreDtTm").text = self._created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _finalize_batch(self) -> None:
        super()._finalize_batch()
        for node in self._xml.iter("PmtInfId"):
            node.text = payment_information_id(self._message_id)


def _text(value: str, limit: int) -> str:
    return sepa_text(unidecode(value), limit)


def _check(batch: CreditTransferBatch) -> None:
    if not batch.transfers:
        raise BankFileError("a bank file needs at least one transfer", "transfers")
    if batch.created_at.tzinfo is None:
        raise BankFileError("created_at must carry a time zone", "created_at")
    for i, transfer in enumerate(batch.transfers):
        where = f"transfers[{i}]"
        if transfer.amount.currency != SEPA_CURRENCY:
            raise BankFileError(f"SEPA credit transfers are in EUR, not {transfer.amount.currency}", where)
        if not 0 < transfer.amount.amount <= MAX_AMOUNT_MINOR:
            raise BankFileError("a SEPA credit transfer is between 0.01 and 999,999,999.99 EUR", where)
        if transfer.creditor.scheme != "iban" or transfer.creditor.iban is None:
            raise BankFileError("a SEPA credit transfer needs the seller's IBAN", f"{where}.creditor")


def write_pain001(batch: CreditTransferBatch) -> Pain001File:
    """The batch's pain.001.001.09 file, validated against sepaxml's XSD (Pain001Invalid if not)."""
    _check(batch)
    message_id = batch.message_id
    config: dict[str, Any] = {
        "name": _text(batch.debtor.name, NAME_MAX),
        "IBAN": batch.debtor.iban,
        "currency": SEPA_CURRENCY,
        "batch": True,
    }
    if batch.debtor.bic:
        config["BIC"] = batch.debtor.bic
    writer = _BatchTransfer(config, message_id, batch.created_at)
    ids: dict[str, str] = {}
    for transfer in sorted(batch.transfers, key=lambda t: t.payout_id):  # the same bytes in any order
        creditor = transfer.creditor
        assert creditor.iban is not None  # checked above
        ids[transfer.payout_id] = end_to_end_id(transfer.payout_id)
        payment: dict[str, Any] = {
            "name": _text(creditor.holder_name, NAME_MAX),
            "IBAN": creditor.iban.get_secret_value(),
            "amount": transfer.amount.amount,  # minor units: sepaxml writes cents as "12.34"
            "execution_date": batch.execution_date,
            "description": _text(transfer.remittance, REMITTANCE_MAX),
            "endtoend_id": ids[transfer.payout_id],
        }
        if creditor.bic:
            payment["BIC"] = creditor.bic
        writer.add_payment(payment)
    content: bytes = writer.export(validate=False)
    validate_pain001(content)
    return Pain001File(
        object_name=outbound_object_name(batch.execution_date, message_id),
        message_id=message_id,
        content=content,
        end_to_end_ids=ids,
        control_sum=sum_money((t.amount for t in batch.transfers), SEPA_CURRENCY),
        transaction_count=len(batch.transfers),
    )


@cache
def _schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(Path(sepaxml.__file__).parent / "schemas" / f"{SCHEMA}.xsd"))


def validate_pain001(content: bytes) -> None:
    """Raise Pain001Invalid unless ``content`` is valid against the pain.001.001.09 XSD that
    sepaxml ships. The reason names the element, never a value (it may be an account number)."""
    try:
        _schema().validate(content.decode("utf-8"))
    except xmlschema.XMLSchemaValidationError as exc:
        path = getattr(exc, "path", None) or "document"
        raise Pain001Invalid(f"pain.001 is not valid against {SCHEMA}.xsd at {path}: {exc.reason}") from None
    except (UnicodeDecodeError, ET.ParseError, xmlschema.XMLSchemaException) as exc:
        raise Pain001Invalid(f"pain.001 is not well-formed XML: {type(exc).__name__}") from None
