"""Choosing a payout's rail: the first rail of the country's route that can take it. No I/O.

A country's route (``CountryRules.rails``) is an ordered list of rails. A payout goes to the
first rail that is not drained by ops, not known to be down (breaker open), can pay the seller's
country, currency and bank scheme (``rail_capabilities.json``), takes the amount (the country's
``rail_limits``), and for which the seller has the ids it needs (``needs``: a Stripe connected
account). Every rail passed over is named with its reason, for the payout's history and for a
skip that says why no rail could pay.

Failover (moving a payout to a later rail after a call) is decided by the use case
(``shared/usecases/rail_selection.py``) only when the earlier rail certainly did not accept the
transfer; this module only says which rails are left.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.domain.countries import CountryRules
from shared.domain.rail_capabilities import RailCapabilities


class RailPass(StrEnum):
    """Why a rail of the route was passed over for a payout."""

    # May change by themselves: the payout waits and tries the route again.
    DRAINED = "drained"  # ops drained the rail
    CIRCUIT_OPEN = "circuit_open"  # the rail's breaker is open
    NOT_ACCEPTED = "not_accepted"  # tried just now: the rail certainly did not accept it
    NEVER_RECEIVED = "never_received"  # an unknown outcome there, and its lookup found nothing
    # Do not change without a change of data or of the seller: no use waiting.
    UNSUPPORTED = "unsupported"  # country, currency or bank scheme not in the rail's lanes
    OVER_LIMIT = "over_limit"  # above the rail's limit in this country
    MISSING_RAIL_ACCOUNT = "missing_rail_account"  # the seller lacks the rail's ids
    NOT_CONFIGURED = "not_configured"  # this deployment has no such rail (or no batch handler)


TRANSIENT_PASSES = frozenset(
    {RailPass.DRAINED, RailPass.CIRCUIT_OPEN, RailPass.NOT_ACCEPTED, RailPass.NEVER_RECEIVED}
)


@dataclass(frozen=True)
class RailConditions:
    """What the deployment knows of its rails at the time of a choice."""

    drained: frozenset[str] = frozenset()
    open_circuits: frozenset[str] = frozenset()
    configured: frozenset[str] | None = None  # None: every rail with capabilities


@dataclass(frozen=True)
class PassedRail:
    rail: str
    reason: RailPass
    detail: str = ""


@dataclass(frozen=True)
class RailChoice:
    rail: str | None  # None: no rail of the route can take the payout now
    passed: tuple[PassedRail, ...] = ()
    batch: bool = False  # the chosen rail is a batch rail (queued for a file, not called)

    @property
    def waits(self) -> bool:
        """No rail now, but one may take it later (every pass is transient)."""
        return self.rail is None and any(p.reason in TRANSIENT_PASSES for p in self.passed)

    def summary(self) -> str:
        return "; ".join(
            f"{p.rail}: {p.reason.value}{' (' + p.detail + ')' if p.detail else ''}" for p in self.passed
        )


@dataclass(frozen=True)
class RailAttempt:
    """One step of a payout's way along its route, kept on the payout (its rail history)."""

    at: datetime
    rail: str
    outcome: str  # a RailPass value, or "unknown" (sent, outcome unknown: resolved by lookup)
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"at": self.at, "rail": self.rail, "outcome": self.outcome, "detail": self.detail}


@dataclass(frozen=True)
class PayoutToRoute:
    """What the choice needs to know about the payout and its seller."""

    country: str
    currency: str
    scheme: str
    amount: int  # minor units
    rail_accounts: frozenset[str] = field(default_factory=frozenset)  # kinds the seller has


def choose_rail(
    rules: CountryRules,
    capabilities: RailCapabilities,
    payout: PayoutToRoute,
    conditions: RailConditions,
    avoid: Collection[PassedRail] = (),
) -> RailChoice:
    """The first rail of ``rules.rails`` that can take ``payout`` now, skipping ``avoid``."""
    avoided = {p.rail: p for p in avoid}
    passed: list[PassedRail] = []
    for rail in rules.rails:
        reason = _why_not(rail, rules, capabilities, payout, conditions)
        if reason is None and rail in avoided:
            passed.append(avoided[rail])
            continue
        if reason is not None:
            passed.append(PassedRail(rail, *reason))
            continue
        return RailChoice(rail, tuple(passed), batch=capabilities.get(rail).batch)
    return RailChoice(None, tuple(passed))


def _why_not(
    rail: str,
    rules: CountryRules,
    capabilities: RailCapabilities,
    payout: PayoutToRoute,
    conditions: RailConditions,
) -> tuple[RailPass, str] | None:
    if rail not in capabilities or (conditions.configured is not None and rail not in conditions.configured):
        return RailPass.NOT_CONFIGURED, f"no {rail} rail in this deployment"
    capability = capabilities.get(rail)
    unsupported = capability.why_not(payout.country, payout.currency, payout.scheme)
    if unsupported:
        return RailPass.UNSUPPORTED, unsupported
    limit = rules.rail_limits.get(rail)
    if limit is not None and payout.amount > limit:
        return RailPass.OVER_LIMIT, f"{rail} takes at most {limit} here"
    missing = [kind for kind in capability.needs if kind not in payout.rail_accounts]
    if missing:
        return RailPass.MISSING_RAIL_ACCOUNT, f"the seller has no {', '.join(missing)}"
    if rail in conditions.drained:
        return RailPass.DRAINED, ""
    if rail in conditions.open_circuits:
        return RailPass.CIRCUIT_OPEN, ""
    return None
