"""Reconciliation: the ledger's payouts against what a payment rail says happened, with no I/O.

The rail's side comes as :class:`RailRecord` values, one per movement of money at the rail,
normalised from each rail's own records (shared/adapters/rail_records/: the sandbox's transfer
list, Adyen's transactions, Stripe's balance transactions, transfers and payouts, a bank's camt.053
entries). The ledger's side is the payouts sent over that rail (:class:`LedgerPayout`) and the
rail fees already posted (:class:`LedgerFee`). :func:`reconcile` classifies every movement:

- ``matched``: both sides agree on currency, amount and status;
- ``missing_at_rail``: the ledger says sent, paid or returned, the rail has nothing;
- ``unknown_to_us``: the rail moved money that no payout explains (a second transfer for one
  payout is one of these): an alarm;
- ``currency_mismatch`` / ``amount_mismatch``: both have it, with another currency or amount;
- ``status_mismatch``: they disagree on what happened (the rail says returned or failed and the
  ledger says paid; the rail paid what the ledger failed or canceled; …);
- ``fee``: the rail took a fee; it is booked to ``platform:rail_fees`` by a journal entry whose
  cause is the rail's record, so it posts only once (``ReconciliationReport.fee_entries``).

Every class but matched and fee is a :class:`Break`, with both sides' data, which ops resolve
under maker-checker rules (:func:`acknowledge`, :func:`propose_correction`,
:func:`approve_correction`, :func:`reject_correction`): every action carries its actor and time,
and a correction is approved only by someone other than its proposer.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.errors import DomainError
from shared.domain.events import EventSource, OutboxEvent
from shared.domain.ledger import (
    JournalEntry,
    PlatformAccount,
    make_entry,
    parse_seller_account,
    record_rail_fee,
)
from shared.domain.money import Money
from shared.domain.payouts import PayoutStatus


class RailRecordKind(StrEnum):
    TRANSFER = "transfer"  # money out to a seller (or an attempt at it)
    RETURN = "return"  # money back from a seller's bank
    FEE = "fee"  # the rail's charge
    OTHER = "other"  # anything else that moved money on the platform's account


class RailStatus(StrEnum):
    PROCESSING = "processing"
    PAID = "paid"  # booked / settled: the money left
    FAILED = "failed"  # did not leave (or came straight back before settling)
    RETURNED = "returned"  # left, then came back
    # Came back, and the rail does not say whether before or after the seller's bank had it (a
    # Stripe bank payout that failed, its transfer reversed to the platform): failed or returned.
    CAME_BACK = "came_back"


class Direction(StrEnum):
    OUT = "out"  # from the platform's account at the rail
    IN = "in"


@dataclass(frozen=True)
class RailRecord:
    """One movement at a rail, in the rail's words normalised. ``amount`` is positive."""

    rail: str
    record_id: str  # unique per rail: the de-duplication key of the movement
    kind: RailRecordKind
    status: RailStatus
    amount: Money
    booked_at: datetime
    direction: Direction = Direction.OUT
    reference: str | None = None  # our payout id, when the rail carries it
    provider_ref: str | None = None  # the rail's transfer id (what a payout stores as provider_ref)
    description: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rail": self.rail,
            "record_id": self.record_id,
            "kind": self.kind.value,
            "status": self.status.value,
            "amount": self.amount.amount,
            "currency": self.amount.currency,
            "booked_at": self.booked_at.isoformat(),
            "direction": self.direction.value,
            "reference": self.reference,
            "provider_ref": self.provider_ref,
        }


@dataclass(frozen=True)
class LedgerPayout:
    payout_id: str
    status: PayoutStatus
    amount: Money
    rail: str | None
    provider_ref: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "payout_id": self.payout_id,
            "status": self.status.value,
            "amount": self.amount.amount,
            "currency": self.amount.currency,
            "rail": self.rail,
            "provider_ref": self.provider_ref,
        }


