"""The console's pages through Flask's test client, the reads faked: sign-in, roles, CSRF, the
security headers, escaping. (tests/browser drives the real thing in Chromium.)"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from functions import console as console_function
from shared.domain.money import Money
from shared.domain.payouts import new_payout
from shared.entrypoints.console import csrf
from shared.entrypoints.console.app import CSP, HERE
from shared.settings import get_settings

AUDIENCE = "/projects/1/global/backendServices/2"
EVIL = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
    jwk.update({"kid": "k", "alg": "ES256"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    env = {
        "CONSOLE_IAP_AUDIENCE": AUDIENCE,
        "CONSOLE_IAP_JWKS_FILE": str(tmp_path / "jwks.json"),
        "CONSOLE_ROLES": json.dumps({"ops@example.com": ["operator"], "ro@example.com": ["viewer"]}),
        "CONSOLE_CSRF_SECRET": "unit-test-secret",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    monkeypatch.setattr(console_function.deps, "payout_service", lambda: None)
    monkeypatch.setattr(console_function.deps, "console_reads", lambda: None)
    monkeypatch.setattr(
        console_function.views, "payout_detail", lambda svc, reads, payout_id: detail(payout_id)
    )
    cancels: list[tuple[str, str]] = []

    def cancel(svc: Any, reads: Any, payout_id: str, actor: str) -> tuple[bool, str]:
        cancels.append((payout_id, actor))
        return True, "canceled"

    monkeypatch.setattr(console_function.views, "cancel_payout", cancel)
    test_client = console_function.app.test_client()
    test_client.cancels = cancels
    try:
        yield test_client
    finally:
        get_settings.cache_clear()


def detail(payout_id: str) -> dict[str, Any]:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    payout, _ = new_payout(
        payout_id,
        "s-1",
        Money(12345, "EUR"),
        at=now,
        origin="on_demand",
        cause=EVIL,
        actor="ops@example.com",
        provider="sandbox",
    )
    return {
        "payout": payout,
        "cancellable": True,
        "transfer_started_at": None,
        "stuck_reason": None,
        "stuck_flagged_at": None,
        "trace_context": None,
        "seller": {
            "seller_id": "s-1",
            "display_name": EVIL,
            "country": "FR",
            "bank_account_masked": "FR••••0189",
            "bank_account_status": "valid",
            "kyc_status": "verified",
        },
        "webhooks": [],
        "journal": [],
        "events": [],
    }


class Tags(HTMLParser):
    """Every element of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def signed_in(email: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": "https://cloud.google.com/iap",
        "aud": AUDIENCE,
        "sub": "accounts.google.com:9",
        "email": email,
        "iat": now,
        "exp": now + 300,
    }
    return {"X-Goog-IAP-JWT-Assertion": jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": "k"})}


def form_token(client: Any, email: str) -> str:
    """Open the confirmation page as ``email``; return its form's token (the cookie is kept)."""
    page = client.get("/payouts/po_1/cancel", headers=signed_in(email))
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    if found:
        return found.group(1)
    nonce = client.get_cookie(csrf.COOKIE).value
    return csrf.token("unit-test-secret", email, nonce)


def test_without_iaps_assertion_every_page_is_401(client):
    for path in ("/", "/runs", "/payouts", "/payouts/po_1", "/dead-letters"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["Content-Security-Policy"] == CSP


def test_a_person_without_a_role_is_403(client):
    assert client.get("/payouts/po_1", headers=signed_in("stranger@example.com")).status_code == 403


def test_every_page_carries_a_policy_with_no_inline_script(client):
    response = client.get("/payouts/po_1", headers=signed_in("ro@example.com"))
    assert response.status_code == 200
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all('src="/assets/' in s for s in scripts), "scripts only from the console's files"
    tags = Tags()
    tags.feed(html)
    assert not [a for _, attrs in tags.found for a, _ in attrs if a.startswith("on") or a == "style"]
    assert [t for t, _ in tags.found].count("script") == len(scripts), "no script element but the files"


def test_displayed_fields_are_escaped(client):
    html = client.get("/payouts/po_1", headers=signed_in("ro@example.com")).get_data(as_text=True)
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
    assert "FR••••0189" in html


def test_a_viewer_sees_no_cancel_and_may_not_cancel(client):
    html = client.get("/payouts/po_1", headers=signed_in("ro@example.com")).get_data(as_text=True)
    assert 'id="cancel"' not in html
    assert client.get("/payouts/po_1/cancel", headers=signed_in("ro@example.com")).status_code == 403
    token = form_token(client, "ro@example.com")
    refused = client.post(
        "/payouts/po_1/cancel", data={"csrf_token": token}, headers=signed_in("ro@example.com")
    )
    assert refused.status_code == 403
    assert client.cancels == []


def test_an_operator_cancels_with_a_confirmation_and_is_recorded_as_the_actor(client):
    html = client.get("/payouts/po_1", headers=signed_in("ops@example.com")).get_data(as_text=True)
    assert 'id="cancel"' in html
    token = form_token(client, "ops@example.com")
    done = client.post(
        "/payouts/po_1/cancel", data={"csrf_token": token}, headers=signed_in("ops@example.com")
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/payouts/po_1?done=canceled")
    assert client.cancels == [("po_1", "ops@example.com")]


@pytest.mark.parametrize("token", [None, "", "forged.0000", "x" * 40])
def test_a_post_without_a_valid_csrf_token_is_refused(client, token):
    form_token(client, "ops@example.com")  # the cookie exists; the form's token does not match it
    data = {} if token is None else {"csrf_token": token}
    response = client.post("/payouts/po_1/cancel", data=data, headers=signed_in("ops@example.com"))
    assert response.status_code == 403
    assert client.cancels == []


def test_another_users_token_is_refused(client):
    token = form_token(client, "ro@example.com")
    response = client.post(
        "/payouts/po_1/cancel", data={"csrf_token": token}, headers=signed_in("ops@example.com")
    )
    assert response.status_code == 403


def test_static_files_need_no_identity_and_nothing_loads_from_elsewhere(client):
    for name, kind in (("console.js", "javascript"), ("console.css", "css"), ("favicon.svg", "svg")):
        response = client.get(f"/assets/{name}")
        assert response.status_code == 200 and kind in response.content_type
        response.close()
    for template in sorted((HERE / "templates").glob("*.html")):
        text = template.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), f"{template.name} loads from elsewhere"
        assert "<script>" not in text and " style=" not in text, template.name
    assert "fetch(" in (HERE / "static" / "console.js").read_text()
