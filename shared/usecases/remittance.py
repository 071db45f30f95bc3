"""Remittance advice (issue 18): a PDF per paid payout, in the seller's language, stored in
Cloud Storage and announced by a ``payout.remittance_ready`` event carrying its ``gs://`` URI.

When and where (README.md, "Remittance advice"):

- The ``payout.paid`` event is written in the transaction that books the payout paid; the PDF
  takes a second to render and must never be rendered inside a transaction, so it comes after.
- The outbox relay's follow-up: before the relay publishes a ``payout.paid`` event it enqueues a
  ``remittance-worker`` task (:func:`enqueue_remittance`); if that enqueue fails the event stays
  unpublished and the sweeper's relay tries both again, so no paid payout is left without one.
- The task (:func:`issue_remittance`) is idempotent, and Cloud Tasks retries it: the object name
  is derived from the payout (``remittance/<seller>/<payout>.pdf``, written if absent; a retry
  keeps the first object), and the event id too (``<payout>-remittance``, created once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.domain.countries import CountryRegistry
from shared.domain.events import EventSource, OutboxEvent
from shared.domain.payouts import Payout, PayoutStatus
from shared.domain.remittance import RemittanceAdvice, remittance_advice
from shared.topology import QUEUE_DOCUMENTS
from shared.usecases.ports import AlreadyExists, DocumentStore, Storage, TaskQueue, UnitOfWork

logger = logging.getLogger(__name__)

REMITTANCE_READY = "payout.remittance_ready"
PDF = "application/pdf"

Renderer = Callable[[RemittanceAdvice], bytes]


def remittance_event_id(payout_id: str) -> str:
    return f"{payout_id}-remittance"


def remittance_object_name(payout: Payout) -> str:
    return f"remittance/{payout.seller_id}/{payout.payout_id}.pdf"


def enqueue_remittance(tasks: TaskQueue, payout_id: str) -> bool:
    """The relay's follow-up of a ``payout.paid`` event. False when the task could not be
    enqueued: the caller leaves the event unpublished, to be relayed (and this tried) again."""
    try:
        tasks.enqueue(
            QUEUE_DOCUMENTS,
            "remittance-worker",
            {"payout_id": payout_id},
            dedupe_key=f"remittance-{payout_id}",
        )
    except Exception:
        logger.exception("could not enqueue the remittance advice of %s; the sweeper will", payout_id)
        return False
    return True


def remittance_ready_event(payout: Payout, uri: str, advice: RemittanceAdvice, at: datetime) -> OutboxEvent:
    """Not a status change of the payout: its subject is the document (``remittance/<seller>/
    <payout>.pdf``, sequence 1), so consumers that de-duplicate on (subject, sequence) never take
    it for the payout's own ``payout.paid``; ``data.payout_id`` names the payout."""
    data: dict[str, Any] = {
        "payout_id": payout.payout_id,
        "seller_id": payout.seller_id,
        "amount": payout.amount.amount,
        "currency": payout.amount.currency,
        "status": payout.status.value,
        "remittance_advice": {
            "uri": uri,
            "content_type": PDF,
            "language": advice.language,
            "file_name": f"remittance-{payout.payout_id}.pdf",
        },
    }
    return OutboxEvent(
        event_id=remittance_event_id(payout.payout_id),
        type=REMITTANCE_READY,
        source=EventSource.DOCUMENTS,
        subject=remittance_object_name(payout),
        sequence=1,
        data=data,
        created_at=at,
    )


def issue_remittance(
    store: Storage,
    registry: CountryRegistry,
    documents: DocumentStore,
    render: Renderer,
    relay: Callable[[list[OutboxEvent | str]], int],
    payout_id: str,
    *,
    marketplace_name: str,
    now: datetime | None = None,
) -> str:
    """Render the advice of a paid payout, store it, announce it. Returns what happened."""
    now = now or datetime.now(UTC)
    existing = store.outbox.get(remittance_event_id(payout_id))
    if existing is not None:
        relay([existing.event_id])  # skipped if published; else relayed now
        return "already_issued"
    payout = store.payouts.get(payout_id)
    if payout is None:
        logger.error("remittance task for an unknown payout; dropped")
        return "unknown_payout"
    if payout.status is not PayoutStatus.PAID:
        logger.info("remittance task for a payout %s, not paid; nothing to send", payout.status.value)
        return f"not_paid_{payout.status.value}"
    contents = store.contents.of_payout(payout_id)
    seller = store.sellers.get(payout.seller_id)
    if contents is None or seller is None:
        logger.error("remittance advice of %s impossible: its contents or seller are missing", payout_id)
        return "no_contents" if contents is None else "unknown_seller"
    advice = remittance_advice(
        payout,
        contents,
        seller,
        timezone=registry.get(seller.country).timezone,
        marketplace_name=marketplace_name,
        language=seller.language,
    )
    uri = documents.put_once(remittance_object_name(payout), render(advice), PDF)
    event = remittance_ready_event(payout, uri, advice, now)

    def record(uow: UnitOfWork) -> None:
        uow.outbox.add(event)

    try:
        store.atomically(record)
    except AlreadyExists:
        return "already_issued"
    relay([event])
    logger.info("remittance advice issued: %s", uri)
    return "issued"
