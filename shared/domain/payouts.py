"""Payouts and their state machine, with no I/O.

    pending ──▶ processing ──▶ paid ──▶ returned
       │            │
       ├────────────┴──▶ failed
       └──▶ canceled

``pending``: created, the amount moved from ``available`` to ``in_flight``.
``processing``: the provider accepted the transfer (we hold its reference).
``paid``: the provider says the money arrived. ``failed`` (with a code), ``canceled`` (only
from pending, before a transfer was started) and ``returned`` (the bank sent a paid payout back)
put the money back into ``available``. A state never moves backwards: a late or duplicate
notification cannot undo a final state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.errors import DomainError
from shared.domain.fx import Conversion, ReturnMismatch, conversion_entry, reversal_entry
from shared.domain.ledger import Bucket, JournalEntry, PlatformAccount, make_entry, seller_account
from shared.domain.money import Money
from shared.domain.rail_routing import RailAttempt


class PayoutStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"
    RETURNED = "returned"


class FailureCode(StrEnum):
    ACCOUNT_CLOSED = "account_closed"
    NO_ACCOUNT = "no_account"
    INVALID_ACCOUNT_NUMBER = "invalid_account_number"
    ACCOUNT_FROZEN = "account_frozen"
    DECLINED = "declined"
    INSUFFICIENT_PLATFORM_FUNDS = "insufficient_platform_funds"
    # Added for the real rails (shared/adapters/providers/adyen.py, stripe_connect.py):
    ACCOUNT_HOLDER_MISMATCH = "account_holder_mismatch"  # the bank says the name does not match
    COULD_NOT_PROCESS = "could_not_process"  # the bank or rail failed technically; the account may be fine
    TRANSFER_REVERSED = "transfer_reversed"  # the money was taken back from the seller's rail account
    # The bank refused the file or the instruction for a reason of ours (format, date, cut-off),
    # not because of the seller's account: the account stays usable (shared/domain/bank_files.py).
    TECHNICAL_REJECTION = "technical_rejection"


# The bank says this account cannot receive money: stop using it until the seller fixes it.
ACCOUNT_INVALIDATING_FAILURES = frozenset({FailureCode.ACCOUNT_CLOSED, FailureCode.NO_ACCOUNT})

# The one place that says which transitions are legal.
TRANSITIONS: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    PayoutStatus.PENDING: frozenset(
        {PayoutStatus.PROCESSING, PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.CANCELED}
    ),
    PayoutStatus.PROCESSING: frozenset({PayoutStatus.PAID, PayoutStatus.FAILED}),
    PayoutStatus.PAID: frozenset({PayoutStatus.RETURNED}),
    PayoutStatus.FAILED: frozenset(),
    PayoutStatus.CANCELED: frozenset(),
    PayoutStatus.RETURNED: frozenset(),
}
# Final: the payout's money is no longer in flight (a paid payout may still be returned).
FINAL_STATES = frozenset(
    {PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.CANCELED, PayoutStatus.RETURNED}
)
OPEN_STATES = frozenset({PayoutStatus.PENDING, PayoutStatus.PROCESSING})


def can_transition(current: PayoutStatus, target: PayoutStatus) -> bool:
    return target in TRANSITIONS[current]


class IllegalTransition(DomainError):
    def __init__(self, current: PayoutStatus, target: PayoutStatus) -> None:
        super().__init__(
            "illegal_transition", f"a {current.value} payout cannot become {target.value}", "status"
        )


@dataclass(frozen=True)
class Transition:
    at: datetime
    from_status: PayoutStatus | None
    to_status: PayoutStatus
    cause: str  # e.g. "payout run run-2026-11-23", "provider event evt_…", "canceled by ops"
    actor: str  # who or what: "shard-worker", "transfer-worker", "provider:sandbox", an email

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at,
            "from": self.from_status.value if self.from_status else None,
            "to": self.to_status.value,
            "cause": self.cause,
            "actor": self.actor,
        }


@dataclass(frozen=True)
class Payout:
    payout_id: str
    seller_id: str
    amount: Money
    status: PayoutStatus
    created_at: datetime
    updated_at: datetime
    origin: str  # "run" or "on_demand"
    run_id: str | None = None
    provider: str | None = None
    provider_ref: str | None = None
    failure_code: FailureCode | None = None
    failure_message: str | None = None
    transfer_started_at: datetime | None = None  # set before the provider is called; blocks cancel
    sequence: int = 0  # number of status events published so far
    history: tuple[Transition, ...] = field(default_factory=tuple)
    # Paid payouts only: the sweeper asks the provider whether the bank sent the money back
    # (see next_return_check); the next check is due ``return_check_after`` past this time.
    return_check_from: datetime | None = None
    return_checks: int = 0
    # Where this payout's trace goes on (a W3C traceparent, opaque here): every later hop about
    # the payout, a provider's webhook included, joins it (shared/tracing.py).
    trace_context: str | None = None
    # The payout's way along its country's route (rails passed over, refusals, unknown outcomes
    # and their lookups): shared/domain/rail_routing.py. ``provider`` is the rail holding it.
    rail_attempts: tuple[RailAttempt, ...] = field(default_factory=tuple)
    # One sender at a time: the transfer worker holding the payout, until when (a lease).
    sender_claim: str | None = None
    sender_claim_until: datetime | None = None
    # The rail's own order of its events (Adyen's sequenceNumber): the last one applied.
    rail_sequence: int | None = None
    # Balances in other currencies converted into ``amount``'s currency when the payout was
    # created, each at the rate fixed then (issue 17: shared/domain/fx_payouts.py).
    conversions: tuple[Conversion, ...] = field(default_factory=tuple)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES


def run_payout_id(run_id: str, seller_id: str) -> str:
    """One payout per seller per run, whatever happens: the id is derived from both."""
    return "po_" + hashlib.sha256(f"run|{run_id}|{seller_id}".encode()).hexdigest()[:24]


def on_demand_payout_id(caller: str, idempotency_key: str) -> str:
    return "po_" + hashlib.sha256(f"od|{caller}|{idempotency_key}".encode()).hexdigest()[:24]


def new_payout(
    payout_id: str,
    seller_id: str,
    amount: Money,
    *,
    at: datetime,
    origin: str,
    cause: str,
    actor: str,
    run_id: str | None = None,
    provider: str | None = None,
    trace_context: str | None = None,
) -> tuple[Payout, JournalEntry]:
    """A pending payout and the entry that reserves its funds."""
    if not amount.is_positive():
        raise DomainError("invalid_amount", "a payout amount must be greater than zero", "amount.amount")
    payout = Payout(
        payout_id=payout_id,
        seller_id=seller_id,
        amount=amount,
        status=PayoutStatus.PENDING,
        created_at=at,
        updated_at=at,
        origin=origin,
        run_id=run_id,
        provider=provider,
        sequence=1,
        history=(Transition(at, None, PayoutStatus.PENDING, cause, actor),),
        trace_context=trace_context,
    )
    return payout, reserve_funds(payout)


def reserve_funds(payout: Payout) -> JournalEntry:
    """Creating a payout moves its amount from available to in flight."""
    return make_entry(
        "payout.created",
        payout.payout_id,
        [
            (seller_account(payout.seller_id, Bucket.AVAILABLE), -payout.amount),
            (seller_account(payout.seller_id, Bucket.IN_FLIGHT), payout.amount),
        ],
        payout.seller_id,
    )


def conversion_entries(payout: Payout) -> list[JournalEntry]:
    """Creating an FX payout: each balance in another currency converted into the seller's
    available balance in the payout currency (two legs through the FX accounts), in the unit of
    work that then reserves the payout's amount from it (``reserve_funds``)."""
    return [
        conversion_entry(f"{payout.payout_id}:{c.source.currency}", payout.seller_id, c)
        for c in payout.conversions
    ]


