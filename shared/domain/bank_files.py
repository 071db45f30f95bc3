"""The SEPA bank-file rail's rules, with no I/O: identifiers, file names, the bank's reason codes,
what a bank report says about each payout, and how a payout's status follows it.

Outbound, a batch of payouts (one currency, one execution date) becomes one pain.001 file
(``shared/adapters/bank_files/``). Inbound, the bank answers with pain.002 status reports
(accepted / rejected per transaction), camt.054 debit and credit notifications (booked, or returned
with a reason) and camt.053 end-of-day statements (every entry and the closing balance). The
adapters turn each file into a :class:`BankReport`; :func:`payout_updates` says what it means for
each payout, and :func:`steps_towards` how a payout's status gets there.

Identifiers follow the EPC SEPA Credit Transfer implementation guidelines: at most 35 characters
of the SEPA Latin set (``a-z A-Z 0-9 / - ? : ( ) . , ' +`` and space), never starting or ending
with ``/`` and never containing ``//``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import holidays

from shared.domain.errors import DomainError
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, Payout, PayoutStatus

SEPA_ID_MAX = 35
# The EPC's SEPA Latin character set (no "_", no "&", no letters with accents).
_SEPA_ID = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]+")
# Payout ids are Firestore document ids: they never contain "/", so "_" <-> "/" is a bijection.
_ID_SEPARATOR, _E2E_SEPARATOR = "_", "/"


class BankFileError(DomainError):
    """A payout or a batch cannot go into a bank file, or a bank file cannot be read."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("bank_file_invalid", message, field)


def is_sepa_identifier(value: str) -> bool:
    return (
        0 < len(value) <= SEPA_ID_MAX
        and _SEPA_ID.fullmatch(value) is not None
        and not value.startswith("/")
        and not value.endswith("/")
        and "//" not in value
        and value.strip() == value
    )


def end_to_end_id(payout_id: str) -> str:
    """The EndToEndId that carries ``payout_id`` through the bank and back.

    ``_`` is outside the SEPA character set, so it becomes ``/`` (``po_3f2a…`` → ``po/3f2a…``);
    payout ids never contain ``/`` (they are Firestore document ids), so the mapping is reversible
    (:func:`payout_id_from_end_to_end`). Raises BankFileError for an id that cannot be carried:
    longer than 35 characters, other characters outside the set, or underscores at an end or in a
    row (they would give a ``/`` at an end or ``//``)."""
    if _E2E_SEPARATOR in payout_id:
        raise BankFileError(f"payout id {payout_id!r} contains '/'", "payout_id")
    candidate = payout_id.replace(_ID_SEPARATOR, _E2E_SEPARATOR)
    if not is_sepa_identifier(candidate):
        raise BankFileError(
            f"payout id {payout_id!r} cannot be a SEPA end-to-end id (35 characters of the SEPA set)",
            "payout_id",
        )
    return candidate


def payout_id_from_end_to_end(e2e: str) -> str:
    """Inverse of :func:`end_to_end_id`. Whether a payout has that id is the caller's question
    (a bank also reports movements that are not ours, e.g. ``NOTPROVIDED``)."""
    return e2e.replace(_E2E_SEPARATOR, _ID_SEPARATOR)


def sepa_text(value: str, limit: int) -> str:
    """``value`` in the SEPA Latin set (names, remittance information), at most ``limit`` long.
    Accents are taken off first (the caller transliterates, e.g. with text_unidecode); anything
    still outside the set becomes a space, so a name never makes a bank refuse the file."""
    kept = "".join(ch if _SEPA_ID.fullmatch(ch) else " " for ch in value)
    return " ".join(kept.split())[:limit].strip() or "NOTPROVIDED"


# --- files ---------------------------------------------------------------------------------------


def _batch_digest(currency: str, execution_date: date, payout_ids: Iterable[str]) -> str:
    ids = sorted(payout_ids)
    if len(set(ids)) != len(ids):
        raise BankFileError("a payout appears twice in one batch", "payouts")
    material = "|".join([currency, execution_date.isoformat(), *ids])
    return hashlib.sha256(material.encode()).hexdigest()


def batch_message_id(currency: str, execution_date: date, payout_ids: Iterable[str]) -> str:
    """The pain.001 MsgId of a batch: ``SP<yyyymmdd>-<20 hex>`` (31 characters), derived from
    the batch (currency, execution date and its payout ids, in any order). Writing the same batch
    twice gives the same id, and a bank refuses a second file with a MsgId it already has."""
    digest = _batch_digest(currency, execution_date, payout_ids)
    return f"SP{execution_date:%Y%m%d}-{digest[:20]}"


