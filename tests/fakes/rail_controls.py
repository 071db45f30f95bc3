"""The ``RailControls`` port in memory (its contract suite: tests/contract/test_rail_controls_contract.py)."""

from __future__ import annotations

import threading

from shared.usecases.ports import RailControl, RailHealthSnapshot


class FakeRailControls:
    def __init__(self) -> None:
        self.controls: dict[str, RailControl] = {}
        self.snapshots: dict[tuple[str, str], RailHealthSnapshot] = {}
        self.reads = 0
        self._lock = threading.Lock()

    def all(self) -> list[RailControl]:
        with self._lock:
            self.reads += 1
            return sorted(self.controls.values(), key=lambda c: c.rail)

    def put(self, control: RailControl) -> None:
        with self._lock:
            self.controls[control.rail] = control

    def publish_health(self, snapshot: RailHealthSnapshot) -> None:
        with self._lock:
            self.snapshots[(snapshot.rail, snapshot.instance)] = snapshot

    def health(self) -> list[RailHealthSnapshot]:
        with self._lock:
            return [self.snapshots[k] for k in sorted(self.snapshots)]
