"""The bank's answers, read with pyiso20022's ISO 20022 bindings (xsdata): pain.002.001.10 status
reports, camt.054.001.08 debit/credit notifications and camt.053.001.08 statements, the versions
of the 2019 message set that pain.001.001.09 belongs to. The XML is read by xsdata into the
bindings' dataclasses; nothing here walks XML by hand. The result is a domain
:class:`~shared.domain.bank_files.BankReport`.

A file with a DOCTYPE is refused before parsing (bank files never carry one; it is how entity
expansion attacks start), and so is one over ``MAX_FILE_BYTES``.

Batch booking: a bank books a whole batch as one debit and lists each transaction in the entry's
details (NtryDtls/TxDtls). Each detail with its own amount becomes its own StatementEntry, so every
payout is seen on its own whichever way the bank booked.
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pyiso20022.camt.camt_053_001_08 import camt_053_001_08 as camt053
from pyiso20022.camt.camt_054_001_08 import camt_054_001_08 as camt054
from pyiso20022.pain.pain_002_001_10 import pain_002_001_10 as pain002
from xsdata.exceptions import ParserError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig

from shared.domain.bank_files import (
    BankFileError,
    BankMessageKind,
    BankOutcome,
    BankReport,
    EntryDirection,
    StatementEntry,
    TransactionOutcome,
)
from shared.domain.errors import DomainError
from shared.domain.money import Money

MAX_FILE_BYTES = 64 * 1024 * 1024
NAMESPACES: dict[str, tuple[BankMessageKind, type[Any]]] = {
    pain002.__NAMESPACE__: (BankMessageKind.STATUS_REPORT, pain002.Document),
    camt054.__NAMESPACE__: (BankMessageKind.NOTIFICATION, camt054.Document),
    camt053.__NAMESPACE__: (BankMessageKind.STATEMENT, camt053.Document),
}
# pain.002 transaction statuses (ExternalPaymentTransactionStatus1Code): all but these are an acceptance.
REJECTED, PENDING = "RJCT", "PDNG"
# A camt entry's bank transaction code sub-family for charges (e.g. ACMT/MDOP/CHRG, PMNT/ICDT/CHRG).
CHARGES_SUB_FAMILY = "CHRG"


def message_kind(content: bytes) -> BankMessageKind:
    """What kind of bank file ``content`` is, from its root element's namespace."""
    return NAMESPACES[_namespace(content)][0]


def _namespace(content: bytes) -> str:
    if len(content) > MAX_FILE_BYTES:
        raise BankFileError(f"bank file over {MAX_FILE_BYTES} bytes")
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise BankFileError("bank file with a DOCTYPE or entity declaration")
    try:
        # DOCTYPE and ENTITY are refused above, and expat fetches no external entity.
        for _, element in ET.iterparse(io.BytesIO(content), events=("start",)):  # noqa: S314
            namespace = element.tag[1:].partition("}")[0] if element.tag.startswith("{") else ""
            break
        else:  # pragma: no cover - iterparse raises on an empty document
            namespace = ""
    except ET.ParseError as exc:
        raise BankFileError(f"bank file is not well-formed XML: {exc}") from None
    if namespace not in NAMESPACES:
        raise BankFileError(f"not a bank file we read: root namespace {namespace!r}")
    return namespace


def read_bank_file(content: bytes, *, account_iban: str | None = None) -> BankReport:
    """Read one bank file. ``account_iban`` keeps the statements and notifications of that
    account only (a file may cover several accounts). Raises BankFileError for anything that is
    not a well-formed, schema-shaped pain.002.001.10, camt.054.001.08 or camt.053.001.08."""
    kind, binding = NAMESPACES[_namespace(content)]
    parser = XmlParser(config=ParserConfig(fail_on_unknown_properties=True))  # one per call: not thread-safe
    try:
        document = parser.from_bytes(content, binding)
    except (ParserError, ET.ParseError, ValueError, TypeError, AttributeError, ArithmeticError) as exc:
        raise BankFileError(f"{kind.value} does not match its schema: {exc}") from None
    digest = hashlib.sha256(content).hexdigest()
    readers: dict[BankMessageKind, Callable[[Any, str, str | None], BankReport]] = {
        BankMessageKind.STATUS_REPORT: _status_report,
        BankMessageKind.NOTIFICATION: _notification,
        BankMessageKind.STATEMENT: _statement,
    }
    try:
        return readers[kind](document, digest, account_iban)
    except BankFileError:
        raise
    except DomainError as exc:  # a bad amount or currency in an otherwise well-formed file
        raise BankFileError(f"{kind.value}: {exc.message}") from None
    except (AttributeError, TypeError, ValueError, ArithmeticError) as exc:  # a required element missing
        raise BankFileError(
            f"{kind.value} lacks what a {kind.value} must have: {type(exc).__name__}"
        ) from None


