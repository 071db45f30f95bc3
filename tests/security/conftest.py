"""The e2e fixtures (the stack, its clients, its store), and a fault-free sandbox provider."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import client, ops, stack_store, uid

__all__ = ["client", "ops", "sandbox_defaults", "stack_store", "uid"]


@pytest.fixture
def sandbox_defaults(client):
    """The sandbox provider without faults, fast, for one test."""
    resp = client.sandbox("POST", "/v1/_config", {"settle_delay_ms": 300, "return_delay_ms": 600})
    assert resp.status_code == 200, resp.text
    yield
    client.sandbox("POST", "/v1/_config", {})
