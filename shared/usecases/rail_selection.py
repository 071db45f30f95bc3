"""Sending a payout along its country's route: choose the rail, fail over only when safe.

The rules of the choice are in ``shared/domain/rail_routing.py``; this module runs them against
the ops data (drained rails, read through a short cache) and the rails themselves.

**Failover only when the rail certainly did not accept the transfer** (``is_failover_safe``: a
refused connection, an error its contract documents as not processed, an open circuit, a payout
the rail cannot take). After any other error (a timeout, a 5xx, an answer outside the contract)
the transfer may exist there: the payout stays with that rail, the next attempt looks it up by
our reference on that rail, and only a lookup that says "never received" lets it move on.

**One sender at a time.** Everything happens under the payout's claim: a lease
(``sender_claim``/``sender_claim_until``) taken in a unit of work before any call. A second
delivery of the transfer task finds the claim held and is retried later; a move to another rail
is written only while the claim is still ours. The lease (``PayoutPolicy.sender_claim_seconds``,
``SENDER_CLAIM_SECONDS``: 10 min in production, under the sweeper's ``STUCK_AFTER_SECONDS``) is far
longer than any call's timeouts, so a sender never loses it mid-call; a sender that dies leaves
its payout to the next delivery once the lease has run out.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.domain.countries import CountryRules
from shared.domain.money import Money
from shared.domain.payouts import Payout, PayoutStatus
from shared.domain.rail_capabilities import RailCapabilities
from shared.domain.rail_routing import (
    PassedRail,
    PayoutToRoute,
    RailAttempt,
    RailChoice,
    RailConditions,
    RailPass,
    choose_rail,
)
from shared.domain.sellers import Seller
from shared.usecases.ports import (
    BankFileQueue,
    CircuitOpen,
    OutcomeUnknown,
    PayoutRef,
    ProviderUnavailable,
    RailControls,
    SellerRailIds,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    TransferState,
    UnitOfWork,
    UnknownProvider,
)

if TYPE_CHECKING:
    from shared.usecases.payouts import PayoutService

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"  # a RailAttempt outcome: sent, outcome unknown (resolved by lookup there)


class RailSelector:
    """The choice of a rail for a payout, with the deployment's current conditions."""

    def __init__(
        self,
        capabilities: RailCapabilities,
        controls: RailControls | None = None,
        bank_files: BankFileQueue | None = None,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        after_send: Callable[[datetime], object] | None = None,
    ) -> None:
        self.capabilities = capabilities
        self.controls = controls
        self.bank_files = bank_files
        # Called after each send (rail_ops.HealthPublisher.maybe_publish: the breakers for ops).
        self.after_send = after_send
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._drained: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def drained(self) -> frozenset[str]:
        """The drained rails, read at most once per ``cache_seconds`` (a drain takes effect within
        it, with no deploy). Unreadable: the last known answer (none drained before the first)."""
        if self.controls is None:
            return frozenset()
        with self._lock:
            cached = self._drained
            if cached is not None and self.clock() - cached[0] < self.cache_seconds:
                return cached[1]
        try:
            drained = frozenset(c.rail for c in self.controls.all() if c.drained)
        except Exception:
            logger.exception("could not read the rails' drain switches; keeping the last known")
            return cached[1] if cached else frozenset()
        with self._lock:
            self._drained = (self.clock(), drained)
        return drained

    def forget(self) -> None:
        """Read the drain switches again at the next choice (after this instance changed one)."""
        with self._lock:
            self._drained = None

    def conditions(self) -> RailConditions:
        batch_ok = self.bank_files is not None
        configured = frozenset(
            r for r in self.capabilities.rails() if batch_ok or not self.capabilities.get(r).batch
        )
        return RailConditions(drained=self.drained(), configured=configured)

    def choose(
        self,
        seller: Seller,
        rules: CountryRules,
        amount: Money,
        avoid: Sequence[PassedRail] = (),
        conditions: RailConditions | None = None,
    ) -> RailChoice:
        payout = PayoutToRoute(
            country=seller.country,
            currency=amount.currency,
            scheme=seller.bank_account.scheme,
            amount=amount.amount,
            rail_accounts=seller.rail_accounts.kinds(),
        )
        return choose_rail(rules, self.capabilities, payout, conditions or self.conditions(), avoid)


