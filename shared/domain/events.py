"""The events we publish (``payout-events``), as the domain defines them. No I/O.

Every status change of a payout is one :class:`OutboxEvent`, written in the transaction of the
change and relayed after it; consumers order and de-duplicate on (subject, sequence). A run
sends one ``payout_run.completed`` (and, while it waits for funds, ``payout_run.awaiting_funding``
then ``payout_run.funded``). ``data`` is the published message body, the contract with
consumers (no bank details).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.payouts import Payout, PayoutStatus


class EventSource(StrEnum):
    PAYOUTS = "payouts"
    PAYOUT_RUNS = "payout_runs"
    RECONCILIATION = "reconciliation"  # reconciliation.break_found (shared/domain/reconciliation.py)
    DOCUMENTS = "documents"  # documents for sellers (remittance advice, issue 18)


@dataclass(frozen=True)
class OutboxEvent:
    event_id: str
    type: str
    source: EventSource
    subject: str  # the payout id or the run id
    sequence: int
    data: Mapping[str, Any]
    created_at: datetime
    published: bool = False


def payout_event_type(status: PayoutStatus) -> str:
    """payout.created, payout.processing, payout.paid, payout.failed, payout.canceled, payout.returned"""
    return "payout.created" if status is PayoutStatus.PENDING else f"payout.{status.value}"


def payout_event_data(payout: Payout) -> dict[str, Any]:
    """What consumers of payout events see (no bank details)."""
    return {
        "payout_id": payout.payout_id,
        "seller_id": payout.seller_id,
        "amount": payout.amount.amount,
        "currency": payout.amount.currency,
        "status": payout.status.value,
        "sequence": payout.sequence,
        "run_id": payout.run_id,
        "provider_ref": payout.provider_ref,
        "failure_code": payout.failure_code.value if payout.failure_code else None,
        "updated_at": payout.updated_at.isoformat(),
        "provider": payout.provider,
        "created_at": payout.created_at.isoformat(),
    }


def payout_event(payout: Payout, at: datetime) -> OutboxEvent:
    """The status event of the payout as it now is."""
    return OutboxEvent(
        event_id=f"{payout.payout_id}-{payout.sequence:06d}",
        type=payout_event_type(payout.status),
        source=EventSource.PAYOUTS,
        subject=payout.payout_id,
        sequence=payout.sequence,
        data=payout_event_data(payout),
        created_at=at,
    )


def run_completed_event(run_id: str, data: Mapping[str, Any], at: datetime) -> OutboxEvent:
    return OutboxEvent(
        event_id=f"{run_id}-completed",
        type="payout_run.completed",
        source=EventSource.PAYOUT_RUNS,
        subject=run_id,
        sequence=1,
        data=data,
        created_at=at,
    )


def run_funding_event(
    run_id: str, waiting: bool, data: Mapping[str, Any], checks: int, at: datetime
) -> OutboxEvent:
    """``payout_run.awaiting_funding`` when a live run's funding check finds a rail short (once
    per wait), ``payout_run.funded`` when a waiting run is released. ``sequence`` is the run's
    funding check that decided it; run events are told apart by their event id."""
    kind = "awaiting_funding" if waiting else "funded"
    return OutboxEvent(
        event_id=f"{run_id}-{kind}-{checks:04d}",
        type=f"payout_run.{kind}",
        source=EventSource.PAYOUT_RUNS,
        subject=run_id,
        sequence=checks,
        data=data,
        created_at=at,
    )
