"""Payout use cases: create (by run or on demand), send to the provider, follow the
provider's notifications, cancel, sweep what is stuck, and relay status events.

Every money movement is one unit of work that writes the payout, its journal entry and its
outbox event together. Nothing outside the store is called inside a unit of work: a body
returns what to do after its commit (tasks to enqueue, events to relay), and that is done after.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from shared import log, tracing
from shared.domain.bank_files import bank_silent_too_long, sent_to_bank_at
from shared.domain.countries import CountryRegistry
from shared.domain.eligibility import (
    Decision,
    SkipReason,
)
from shared.domain.errors import DomainError
from shared.domain.events import OutboxEvent, payout_event
from shared.domain.fx import Conversion, Rate, RateUnavailable
from shared.domain.fx_payouts import RatesToPayout, decide_fx_payout, rate_error_text
from shared.domain.ledger import DatedEntry
from shared.domain.money import Money
from shared.domain.payout_currency import FX_RATE_ERRORS, sales_currencies
from shared.domain.payouts import (
    ACCOUNT_INVALIDATING_FAILURES,
    FailureCode,
    Payout,
    PayoutStatus,
    can_transition,
    conversion_entries,
    new_payout,
    next_return_check,
    on_demand_payout_id,
    settlement_entries,
    transition,
)
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.domain.run_funding import FundingState
from shared.domain.runs import PayoutRun, status_change_tally, transfer_released
from shared.domain.sellers import BankAccountStatus, Seller
from shared.keyed_lock import KeyedLocks
from shared.topology import QUEUE_TRANSFERS, TOPIC_PAYOUT_EVENTS
from shared.usecases import payout_contents, remittance
from shared.usecases.dead_letters import record_poison
from shared.usecases.ports import (
    BalanceRef,
    EventPublisher,
    FundingBalances,
    IdempotencyRecord,
    IdempotencyRef,
    PaymentProvider,
    PayoutPolicy,
    PayoutRef,
    ProviderDirectory,
    ProviderEvent,
    ProviderEventRecord,
    ProviderEventRef,
    ProviderUnavailable,
    RateSource,
    Refusal,
    SellerRef,
    Storage,
    TaskQueue,
    UnitOfWork,
    UnknownProvider,
)
from shared.usecases.rail_events import OTHER_RAIL, RailEvent, rail_event_verdict
from shared.usecases.rail_selection import RailSelector, RouteSender
from shared.usecases.sellers import SellerNotFound

logger = logging.getLogger(__name__)

CONVERSION_LEAD = timedelta(microseconds=1)  # an FX payout's conversions precede its reserve
IDEMPOTENCY_KEY_DAYS = 90  # kept while a payout can still change (returns come days later)
_payout_locks = KeyedLocks()
seller_locks = KeyedLocks()  # payout creations read the seller's balance: one at a time here


class PayoutNotFound(DomainError):
    def __init__(self, payout_id: str) -> None:
        super().__init__("payout_not_found", f"payout {payout_id} does not exist", "payout_id")


class PayoutRefused(DomainError):
    """The seller cannot be paid this amount now (the code says why). On demand, a refusal is an
    outcome recorded under the idempotency key, replayed as it was first answered."""

    @classmethod
    def of(cls, refusal: Refusal) -> PayoutRefused:
        return cls(refusal.code, refusal.message, refusal.field)


class IdempotencyConflict(DomainError):
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


@dataclass(frozen=True)
class PayoutRequestOutcome:
    """The answer to ``POST /payouts``: the payout as created, or the refusal; ``replayed`` when
    it is the first answer of an earlier request with the same key."""

    payout: Payout | None
    refusal: Refusal | None
    replayed: bool


@dataclass
class AfterCommit:
    """Work to do once a unit of work has committed: send transfers, relay events."""

    transfers: list[str] = field(default_factory=list)
    outbox: list[OutboxEvent] = field(default_factory=list)


def request_fingerprint(seller_id: str, amount: Money) -> str:
    """The meaning of a payout request, whatever its JSON formatting or key order."""
    return hashlib.sha256(
        json.dumps(
            {"seller_id": seller_id, "amount": amount.amount, "currency": amount.currency}, sort_keys=True
        ).encode()
    ).hexdigest()


class PayoutService:
    def __init__(
        self,
        store: Storage,
        registry: CountryRegistry,
        tasks: TaskQueue,
        publisher: EventPublisher,
        providers: ProviderDirectory,
        policy: PayoutPolicy | None = None,
        rails: RailSelector | None = None,
        funding: FundingBalances | None = None,
        rates: RateSource | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.tasks = tasks
        self.publisher = publisher
        self.providers = providers
        self.policy = policy or PayoutPolicy()
        # The rails: routes, drains, the batch-rail hook (shared/usecases/rail_selection.py).
        self.rails = rails or RailSelector(load_rail_capabilities())
        # What the platform holds at each rail, for a live run's funding check (run_funding.py);
        # None: no rail is asked, every line is "unreported" and no run is held.
        self.funding = funding
        self._released_through: dict[str, datetime] = {}  # run id -> its funding's released_through
        # Exchange rates for payouts from balances in other currencies (issue 17); None: such
        # a seller is skipped with fx_rate_unavailable.
        self.rates = rates

    # --- foreign exchange (issue 17: shared/domain/fx_payouts.py) ------------------------------

    @staticmethod
    def held_currencies(seller: Seller) -> tuple[str, ...]:
        """The currencies whose balances a payout of this seller reads."""
        return sales_currencies(seller.currency, seller.payout_currency)

    def balance_refs(self, seller: Seller) -> tuple[BalanceRef, ...]:
        return tuple(BalanceRef(seller.seller_id, c) for c in self.held_currencies(seller))

    def rate_snapshot(self, now: datetime) -> tuple[tuple[Rate, ...], tuple[tuple[str, str], ...]]:
        """Every rate a payout of any seller may need now (each country's sales currencies to
        each of its payout currencies), and the pairs without one: what a dry run fixes."""
        pairs = sorted(
            {
                (currency, payout_currency)
                for country in self.registry.countries()
                for payout_currency in self.registry.get(country).payout_currencies
                for currency in sales_currencies(self.registry.get(country).currency, payout_currency)
                if currency != payout_currency
            }
        )
        rates: list[Rate] = []
        unavailable: list[tuple[str, str]] = []
        for base, quote in pairs:
            if self.rates is None:
                unavailable.append(
                    (f"{base}/{quote}", "rate_unavailable: no exchange-rate source is configured")
                )
                continue
            try:
                rates.append(self.rates.rate(base, quote, now))
            except FX_RATE_ERRORS as exc:
                unavailable.append((f"{base}/{quote}", rate_error_text(exc)))
        return tuple(rates), tuple(unavailable)

    def rates_for(
        self, seller: Seller, now: datetime, currencies: Sequence[str] | None = None
    ) -> RatesToPayout:
        """The rates from each of the seller's other currencies to its payout currency, or why there
        is none: fixed now, before the unit of work that creates the payout (never inside it)."""
        rates: dict[str, Rate | DomainError] = {}
        for currency in self.held_currencies(seller) if currencies is None else currencies:
            if currency == seller.payout_currency:
                continue
            if self.rates is None:
                rates[currency] = RateUnavailable("no exchange-rate source is configured")
                continue
            try:
                rates[currency] = self.rates.rate(currency, seller.payout_currency, now)
            except FX_RATE_ERRORS as exc:
                rates[currency] = exc
        return rates

    # --- creating a payout ------------------------------------------------------------------

    def create_in_tx(
        self,
        uow: UnitOfWork,
        seller: Seller,
        payout_id: str,
        *,
        amount: Money | None,
        origin: str,
        cause: str,
        actor: str,
        now: datetime,
        run_id: str | None = None,
        rates: RatesToPayout | None = None,
    ) -> Created:
        """Reads first (payout, balances: one round trip), then writes. ``amount`` None means
        all available (up to the limit of one payout). ``rates`` (``rates_for``, fetched before
        the unit of work) convert the seller's balances in other currencies (fx_payouts.py)."""
        uow.read_ahead(PayoutRef(payout_id), *self.balance_refs(seller))
        existing = uow.payouts.get(payout_id)
        if existing is not None:
            return Created(existing, Decision(existing.amount))
        rules = self.registry.get(seller.country)
        balances = [uow.balances.available(seller.seller_id, c) for c in self.held_currencies(seller)]
        plan = decide_fx_payout(seller, rules, balances, rates or {}, now, requested=amount)
        decision = plan.decision
        if decision.amount is None:
            return Created(None, decision)
        # Rails: a payout no rail of the route can take is not created (rail_selection.py).
        route = self.rails.choose(seller, rules, decision.amount)
        if route.rail is None:
            return Created(None, Decision(None, SkipReason.NO_RAIL, f"no rail can pay it: {route.summary()}"))
        payout, event = self.write_new_payout(
            uow,
            seller,
            payout_id,
            decision.amount,
            origin,
            cause,
            actor,
            now,
            run_id,
            rail=route.rail,
            conversions=plan.conversions,
        )
        return Created(payout, decision, (event,), new=True)

    def write_new_payout(
        self,
        uow: UnitOfWork,
        seller: Seller,
        payout_id: str,
        amount: Money,
        origin: str,
        cause: str,
        actor: str,
        now: datetime,
        run_id: str | None,
        *,
        rail: str | None = None,
        conversions: tuple[Conversion, ...] = (),
    ) -> tuple[Payout, OutboxEvent]:
        """The writes of a new payout: itself (with the provider its country routes to), the
        conversions of the seller's other currencies into its payout currency (issue 17), the
        entry that reserves its funds, and its ``payout.created`` event."""
        payout, entry = new_payout(
            payout_id,
            seller.seller_id,
            amount,
            at=now,
            origin=origin,
            cause=cause,
            actor=actor,
            run_id=run_id,
            # The rail it would go to now; the transfer worker chooses again when it sends.
            provider=rail or self.registry.get(seller.country).rails[0],
            # The trace it joins: a run's payout gets a trace of its own (the same one again
            # when the unit of work runs twice: shared/tracing.py remembers it by payout id).
            trace_context=tracing.payout_trace_context(payout_id, own_trace=run_id is not None),
        )
        payout = replace(payout, conversions=conversions)
        # Issue 17: the conversions into the payout currency, dated just before the reserve so
        # that journal order (time written, id) has them first.
        conversions_at = now - CONVERSION_LEAD
        converted = [DatedEntry(e, conversions_at) for e in conversion_entries(payout)]
        # What the payout pays for (issue 18): reads first, written with the payout.
        settled = payout_contents.settle_in_tx(uow, payout, entry, now, converted)
        uow.payouts.put(payout)
        for dated in converted:  # into available, then reserved by ``entry``
            uow.journal.post(dated.entry, dated.at)
        uow.journal.post(entry, now)
        event = payout_event(payout, now)
        uow.outbox.add(event)
        payout_contents.record_in_tx(uow, settled)
        return payout, event

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

    def request_payout(
        self, *, caller: str, idempotency_key: str, seller_id: str, amount: Money, now: datetime | None = None
    ) -> PayoutRequestOutcome:
        """``POST /payouts``. The first outcome under a key (the payout, or the refusal) is kept
        in the same unit of work as the payout; the same key and body get it again, the same key
        with another body is refused."""
        now = now or datetime.now(UTC)
        fingerprint = request_fingerprint(seller_id, amount)
        key_id = hashlib.sha256(f"{caller}|{idempotency_key}".encode()).hexdigest()[:40]
        payout_id = on_demand_payout_id(caller, idempotency_key)
        # Issue 17: the rates are fixed now, before the unit of work (never an outside call in it).
        known = self.store.sellers.get(seller_id)
        rates = self.rates_for(known, now) if known is not None else {}

        def request(uow: UnitOfWork) -> tuple[PayoutRequestOutcome, AfterCommit]:
            # Every record this can read, in one round trip.
            uow.read_ahead(
                IdempotencyRef(key_id),
                SellerRef(seller_id),
                PayoutRef(payout_id),
                *(
                    self.balance_refs(known)
                    if known is not None
                    else (BalanceRef(seller_id, amount.currency),)
                ),
            )
            stored = uow.idempotency.get(key_id)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise IdempotencyConflict()
                return PayoutRequestOutcome(stored.payout, stored.refusal, replayed=True), AfterCommit()
            seller = uow.sellers.get(seller_id)
            if seller is None:
                raise SellerNotFound(seller_id)
            work = AfterCommit()
            payout: Payout | None = None
            refusal: Refusal | None = None
            if amount.currency != seller.payout_currency:
                refusal = Refusal(
                    "currency_mismatch", f"the seller is paid in {seller.payout_currency}", "amount.currency"
                )
            else:
                created = self.create_in_tx(
                    uow,
                    seller,
                    payout_id,
                    amount=amount,
                    origin="on_demand",
                    cause=f"requested by {caller}",
                    actor=caller,
                    now=now,
                    rates=rates,
                )
                if created.payout is None:
                    refusal = _refusal_of(created.decision)
                else:
                    payout = created.payout
                    work.transfers.append(payout_id)
                    work.outbox.extend(created.outbox)
            uow.idempotency.add(
                IdempotencyRecord(
                    key_id=key_id,
                    fingerprint=fingerprint,
                    payout=payout,
                    refusal=refusal,
                    created_at=now,
                    expires_at=now + timedelta(days=IDEMPOTENCY_KEY_DAYS),
                )
            )
            return PayoutRequestOutcome(payout, refusal, replayed=False), work

        with log.bind(seller_id=seller_id, payout_id=payout_id):
            with seller_locks.hold(seller_id):
                outcome, work = self.store.atomically(request)
            self.after_commit(work)
            logger.info(
                "on-demand payout request %s%s",
                "refused: " + outcome.refusal.code if outcome.refusal else "accepted",
                " (replayed)" if outcome.replayed else "",
            )
            return outcome

    # --- reading ----------------------------------------------------------------------------

    def get_payout(self, payout_id: str) -> Payout:
        payout = self.store.payouts.get(payout_id)
        if payout is None:
            raise PayoutNotFound(payout_id)
        return payout

    def list_payouts(
        self,
        *,
        seller_id: str | None,
        status: PayoutStatus | None,
        run_id: str | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> tuple[list[Payout], tuple[datetime, str] | None]:
        """Newest first, a page at a time: the page and the cursor of the next one (None: last)."""
        found = self.store.payouts.newest_first(
            seller_id=seller_id,
            status=status.value if status else None,
            run_id=run_id,
            limit=limit + 1,
            after=after,
        )
        page = found[:limit]
        more = len(found) > limit and page
        return page, (page[-1].created_at, page[-1].payout_id) if more else None

    # --- sending ----------------------------------------------------------------------------

    def provider_of(self, payout: Payout) -> PaymentProvider | None:
        """The provider the payout was created for; None (logged, flagged for ops) when it has
        none recorded or that provider is not configured: never another provider instead."""
        try:
            if payout.provider is None:
                raise UnknownProvider("no provider recorded on the payout")
            return self.providers.get(payout.provider)
        except UnknownProvider as exc:
            logger.error("payout %s cannot be sent: %s; flagged for ops", payout.payout_id, exc)
            self.store.payouts.flag_stuck(payout.payout_id, f"no provider: {exc}", datetime.now(UTC))
            return None

    def funding_released(self, uow: UnitOfWork, payout: Payout) -> bool:
        """In the transfer worker's claim: whether a funding check released the payout's run
        for it (``transfer_released``). A run's release only grows, so once seen it is kept
        here and the run is not read again for the payouts it covers."""
        if payout.run_id is None:
            return True
        through = self._released_through.get(payout.run_id)
        if through is not None and payout.created_at <= through:
            return True
        run = uow.runs.get(payout.run_id)
        if run is not None and run.funding is not None and run.funding.released_through is not None:
            self._released_through[payout.run_id] = run.funding.released_through
        return transfer_released(run, payout)

    def send_transfer(self, payout_id: str, now: datetime | None = None) -> str:
        """The transfer worker. Returns what happened; raises RetryLater for transient errors.
        Rails: the route, failover and the payout's claim live in rail_selection.py."""
        with log.bind(payout_id=payout_id):
            return RouteSender(self, self.rails).send(payout_id, now or datetime.now(UTC))

    # --- following the provider -------------------------------------------------------------

    def apply_provider_event(self, provider: PaymentProvider, event: ProviderEvent) -> str:
        """Apply a rail's webhook to its payout. A webhook about a transfer no payout of ours
        made moves nothing: it is kept for ops as a dead letter (``unknown_transfer``: money the
        rail moved that the platform cannot explain, found now rather than at reconciliation)
        and answered ``unknown_payout``, so the rail stops retrying."""
        t = event.transfer
        with log.bind(payout_id=t.reference, provider_event_id=event.event_id):
            try:
                return self.apply_state(
                    t.reference,
                    t.status,
                    provider_ref=t.provider_ref,
                    failure_code=t.failure_code,
                    cause=f"{provider.name} event {event.event_id}",
                    actor=f"provider:{provider.name}",
                    amount=t.amount,
                    dedupe=(provider.name, event.event_id),
                    rail_event=RailEvent(provider.name, event.sequence),
                )
            except PayoutNotFound:
                record_poison(
                    self.store,
                    source=f"provider-webhook:{provider.name}",
                    message_id=event.event_id,
                    code="unknown_transfer",
                    reason=f"{provider.name} reports transfer {t.provider_ref} ({t.amount}, "
                    f"{t.status.value}) for reference {t.reference}, which no payout of the platform made",
                    details=[
                        {"field": "reference", "reason": t.reference},
                        {"field": "provider_ref", "reason": t.provider_ref},
                        {"field": "amount", "reason": str(t.amount) if t.amount else "none"},
                    ],
                )
                return "unknown_payout"

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
        dedupe: tuple[str, str] | None = None,
        now: datetime | None = None,
        rail_event: RailEvent | None = None,
    ) -> str:
        """Move a payout to what the provider says, with its postings, its run's counters and its
        events, in one unit of work. Anything that would move a state backwards is ignored and
        logged; ``dedupe`` (provider, event id) applies a provider event once; ``rail_event``
        (a rail's webhook) is checked against the payout's rail and sequence (rail_events.py)."""
        now = now or datetime.now(UTC)

        def apply(uow: UnitOfWork) -> tuple[str, list[OutboxEvent]]:
            refs: list[PayoutRef | ProviderEventRef] = [PayoutRef(payout_id)]
            if dedupe is not None:
                refs.append(ProviderEventRef(*dedupe))
            uow.read_ahead(*refs)  # one round trip
            if dedupe is not None and uow.provider_events.seen(*dedupe):
                return "duplicate", []
            payout = uow.payouts.get(payout_id)
            if payout is None:
                raise PayoutNotFound(payout_id)
            # Rails (rail_events.py): another rail's event or an older one is not applied; a
            # rail's "failed" about a paid payout is a return.
            verdict = rail_event_verdict(payout, target, rail_event)
            payout, effective = verdict.payout, verdict.target
            seller = (
                uow.sellers.get(payout.seller_id)
                if failure_code in ACCOUNT_INVALIDATING_FAILURES and verdict.refused is None
                else None
            )
            result, outbox = (
                (verdict.refused, [])
                if verdict.refused
                else self._transition_in_tx(
                    uow, payout, effective, cause, actor, provider_ref, failure_code, amount, now
                )
            )
            if (
                result == "applied"
                and seller is not None
                and effective in (PayoutStatus.FAILED, PayoutStatus.RETURNED)
            ):
                # The bank says this account cannot receive money: skip the seller until it is fixed.
                invalid = replace(
                    seller,
                    bank_account_status=BankAccountStatus.INVALID,
                    bank_account_invalid_reason=failure_code.value if failure_code else None,
                )
                uow.sellers.put(invalid, bank_account_changed=False)
            if dedupe is not None:
                uow.provider_events.add(
                    ProviderEventRecord(
                        provider=dedupe[0],
                        event_id=dedupe[1],
                        payout_id=payout_id,
                        status=effective.value,
                        result=result,
                        received_at=now,
                    )
                )
            return result, outbox

        with _payout_locks.hold(payout_id):
            result, outbox = self.store.atomically(apply)
        self.relay(outbox)
        if result == OTHER_RAIL:
            self.store.payouts.flag_stuck(payout_id, f"an event from {rail_event and rail_event.rail}", now)
        level = logging.INFO if result in ("applied", "duplicate", "unchanged") else logging.WARNING
        logger.log(level, "provider state %s for payout: %s", target.value, result)
        return result

    def _transition_in_tx(
        self,
        uow: UnitOfWork,
        payout: Payout,
        target: PayoutStatus,
        cause: str,
        actor: str,
        provider_ref: str | None,
        failure_code: FailureCode | None,
        amount: Money | None,
        now: datetime,
    ) -> tuple[str, list[OutboxEvent]]:
        # Issue 17: an FX payout the rail returned in the source currency, at its own rate.
        returned = amount if _returned_in_source(payout, target, amount) else None
        if amount is not None and amount != payout.amount and returned is None:
            logger.error(
                "provider amount %s differs from the payout's %s; flagged for ops", amount, payout.amount
            )
            uow.payouts.put(replace(payout, updated_at=now))
            return "amount_mismatch", []
        if target is payout.status:
            if provider_ref and not payout.provider_ref:
                uow.payouts.put(replace(payout, provider_ref=provider_ref, updated_at=now))
            return "unchanged", []
        steps = [target]
        if (
            payout.status in (PayoutStatus.PENDING, PayoutStatus.PROCESSING)
            and target is PayoutStatus.RETURNED
        ):
            steps = [PayoutStatus.PAID, PayoutStatus.RETURNED]  # "returned" overtook "paid"
        if not all(can_transition(a, b) for a, b in zip([payout.status, *steps[:-1]], steps, strict=True)):
            return "ignored_backwards", []
        before = payout.status
        outbox: list[OutboxEvent] = []
        for step in steps:
            previous = payout
            payout, entry = transition(
                payout,
                step,
                at=now,
                cause=cause,
                actor=actor,
                provider_ref=provider_ref,
                failure_code=failure_code if step is PayoutStatus.FAILED else None,
            )
            # With an FX payout's conversions undone at their recorded rates (issue 17).
            for posted in settlement_entries(
                previous, step, entry, returned if step is PayoutStatus.RETURNED else None
            ):
                uow.journal.post(posted, now)
            event = payout_event(payout, now)
            uow.outbox.add(event)
            outbox.append(event)
        uow.payouts.put(payout)
        if payout.run_id is not None:
            uow.runs.count(
                payout.run_id, status_change_tally(before, payout.status, payout.amount), payout.payout_id
            )
        return "applied", outbox

    # --- cancel -----------------------------------------------------------------------------

    def cancel(self, payout_id: str, actor: str, now: datetime | None = None) -> Payout:
        now = now or datetime.now(UTC)

        def cancel(uow: UnitOfWork) -> tuple[Payout, OutboxEvent]:
            payout = uow.payouts.get(payout_id)
            if payout is None:
                raise PayoutNotFound(payout_id)
            moved, entry = transition(payout, PayoutStatus.CANCELED, at=now, cause="canceled", actor=actor)
            for posted in settlement_entries(payout, PayoutStatus.CANCELED, entry):  # FX: converted back
                uow.journal.post(posted, now)
            event = payout_event(moved, now)
            uow.outbox.add(event)
            uow.payouts.put(moved)
            if moved.run_id is not None:
                uow.runs.count(
                    moved.run_id, status_change_tally(payout.status, moved.status, moved.amount), payout_id
                )
            return moved, event

        with log.bind(payout_id=payout_id), _payout_locks.hold(payout_id):
            payout, event = self.store.atomically(cancel)
            self.relay([event])
            logger.info("payout canceled by %s", actor)
            return payout

    # --- events out -------------------------------------------------------------------------

    def relay(self, events: Sequence[OutboxEvent | str]) -> int:
        """Publish outbox events and mark them published. Safe to repeat: consumers de-duplicate
        on (subject, sequence), and the sweeper relays whatever this misses. An event that a
        committed unit of work just wrote is published as written; one named by id is read first
        (and skipped if published meanwhile)."""
        sent = 0
        for item in events:
            event = item if isinstance(item, OutboxEvent) else self.store.outbox.get(item)
            if event is None or (not isinstance(item, OutboxEvent) and event.published):
                continue
            # Remittance advice (issue 18): the paid event's follow-up, enqueued before it is
            # published; not enqueued, the event stays unpublished and both are tried again.
            if (
                self.policy.remittance_advice
                and event.type == "payout.paid"
                and not remittance.enqueue_remittance(self.tasks, event.subject)
            ):
                continue
            try:
                self.publisher.publish_event(TOPIC_PAYOUT_EVENTS, event)
            except Exception:
                logger.exception("could not publish %s; the sweeper will retry", event.event_id)
                continue
            self.store.outbox.mark_published(event.event_id, datetime.now(UTC))
            sent += 1
        return sent

    def relay_unpublished(self, limit: int = 500) -> int:
        return self.relay(self.store.outbox.unpublished(limit))

    # --- the sweeper ------------------------------------------------------------------------

    def sweep(self, now: datetime | None = None, older_than: timedelta | None = None) -> dict[str, int]:
        """Find payouts open for too long and resolve them: ask the provider, re-enqueue the
        transfer, or flag them for ops. Nothing stays in flight unseen."""
        now = now or datetime.now(UTC)
        cutoff = now - (older_than or timedelta(seconds=self.policy.stuck_after_seconds))
        counts = {"requeued": 0, "resolved": 0, "flagged": 0, "relayed": self.relay_unpublished()}
        runs: dict[str, PayoutRun | None] = {}
        held_runs: set[str] = set()
        for payout in self.store.payouts.open_before(cutoff, limit=500):
            with log.bind(payout_id=payout.payout_id, seller_id=payout.seller_id):
                if payout.status is PayoutStatus.PENDING and payout.run_id is not None:
                    if payout.run_id not in runs:
                        runs[payout.run_id] = self.store.runs.get(payout.run_id)
                    if not transfer_released(runs[payout.run_id], payout):
                        counts["held"] = counts.get("held", 0) + 1  # its run's funding check sends it
                        held_runs.add(payout.run_id)
                        continue
                outcome = self._sweep_one(payout, now)
                counts[outcome] = counts.get(outcome, 0) + 1  # "at_bank" only when there are some
        if checked := self._check_runs_owed_a_funding_check(held_runs, runs, now):
            counts["funding_checked"] = checked
        counts.update(self.recheck_returns(now))
        logger.info("sweep: %s", counts)
        return counts

    def _check_runs_owed_a_funding_check(
        self, held_runs: set[str], runs: dict[str, PayoutRun | None], now: datetime
    ) -> int:
        """A payout held this long whose run is not waiting for funds was counted by no check
        (none ran since it was created): check that run now, so nothing waits for ever."""
        from shared.usecases.run_funding import check_run_funding  # it builds on this service

        checked = 0
        for run_id in sorted(held_runs):
            run = runs.get(run_id)
            if run is None or (
                run.funding is not None and run.funding.state is FundingState.AWAITING_FUNDING
            ):
                continue  # waiting runs are checked by complete_runs each sweep
            progress = self.store.runs.progress(run_id)
            if progress is not None and progress.all_pages_done:
                logger.warning("run %s holds payouts no funding check counted; checking it now", run_id)
                check_run_funding(self, run_id, pages_done=progress.pages_done, now=now)
                checked += 1
        return checked

    def on_batch_rail(self, payout: Payout) -> bool:
        """A bank-file rail (sepa_file): no provider to ask; its files and the bank's answer it
        (shared/usecases/bank_transfers.py)."""
        caps = self.rails.capabilities
        return payout.provider is not None and payout.provider in caps and caps.get(payout.provider).batch

    def _sweep_one(self, payout: Payout, now: datetime) -> str:
        if self.on_batch_rail(payout):
            if payout.status is PayoutStatus.PENDING:  # queued again: a no-op once it is queued
                self.after_commit(AfterCommit(transfers=[payout.payout_id]))
                return "requeued"
            days = self.policy.bank_answer_business_days
            if payout.status is PayoutStatus.PROCESSING and bank_silent_too_long(
                sent_to_bank_at(payout), now, days
            ):
                reason = f"no answer from the bank for {days} business days since its file was sent"
                self.store.payouts.flag_stuck(payout.payout_id, reason, now)
                return "flagged"  # the stuck_payouts metric and its alert; the console shows the reason
            return "at_bank"  # processing until the bank's status report or statement says
        provider = self.provider_of(payout)
        if provider is None:
            return "flagged"
        try:
            state = provider.fetch_transfer(payout.payout_id)
        except ProviderUnavailable:
            self.store.payouts.flag_stuck(payout.payout_id, "provider unreachable while sweeping", now)
            return "flagged"
        if state is not None and state.status is not payout.status:
            self.apply_state(
                payout.payout_id,
                state.status,
                provider_ref=state.provider_ref,
                failure_code=state.failure_code,
                cause="sweeper asked the provider",
                actor="sweeper",
                amount=state.amount,
                now=now,
            )
            return "resolved"
        if state is None and payout.status is PayoutStatus.PENDING:
            self.after_commit(AfterCommit(transfers=[payout.payout_id]))
            return "requeued"
        self.store.payouts.flag_stuck(
            payout.payout_id, f"{payout.status.value} at the provider for too long", now
        )
        return "flagged"

    def recheck_returns(self, now: datetime) -> dict[str, int]:
        """The return watch (next_return_check): ask the provider about paid payouts whose check
        is due, and book the bank's return if its webhook never came."""
        check_after = timedelta(seconds=self.policy.return_check_after_seconds)
        watch_for = timedelta(days=self.policy.return_watch_days)
        counts = {"return_checked": 0, "returned": 0}
        for payout in self.store.payouts.paid_due_for_return_check(now - check_after, limit=500):
            with log.bind(payout_id=payout.payout_id, seller_id=payout.seller_id):
                if self.on_batch_rail(payout):  # the bank's camt.054/053 bring its returns
                    self.store.payouts.reschedule_return_check(payout, None)
                    continue
                provider = self.provider_of(payout)
                if provider is None:
                    continue
                try:
                    state = provider.fetch_transfer(payout.payout_id)
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
                        now=now,
                    )
                    counts["returned"] += 1
                else:
                    check_from = next_return_check(
                        payout, now=now, check_after=check_after, watch_for=watch_for
                    )
                    self.store.payouts.reschedule_return_check(payout, check_from)
        return counts


def _returned_in_source(payout: Payout, target: PayoutStatus, amount: Money | None) -> bool:
    """A rail's return of an FX payout in the currency it was converted from (one conversion)."""
    return (
        amount is not None
        and target is PayoutStatus.RETURNED
        and len(payout.conversions) == 1
        and payout.conversions[0].target == payout.amount
        and amount.currency == payout.conversions[0].source.currency
        and amount.is_positive()
    )


def _refusal_of(decision: Decision) -> Refusal:
    """An on-demand request that cannot be paid: the skip reason is the code; FX reasons name
    the currency at fault, the others the amount."""
    skip = decision.skip
    fx = skip in (SkipReason.FX_RATE_UNAVAILABLE, SkipReason.PAYOUT_CURRENCY_UNSUPPORTED)
    return Refusal(
        skip.value if skip else "refused", decision.detail or "", "amount.currency" if fx else "amount.amount"
    )


__all__ = [
    "AfterCommit",
    "Created",
    "IdempotencyConflict",
    "PayoutNotFound",
    "PayoutRefused",
    "PayoutRequestOutcome",
    "PayoutService",
    "RetryLater",
]