def passes_as_attempts(passed: Sequence[PassedRail], at: datetime) -> tuple[RailAttempt, ...]:
    return tuple(RailAttempt(at, p.rail, p.reason.value, p.detail) for p in passed)


def transfer_request(payout: Payout, seller: Seller) -> TransferRequest:
    ids = seller.rail_accounts
    return TransferRequest(
        payout_id=payout.payout_id,
        amount=payout.amount,
        destination=seller.bank_account,
        created_at=payout.created_at,
        rail_ids=SellerRailIds(
            stripe_account=ids.stripe_account,
            adyen_account_holder=ids.adyen_account_holder,
            adyen_balance_account=ids.adyen_balance_account,
        ),
        run_id=payout.run_id,
    )


@dataclass
class _Claim:
    payout: Payout | None
    seller: Seller | None = None
    busy: bool = False
    choice: RailChoice | None = None  # a fresh payout: the rail chosen in the claim
    held: bool = False  # its run's funding check has not released it (run_funding.py)


class RouteSender:
    """The transfer worker's use case (``PayoutService.send_transfer`` calls it)."""

    def __init__(self, service: PayoutService, selector: RailSelector) -> None:
        self.service = service
        self.selector = selector

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.service.policy.sender_claim_seconds)

    def send(self, payout_id: str, now: datetime) -> str:
        try:
            return self._send(payout_id, now)
        finally:
            if self.selector.after_send is not None:
                try:
                    self.selector.after_send(now)
                except Exception:
                    logger.exception("after-send hook failed")

    def _send(self, payout_id: str, now: datetime) -> str:
        from shared.usecases.payouts import RetryLater, _payout_locks

        service = self.service
        token = uuid.uuid4().hex
        conditions = self.selector.conditions()

        def claim(uow: UnitOfWork) -> _Claim:
            uow.read_ahead(PayoutRef(payout_id))
            payout = uow.payouts.get(payout_id)
            if payout is None or payout.status is not PayoutStatus.PENDING:
                return _Claim(payout)
            if payout.sender_claim and payout.sender_claim_until and payout.sender_claim_until > now:
                return _Claim(payout, busy=True)
            if payout.transfer_started_at is None and not service.funding_released(uow, payout):
                return _Claim(payout, held=True)
            seller = uow.sellers.get(payout.seller_id)
            if seller is None:
                return _Claim(payout)
            claimed = replace(payout, sender_claim=token, sender_claim_until=now + self.lease, updated_at=now)
            choice = None
            if payout.transfer_started_at is None:  # nothing sent yet: the route decides now
                choice = self.selector.choose(
                    seller, service.registry.get(seller.country), payout.amount, conditions=conditions
                )
                if choice.rail is not None:
                    claimed = replace(
                        claimed,
                        provider=choice.rail,
                        transfer_started_at=now,
                        rail_attempts=payout.rail_attempts + passes_as_attempts(choice.passed, now),
                    )
            uow.payouts.put(claimed)
            return _Claim(claimed, seller, choice=choice)

        with _payout_locks.hold(payout_id):
            got = service.store.atomically(claim)
        payout = got.payout
        if payout is None:
            logger.error("transfer task for an unknown payout; dropped")
            return "unknown_payout"
        if payout.status is not PayoutStatus.PENDING:
            return f"already_{payout.status.value}"
        if got.busy:
            raise RetryLater("another transfer worker holds the payout")
        if got.held:  # a stray delivery before the run's funding check: retried until released
            raise RetryLater("its run's funding check has not released it")
        if got.seller is None:
            logger.error("transfer task for a payout of an unknown seller; flagged for ops")
            service.store.payouts.flag_stuck(payout_id, "seller not found", now)
            return "unknown_seller"
        return _Sending(self, payout, got.seller, token, now, conditions).run(got.choice)