@dataclass(frozen=True)
class LedgerFee:
    """A rail fee the ledger has posted (kind ``rail.fee``): its cause names the rail's record."""

    rail: str
    record_id: str
    amount: Money


@dataclass(frozen=True)
class Window:
    """[start, end): the movements a reconciliation run looks at (a day, per rail)."""

    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class MovementClass(StrEnum):
    MATCHED = "matched"
    MISSING_AT_RAIL = "missing_at_rail"
    UNKNOWN_TO_US = "unknown_to_us"
    CURRENCY_MISMATCH = "currency_mismatch"
    AMOUNT_MISMATCH = "amount_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    FEE = "fee"


NOT_BREAKS = frozenset({MovementClass.MATCHED, MovementClass.FEE})
# Payouts whose money the ledger says went to the rail: the rail must have a transfer.
SENT = frozenset({PayoutStatus.PROCESSING, PayoutStatus.PAID, PayoutStatus.RETURNED})
# A rail transfer's status that agrees with the payout's (a return is judged on its own record).
_AGREES: dict[PayoutStatus, frozenset[RailStatus]] = {
    PayoutStatus.PENDING: frozenset(),
    PayoutStatus.CANCELED: frozenset(),
    PayoutStatus.PROCESSING: frozenset({RailStatus.PROCESSING}),
    PayoutStatus.PAID: frozenset({RailStatus.PAID}),
    PayoutStatus.FAILED: frozenset({RailStatus.FAILED, RailStatus.CAME_BACK}),
    PayoutStatus.RETURNED: frozenset({RailStatus.RETURNED, RailStatus.CAME_BACK}),
}


@dataclass(frozen=True)
class Movement:
    """One classified movement: the ledger's payout (if any) and the rail's records (if any)."""

    cls: MovementClass
    amount: Money  # the rail's amount when it has one, else the ledger's
    payout: LedgerPayout | None
    records: tuple[RailRecord, ...]
    note: str

    @property
    def subject(self) -> str:
        if self.payout is not None:
            return f"{self.payout.payout_id}|" + ",".join(r.record_id for r in self.records)
        return ",".join(r.record_id for r in self.records)


class BreakState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CORRECTION_PROPOSED = "correction_proposed"
    CORRECTED = "corrected"


@dataclass(frozen=True)
class BreakAction:
    action: str  # detected | acknowledged | correction_proposed | correction_approved | correction_rejected
    actor: str
    at: datetime
    note: str = ""


@dataclass(frozen=True)
class Correction:
    entry: JournalEntry
    reason: str
    proposed_by: str
    proposed_at: datetime


@dataclass(frozen=True)
class Break:
    """A movement the two sides disagree on, with both sides' data. Its id derives from the rail,
    the class and what it is about, so a break seen again by a later run is the same break."""

    break_id: str
    rail: str
    cls: MovementClass
    currency: str
    amount: int  # minor units, the rail's amount when it has one
    ledger: Mapping[str, Any] | None
    rail_records: tuple[Mapping[str, Any], ...]
    note: str
    detected_at: datetime
    state: BreakState = BreakState.OPEN
    history: tuple[BreakAction, ...] = ()
    correction: Correction | None = None
    corrections_proposed: int = 0


@dataclass(frozen=True)
class ReconciliationReport:
    """One rail, one window: counts and totals (minor units) per class and currency, the breaks,
    and the fee entries to post (each idempotent by its cause)."""

    rail: str
    window: Window
    counts: Mapping[tuple[MovementClass, str], int]
    totals: Mapping[tuple[MovementClass, str], int]
    movements: tuple[Movement, ...]
    breaks: tuple[Break, ...]
    fee_entries: tuple[JournalEntry, ...] = field(default_factory=tuple)

    def count(self, cls: MovementClass) -> int:
        return sum(n for (c, _), n in self.counts.items() if c is cls)

    @property
    def unexplained(self) -> int:
        return len(self.breaks)


