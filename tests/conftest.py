"""Fixtures shared by every test tier.

Unit tests start nothing. A test that asks for ``stack`` (integration and e2e tests) gets the local
stack: the one already running from ``python -m local_stack.stack start`` if it answers, else one started
for this session and stopped at its end.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from local_stack.stack import Stack, port_offset_for, state_dir_for

# Property tests assert behaviour, never timings, and replay the same examples on every run: no
# deadline (a loaded CI machine is not a failure), derandomized (a red run can be rerun as is).
settings.register_profile(
    "payouts", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("payouts")

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ENV = (
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "CLOUD_TASKS_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
)


# A second stack beside the usual one (another session, a benchmark): STACK_PORT_OFFSET moves its
# ports, and its state goes to .local/stack-<offset>/ unless STACK_STATE_DIR says where.
PORT_OFFSET = port_offset_for()
STATE_DIR = state_dir_for(ROOT, port_offset=PORT_OFFSET)


def _running_stack() -> Stack | None:
    try:
        found = Stack.load(ROOT, state_dir=STATE_DIR)
    except FileNotFoundError:
        return None
    if found.healthy():
        return found
    if found.running():  # half alive: it would hold the ports, so clear it away
        warnings.warn(f"the stack in {STATE_DIR} does not answer everywhere; restarting it", stacklevel=2)
        found.stop()
    return None


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The running local stack; this process's environment points the Google clients at it."""
    running = _running_stack()
    started = None if running else Stack.start(ROOT, port_offset=PORT_OFFSET, state_dir=STATE_DIR)
    current = running or started
    assert current is not None
    saved = {key: os.environ.get(key) for key in CLIENT_ENV}
    os.environ.update({key: current.env[key] for key in CLIENT_ENV})
    try:
        yield current
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if started is not None:
            started.stop()


@pytest.fixture
def firestore_project(stack: Stack) -> str:
    """A project id of its own, so that a test sees only its own Firestore documents."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def firestore_client(firestore_project: str) -> Iterator[object]:
    from google.cloud import firestore

    client = firestore.Client(project=firestore_project)
    try:
        yield client
    finally:
        client.close()