def settlement_entries(
    payout: Payout, target: PayoutStatus, entry: JournalEntry | None, returned: Money | None = None
) -> list[JournalEntry]:
    """The entries of a transition of ``payout`` (as it was before it): ``entry``
    (``postings_for``) and, for an FX payout that fails, is canceled or returned, each conversion
    undone at its recorded rate (``fx.reversal_entry``): the seller gets back exactly what left
    each balance. ``returned`` is what the rail gave back when it returned the money in a source
    currency at its own rate (one conversion, the whole payout): the difference to the recorded
    source amount goes to the FX gain/loss account. Raises ReturnMismatch for anything else."""
    undone = target in (PayoutStatus.FAILED, PayoutStatus.CANCELED, PayoutStatus.RETURNED)
    if returned is not None and (returned == payout.amount or not undone):
        returned = None
    if not payout.conversions or not undone:
        if returned is not None:
            raise ReturnMismatch(f"the rail returned {returned}; the payout was {payout.amount}", "amount")
        return [entry] if entry is not None else []
    if returned is not None:
        only = payout.conversions[0]
        if (
            target is not PayoutStatus.RETURNED
            or len(payout.conversions) != 1
            or only.target != payout.amount
        ):
            raise ReturnMismatch(
                f"the rail returned {returned}; the payout was {payout.amount} from "
                + ", ".join(str(c.source) for c in payout.conversions),
                "amount",
            )
        return [
            reversal_entry(
                f"{payout.payout_id}:{target.value}:{only.source.currency}",
                payout.seller_id,
                only,
                returned_from=PlatformAccount.PAYOUTS.value,
                returned=returned,
            )
        ]
    reversals = [
        reversal_entry(
            f"{payout.payout_id}:{target.value}:{c.source.currency}",
            payout.seller_id,
            c,
            returned_from=seller_account(payout.seller_id, Bucket.AVAILABLE),
        )
        for c in payout.conversions
    ]
    return ([entry] if entry is not None else []) + reversals


