"""Payout use cases: create (by run or on demand), send to the provider, follow the
provider's notifications, cancel, sweep what is stuck, and relay status events.

Every money movement is a Firestore transaction that writes the payout, its journal entry and
its outbox event together. Nothing outside Firestore is called inside a transaction: tasks
are enqueued and events published after the commit, and both are safe to repeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import log, tracing
from shared.adapters.firestore_store import (
    IDEMPOTENCY_KEYS,
    OUTBOX,
    PAYOUTS,
    PROVIDER_EVENTS,
    SELLERS,
    FirestoreStore,
    OutboxEvent,
    Tx,
    seller_to_doc,
)
from shared.adapters.providers import (
    OutcomeUnknown,
    PaymentProvider,
    ProviderEvent,
    ProviderUnavailable,
    TransferRejected,
    TransferRequest,
    TransferState,
    provider_for,
)
from shared.adapters.pubsub import Publisher
from shared.adapters.tasks import TaskQueue
from shared.domain.countries import CountryRegistry
from shared.domain.eligibility import Decision, amount_decision, payout_blocker, requested_amount_decision
from shared.domain.errors import DomainError
from shared.domain.money import Money
from shared.domain.payouts import (
    ACCOUNT_INVALIDATING_FAILURES,
    OPEN_STATES,
    FailureCode,
    Payout,
    PayoutStatus,
    can_transition,
    new_payout,
    next_return_check,
    transition,
)
from shared.domain.sellers import BankAccountStatus, Seller
from shared.keyed_lock import KeyedLocks
from shared.topology import QUEUE_TRANSFERS, TOPIC_PAYOUT_EVENTS

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_DAYS = 90  # kept while a payout can still change (returns come days later)
_payout_locks = KeyedLocks()
seller_locks = KeyedLocks()  # payout creations read the seller's balance: one at a time here


class PayoutNotFound(DomainError):
    http_status = 404

    def __init__(self, payout_id: str) -> None:
        super().__init__("payout_not_found", f"payout {payout_id} does not exist", "payout_id")


class PayoutRefused(DomainError):
    """The seller cannot be paid this amount now (the reason code says why)."""


class IdempotencyConflict(DomainError):
    http_status = 422

    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
            "header.Idempotency-Key",
        )


class RetryLater(Exception):
    """Transient: the caller (Cloud Tasks, Pub/Sub) should deliver again later."""


@dataclass(frozen=True)
class Created:
    payout: Payout | None
    decision: Decision
    outbox: tuple[OutboxEvent, ...] = ()
    new: bool = False


@dataclass
class AfterCommit:
    """Work to do once a transaction has committed: send transfers, relay events."""

    transfers: list[str] = field(default_factory=list)
    outbox: list[OutboxEvent] = field(default_factory=list)


class PayoutService:
    def __init__(
        self,
        store: FirestoreStore,
        registry: CountryRegistry,
        tasks: TaskQueue,
        publisher: Publisher,
    ) -> None:
        self.store = store
        self.registry = registry
        self.tasks = tasks
        self.publisher = publisher

    # --- creating a payout ------------------------------------------------------------------

    def create_in_tx(
        self,
        tx: Tx,
        seller: Seller,
        payout_id: str,
        *,
        amount: Money | None,
        origin: str,
        cause: str,
        actor: str,
        now: datetime,
        run_id: str | None = None,
    ) -> Created:
        """Reads first (payout, balance: one round trip), then writes. ``amount`` None means
        all available."""
        tx.prefetch(
            [
                self.store.doc(PAYOUTS, payout_id),
                *self.store.balance_shard_refs(seller.seller_id, seller.currency),
            ]
        )
        existing = tx.get_payout(payout_id)
        if existing is not None:
            return Created(existing, Decision(existing.amount))
        rules = self.registry.get(seller.country)
        available = tx.available(seller.seller_id, seller.currency)
        decision = payout_blocker(seller, rules, now) or (
            amount_decision(available, rules)
            if amount is None
            else requested_amount_decision(amount, available, rules)
        )
        if decision.amount is None:
            return Created(None, decision)
        payout, entry = new_payout(
            payout_id,
            seller.seller_id,
            decision.amount,
            at=now,
            origin=origin,
            cause=cause,
            actor=actor,
            run_id=run_id,
            provider=rules.provider_route,
            trace_context=tracing.payout_trace_context(payout_id, own_trace=run_id is not None),
        )
        tx.put_payout(payout)
        tx.post(entry, now)
        return Created(payout, decision, (tx.add_outbox(payout, now),), new=True)

    def after_commit(self, work: AfterCommit) -> None:
        """Enqueue transfers and relay events. Failures here are recovered by the sweeper."""
        for payout_id in work.transfers:
            try:
                self.tasks.enqueue(
                    QUEUE_TRANSFERS,
                    "transfer-worker",
                    {"payout_id": payout_id},
                    dedupe_key=f"transfer-{payout_id}",
                )
            except Exception:
                logger.exception("could not enqueue the transfer of %s; the sweeper will", payout_id)
        self.relay(work.outbox)

    # --- on demand --------------------------------------------------------------------------

    def create_on_demand(
        self, *, caller: str, idempotency_key: str, seller_id: str, amount: Money, now: datetime | None = None
    ) -> tuple[int, dict[str, Any]]:
        """``POST /payouts``. The same key and body replay the first response; the same key
        with another body is refused."""
        from shared.domain.payouts import on_demand_payout_id

        now = now or datetime.now(UTC)
        fingerprint = hashlib.sha256(
            json.dumps(
                {"seller_id": seller_id, "amount": amount.amount, "currency": amount.currency}, sort_keys=True
            ).encode()
        ).hexdigest()
        key_id = hashlib.sha256(f"{caller}|{idempotency_key}".encode()).hexdigest()[:40]
        payout_id = on_demand_payout_id(caller, idempotency_key)
        work = AfterCommit()

        def create(tx: Tx) -> tuple[int, dict[str, Any]]:
            work.transfers.clear()
            work.outbox.clear()
            # Every document this can read, in one round trip.
            tx.prefetch(
                [
                    self.store.doc(IDEMPOTENCY_KEYS, key_id),
                    self.store.doc(SELLERS, seller_id),
                    self.store.doc(PAYOUTS, payout_id),
                    *self.store.balance_shard_refs(seller_id, amount.currency),
                ]
            )
            stored = tx.get(IDEMPOTENCY_KEYS, key_id)
            if stored is not None:
                if stored["fingerprint"] != fingerprint:
                    raise IdempotencyConflict()
                return int(stored["status"]), json.loads(stored["body"])
            seller = tx.get_seller(seller_id)
            if seller is None:
                from shared.usecases.sellers import SellerNotFound

                raise SellerNotFound(seller_id)
            if amount.currency != seller.currency:
                status, body = (
                    422,
                    _error(
                        "currency_mismatch", f"the seller is paid in {seller.currency}", "amount.currency"
                    ),
                )
            else:
                created = self.create_in_tx(
                    tx,
                    seller,
                    payout_id,
                    amount=amount,
                    origin="on_demand",
                    cause=f"requested by {caller}",
                    actor=caller,
                    now=now,
                )
                if created.payout is None:
                    skip = created.decision.skip
                    status, body = (
                        422,
                        _error(
                            skip.value if skip else "refused", created.decision.detail or "", "amount.amount"
                        ),
                    )
                else:
                    status, body = 201, payout_view(created.payout)
                    work.transfers.append(payout_id)
                    work.outbox.extend(created.outbox)
            tx.create(
                IDEMPOTENCY_KEYS,
                key_id,
                {
                    "fingerprint": fingerprint,
                    "status": status,
                    "body": json.dumps(body, default=str),
                    "payout_id": payout_id if status == 201 else None,
                    "created_at": now,
                    "expires_at": now + timedelta(days=IDEMPOTENCY_KEY_DAYS),
                },
            )
            return status, body

        with log.bind(seller_id=seller_id, payout_id=payout_id):
            with seller_locks.hold(seller_id):
                status, body = self.store.run(create)
            self.after_commit(work)
            logger.info("on-demand payout request answered %d", status)
            return status, body

    # --- sending ----------------------------------------------------------------------------

    def send_transfer(self, payout_id: str, now: datetime | None = None) -> str:
        """The transfer worker. Returns what happened; raises RetryLater for transient errors."""
        with log.bind(payout_id=payout_id):
            now = now or datetime.now(UTC)

            def claim(tx: Tx) -> tuple[Payout | None, bool]:
                payout = tx.get_payout(payout_id)
                if payout is None or payout.status is not PayoutStatus.PENDING:
                    return payout, False
                resumed = payout.transfer_started_at is not None
                if not resumed:
                    tx.put_payout(replace(payout, transfer_started_at=now, updated_at=now))
                return payout, resumed

            with _payout_locks.hold(payout_id):
                payout, resumed = self.store.run(claim)
            if payout is None:
                logger.error("transfer task for an unknown payout; dropped")
                return "unknown_payout"
            if payout.status is not PayoutStatus.PENDING:
                return f"already_{payout.status.value}"
            seller = self.store.get_seller(payout.seller_id)
            assert seller is not None
            with log.bind(seller_id=payout.seller_id, run_id=payout.run_id):
                provider = provider_for(payout.provider or self.registry.get(seller.country).provider_route)
                state: TransferState | None = None
                try:
                    if resumed:
                        # An earlier attempt may have reached the provider: ask before sending again.
                        state = provider.fetch_transfer(payout_id)
                    if state is None:
                        state = provider.create_transfer(
                            TransferRequest(
                                payout_id=payout_id, amount=payout.amount, destination=seller.bank_account
                            )
                        )
                except TransferRejected as exc:
                    logger.warning("provider rejected the transfer: %s", exc.code.value)
                    self.apply_state(
                        payout_id,
                        PayoutStatus.FAILED,
                        failure_code=exc.code,
                        cause=f"rejected by {provider.name}",
                        actor="transfer-worker",
                    )
                    return "failed"
                except (ProviderUnavailable, OutcomeUnknown) as exc:
                    logger.warning("transfer not confirmed (%s); will retry", exc)
                    raise RetryLater(str(exc)) from exc
                self.apply_state(
                    payout_id,
                    state.status,
                    provider_ref=state.provider_ref,
                    failure_code=state.failure_code,
                    cause=f"accepted by {provider.name}",
                    actor="transfer-worker",
                    amount=state.amount,
                )
                return "sent"

    # --- following the provider -------------------------------------------------------------

    def apply_provider_event(self, provider: PaymentProvider, event: ProviderEvent) -> str:
        t = event.transfer
        with log.bind(payout_id=t.reference, provider_event_id=event.event_id):
            return self.apply_state(
                t.reference,
                t.status,
                provider_ref=t.provider_ref,
                failure_code=t.failure_code,
                cause=f"{provider.name} event {event.event_id}",
                actor=f"provider:{provider.name}",
                amount=t.amount,
                dedupe_id=f"{provider.name}-{event.event_id}",
            )

    def apply_state(
        self,
        payout_id: str,
        target: PayoutStatus,
        *,
        cause: str,
        actor: str,
        provider_ref: str | None = None,
        failure_code: FailureCode | None = None,
        amount: Money | None = None,
        dedupe_id: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """Move a payout to what the provider says, with its postings, in one transaction.
        Anything that would move a state backwards is ignored and logged."""
        now = now or datetime.now(UTC)
        outbox: list[OutboxEvent] = []

        def apply(tx: Tx) -> str:
            outbox.clear()
            refs = [self.store.doc(PAYOUTS, payout_id)]
            if dedupe_id is not None:
                refs.append(self.store.doc(PROVIDER_EVENTS, dedupe_id))
            tx.prefetch(refs)  # one round trip
            if dedupe_id is not None and tx.get(PROVIDER_EVENTS, dedupe_id) is not None:
                return "duplicate"
            payout = tx.get_payout(payout_id)
            if payout is None:
                raise PayoutNotFound(payout_id)
            seller = (
                tx.get_seller(payout.seller_id) if failure_code in ACCOUNT_INVALIDATING_FAILURES else None
            )
            result = self._transition_in_tx(
                tx, payout, target, cause, actor, provider_ref, failure_code, amount, now, outbox
            )
            if (
                result == "applied"
                and seller is not None
                and target in (PayoutStatus.FAILED, PayoutStatus.RETURNED)
            ):
                # The bank says this account cannot receive money: skip the seller until it is fixed.
                invalid = replace(
                    seller,
                    bank_account_status=BankAccountStatus.INVALID,
                    bank_account_invalid_reason=failure_code.value if failure_code else None,
                )
                tx.set(SELLERS, seller.seller_id, seller_to_doc(invalid))
            if dedupe_id is not None:
                tx.create(
                    PROVIDER_EVENTS,
                    dedupe_id,
                    {"payout_id": payout_id, "status": target.value, "result": result, "received_at": now},
                )
            return result

        with _payout_locks.hold(payout_id):
            result = self.store.run(apply)
        self.relay(outbox)
        level = logging.INFO if result in ("applied", "duplicate", "unchanged") else logging.WARNING
        logger.log(level, "provider state %s for payout: %s", target.value, result)
        return result

    def _transition_in_tx(
        self,
        tx: Tx,
        payout: Payout,
        target: PayoutStatus,
        cause: str,
        actor: str,
        provider_ref: str | None,
        failure_code: FailureCode | None,
        amount: Money | None,
        now: datetime,
        outbox: list[OutboxEvent],
    ) -> str:
        if amount is not None and amount != payout.amount:
            logger.error(
                "provider amount %s differs from the payout's %s; flagged for ops", amount, payout.amount
            )
            tx.put_payout(replace(payout, updated_at=now))
            return "amount_mismatch"
        if target is payout.status:
            if provider_ref and not payout.provider_ref:
                tx.put_payout(replace(payout, provider_ref=provider_ref, updated_at=now))
            return "unchanged"
        steps = [target]
        if payout.status is PayoutStatus.PENDING and target is PayoutStatus.RETURNED:
            steps = [PayoutStatus.PAID, PayoutStatus.RETURNED]  # "returned" overtook "paid"
        elif payout.status is PayoutStatus.PROCESSING and target is PayoutStatus.RETURNED:
            steps = [PayoutStatus.PAID, PayoutStatus.RETURNED]
        if not all(can_transition(a, b) for a, b in zip([payout.status, *steps[:-1]], steps, strict=True)):
            return "ignored_backwards"
        for step in steps:
            payout, entry = transition(
                payout,
                step,
                at=now,
                cause=cause,
                actor=actor,
                provider_ref=provider_ref,
                failure_code=failure_code if step is PayoutStatus.FAILED else None,
            )
            if entry is not None:
                tx.post(entry, now)
            outbox.append(tx.add_outbox(payout, now))
        tx.put_payout(payout)
        return "applied"

    # --- cancel -----------------------------------------------------------------------------

    def cancel(self, payout_id: str, actor: str, now: datetime | None = None) -> Payout:
        now = now or datetime.now(UTC)
        outbox: list[OutboxEvent] = []

        def cancel(tx: Tx) -> Payout:
            outbox.clear()
            payout = tx.get_payout(payout_id)
            if payout is None:
                raise PayoutNotFound(payout_id)
            moved, entry = transition(payout, PayoutStatus.CANCELED, at=now, cause="canceled", actor=actor)
            if entry is not None:
                tx.post(entry, now)
            outbox.append(tx.add_outbox(moved, now))
            tx.put_payout(moved)
            return moved

        with log.bind(payout_id=payout_id), _payout_locks.hold(payout_id):
            payout = self.store.run(cancel)
            self.relay(outbox)
            logger.info("payout canceled by %s", actor)
            return payout

    # --- events out -------------------------------------------------------------------------

    def relay(self, events: Sequence[OutboxEvent | str]) -> int:
        """Publish outbox events and mark them published. Safe to repeat: consumers de-duplicate
        on (payout_id, sequence), and the sweeper relays whatever this misses. An event that a
        committed transaction just wrote is published as written; one named by id is read first
        (and skipped if published meanwhile)."""
        sent = 0
        for event in events:
            if isinstance(event, OutboxEvent):
                event_id, doc = event.event_id, event.doc
            else:
                event_id, found = event, self.store.get(OUTBOX, event)
                if found is None or found.get("published"):
                    continue
                doc = found
            try:
                self.publisher.publish(
                    TOPIC_PAYOUT_EVENTS,
                    json.dumps(doc["data"], default=str).encode(),
                    cloud_event_attributes(doc, self.store.project),
                )
            except Exception:
                logger.exception("could not publish %s; the sweeper will retry", event_id)
                continue
            self.store.doc(OUTBOX, event_id).update({"published": True, "published_at": datetime.now(UTC)})
            sent += 1
        return sent

    def relay_unpublished(self, limit: int = 500) -> int:
        return self.relay(self.store.unpublished_outbox_ids(limit))

    # --- the sweeper ------------------------------------------------------------------------

    def sweep(self, now: datetime | None = None, older_than: timedelta | None = None) -> dict[str, int]:
        """Find payouts open for too long and resolve them: ask the provider, re-enqueue the
        transfer, or flag them for ops. Nothing stays in flight unseen."""
        now = now or datetime.now(UTC)
        cutoff = now - (older_than or timedelta(seconds=self.store.settings.stuck_after_seconds))
        counts = {"requeued": 0, "resolved": 0, "flagged": 0, "relayed": self.relay_unpublished()}
        for payout in self.store.open_payouts_before(cutoff, limit=500):
            with log.bind(payout_id=payout.payout_id, seller_id=payout.seller_id):
                try:
                    provider = provider_for(payout.provider or "sandbox")
                    state = provider.fetch_transfer(payout.payout_id)
                except ProviderUnavailable:
                    counts["flagged"] += 1
                    self.store.flag_stuck(payout.payout_id, "provider unreachable while sweeping", now)
                    continue
                if state is not None and state.status is not payout.status:
                    self.apply_state(
                        payout.payout_id,
                        state.status,
                        provider_ref=state.provider_ref,
                        failure_code=state.failure_code,
                        cause="sweeper asked the provider",
                        actor="sweeper",
                        amount=state.amount,
                    )
                    counts["resolved"] += 1
                elif state is None and payout.status is PayoutStatus.PENDING:
                    self.after_commit(AfterCommit(transfers=[payout.payout_id]))
                    counts["requeued"] += 1
                else:
                    self.store.flag_stuck(
                        payout.payout_id, f"{payout.status.value} at the provider for too long", now
                    )
                    counts["flagged"] += 1
        counts.update(self.recheck_returns(now))
        logger.info("sweep: %s", counts)
        return counts

    def recheck_returns(self, now: datetime) -> dict[str, int]:
        """The return watch (next_return_check): ask the provider about paid payouts whose check
        is due, and book the bank's return if its webhook never came."""
        settings = self.store.settings
        check_after = timedelta(seconds=settings.return_check_after_seconds)
        watch_for = timedelta(days=settings.return_watch_days)
        counts = {"return_checked": 0, "returned": 0}
        for payout in self.store.paid_payouts_to_recheck(now - check_after, limit=500):
            with log.bind(payout_id=payout.payout_id, seller_id=payout.seller_id):
                try:
                    state = provider_for(payout.provider or "sandbox").fetch_transfer(payout.payout_id)
                except ProviderUnavailable:
                    logger.warning("provider unreachable for a return check; asking again next sweep")
                    break
                counts["return_checked"] += 1
                if state is not None and state.status is PayoutStatus.RETURNED:
                    self.apply_state(
                        payout.payout_id,
                        PayoutStatus.RETURNED,
                        provider_ref=state.provider_ref,
                        failure_code=state.failure_code,
                        cause="sweeper: the provider reports the transfer returned",
                        actor="sweeper",
                        amount=state.amount,
                    )
                    counts["returned"] += 1
                else:
                    check_from = next_return_check(
                        payout, now=now, check_after=check_after, watch_for=watch_for
                    )
                    self.store.reschedule_return_check(payout, check_from)
        return counts


