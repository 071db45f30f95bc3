"""The RailControls port (drain switches, published breaker health): the same checks on the fake
and on Firestore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.usecases.ports import RailControl, RailHealthSnapshot
from tests.fakes.rail_controls import FakeRailControls

AT = datetime(2026, 12, 1, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture(params=["fake", pytest.param("firestore", marks=pytest.mark.integration)])
def controls(request):
    if request.param == "fake":
        return FakeRailControls()
    from shared.adapters.firestore import FirestoreStore
    from shared.adapters.firestore.rail_controls import FirestoreRailControls
    from shared.settings import Settings

    return FirestoreRailControls(
        FirestoreStore(Settings(), project=request.getfixturevalue("firestore_project"))
    )


def test_a_rail_never_touched_is_not_listed(controls):
    assert controls.all() == []


def test_the_latest_word_on_a_rail_wins_and_keeps_actor_time_and_reason(controls):
    controls.put(RailControl("adyen", True, "ops@example.com", AT, "Adyen incident INC-1"))
    controls.put(RailControl("stripe", True, "ops@example.com", AT, "maintenance"))
    controls.put(RailControl("adyen", False, "lead@example.com", AT + timedelta(hours=1), "resolved"))
    assert controls.all() == [
        RailControl("adyen", False, "lead@example.com", AT + timedelta(hours=1), "resolved"),
        RailControl("stripe", True, "ops@example.com", AT, "maintenance"),
    ]


def test_each_instance_publishes_its_own_snapshot_and_a_newer_one_replaces_it(controls):
    def snap(instance, state, at):
        return RailHealthSnapshot(
            "adyen", instance, state, 5 if state == "open" else 0, 40, 0.25, 12.5, 80.0, at
        )

    controls.publish_health(snap("i-1", "closed", AT))
    controls.publish_health(snap("i-2", "open", AT))
    controls.publish_health(snap("i-1", "open", AT + timedelta(seconds=5)))
    assert controls.health() == [snap("i-1", "open", AT + timedelta(seconds=5)), snap("i-2", "open", AT)]