def payment_information_id(message_id: str) -> str:
    return f"{message_id}-1"  # one PmtInf block per file: one debtor account, one execution date


def outbound_object_name(execution_date: date, message_id: str) -> str:
    """Where a pain.001 lives in the outbound bucket: by execution date, named by its MsgId."""
    return f"pain.001/{execution_date.isoformat()}/{message_id}.xml"


# --- what the bank says --------------------------------------------------------------------------


class BankMessageKind(StrEnum):
    STATUS_REPORT = "pain.002"  # accepted or rejected, per file and per transaction
    NOTIFICATION = "camt.054"  # debit or credit notifications: booked, returned
    STATEMENT = "camt.053"  # end of day: every entry, opening and closing balance


class BankOutcome(StrEnum):
    ACCEPTED = "accepted"  # pain.002: the bank took the instruction (not yet booked)
    REJECTED = "rejected"  # pain.002: refused, with a reason code
    BOOKED = "booked"  # camt.054/053: the money left the platform's account
    RETURNED = "returned"  # camt.054/053: the creditor bank sent it back, with a return reason


class EntryDirection(StrEnum):
    DEBIT = "debit"  # money out of the platform's account
    CREDIT = "credit"  # money into it


@dataclass(frozen=True)
class TransactionOutcome:
    """What one bank file says about one of our instructions."""

    end_to_end_id: str
    outcome: BankOutcome
    reason_code: str | None = None  # ISO 20022 external status or return reason (AC04, …)
    amount: Money | None = None  # booked or returned amount; pain.002 may leave it out
    booked_on: date | None = None
    bank_reference: str | None = None  # the bank's own reference of the entry (AcctSvcrRef)

    @property
    def payout_id(self) -> str:
        return payout_id_from_end_to_end(self.end_to_end_id)


@dataclass(frozen=True)
class StatementEntry:
    """One booked (or pending) movement of the platform's account, ours or not (camt.053/054).
    ``amount`` is positive; ``direction`` says which way it went."""

    entry_reference: str  # unique within the account: NtryRef, else AcctSvcrRef, else file + index
    amount: Money
    direction: EntryDirection
    booked: bool  # False for a pending entry
    booked_on: date | None
    end_to_end_id: str | None = None  # set when the entry is one of our instructions (or its return)
    return_reason: str | None = None
    bank_transaction_code: str | None = None  # domain/family/subfamily, e.g. PMNT/ICDT/ESCT
    is_charge: bool = False  # the bank's fee (charges), not a transfer
    description: str | None = None


@dataclass(frozen=True)
class BankReport:
    """One inbound bank file, read. ``file_id`` is its ISO message id (GrpHdr/MsgId): the same
    file delivered twice (or under another object name) has the same ``file_id``."""

    kind: BankMessageKind
    file_id: str
    created_at: datetime
    content_sha256: str
    transactions: tuple[TransactionOutcome, ...] = ()
    entries: tuple[StatementEntry, ...] = ()
    # pain.002: the pain.001 it answers, and its status as a whole (RJCT: every instruction of it)
    original_message_id: str | None = None
    group_status: str | None = None
    group_reason: str | None = None
    # camt.053/054: the account, and (camt.053) the statement's id and balances
    account_iban: str | None = None
    statement_id: str | None = None
    opening_balance: Money | None = None
    closing_balance: Money | None = None
    closing_balance_on: date | None = None


# --- reason codes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonCode:
    code: str
    name: str  # ISO 20022 ExternalStatusReason1Code / ExternalReturnReason1Code name
    failure: FailureCode | None  # None: do not fail the payout on it; ops look (see note)
    note: str


def _codes(*rows: tuple[str, str, FailureCode | None, str]) -> dict[str, ReasonCode]:
    return {code: ReasonCode(code, name, failure, note) for code, name, failure, note in rows}


