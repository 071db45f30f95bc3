"""The ``RailControls`` port on Firestore: ``rail_controls/{rail}`` (ops' drain switch, with actor,
time and reason) and ``rail_health/{rail}-{instance}`` (each instance's breaker snapshot, one
document per instance and rail, overwritten: no history to grow). Both collections are tiny (one
document per rail, per rail and instance): reading them whole is a handful of reads."""

from __future__ import annotations

from typing import Any

from shared.adapters.firestore import documents as d
from shared.adapters.firestore.store import FirestoreStore
from shared.usecases.ports import RailControl, RailHealthSnapshot


def control_to_doc(control: RailControl) -> dict[str, Any]:
    return {
        "rail": control.rail,
        "drained": control.drained,
        "actor": control.actor,
        "at": control.at,
        "reason": control.reason,
    }


def control_from_doc(data: dict[str, Any]) -> RailControl:
    return RailControl(
        rail=data["rail"],
        drained=bool(data["drained"]),
        actor=data["actor"],
        at=data["at"],
        reason=data["reason"],
    )


def health_to_doc(s: RailHealthSnapshot) -> dict[str, Any]:
    return {
        "rail": s.rail,
        "instance": s.instance,
        "state": s.state,
        "consecutive_failures": s.consecutive_failures,
        "calls": s.calls,
        "error_rate": s.error_rate,
        "p50_ms": s.p50_ms,
        "p95_ms": s.p95_ms,
        "at": s.at,
    }


def health_from_doc(data: dict[str, Any]) -> RailHealthSnapshot:
    return RailHealthSnapshot(
        rail=data["rail"],
        instance=data["instance"],
        state=data["state"],
        consecutive_failures=int(data["consecutive_failures"]),
        calls=int(data["calls"]),
        error_rate=float(data["error_rate"]),
        p50_ms=data.get("p50_ms"),
        p95_ms=data.get("p95_ms"),
        at=data["at"],
    )


class FirestoreRailControls:
    def __init__(self, store: FirestoreStore) -> None:
        self.s = store

    def all(self) -> list[RailControl]:
        snaps = self.s.calls.stream(self.s.client.collection(d.RAIL_CONTROLS))
        return sorted((control_from_doc(snap.to_dict() or {}) for snap in snaps), key=lambda c: c.rail)

    def put(self, control: RailControl) -> None:
        self.s.calls.set(self.s.refs.writable(d.RAIL_CONTROLS, control.rail), control_to_doc(control))

    def publish_health(self, snapshot: RailHealthSnapshot) -> None:
        doc_id = f"{snapshot.rail}-{snapshot.instance}"
        self.s.calls.set(self.s.refs.writable(d.RAIL_HEALTH, doc_id), health_to_doc(snapshot))

    def health(self) -> list[RailHealthSnapshot]:
        snaps = self.s.calls.stream(self.s.client.collection(d.RAIL_HEALTH))
        found = (health_from_doc(snap.to_dict() or {}) for snap in snaps)
        return sorted(found, key=lambda h: (h.rail, h.instance))
