"""Providers and rails in the console: each rail's drain switch and each instance's breaker
(state, error rate, latency, as the instances publish them), and drain or resume with a reason.

The reads and the switch are the rails' ops use case (``rail_ops.list_rails``,
``rail_ops.set_drained``, as ``GET /rails`` and ``POST /rails/{rail}/drain|resume``); this module
adds the signed-in person as the actor and the audit record in ``console_actions``.
"""

from __future__ import annotations

from datetime import datetime

from shared.domain.countries import CountryRegistry
from shared.domain.rail_capabilities import RailCapabilities
from shared.usecases import rail_ops
from shared.usecases.console_views import BadForm, NotFound, record_action
from shared.usecases.ports import ConsoleReads, RailControls

MAX_REASON = 500  # as POST /rails/{rail}/drain takes it


def rails(
    controls: RailControls, capabilities: RailCapabilities, registry: CountryRegistry
) -> list[rail_ops.RailState]:
    return rail_ops.list_rails(controls, capabilities, registry)


def rail(
    controls: RailControls, capabilities: RailCapabilities, registry: CountryRegistry, name: str
) -> rail_ops.RailState:
    for state in rail_ops.list_rails(controls, capabilities, registry):
        if state.rail == name:
            return state
    raise NotFound(name)


def change_rail(
    controls: RailControls,
    capabilities: RailCapabilities,
    registry: CountryRegistry,
    reads: ConsoleReads,
    name: str,
    *,
    drained: bool,
    actor: str,
    reason: str,
    now: datetime,
) -> rail_ops.RailState:
    """Drain (``drained``) or resume the rail as ``actor``, with a reason; recorded."""
    action = "drain_rail" if drained else "resume_rail"
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        record_action(reads, actor, action, name, "refused", "reason_required")
        raise BadForm("reason", f"a reason is required (1 to {MAX_REASON} characters)")
    try:
        state = rail_ops.set_drained(
            controls, capabilities, registry, name, drained=drained, actor=actor, reason=reason, now=now
        )
    except rail_ops.RailNotFound as exc:
        record_action(reads, actor, action, name, "refused", exc.code)
        raise NotFound(name) from exc
    record_action(reads, actor, action, name, "done", reason)
    return state
