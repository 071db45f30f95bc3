"""payouts-api's rails routes in process (no stack): GET /rails, POST /rails/{rail}/drain|resume.
The store behind them is the fake RailControls (its contract suite runs it against Firestore)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from shared import log
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.entrypoints import deps
from shared.entrypoints.auth import SIGNATURE_REMOVED
from shared.settings import get_settings
from shared.usecases.ports import RailHealthSnapshot
from shared.usecases.rail_selection import RailSelector
from tests.fakes.rail_controls import FakeRailControls

AUDIENCE = "https://functions.example/fn"
OPS = "ops@example.com"


def _token(email: str = OPS) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "sub": "1",
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + 300,
    }
    return f"Bearer {b64({'alg': 'RS256', 'kid': 'k'})}.{b64(claims)}.{SIGNATURE_REMOVED}"


@pytest.fixture
def controls(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRailControls]:
    for name, value in {
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_ALLOWED_EMAILS": OPS,
        "OIDC_SIGNATURE_CHECKED_BY_PLATFORM": "true",
        "OIDC_ISSUER": "https://accounts.google.com",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(log, "_configured", True)
    get_settings.cache_clear()
    fake = FakeRailControls()
    selector = RailSelector(load_rail_capabilities(), fake)
    monkeypatch.setattr(deps, "rail_controls", lambda: fake)
    monkeypatch.setattr(deps, "rail_selector", lambda: selector)
    yield fake
    get_settings.cache_clear()


@pytest.fixture
def api(controls: FakeRailControls) -> FlaskClient:
    return create_app("payouts_api", "main.py").test_client()


def call(
    api: FlaskClient, method: str, path: str, body: Any = None, raw: bytes | None = None, auth: bool = True
):
    headers = {"Authorization": _token()} if auth else {}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    return api.open(path, method=method, data=data, headers={**headers, "Content-Type": "application/json"})


def test_ops_list_every_rail_with_its_routes(api, controls):
    controls.publish_health(
        RailHealthSnapshot("adyen", "rev-1-host-a", "open", 5, 40, 0.5, 120.0, 900.0, datetime.now(UTC))
    )
    answer = call(api, "GET", "/rails")
    assert answer.status_code == 200, answer.get_data()
    rails = {r["rail"]: r for r in answer.get_json()["data"]}
    assert set(rails) == {"adyen", "sandbox", "sepa_file", "stripe"}
    assert rails["sepa_file"]["batch"] and not rails["adyen"]["batch"]
    assert {"country": "SE", "position": 1} in rails["adyen"]["routes"]
    assert {"country": "PL", "position": 1} in rails["stripe"]["routes"]
    assert rails["adyen"]["instances"][0]["state"] == "open"
    assert rails["adyen"]["drained"] is False and rails["adyen"]["last_change"] is None


def test_ops_drain_then_resume_a_rail_recorded_with_actor_time_and_reason(api, controls):
    answer = call(api, "POST", "/rails/adyen/drain", {"reason": "Adyen incident INC-42"})
    assert answer.status_code == 200, answer.get_data()
    view = answer.get_json()
    assert view["drained"] is True
    assert (view["last_change"]["actor"], view["last_change"]["reason"]) == (OPS, "Adyen incident INC-42")
    assert deps.rail_selector().drained() == frozenset({"adyen"})
    assert call(api, "GET", "/rails").get_json()["data"][0]["drained"] is True
    answer = call(api, "POST", "/rails/adyen/resume", {"reason": "resolved"})
    assert answer.status_code == 200 and answer.get_json()["drained"] is False
    assert deps.rail_selector().drained() == frozenset()


def test_an_unknown_rail_is_a_404_and_nothing_is_written(api, controls):
    answer = call(api, "POST", "/rails/paypal/drain", {"reason": "x"})
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "rail_not_found"
    assert controls.controls == {}


@pytest.mark.parametrize(
    ("path", "body", "raw", "status", "field"),
    [
        ("/rails/adyen/drain", {}, None, 422, "reason"),
        ("/rails/adyen/drain", {"reason": ""}, None, 422, "reason"),
        ("/rails/adyen/drain", {"reason": "x", "force": True}, None, 422, "force"),
        ("/rails/adyen/drain", None, b'{"reason": "a", "reason": "b"}', 400, None),
        ("/rails/adyen/drain", None, b"not json", 400, None),
        ("/rails/ADYEN!/drain", {"reason": "x"}, None, 422, "rail"),
    ],
)
def test_a_bad_request_is_refused_with_its_field_and_nothing_is_written(
    api, controls, path, body, raw, status, field
):
    answer = call(api, "POST", path, body, raw)
    assert answer.status_code == status, answer.get_data()
    error = answer.get_json()["error"]
    if field:
        assert field in {d["field"] for d in error["details"]}, error
    assert controls.controls == {}


def test_no_token_no_drain(api, controls):
    answer = call(api, "POST", "/rails/adyen/drain", {"reason": "x"}, auth=False)
    assert answer.status_code == 401 and controls.controls == {}


def test_each_instance_publishes_its_breakers_on_a_change_and_otherwise_once_a_minute():
    from shared.usecases.rail_ops import HealthPublisher

    fake, clock = FakeRailControls(), [0.0]
    state = {"rail": "adyen", "state": "closed", "consecutive_failures": 0, "calls": 3, "error_rate": 0.0}
    rails = [dict(state)]
    publisher = HealthPublisher(fake, lambda: rails, "i-1", interval_seconds=60, clock=lambda: clock[0])
    now = datetime.now(UTC)
    assert publisher.maybe_publish(now) == 1
    assert publisher.maybe_publish(now) == 0  # nothing changed, not due: no write
    rails[0] = {**state, "state": "open", "consecutive_failures": 5}
    assert publisher.maybe_publish(now) == 1  # a transition is published at once
    assert fake.health()[0].state == "open"
    clock[0] = 61.0
    assert publisher.maybe_publish(now) == 1  # and the figures once a minute


class _InProcess:
    """A payouts-ops target that calls the in-process payouts-api."""

    def __init__(self, api: FlaskClient) -> None:
        self.api = api

    def call(self, method, service, path, body=None, headers=None):
        import requests

        answer = call(self.api, method, path, body)
        resp = requests.Response()
        resp.status_code = answer.status_code
        resp._content = answer.get_data()
        return resp


def test_payouts_ops_rails_list_drain_resume(api, controls, monkeypatch):
    from typer.testing import CliRunner

    from tools import ops

    monkeypatch.setattr(ops, "_api", lambda ctx: ops.Api(_InProcess(api)))
    runner = CliRunner()
    drained = runner.invoke(ops.app, ["rails", "drain", "stripe", "--reason", "Stripe incident", "--json"])
    assert drained.exit_code == 0, drained.output
    assert json.loads(drained.output)["drained"] is True
    assert (
        controls.controls["stripe"].actor == OPS and controls.controls["stripe"].reason == "Stripe incident"
    )
    listed = runner.invoke(ops.app, ["rails", "list"])
    assert listed.exit_code == 0 and "DRAINED" in listed.output and "Stripe incident" in listed.output
    resumed = runner.invoke(ops.app, ["rails", "resume", "stripe", "--reason", "ok", "--json"])
    assert resumed.exit_code == 0 and json.loads(resumed.output)["drained"] is False
    unknown = runner.invoke(ops.app, ["rails", "drain", "paypal", "--reason", "x"])
    assert unknown.exit_code == 1 and "no rail 'paypal'" in unknown.output
