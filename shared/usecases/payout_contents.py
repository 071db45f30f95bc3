"""What each payout pays for, recorded with the payout (issue 18, part B).

Called from :meth:`PayoutService.write_new_payout`, inside the unit of work that creates the
payout (run or on demand), before its writes:

1. read the seller's settlement checkpoint for the currency (the open movements, and the last
   journal entry folded in);
2. read the seller's journal entries since the checkpoint (one query; the first payout of a
   seller reads its whole journal);
3. fold them in (:func:`replay`): releases and refunds open movements, a failed, canceled or
   returned payout reopens exactly the pieces its stored contents settled;
4. check the open movements against the available balance read in the same unit of work; when
   out of step (an entry written with an earlier time committed after the checkpoint), replay
   the seller's whole journal instead; if even that cannot explain the balance, start again
   from the balance as one opening movement (logged): contents never block a payout;
5. allocate the payout's amount, and store its contents and the new checkpoint with it.

A reversal needs no write of its own: the next payout's replay reopens its pieces.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.ledger import Bucket, DatedEntry, JournalEntry
from shared.domain.money import Money
from shared.domain.payout_contents import (
    PAYOUT_RESERVED,
    PAYOUT_REVERSALS,
    ContentsOutOfStep,
    LeftReason,
    PayoutContents,
    SettlementState,
    allocate,
    available_movements,
    check_in_step,
    replay,
)
from shared.domain.payouts import Payout
from shared.usecases.ports import UnitOfWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    contents: PayoutContents
    state: SettlementState
    full_replay: bool = False
    reset: bool = False


def left_reason_for(origin: str) -> LeftReason:
    """A run pays all available up to the limit of one transfer; on demand asks for an amount."""
    return LeftReason.TRANSACTION_CAP if origin == "run" else LeftReason.PARTIAL_AMOUNT


def settle_in_tx(
    uow: UnitOfWork,
    payout: Payout,
    reserve_entry: JournalEntry,
    now: datetime,
    written_before: Sequence[DatedEntry] = (),
) -> Settled:
    """Reads only: the contents of ``payout`` (not yet written) and the seller's new checkpoint.
    The caller writes them with :func:`record_in_tx` after its reads. ``written_before``: entries
    the same unit of work writes before the reserve (an FX payout's conversions, issue 17): they
    are movements of the balance the payout pays from."""
    seller_id, currency = payout.seller_id, payout.amount.currency
    available = uow.balances.available(seller_id, currency)  # read earlier by the caller: no new read
    for dated in written_before:
        available = available + Money(
            sum(
                d.get(Bucket.AVAILABLE, 0)
                for (sid, ccy), d in dated.entry.seller_deltas().items()
                if sid == seller_id and ccy == currency
            ),
            currency,
        )
    reason = left_reason_for(payout.origin)
    key = (now, reserve_entry.entry_id)
    checkpoint = uow.settlements.checkpoint(seller_id, currency)
    start = checkpoint or SettlementState.empty(seller_id, currency)
    entries = uow.settlements.entries_since(seller_id, start.through[0] if start.through else None)
    entries = [*entries, *written_before]
    try:
        state = _fold(uow, start, entries, available)
        contents, new_state = allocate(
            state, payout.payout_id, payout.amount, now, left_reason=reason, movement_key=key
        )
        return Settled(contents, new_state)
    except ContentsOutOfStep as exc:
        if checkpoint is None:
            return _reset(seller_id, available, payout, now, reason, key, exc)
        logger.warning("payout contents: replaying the whole journal of the seller (%s)", exc)
    entries = [*uow.settlements.entries_since(seller_id, None), *written_before]
    try:
        state = _fold(uow, SettlementState.empty(seller_id, currency), entries, available)
        contents, new_state = allocate(
            state, payout.payout_id, payout.amount, now, left_reason=reason, movement_key=key
        )
        return Settled(contents, new_state, full_replay=True)
    except ContentsOutOfStep as exc:
        return _reset(seller_id, available, payout, now, reason, key, exc)


def record_in_tx(uow: UnitOfWork, settled: Settled) -> None:
    uow.settlements.put(settled.contents, settled.state)


def _fold(
    uow: UnitOfWork, start: SettlementState, entries: list[DatedEntry], available: Money
) -> SettlementState:
    movements = [
        m
        for m in available_movements(start.seller_id, start.currency, entries)
        if start.is_after_checkpoint(m)
    ]
    created_here = {m.payout_id for m in movements if m.entry_kind == PAYOUT_RESERVED}
    reversed_earlier = sorted(
        {m.payout_id for m in movements if m.entry_kind in PAYOUT_REVERSALS and m.payout_id} - created_here
    )
    known = uow.settlements.contents(reversed_earlier) if reversed_earlier else {}
    state = replay(start, movements, known_contents=known).state
    check_in_step(state, available)
    return state


def _reset(
    seller_id: str,
    available: Money,
    payout: Payout,
    now: datetime,
    reason: LeftReason,
    key: tuple[datetime, str],
    exc: ContentsOutOfStep,
) -> Settled:
    """The journal cannot explain the balance: start from the balance as one opening movement
    (a ``brought_forward`` or ``carried_debt`` line), so the payout is still explained to the cent."""
    logger.error("payout contents: the journal does not explain the balance, starting from it (%s)", exc)
    state = SettlementState.opening(seller_id, available, now)
    contents, new_state = allocate(
        state, payout.payout_id, payout.amount, now, left_reason=reason, movement_key=key
    )
    return Settled(contents, new_state, full_replay=True, reset=True)