def cloud_event_attributes(doc: dict[str, Any], project: str) -> dict[str, str]:
    """CloudEvents over Pub/Sub, binary mode: the context travels as ``ce-`` attributes."""
    return {
        "ce-specversion": "1.0",
        "ce-id": str(doc["event_id"]),
        "ce-type": str(doc["type"]),
        "ce-source": f"//payouts.{project}/{'payouts' if doc.get('payout_id') else 'payout_runs'}",
        "ce-subject": str(doc.get("payout_id") or doc.get("subject")),
        "ce-time": doc["created_at"].isoformat()
        if hasattr(doc["created_at"], "isoformat")
        else str(doc["created_at"]),
        "ce-sequence": str(doc["sequence"]),
        "content-type": "application/json",
    }


def _error(code: str, message: str, field_path: str) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "details": [{"field": field_path, "reason": message}]}
    }


def payout_view(payout: Payout) -> dict[str, Any]:
    return {
        "payout_id": payout.payout_id,
        "seller_id": payout.seller_id,
        "amount": {"amount": payout.amount.amount, "currency": payout.amount.currency},
        "status": payout.status.value,
        "origin": payout.origin,
        "run_id": payout.run_id,
        "provider": payout.provider,
        "provider_ref": payout.provider_ref,
        "failure_code": payout.failure_code.value if payout.failure_code else None,
        "sequence": payout.sequence,
        "created_at": payout.created_at.isoformat(),
        "updated_at": payout.updated_at.isoformat(),
        "history": [
            {
                "at": t.at.isoformat(),
                "from": t.from_status.value if t.from_status else None,
                "to": t.to_status.value,
                "cause": t.cause,
                "actor": t.actor,
            }
            for t in payout.history
        ],
    }


__all__ = ["OPEN_STATES", "PayoutService", "RetryLater", "payout_view"]