def break_id(rail: str, cls: MovementClass, subject: str) -> str:
    return "brk_" + hashlib.sha256(f"{rail}|{cls.value}|{subject}".encode()).hexdigest()[:24]


# --- classification --------------------------------------------------------------------------------


def _compare(
    payout: LedgerPayout, record: RailRecord, agreeing: frozenset[RailStatus]
) -> tuple[MovementClass, str]:
    if record.amount.currency != payout.amount.currency:
        return (
            MovementClass.CURRENCY_MISMATCH,
            f"rail {record.amount.currency}, ledger {payout.amount.currency}",
        )
    if record.amount.amount != payout.amount.amount:
        return MovementClass.AMOUNT_MISMATCH, f"rail {record.amount}, ledger {payout.amount}"
    if record.status not in agreeing:
        return MovementClass.STATUS_MISMATCH, f"rail {record.status.value}, ledger {payout.status.value}"
    return MovementClass.MATCHED, ""


def _payout_movements(
    payout: LedgerPayout, transfers: list[RailRecord], returns: list[RailRecord]
) -> list[Movement]:
    out: list[Movement] = []
    transfers = sorted(transfers, key=lambda r: (r.booked_at, r.record_id))
    returns = sorted(returns, key=lambda r: (r.booked_at, r.record_id))
    if transfers:
        first = transfers[0]
        agreeing = _AGREES[payout.status]
        if payout.status is PayoutStatus.RETURNED and returns:
            agreeing = agreeing | {RailStatus.PAID}  # the return is its own record, judged below
        cls, note = _compare(payout, first, agreeing)
        out.append(Movement(cls, first.amount, payout, (first,), note))
        for extra in transfers[1:]:
            note = f"a second transfer for payout {payout.payout_id}"
            out.append(Movement(MovementClass.UNKNOWN_TO_US, extra.amount, payout, (extra,), note))
    elif payout.status in SENT and not returns:
        note = f"ledger {payout.status.value}, no transfer at the rail"
        out.append(Movement(MovementClass.MISSING_AT_RAIL, payout.amount, payout, (), note))
    for position, record in enumerate(returns):
        if position:
            note = f"a second return for payout {payout.payout_id}"
            out.append(Movement(MovementClass.UNKNOWN_TO_US, record.amount, payout, (record,), note))
            continue
        cls, note = _compare(payout, record, frozenset({record.status}))
        if cls is MovementClass.MATCHED and payout.status is not PayoutStatus.RETURNED:
            cls, note = MovementClass.STATUS_MISMATCH, f"rail returned, ledger {payout.status.value}"
        out.append(Movement(cls, record.amount, payout, (record,), note))
    return out


def classify(
    rail: str,
    window: Window,
    payouts: Iterable[LedgerPayout],
    records: Iterable[RailRecord],
    posted_fees: Iterable[LedgerFee] = (),
) -> list[Movement]:
    """Every movement of ``rail``: the payouts given (the caller picks those of the window, plus
    those the window's records name), the rail's records (those outside the window count only if
    they belong to a given payout) and the fees already posted."""
    mine = [p for p in payouts if p.rail in (None, rail)]
    by_id = {p.payout_id: p for p in mine}
    by_provider_ref = {p.provider_ref: p for p in mine if p.provider_ref}
    transfers: dict[str, list[RailRecord]] = defaultdict(list)
    returns: dict[str, list[RailRecord]] = defaultdict(list)
    movements: list[Movement] = []
    fees: dict[str, RailRecord] = {}
    for record in sorted((r for r in records if r.rail == rail), key=lambda r: (r.booked_at, r.record_id)):
        payout = by_id.get(record.reference or "") or by_provider_ref.get(record.provider_ref or "")
        if record.kind is RailRecordKind.FEE:
            if record.booked_at in window:
                fees[record.record_id] = record
        elif record.kind in (RailRecordKind.TRANSFER, RailRecordKind.RETURN) and payout is not None:
            (transfers if record.kind is RailRecordKind.TRANSFER else returns)[payout.payout_id].append(
                record
            )
        elif record.booked_at in window:
            what = (
                "no payout has this reference" if record.kind is not RailRecordKind.OTHER else "not a payout"
            )
            movements.append(Movement(MovementClass.UNKNOWN_TO_US, record.amount, None, (record,), what))
    for payout in mine:
        movements += _payout_movements(payout, transfers[payout.payout_id], returns[payout.payout_id])
    posted = {f.record_id: f for f in posted_fees if f.rail == rail}
    for record_id, record in fees.items():
        already = posted.pop(record_id, None)
        if already is not None and already.amount != record.amount:
            note = f"fee posted as {already.amount}, the rail says {record.amount}"
            movements.append(Movement(MovementClass.AMOUNT_MISMATCH, record.amount, None, (record,), note))
        else:
            movements.append(Movement(MovementClass.FEE, record.amount, None, (record,), "rail fee"))
    for fee in posted.values():
        note = f"fee {fee.record_id} posted, the rail has no such record in the window"
        movements.append(Movement(MovementClass.MISSING_AT_RAIL, fee.amount, None, (), note))
    return movements