# --- pain.002 --------------------------------------------------------------------------------------


def _status_report(document: Any, digest: str, _account: str | None) -> BankReport:
    report = document.cstmr_pmt_sts_rpt
    group = report.orgnl_grp_inf_and_sts
    group_status, group_reason = group.grp_sts, _first_reason(group.sts_rsn_inf)
    outcomes: list[TransactionOutcome] = []
    for payment_info in report.orgnl_pmt_inf_and_sts:
        if payment_info.pmt_inf_sts == REJECTED and not payment_info.tx_inf_and_sts and group_status is None:
            group_status, group_reason = REJECTED, _first_reason(payment_info.sts_rsn_inf)
        for tx in payment_info.tx_inf_and_sts:
            status = tx.tx_sts or payment_info.pmt_inf_sts or group_status
            if not tx.orgnl_end_to_end_id or status in (None, PENDING):
                continue
            rejected = status == REJECTED
            amount = tx.orgnl_tx_ref.amt.instd_amt if tx.orgnl_tx_ref and tx.orgnl_tx_ref.amt else None
            outcomes.append(
                TransactionOutcome(
                    end_to_end_id=tx.orgnl_end_to_end_id,
                    outcome=BankOutcome.REJECTED if rejected else BankOutcome.ACCEPTED,
                    reason_code=_first_reason(tx.sts_rsn_inf) if rejected else None,
                    amount=_money(amount) if amount is not None else None,
                    bank_reference=tx.acct_svcr_ref,
                )
            )
    return BankReport(
        kind=BankMessageKind.STATUS_REPORT,
        file_id=report.grp_hdr.msg_id,
        created_at=_datetime(report.grp_hdr.cre_dt_tm),
        content_sha256=digest,
        transactions=tuple(outcomes),
        original_message_id=group.orgnl_msg_id,
        group_status=group_status,
        group_reason=group_reason,
    )


def _first_reason(reasons: list[Any]) -> str | None:
    for info in reasons:
        if info.rsn is not None and (info.rsn.cd or info.rsn.prtry):
            return str(info.rsn.cd or info.rsn.prtry)
    return None


# --- camt.054 and camt.053 ------------------------------------------------------------------------


def _notification(document: Any, digest: str, account: str | None) -> BankReport:
    message = document.bk_to_cstmr_dbt_cdt_ntfctn
    notes = [n for n in message.ntfctn if _is_account(n.acct, account)]
    entries = tuple(e for note in notes for e in _entries(note.ntry, message.grp_hdr.msg_id))
    return BankReport(
        kind=BankMessageKind.NOTIFICATION,
        file_id=message.grp_hdr.msg_id,
        created_at=_datetime(message.grp_hdr.cre_dt_tm),
        content_sha256=digest,
        transactions=_outcomes(entries),
        entries=entries,
        account_iban=_single_iban([n.acct for n in notes]),
    )


def _statement(document: Any, digest: str, account: str | None) -> BankReport:
    message = document.bk_to_cstmr_stmt
    statements = [s for s in message.stmt if _is_account(s.acct, account)]
    if len(statements) > 1:
        raise BankFileError("camt.053 with statements of several accounts: say which account to read")
    entries = tuple(e for s in statements for e in _entries(s.ntry, message.grp_hdr.msg_id))
    opening = closing = None
    closing_on = None
    statement_id = None
    for statement in statements:
        statement_id = statement.id
        for balance in statement.bal:
            code = balance.tp.cd_or_prtry.cd or balance.tp.cd_or_prtry.prtry
            signed = _signed(balance.amt, balance.cdt_dbt_ind)
            if code in ("OPBD", "PRCD") and (opening is None or code == "OPBD"):
                opening = signed
            elif code == "CLBD":
                closing, closing_on = signed, _date(balance.dt)
    return BankReport(
        kind=BankMessageKind.STATEMENT,
        file_id=message.grp_hdr.msg_id,
        created_at=_datetime(message.grp_hdr.cre_dt_tm),
        content_sha256=digest,
        transactions=_outcomes(entries),
        entries=entries,
        account_iban=_single_iban([s.acct for s in statements]),
        statement_id=statement_id,
        opening_balance=opening,
        closing_balance=closing,
        closing_balance_on=closing_on,
    )


