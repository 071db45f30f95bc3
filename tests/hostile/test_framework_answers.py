"""Every answer of every function is JSON, the framework's own included (issue 13, item 7).

functions-framework answers some requests before our code runs: routing (a path with a newline,
``%0A``, missed its catch-all route: a text/html 404), and a Pub/Sub push it cannot turn into a
CloudEvent (an unwrapped payload: an HTML 400 page quoting the request's headers, bearer token
included; a shape it cannot convert or nesting too deep for its parser: a text 500).
``shared.entrypoints.framework`` fixes both; these tests build each function's app the way the
framework does (``create_app`` with ``main.py``) and speak to it in process, no stack needed.
Through the running stack, ``tests/hostile/test_refusals_leave_no_trace.py`` checks the same.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from shared import log
from shared.entrypoints.auth import SIGNATURE_REMOVED
from shared.settings import get_settings
from shared.topology import FUNCTIONS

AUDIENCE = "https://functions.example/fn"
CALLER = "pubsub-push@p.iam.gserviceaccount.com"
HTTP_FUNCTIONS = [s.entry_point for s in FUNCTIONS if s.trigger not in ("pubsub", "eventarc")]
PUBSUB_FUNCTIONS = [s.entry_point for s in FUNCTIONS if s.trigger == "pubsub"]


def _token(email: str = CALLER) -> str:
    """A token as Cloud Run hands it over after checking it (signature stripped)."""

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


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_ALLOWED_EMAILS": CALLER,
        "OIDC_SIGNATURE_CHECKED_BY_PLATFORM": "true",
        "OIDC_ISSUER": "https://accounts.google.com",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(log, "_configured", True)  # keep pytest's log handlers
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _client(target: str) -> FlaskClient:
    return create_app(target, "main.py").test_client()


def _assert_json_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data()[:300]
    assert response.content_type == "application/json", response.get_data()[:300]
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


# What each HTTP function answers, itself, to a POST without credentials on a path with a newline.
NEWLINE_ANSWERS = {
    "sellers_api": (401, "unauthenticated"),
    "payouts_api": (401, "unauthenticated"),
    "reconciliation_api": (401, "unauthenticated"),
    "run_shard_worker": (401, "unauthenticated"),
    "transfer_worker": (401, "unauthenticated"),
    "remittance_worker": (401, "unauthenticated"),  # issue 18
    "order_events_webhook": (401, "invalid_signature"),
    "provider_webhook": (404, "unknown_provider"),  # /sandbox\n names no provider
    "console": (401, "unauthenticated"),  # no IAP assertion (a browser would get the sign-in page)
}


def test_every_http_function_is_listed() -> None:
    assert sorted(NEWLINE_ANSWERS) == sorted(HTTP_FUNCTIONS)


@pytest.mark.parametrize("target", HTTP_FUNCTIONS)
def test_a_path_with_a_newline_reaches_the_function(target: str) -> None:
    """Before: Flask's text/html 404. Now the function answers, as for any other path."""
    response = _client(target).post("/sandbox%0Ab", data=b"{}", headers={"Content-Type": "application/json"})
    _assert_json_error(response, *NEWLINE_ANSWERS[target])


def test_an_impossible_id_with_a_newline_is_a_422_naming_the_parameter() -> None:
    response = _client("sellers_api").get("/sellers/a%0Ab", headers={"Authorization": _token(CALLER)})
    error = _assert_json_error(response, 422, "validation_failed")
    assert [d["field"] for d in error["details"]] == ["seller_id"]


@pytest.mark.parametrize("target", HTTP_FUNCTIONS)
@pytest.mark.parametrize("path", ["/robots.txt", "/favicon.ico"])
def test_the_frameworks_own_routes_answer_json(target: str, path: str) -> None:
    _assert_json_error(_client(target).get(path), 404, "not_found")


@pytest.mark.parametrize("target", PUBSUB_FUNCTIONS)
def test_a_pubsub_function_answers_json_to_a_get(target: str) -> None:
    response = _client(target).get("/")
    _assert_json_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


BROKEN_PUSHES = {
    # A Pub/Sub message's data, sent without its envelope.
    "unwrapped payload": (json.dumps({"run_date": "2030-01-01"}), "malformed_envelope", "$"),
    "an array": ("[1, 2]", "malformed_envelope", "$"),
    "not JSON": ("run it", "malformed_json", "$"),
    "nested too deep": ("[" * 5000 + "]" * 5000, "malformed_json", "$"),
    "a duplicate key in the envelope": (
        '{"message": {"data": "e30=", "messageId": "1", "messageId": "2"}, "subscription": "s"}',
        "malformed_json",
        "message.messageId",
    ),
}


@pytest.mark.parametrize("target", PUBSUB_FUNCTIONS)
@pytest.mark.parametrize("case", sorted(BROKEN_PUSHES))
def test_a_push_the_framework_cannot_read_is_refused_in_json_after_authentication(
    target: str, case: str
) -> None:
    body, code, field = BROKEN_PUSHES[case]
    client = _client(target)
    path = "/projects/p/topics/t"
    headers = {"Content-Type": "application/json"}
    # A stranger learns nothing about the body: the token is checked first.
    _assert_json_error(client.post(path, data=body, headers=headers), 401, "unauthenticated")
    stranger = {**headers, "Authorization": _token("someone@p.iam.gserviceaccount.com")}
    _assert_json_error(client.post(path, data=body, headers=stranger), 403, "forbidden")
    pusher = {**headers, "Authorization": _token()}
    response = client.post(path, data=body, headers=pusher)
    error = _assert_json_error(response, 400, code)
    assert [d["field"] for d in error["details"]] == [field]
    assert "Bearer" not in response.get_data(as_text=True)  # the framework's page quoted the headers
