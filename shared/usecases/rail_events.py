"""A rail's webhook against the payout it is about (called from ``PayoutService.apply_state``
inside its unit of work, so the checks and the write are one decision):

- an event from a rail that is not the payout's rail is not applied (flagged for ops): after a
  failover only the rail that accepted the transfer can report on it, so anything else is a
  sign of a double transfer or a misrouted event, for a human;
- an event older (by the rail's own ``sequence``, Adyen's ``sequenceNumber``) than the last
  applied is acknowledged and ignored: the payout never goes backwards;
- a rail's "failed" about a payout already paid is the bank sending the money back: a return
  (``reported_status``; Stripe marks a paid payout failed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.domain.payouts import Payout, PayoutStatus

OTHER_RAIL = "other_rail"
OLDER_SEQUENCE = "older_sequence"


@dataclass(frozen=True)
class RailEvent:
    rail: str  # the rail whose webhook this is
    sequence: int | None = None  # its order among that transfer's events, where the rail has one


@dataclass(frozen=True)
class Verdict:
    payout: Payout  # with the event's sequence recorded, when it is applied
    target: PayoutStatus  # what the event means for this payout
    refused: str | None = None  # OTHER_RAIL or OLDER_SEQUENCE: not applied


def rail_event_verdict(payout: Payout, target: PayoutStatus, event: RailEvent | None) -> Verdict:
    if event is None:
        return Verdict(payout, target)
    if payout.provider is not None and event.rail != payout.provider:
        return Verdict(payout, target, OTHER_RAIL)
    if event.sequence is not None:
        if payout.rail_sequence is not None and event.sequence <= payout.rail_sequence:
            return Verdict(payout, target, OLDER_SEQUENCE)
        payout = replace(payout, rail_sequence=event.sequence)
    if payout.status is PayoutStatus.PAID and target is PayoutStatus.FAILED:
        target = PayoutStatus.RETURNED
    return Verdict(payout, target)
