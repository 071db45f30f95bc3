"""reconciliation-api over HTTP, in process (the app built as functions-framework builds it), on
the in-memory store and a fake rail: the answers, the errors with their fields, the actor taken
from the ID token (never from the body), maker-checker between two callers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from shared import log
from shared.entrypoints import deps
from shared.entrypoints.auth import SIGNATURE_REMOVED
from shared.settings import get_settings
from shared.usecases.reconciliation import ReconciliationService
from tests.fakes.storage import FakeStore
from tests.unit.usecases.test_reconciliation import FakeRailRecords

AUDIENCE = "https://functions.example/reconciliation-api"
OPS, FINANCE = "ops@p.iam.gserviceaccount.com", "finance@example.com"
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
DAY = {"rail": "sandbox", "from": "2026-11-24T00:00:00+00:00", "to": "2026-11-25T00:00:00+00:00"}


def _token(email: str) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "sub": "1", "email": email,
              "email_verified": True, "iat": now, "exp": now + 300}  # fmt: skip
    return f"Bearer {b64({'alg': 'RS256', 'kid': 'k'})}.{b64(claims)}.{SIGNATURE_REMOVED}"


@pytest.fixture
def rail(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRailRecords]:
    for name, value in {
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_ALLOWED_EMAILS": f"{OPS},{FINANCE}",
        "OIDC_SIGNATURE_CHECKED_BY_PLATFORM": "true",
        "OIDC_ISSUER": "https://accounts.google.com",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(log, "_configured", True)
    get_settings.cache_clear()
    found = FakeRailRecords()
    svc = ReconciliationService(FakeStore(), found, clock=lambda: NOW)
    monkeypatch.setattr(deps, "reconciliation_service", lambda: svc)
    yield found
    get_settings.cache_clear()


@pytest.fixture
def api() -> FlaskClient:
    return create_app("reconciliation_api", "main.py").test_client()


def call(api: FlaskClient, method: str, path: str, body: Any = None, who: str = OPS) -> Any:
    return api.open(path, method=method, json=body, headers={"Authorization": _token(who)})


def error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data()[:300]
    found: dict[str, Any] = resp.get_json()["error"]
    return found


def test_a_day_is_reconciled_and_a_break_resolved_by_two_people(api, rail):
    rail.transfer(None, 900, record_id="tr_stranger", at=NOW - timedelta(hours=12))
    report = call(api, "POST", "/reconciliations", DAY)
    assert report.status_code == 201
    assert report.get_json()["report_id"] == "sandbox-2026-11-24" and report.get_json()["breaks"] == 1
    assert call(api, "GET", "/reconciliations/sandbox-2026-11-24").get_json() == report.get_json()
    (brk,) = call(api, "GET", "/reconciliation-breaks?class=unknown_to_us").get_json()["data"]
    path = f"/reconciliation-breaks/{brk['break_id']}"
    postings = [
        {"account": "platform:payouts", "amount": 900, "currency": "EUR"},
        {"account": "platform:commission", "amount": -900, "currency": "EUR"},
    ]
    body = {"reason": "money left", "postings": postings, "actor": FINANCE}
    assert error(call(api, "POST", f"{path}/propose", body), 422)["details"][0]["field"] == "actor"
    del body["actor"]  # the actor is the caller, never a field
    assert call(api, "POST", f"{path}/propose", body).get_json()["state"] == "correction_proposed"
    assert error(call(api, "POST", f"{path}/approve", {}), 409)["code"] == "same_maker_and_checker"
    done = call(api, "POST", f"{path}/approve", {"note": "ok"}, who=FINANCE).get_json()
    assert done["state"] == "corrected"
    assert [(a["action"], a["actor"]) for a in done["history"][1:]] == [
        ("correction_proposed", OPS),
        ("correction_approved", FINANCE),
    ]


def test_refusals_name_their_field(api, rail):
    naive = {**DAY, "from": "2026-11-24T00:00:00"}
    assert error(call(api, "POST", "/reconciliations", naive), 422)["details"][0]["field"] == "from"
    backwards = {**DAY, "to": DAY["from"]}
    assert error(call(api, "POST", "/reconciliations", backwards), 422)["code"] == "invalid_window"
    assert (
        error(call(api, "POST", "/reconciliations", {**DAY, "rail": "stripe"}), 422)["code"] == "unknown_rail"
    )
    assert (
        error(call(api, "POST", "/reconciliations", {**DAY, "rail": "Bad Rail"}), 422)["details"][0]["field"]
        == "rail"
    )
    assert error(call(api, "GET", "/reconciliation-breaks?class=nope"), 422)["details"][0]["field"] == (
        "query.class"
    )
    assert (
        error(call(api, "GET", "/reconciliation-breaks?page_token=%%%"), 400)["code"] == "invalid_page_token"
    )
    assert error(call(api, "GET", "/reconciliation-breaks/brk_missing"), 404)["code"] == "break_not_found"
    assert error(call(api, "GET", "/reconciliations/sandbox-1999-01-01"), 404)["code"] == "report_not_found"
    assert error(call(api, "POST", "/reconciliation-breaks/brk_x/undo", {}), 404)["code"] == "not_found"
    assert error(call(api, "POST", "/reconciliation-breaks/brk_x/acknowledge", {"note": "x"}), 404)[
        "code"
    ] == ("break_not_found")


def test_a_proposal_must_balance_and_name_known_accounts(api, rail):
    rail.transfer(None, 900, record_id="tr_stranger", at=NOW - timedelta(hours=12))
    call(api, "POST", "/reconciliations", DAY)
    (brk,) = call(api, "GET", "/reconciliation-breaks").get_json()["data"]
    path = f"/reconciliation-breaks/{brk['break_id']}/propose"
    one = {"account": "platform:payouts", "amount": 900, "currency": "EUR"}
    unbalanced = {"reason": "x", "postings": [one, {**one, "account": "platform:commission", "amount": -1}]}
    assert error(call(api, "POST", path, unbalanced), 422)["code"] == "unbalanced_entry"
    unknown = {"reason": "x", "postings": [one, {**one, "account": "bank:secret", "amount": -900}]}
    assert error(call(api, "POST", path, unknown), 409)["code"] == "unknown_account"
    assert error(call(api, "POST", path, {"reason": "x", "postings": [one]}), 422)["details"][0]["field"] == (
        "postings"
    )
