from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from local_stack.client import StackClient
from shared.adapters.firestore_store import FirestoreStore
from shared.settings import Settings


@pytest.fixture(scope="session")
def client(stack) -> StackClient:
    return StackClient.from_stack(stack, identity="marketplace")


@pytest.fixture(scope="session")
def ops(stack) -> StackClient:
    return StackClient.from_stack(stack, identity="ops")


@pytest.fixture(scope="session")
def stack_store(stack) -> FirestoreStore:
    """The store the running functions use (the stack's own project)."""
    return FirestoreStore(Settings(), project=stack.project)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


def eventually(check: Callable[[], Any], timeout: float = 30, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