def postings_for(payout: Payout, target: PayoutStatus) -> JournalEntry | None:
    """The ledger side of a transition; written in the same transaction as the status change."""
    a, seller = payout.amount, payout.seller_id
    cause = f"{payout.payout_id}:{target.value}"
    if target is PayoutStatus.PAID:
        legs = [(seller_account(seller, Bucket.IN_FLIGHT), -a), (PlatformAccount.PAYOUTS, a)]
    elif target in (PayoutStatus.FAILED, PayoutStatus.CANCELED):
        legs = [(seller_account(seller, Bucket.IN_FLIGHT), -a), (seller_account(seller, Bucket.AVAILABLE), a)]
    elif target is PayoutStatus.RETURNED:
        legs = [(PlatformAccount.PAYOUTS, -a), (seller_account(seller, Bucket.AVAILABLE), a)]
    else:
        return None
    return make_entry(f"payout.{target.value}", cause, legs, seller)


def transition(
    payout: Payout,
    target: PayoutStatus,
    *,
    at: datetime,
    cause: str,
    actor: str,
    provider_ref: str | None = None,
    failure_code: FailureCode | None = None,
    failure_message: str | None = None,
) -> tuple[Payout, JournalEntry | None]:
    """Move a payout to ``target``; raises IllegalTransition for anything not in TRANSITIONS."""
    if not can_transition(payout.status, target):
        raise IllegalTransition(payout.status, target)
    if target is PayoutStatus.CANCELED and payout.transfer_started_at is not None:
        raise PayoutAlreadySent(payout.payout_id)
    step = Transition(at, payout.status, target, cause, actor)
    moved = replace(
        payout,
        status=target,
        updated_at=at,
        provider_ref=provider_ref or payout.provider_ref,
        failure_code=failure_code if target is PayoutStatus.FAILED else payout.failure_code,
        failure_message=failure_message if target is PayoutStatus.FAILED else payout.failure_message,
        sequence=payout.sequence + 1,
        history=(*payout.history, step),
        return_check_from=at if target is PayoutStatus.PAID else None,
        return_checks=0,
    )
    return moved, postings_for(payout, target)


def paid_at(payout: Payout) -> datetime | None:
    return next((t.at for t in reversed(payout.history) if t.to_status is PayoutStatus.PAID), None)


def next_return_check(
    payout: Payout, *, now: datetime, check_after: timedelta, watch_for: timedelta
) -> datetime | None:
    """Return watch: a bank can send a paid transfer back days later (Stripe: a paid payout may
    turn failed "within days"), and that webhook can be lost. So the sweeper asks the provider
    about each paid payout at doubling intervals (``check_after``, then 2x, 4x, ...) until
    ``watch_for`` after it was paid. This gives the new ``return_check_from`` (the next check is
    due ``check_after`` later), or None when the watch is over."""
    paid = paid_at(payout) or payout.updated_at
    due = now + check_after * (1 << (payout.return_checks + 1))
    if due > paid + watch_for:
        return None
    return due - check_after


class PayoutAlreadySent(DomainError):
    def __init__(self, payout_id: str) -> None:
        super().__init__(
            "transfer_started",
            f"payout {payout_id} is already being sent to the provider; it cannot be canceled",
        )