def reconcile(
    rail: str,
    window: Window,
    payouts: Iterable[LedgerPayout],
    records: Iterable[RailRecord],
    posted_fees: Iterable[LedgerFee] = (),
    *,
    detected_at: datetime,
) -> ReconciliationReport:
    """The report of one rail over one window (see :func:`classify`)."""
    posted_fees = list(posted_fees)
    posted_ids = {(f.rail, f.record_id) for f in posted_fees}
    movements = classify(rail, window, payouts, records, posted_fees)
    counts: dict[tuple[MovementClass, str], int] = defaultdict(int)
    totals: dict[tuple[MovementClass, str], int] = defaultdict(int)
    breaks: list[Break] = []
    entries: list[JournalEntry] = []
    for movement in movements:
        key = (movement.cls, movement.amount.currency)
        counts[key] += 1
        totals[key] += movement.amount.amount
        if movement.cls is MovementClass.FEE:
            record = movement.records[0]
            if (rail, record.record_id) not in posted_ids:
                entries.append(record_rail_fee(rail, record.record_id, record.amount))
        elif movement.cls not in NOT_BREAKS:
            breaks.append(
                Break(
                    break_id=break_id(rail, movement.cls, movement.subject),
                    rail=rail,
                    cls=movement.cls,
                    currency=movement.amount.currency,
                    amount=movement.amount.amount,
                    ledger=movement.payout.as_dict() if movement.payout else None,
                    rail_records=tuple(r.as_dict() for r in movement.records),
                    note=movement.note,
                    detected_at=detected_at,
                    history=(BreakAction("detected", f"reconciliation:{rail}", detected_at, movement.note),),
                )
            )
    return ReconciliationReport(
        rail, window, dict(counts), dict(totals), tuple(movements), tuple(breaks), tuple(entries)
    )


# --- maker-checker ---------------------------------------------------------------------------------