class _Sending:
    """One execution of the transfer task, holding the payout's claim."""

    def __init__(
        self,
        sender: RouteSender,
        payout: Payout,
        seller: Seller,
        token: str,
        now: datetime,
        conditions: RailConditions,
    ) -> None:
        self.sender = sender
        self.service = sender.service
        self.selector = sender.selector
        self.payout = payout
        self.seller = seller
        self.token = token
        self.now = now
        self.conditions = conditions
        self.rules = self.service.registry.get(seller.country)
        self.avoid: list[PassedRail] = []
        self.unrecorded: list[RailAttempt] = []

    def run(self, fresh_choice: RailChoice | None) -> str:
        from shared.usecases.payouts import RetryLater

        if fresh_choice is not None:
            return self._along(fresh_choice, committed=True)
        # A transfer was started on payout.provider: ask there before anything else.
        rail = self.payout.provider
        if rail is None:
            self.service.store.payouts.flag_stuck(
                self.payout.payout_id, "no provider recorded on a started transfer", self.now
            )
            return "no_provider"
        if rail in self.selector.capabilities and self.selector.capabilities.get(rail).batch:
            return self._hand_to_batch(rail)
        provider = self.service.provider_of(self.payout)
        if provider is None:
            return "no_provider"
        try:
            state = provider.fetch_transfer(self.payout.payout_id)
        except ProviderUnavailable as exc:
            self._release()
            raise RetryLater(f"lookup on {rail} failed: {exc}") from exc
        if state is not None:
            return self._accepted(rail, state)
        last = next((a for a in reversed(self.payout.rail_attempts) if a.rail == rail), None)
        if last is not None and last.outcome == UNKNOWN:
            # The lookup says the rail never received it: now, and only now, it may move on.
            nr = PassedRail(rail, RailPass.NEVER_RECEIVED, "lookup by reference found no transfer")
            self.avoid.append(nr)
            self.unrecorded.append(RailAttempt(self.now, rail, nr.reason.value, nr.detail))
        return self._along(self._choose(), committed=False)

    def _choose(self) -> RailChoice:
        choice = self.selector.choose(
            self.seller, self.rules, self.payout.amount, self.avoid, conditions=self.conditions
        )
        never = [p for p in self.avoid if p.reason is RailPass.NEVER_RECEIVED]
        if choice.rail is None and never:
            # No other rail can take it: sending again on the same rail, with the same
            # idempotency key, is safe (the rail said it never received the first).
            self.avoid = [p for p in self.avoid if p.reason is not RailPass.NEVER_RECEIVED]
            choice = self.selector.choose(
                self.seller, self.rules, self.payout.amount, self.avoid, conditions=self.conditions
            )
        return choice

    def _along(self, choice: RailChoice, committed: bool) -> str:
        from shared.usecases.payouts import RetryLater

        payout_id = self.payout.payout_id
        while True:
            if choice.rail is None:
                detail = choice.summary()
                self._release()
                if choice.waits:
                    raise RetryLater(f"no rail can take the payout now: {detail}")
                logger.error("no rail of the route can pay this payout (%s); flagged for ops", detail)
                self.service.store.payouts.flag_stuck(payout_id, f"no rail can pay: {detail}", self.now)
                return "no_rail"
            rail = choice.rail
            if not committed:
                self._commit_rail(rail, choice)
            committed = False
            if choice.batch:
                return self._hand_to_batch(rail)
            try:
                provider = self.service.providers.get(rail)
            except UnknownProvider as exc:
                self.avoid.append(PassedRail(rail, RailPass.NOT_CONFIGURED, str(exc)))
                self.unrecorded.append(RailAttempt(self.now, rail, RailPass.NOT_CONFIGURED.value, str(exc)))
                choice = self._choose()
                continue
            try:
                state = provider.create_transfer(transfer_request(self.payout, self.seller))
            except TransferRejected as exc:
                logger.warning("%s rejected the transfer: %s", rail, exc.code.value)
                self.service.apply_state(
                    payout_id,
                    PayoutStatus.FAILED,
                    failure_code=exc.code,
                    cause=f"rejected by {rail}",
                    actor="transfer-worker",
                    now=self.now,
                )
                return "failed"
            except TransferNotAccepted as exc:  # failover-safe: the rail certainly did not take it
                reason = RailPass.CIRCUIT_OPEN if isinstance(exc, CircuitOpen) else RailPass.NOT_ACCEPTED
                logger.warning("%s did not accept the transfer (%s); trying the next rail", rail, exc)
                self.avoid.append(PassedRail(rail, reason, str(exc)))
                self.unrecorded.append(RailAttempt(self.now, rail, reason.value, str(exc)))
                choice = self._choose()
                continue
            except (ProviderUnavailable, OutcomeUnknown) as exc:
                # It may exist on this rail: stay here, and look it up before anything else.
                logger.warning("transfer on %s not confirmed (%s); will look it up", rail, exc)
                self.unrecorded.append(RailAttempt(self.now, rail, UNKNOWN, str(exc)))
                self._release()
                raise RetryLater(str(exc)) from exc
            return self._accepted(rail, state)

    def _accepted(self, rail: str, state: TransferState) -> str:
        self.service.apply_state(
            self.payout.payout_id,
            state.status,
            provider_ref=state.provider_ref,
            failure_code=state.failure_code,
            cause=f"accepted by {rail}",
            actor="transfer-worker",
            amount=state.amount,
            now=self.now,
        )
        return "sent"

    def _hand_to_batch(self, rail: str) -> str:
        bank_files = self.selector.bank_files
        if bank_files is None:  # conditions() keeps batch rails out of routes without a handler
            self.service.store.payouts.flag_stuck(self.payout.payout_id, f"no handler for {rail}", self.now)
            return "no_provider"
        return bank_files.queue_for_file(self.payout, self.seller, rail, self.now)

    def _commit_rail(self, rail: str, choice: RailChoice) -> None:
        """Move the payout to ``rail`` (with the steps so far), only while the claim is ours."""
        from shared.usecases.payouts import RetryLater

        steps = tuple(self.unrecorded) + passes_as_attempts(
            [p for p in choice.passed if p not in self.avoid], self.now
        )

        def commit(uow: UnitOfWork) -> Payout | None:
            uow.read_ahead(PayoutRef(self.payout.payout_id))
            payout = uow.payouts.get(self.payout.payout_id)
            if (
                payout is None
                or payout.status is not PayoutStatus.PENDING
                or payout.sender_claim != self.token
            ):
                return None
            moved = replace(
                payout,
                provider=rail,
                transfer_started_at=payout.transfer_started_at or self.now,
                rail_attempts=payout.rail_attempts + steps,
                updated_at=self.now,
            )
            uow.payouts.put(moved)
            return moved

        moved = self.service.store.atomically(commit)
        if moved is None:
            raise RetryLater("the payout's claim was lost; another attempt decides")
        self.payout = moved
        self.unrecorded = []

    def _release(self) -> None:
        """Give the claim back (with the steps not yet recorded); a failure only delays the next
        attempt until the lease ends."""
        steps = tuple(self.unrecorded)

        def release(uow: UnitOfWork) -> None:
            uow.read_ahead(PayoutRef(self.payout.payout_id))
            payout = uow.payouts.get(self.payout.payout_id)
            if payout is None or payout.sender_claim != self.token:
                return
            uow.payouts.put(
                replace(
                    payout,
                    sender_claim=None,
                    sender_claim_until=None,
                    rail_attempts=payout.rail_attempts + steps,
                    updated_at=self.now,
                )
            )

        try:
            self.service.store.atomically(release)
            self.unrecorded = []
        except Exception:
            logger.exception("could not release the payout's claim; it ends with its lease")