F = FailureCode
# The one table from the bank's reason codes (pain.002 StsRsnInf/Rsn/Cd, camt RtrInf/Rsn/Cd) to
# ours. ACCOUNT_CLOSED and NO_ACCOUNT stop later payouts to that account until it is changed.
REASON_CODES: dict[str, ReasonCode] = _codes(
    ("AC01", "IncorrectAccountNumber", F.NO_ACCOUNT, "the IBAN names no account at that bank"),
    (
        "AC03",
        "InvalidCreditorAccountNumber",
        F.INVALID_ACCOUNT_NUMBER,
        "wrong account number for the creditor",
    ),
    ("AC04", "ClosedAccountNumber", F.ACCOUNT_CLOSED, "the account is closed"),
    ("AC06", "BlockedAccount", F.ACCOUNT_FROZEN, "the account is blocked for credits"),
    ("AC13", "InvalidDebtorAccountType", F.DECLINED, "the account type cannot receive this"),
    ("AG01", "TransactionForbidden", F.DECLINED, "transfers to this account are not allowed"),
    ("AG02", "InvalidBankOperationCode", F.TECHNICAL_REJECTION, "our file: wrong operation code"),
    ("AM04", "InsufficientFunds", F.INSUFFICIENT_PLATFORM_FUNDS, "the platform's account lacked the funds"),
    ("AM05", "Duplication", None, "the bank already has this instruction: the first may pay it"),
    ("BE04", "MissingCreditorAddress", F.DECLINED, "the creditor bank wants an address"),
    ("CNOR", "CreditorBankIsNotRegistered", F.DECLINED, "the creditor bank is not reachable by SEPA"),
    ("DNOR", "DebtorBankIsNotRegistered", F.TECHNICAL_REJECTION, "our bank is not reachable by SEPA"),
    ("DU01", "DuplicateMessageID", None, "a file whose MsgId the bank has: the first file stands"),
    ("DT01", "InvalidDate", F.TECHNICAL_REJECTION, "our file: wrong execution date"),
    ("DUPL", "DuplicatePayment", None, "a duplicate of an instruction the bank has: the first may pay it"),
    ("FF01", "InvalidFileFormat", F.TECHNICAL_REJECTION, "our file: does not pass the bank's checks"),
    ("FOCR", "FollowingCancellationRequest", F.DECLINED, "returned after a recall"),
    ("MD07", "EndCustomerDeceased", F.ACCOUNT_CLOSED, "the account holder died"),
    ("MS02", "NotSpecifiedReasonCustomerGenerated", F.DECLINED, "the creditor refused, no reason"),
    ("MS03", "NotSpecifiedReasonAgentGenerated", F.DECLINED, "a bank refused, no reason"),
    ("RC01", "BankIdentifierIncorrect", F.INVALID_ACCOUNT_NUMBER, "the BIC is wrong"),
    ("RR01", "MissingDebtorAccountOrIdentification", F.TECHNICAL_REJECTION, "regulatory: our data"),
    ("RR02", "MissingDebtorNameOrAddress", F.TECHNICAL_REJECTION, "regulatory: our data"),
    ("RR03", "MissingCreditorNameOrAddress", F.DECLINED, "regulatory: the seller's name or address"),
    ("RR04", "RegulatoryReason", F.DECLINED, "regulatory (sanctions screening, …)"),
    ("TM01", "InvalidCutOffTime", F.TECHNICAL_REJECTION, "our file arrived after the cut-off"),
)
# A code we have no row for is a refusal all the same (as for a provider's unknown code).
UNKNOWN_REASON_FAILURE = FailureCode.DECLINED


def reason(code: str | None) -> ReasonCode:
    if code is None:
        return ReasonCode("", "NotGiven", UNKNOWN_REASON_FAILURE, "no reason code given")
    return REASON_CODES.get(code) or ReasonCode(code, "Unknown", UNKNOWN_REASON_FAILURE, "not in our table")


# --- what a report means for each payout --------------------------------------------------------


@dataclass(frozen=True)
class PayoutUpdate:
    """One payout's news from one bank file. ``cause`` goes into the payout's history, and
    ``dedupe_key`` is the same however often (and under whatever object name) the file comes."""

    payout_id: str
    outcome: BankOutcome
    failure_code: FailureCode | None
    reason_code: str | None
    amount: Money | None
    cause: str
    dedupe_key: str


@dataclass(frozen=True)
class ReportEffects:
    updates: tuple[PayoutUpdate, ...]
    # Outcomes not applied on their own: a duplicate-instruction rejection (AM05, DUPL), whose
    # payout the first instruction may still pay.
    needs_review: tuple[TransactionOutcome, ...]
    # pain.002 rejecting a whole file without naming its transactions: fail every payout of
    # ``original_message_id`` with this code. None when the file was not rejected as a whole, or
    # was rejected as a duplicate (DU01, DUPL, AM05: the first file with that MsgId stands).
    file_rejection: FailureCode | None
    duplicate_file_refused: bool


