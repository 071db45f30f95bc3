"""Rails as ops data: list the rails with their drain switch and breakers, drain and resume.

A drain is a document per rail (``RailControls``), read by the senders through a short cache
(``RailSelector.drained``): within seconds new payouts go to the next rail of their route, with
no deploy; payouts already started on the rail finish there (their lookups and webhooks are not
touched by a drain). Each instance keeps its breakers in memory and publishes a snapshot of them
(``HealthPublisher``) when a breaker changes state, and at most once a minute otherwise, so ops
see every instance for a handful of writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.countries import CountryRegistry
from shared.domain.errors import DomainError
from shared.domain.rail_capabilities import RailCapabilities
from shared.usecases.ports import RailControl, RailControls, RailHealthSnapshot

logger = logging.getLogger(__name__)


class RailNotFound(DomainError):
    def __init__(self, rail: str) -> None:
        super().__init__("rail_not_found", f"no rail {rail!r}", "rail")


@dataclass(frozen=True)
class RailState:
    rail: str
    batch: bool
    drained: bool
    control: RailControl | None  # the last drain or resume, if any
    instances: tuple[RailHealthSnapshot, ...]  # each instance's latest breaker snapshot
    routes: tuple[tuple[str, int], ...]  # (country, position in its route: 1 = first choice)


def list_rails(
    controls: RailControls, capabilities: RailCapabilities, registry: CountryRegistry
) -> list[RailState]:
    by_rail = {c.rail: c for c in controls.all()}
    health = controls.health()
    return [_state(rail, capabilities, registry, by_rail.get(rail), health) for rail in capabilities.rails()]


def set_drained(
    controls: RailControls,
    capabilities: RailCapabilities,
    registry: CountryRegistry,
    rail: str,
    *,
    drained: bool,
    actor: str,
    reason: str,
    now: datetime,
) -> RailState:
    """Drain (``drained``) or resume a rail; recorded with who, when and why."""
    if rail not in capabilities:
        raise RailNotFound(rail)
    control = RailControl(rail, drained, actor, now, reason)
    controls.put(control)
    logger.warning("rail %s %s by %s: %s", rail, "drained" if drained else "resumed", actor, reason)
    return _state(rail, capabilities, registry, control, controls.health())


def _state(
    rail: str,
    capabilities: RailCapabilities,
    registry: CountryRegistry,
    control: RailControl | None,
    health: Sequence[RailHealthSnapshot],
) -> RailState:
    routes = tuple(
        (country, registry.get(country).rails.index(rail) + 1)
        for country in registry.countries()
        if rail in registry.get(country).rails
    )
    return RailState(
        rail=rail,
        batch=capabilities.get(rail).batch,
        drained=bool(control and control.drained),
        control=control,
        instances=tuple(h for h in health if h.rail == rail),
        routes=routes,
    )


class HealthPublisher:
    """Publishes this instance's breaker snapshots (``source``: the adapters' ``rails_health()``):
    at once when a rail's breaker state changed since the last publication, otherwise at most
    every ``interval_seconds``. A failed write is logged and tried again next time."""

    def __init__(
        self,
        controls: RailControls,
        source: Callable[[], Sequence[Mapping[str, Any]]],
        instance: str,
        interval_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.controls = controls
        self.source = source
        self.instance = instance
        self.interval_seconds = interval_seconds
        self.clock = clock
        self._last: tuple[float, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def maybe_publish(self, now: datetime) -> int:
        """How many snapshots were written (0 when nothing was due)."""
        rails = list(self.source())
        states = {str(r["rail"]): str(r["state"]) for r in rails}
        with self._lock:
            last = self._last
            due = last is None or last[1] != states or self.clock() - last[0] >= self.interval_seconds
            if not due or not rails:
                return 0
            self._last = (self.clock(), states)
        try:
            for r in rails:
                self.controls.publish_health(
                    RailHealthSnapshot(
                        rail=str(r["rail"]),
                        instance=self.instance,
                        state=str(r["state"]),
                        consecutive_failures=int(r["consecutive_failures"]),
                        calls=int(r["calls"]),
                        error_rate=float(r["error_rate"]),
                        p50_ms=r.get("latency_ms_p50"),
                        p95_ms=r.get("latency_ms_p95"),
                        at=now,
                    )
                )
        except Exception:
            logger.exception("could not publish the rails' health; trying again next time")
            with self._lock:
                self._last = None
            return 0
        return len(rails)