def _entries(entries: list[Any], file_id: str) -> Iterator[StatementEntry]:
    for index, entry in enumerate(entries):
        reference = entry.ntry_ref or entry.acct_svcr_ref or f"{file_id}#{index}"
        direction = _direction(entry.cdt_dbt_ind)
        booked = (entry.sts.cd or entry.sts.prtry) == "BOOK"
        booked_on = _date(entry.bookg_dt) if entry.bookg_dt else None
        details = [tx for d in entry.ntry_dtls for tx in d.tx_dtls]
        if not details or any(tx.amt is None for tx in details):
            tx = details[0] if len(details) == 1 else None
            yield _entry(reference, entry.amt, direction, booked, booked_on, entry, tx)
            continue
        for position, tx in enumerate(details):  # a batch booking: one entry, many transactions
            tx_direction = _direction(tx.cdt_dbt_ind) if tx.cdt_dbt_ind is not None else direction
            tx_reference = f"{reference}/{position + 1}"
            yield _entry(tx_reference, tx.amt, tx_direction, booked, booked_on, entry, tx)


def _entry(
    reference: str,
    amount: Any,
    direction: EntryDirection,
    booked: bool,
    booked_on: date | None,
    entry: Any,
    tx: Any | None,
) -> StatementEntry:
    code = _transaction_code(tx.bk_tx_cd if tx is not None and tx.bk_tx_cd else entry.bk_tx_cd)
    e2e = tx.refs.end_to_end_id if tx is not None and tx.refs is not None else None
    return_reason = None
    if tx is not None and tx.rtr_inf is not None and tx.rtr_inf.rsn is not None:
        return_reason = tx.rtr_inf.rsn.cd or tx.rtr_inf.rsn.prtry
    return StatementEntry(
        entry_reference=reference,
        amount=_money(amount),
        direction=direction,
        booked=booked,
        booked_on=booked_on,
        end_to_end_id=e2e if e2e and e2e != "NOTPROVIDED" else None,
        return_reason=return_reason,
        bank_transaction_code=code,
        is_charge=code is not None and code.endswith("/" + CHARGES_SUB_FAMILY),
        description=entry.addtl_ntry_inf,
    )


def _outcomes(entries: tuple[StatementEntry, ...]) -> tuple[TransactionOutcome, ...]:
    """Booked entries that carry our end-to-end id: a debit is the payout booked, a credit is
    the payout coming back (a return, with its reason)."""
    outcomes = []
    for entry in entries:
        if not entry.booked or entry.end_to_end_id is None or entry.is_charge:
            continue
        returned = entry.direction is EntryDirection.CREDIT
        outcomes.append(
            TransactionOutcome(
                end_to_end_id=entry.end_to_end_id,
                outcome=BankOutcome.RETURNED if returned else BankOutcome.BOOKED,
                reason_code=entry.return_reason if returned else None,
                amount=entry.amount,
                booked_on=entry.booked_on,
                bank_reference=entry.entry_reference,
            )
        )
    return tuple(outcomes)


# --- small readers -------------------------------------------------------------------------------


def _money(amount: Any) -> Money:
    value = amount.value
    if not isinstance(value, Decimal):
        raise BankFileError("an amount is not a decimal number")
    return Money.from_decimal(value, str(amount.ccy))


def _signed(amount: Any, indicator: Any) -> Money:
    money = _money(amount)
    return -money if _direction(indicator) is EntryDirection.DEBIT else money


def _direction(indicator: Any) -> EntryDirection:
    value = getattr(indicator, "value", indicator)
    if value == "DBIT":
        return EntryDirection.DEBIT
    if value == "CRDT":
        return EntryDirection.CREDIT
    raise BankFileError(f"unknown credit/debit indicator {value!r}")


def _transaction_code(code: Any) -> str | None:
    if code is None or code.domn is None:
        return None
    return f"{code.domn.cd}/{code.domn.fmly.cd}/{code.domn.fmly.sub_fmly_cd}"


def _is_account(account: Any, iban: str | None) -> bool:
    return iban is None or (account.id is not None and account.id.iban == iban)


def _single_iban(accounts: list[Any]) -> str | None:
    ibans = {a.id.iban for a in accounts if a.id is not None and a.id.iban}
    return ibans.pop() if len(ibans) == 1 else None


def _date(value: Any) -> date:
    if value.dt is not None:
        return date(value.dt.year, value.dt.month, value.dt.day)
    if value.dt_tm is not None:
        return _datetime(value.dt_tm).date()
    raise BankFileError("a date is missing")


def _datetime(value: Any) -> datetime:
    parsed = value.to_datetime()
    if not isinstance(parsed, datetime):
        raise BankFileError("a date-time is not one")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