def payout_updates(report: BankReport) -> ReportEffects:
    """What ``report`` says about each of our payouts. Entries that are not our instructions
    (charges, movements without our end-to-end id) are left to reconciliation."""
    updates: list[PayoutUpdate] = []
    review: list[TransactionOutcome] = []
    for tx in report.transactions:
        failure = None
        if tx.outcome is BankOutcome.REJECTED:
            failure = reason(tx.reason_code).failure
            if failure is None:
                review.append(tx)
                continue
        key = f"{report.kind.value}|{report.file_id}|{tx.end_to_end_id}|{tx.outcome.value}"
        updates.append(
            PayoutUpdate(
                payout_id=tx.payout_id,
                outcome=tx.outcome,
                failure_code=failure,
                reason_code=tx.reason_code,
                amount=tx.amount,
                cause=f"bank {report.kind.value} {report.file_id}: {tx.outcome.value}"
                + (f" {tx.reason_code}" if tx.reason_code else ""),
                dedupe_key="bank_" + hashlib.sha256(key.encode()).hexdigest()[:32],
            )
        )
    whole_file = (
        report.kind is BankMessageKind.STATUS_REPORT
        and report.group_status == "RJCT"
        and not report.transactions
    )
    group_failure = reason(report.group_reason).failure if whole_file else None
    return ReportEffects(
        updates=tuple(updates),
        needs_review=tuple(review),
        file_rejection=group_failure,
        duplicate_file_refused=whole_file and group_failure is None,
    )


def steps_towards(current: PayoutStatus, outcome: BankOutcome) -> tuple[PayoutStatus, ...] | None:
    """The transitions that bring a payout in ``current`` in line with ``outcome``, in order
    (each legal in shared/domain/payouts.py TRANSITIONS): ``()`` when it already is, None when
    they contradict each other (e.g. booked after we failed or canceled it: money left that the
    ledger gave back to the seller), which is a status break for reconciliation, never applied.

    A return implies a booking: a processing payout whose camt.054 booking was lost goes
    paid, then returned."""
    s = PayoutStatus
    table: dict[BankOutcome, dict[PayoutStatus, tuple[PayoutStatus, ...] | None]] = {
        BankOutcome.ACCEPTED: {
            s.PENDING: (s.PROCESSING,),
            s.PROCESSING: (),
            s.PAID: (),
            s.RETURNED: (),
            s.FAILED: None,
            s.CANCELED: None,
        },
        BankOutcome.REJECTED: {
            s.PENDING: (s.FAILED,),
            s.PROCESSING: (s.FAILED,),
            s.FAILED: (),
            s.PAID: None,
            s.RETURNED: None,
            s.CANCELED: None,
        },
        BankOutcome.BOOKED: {
            s.PENDING: (s.PAID,),
            s.PROCESSING: (s.PAID,),
            s.PAID: (),
            s.RETURNED: (),
            s.FAILED: None,
            s.CANCELED: None,
        },
        BankOutcome.RETURNED: {
            s.PENDING: (s.PAID, s.RETURNED),
            s.PROCESSING: (s.PAID, s.RETURNED),
            s.PAID: (s.RETURNED,),
            s.RETURNED: (),
            s.FAILED: None,
            s.CANCELED: None,
        },
    }
    return table[outcome][current]


# --- a bank that does not answer ------------------------------------------------------------------


@lru_cache(maxsize=16)
def _target_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.financial_holidays("ECB", years=year).keys())


def bank_business_days(after: date, until: date) -> int:
    """The TARGET2 business days (the ECB's calendar, on which SEPA credit transfers settle) after
    ``after``, up to and including ``until``: Monday to Friday but New Year, Good Friday, Easter
    Monday, 1 May and 25-26 December."""
    days, day = 0, after
    while day < until:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in _target_holidays(day.year):
            days += 1
    return days


def bank_silent_too_long(sent_at: datetime, now: datetime, business_days: int) -> bool:
    """A payout sent to the bank in a file at ``sent_at`` has waited for its status report or
    booking for ``business_days`` bank business days or more (a pain.002 comes the same day and
    the booking the next, so two days of silence mean a lost file or a lost answer)."""
    return bank_business_days(sent_at.date(), now.date()) >= business_days


def sent_to_bank_at(payout: Payout) -> datetime:
    """When a payout on a bank-file rail went to the bank: its move to processing (its file was
    written then), else when it was queued for a file, else its last change."""
    moves = [t.at for t in payout.history if t.to_status is PayoutStatus.PROCESSING]
    return moves[-1] if moves else payout.transfer_started_at or payout.updated_at
