"""The sandbox adapter classifies its errors as the real rails do: a 5xx after sending is an
unknown outcome (never failover-safe), a refused connection is certainly not accepted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.providers.base import (
    OutcomeUnknown,
    TransferNotAccepted,
    TransferRejected,
    TransferRequest,
    is_failover_safe,
)
from shared.adapters.providers.sandbox import SandboxProvider
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.settings import Settings
from stand_ins.sandbox_provider import create_app
from tests.unit.rails.helpers import Catcher, Clock, account, free_port, served

KEY = "sk_sandbox"


def adapter(url: str) -> SandboxProvider:
    return SandboxProvider(Settings(SANDBOX_URL=url, SANDBOX_API_KEY=KEY, PROVIDER_TIMEOUT_SECONDS=1))


@pytest.fixture
def sandbox(tmp_path: Any) -> Iterator[tuple[str, Any]]:
    app = create_app(
        {}, KEY, "whsec", "http://hooks.test", tmp_path / "s.json", clock=Clock(), sender=Catcher()
    )
    with served(app) as url:
        yield url, app


def request(outcome: str = "paid") -> TransferRequest:
    return TransferRequest(payout_id="po_s1", amount=Money(500, "EUR"), destination=account("DE", 2, outcome))


def test_accepted_then_idempotent(sandbox):
    url, app = sandbox
    first = adapter(url).create_transfer(request())
    assert first.status is PayoutStatus.PROCESSING
    assert adapter(url).create_transfer(request()).provider_ref == first.provider_ref


def test_a_5xx_is_an_unknown_outcome(sandbox):
    url, app = sandbox
    app.test_client().post(
        "/v1/_config", json={"error_rate": 1.0}, headers={"Authorization": f"Bearer {KEY}"}
    )
    with pytest.raises(OutcomeUnknown) as unknown:
        adapter(url).create_transfer(request())
    assert not is_failover_safe(unknown.value)


def test_a_refused_connection_is_not_accepted():
    with pytest.raises(TransferNotAccepted) as refused:
        adapter(f"http://127.0.0.1:{free_port()}").create_transfer(request())
    assert is_failover_safe(refused.value)


def test_a_synchronous_refusal_keeps_its_code(sandbox):
    url, _ = sandbox
    with pytest.raises(TransferRejected) as refused:
        adapter(url).create_transfer(request("invalid_account_number"))
    assert refused.value.code is FailureCode.INVALID_ACCOUNT_NUMBER