class BreakActionRefused(DomainError):
    """Answered 409 (``shared/entrypoints/http.py:DOMAIN_ERROR_STATUS``)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(code, message, field)


def _require(value: str, what: str) -> str:
    if not value or not value.strip():
        raise BreakActionRefused(f"{what}_required", f"a {what} is required", what)
    return value.strip()


def acknowledge(brk: Break, *, actor: str, at: datetime, note: str) -> Break:
    """Ops have looked and say why it is fine (or in hand). Needs a note; not once corrected."""
    actor, note = _require(actor, "actor"), _require(note, "note")
    if brk.state is not BreakState.OPEN:
        raise BreakActionRefused(
            "break_not_open", f"a break that is {brk.state.value} cannot be acknowledged"
        )
    return replace(
        brk,
        state=BreakState.ACKNOWLEDGED,
        history=(*brk.history, BreakAction("acknowledged", actor, at, note)),
    )


_ACCOUNTS = frozenset(a.value for a in PlatformAccount)


def propose_correction(
    brk: Break, *, actor: str, at: datetime, reason: str, postings: Sequence[tuple[str, Money]]
) -> Break:
    """The maker: a balanced journal entry (per currency) with a reason, to be approved by someone
    else. Postings go to platform accounts or seller buckets only. The entry's cause is the break
    and the proposal's number, so an approved correction posts once."""
    actor, reason = _require(actor, "actor"), _require(reason, "reason")
    if brk.state not in (BreakState.OPEN, BreakState.ACKNOWLEDGED):
        raise BreakActionRefused(
            "correction_not_allowed", f"a break that is {brk.state.value} takes no new correction"
        )
    for account, _ in postings:
        if account not in _ACCOUNTS and _seller_account(account) is None:
            raise BreakActionRefused("unknown_account", f"no such account: {account}", "postings")
    number = brk.corrections_proposed + 1
    entry = make_entry(
        "reconciliation.correction", f"{brk.break_id}:{number}", postings
    )  # raises if unbalanced
    correction = Correction(entry, reason, actor, at)
    return replace(
        brk,
        state=BreakState.CORRECTION_PROPOSED,
        correction=correction,
        corrections_proposed=number,
        history=(*brk.history, BreakAction("correction_proposed", actor, at, reason)),
    )


def approve_correction(brk: Break, *, actor: str, at: datetime, note: str = "") -> tuple[Break, JournalEntry]:
    """The checker: someone other than the proposer approves; the entry is then posted."""
    actor = _require(actor, "actor")
    if brk.state is not BreakState.CORRECTION_PROPOSED or brk.correction is None:
        raise BreakActionRefused("no_correction_proposed", "there is no proposed correction to approve")
    if actor == brk.correction.proposed_by:
        raise BreakActionRefused(
            "same_maker_and_checker",
            "a correction must be approved by someone other than its proposer",
            "actor",
        )
    done = replace(
        brk,
        state=BreakState.CORRECTED,
        history=(*brk.history, BreakAction("correction_approved", actor, at, note)),
    )
    return done, brk.correction.entry


def reject_correction(brk: Break, *, actor: str, at: datetime, note: str) -> Break:
    """The checker says no (with a reason); the break is open again for another proposal."""
    actor, note = _require(actor, "actor"), _require(note, "note")
    if brk.state is not BreakState.CORRECTION_PROPOSED:
        raise BreakActionRefused("no_correction_proposed", "there is no proposed correction to reject")
    acknowledged = any(a.action == "acknowledged" for a in brk.history)
    return replace(
        brk,
        state=BreakState.ACKNOWLEDGED if acknowledged else BreakState.OPEN,
        correction=None,
        history=(*brk.history, BreakAction("correction_rejected", actor, at, note)),
    )


def _seller_account(account: str) -> tuple[str, Any] | None:
    try:
        return parse_seller_account(account)
    except ValueError:  # a seller account with an unknown bucket
        return None


def break_found_event(brk: Break) -> OutboxEvent:
    """``reconciliation.break_found``, once per break (its id is the break's): what ops are
    alerted on. Both sides' data go with it; rail records carry no bank details."""
    return OutboxEvent(
        event_id=f"{brk.break_id}-found",
        type="reconciliation.break_found",
        source=EventSource.RECONCILIATION,
        subject=brk.break_id,
        sequence=1,
        data={
            "break_id": brk.break_id,
            "rail": brk.rail,
            "class": brk.cls.value,
            "currency": brk.currency,
            "amount": brk.amount,
            "note": brk.note,
            "ledger": dict(brk.ledger) if brk.ledger is not None else None,
            "rail_records": [dict(r) for r in brk.rail_records],
            "detected_at": brk.detected_at.isoformat(),
        },
        created_at=brk.detected_at,
    )
