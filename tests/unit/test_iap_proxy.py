"""The local IAP stand-in: its sign-in cookie cannot be forged, its login never redirects away,
and the assertion it signs is what the console verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_stack import iap_proxy, local_env
from shared.entrypoints.console import access
from shared.settings import Settings


@pytest.mark.parametrize(
    ("asked", "sent"),
    [
        ("/runs?x=1", "/runs?x=1"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil", "/"),
        (None, "/"),
    ],
)
def test_after_sign_in_it_only_sends_people_to_its_own_pages(asked, sent):
    assert iap_proxy._safe_next(asked) == sent


def test_its_cookie_cannot_be_forged_or_taken_to_another_proxy(tmp_path: Path):
    proxy = iap_proxy.Proxy(tmp_path, "http://127.0.0.1:1", local_env.IAP_AUDIENCE)
    cookie = proxy.session_cookie("ops@example.com")
    assert proxy.signed_in(f"a=b; {iap_proxy.SESSION_COOKIE}={cookie}") == "ops@example.com"
    payload, _, signature = cookie.partition(".")
    forged = payload.replace("b3Bz", "ZXZp") + "." + signature
    assert proxy.signed_in(f"{iap_proxy.SESSION_COOKIE}={forged}") is None
    other = iap_proxy.Proxy(tmp_path, "http://127.0.0.1:1", local_env.IAP_AUDIENCE)
    assert other.signed_in(f"{iap_proxy.SESSION_COOKIE}={cookie}") is None
    assert proxy.signed_in(None) is None


def test_the_assertion_it_signs_is_the_one_the_console_accepts(tmp_path: Path):
    local_env.ensure_material(tmp_path)
    settings = Settings(
        CONSOLE_IAP_AUDIENCE=local_env.IAP_AUDIENCE,
        CONSOLE_IAP_JWKS_FILE=str(tmp_path / "oidc" / "iap-jwks.json"),
        CONSOLE_ROLES='{"ops@example.com": ["operator"]}',
    )
    token = local_env.mint_iap_assertion(tmp_path, email="ops@example.com")
    assert access.identify(token, settings).email == "ops@example.com"
    elsewhere = local_env.mint_iap_assertion(tmp_path, email="ops@example.com", audience="/projects/9/x")
    with pytest.raises(access.AccessDenied):
        access.identify(elsewhere, settings)
