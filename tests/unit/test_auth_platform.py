"""Behind Cloud Run IAM the platform verifies the token and strips its signature: the function
still checks every claim."""

from __future__ import annotations

import base64
import json
import time

import pytest

from shared.entrypoints.auth import SIGNATURE_REMOVED, AuthError, authenticate
from shared.settings import Settings

AUD = "https://europe-west1-p.cloudfunctions.net/payouts-api"
EMAIL = "ops@p.iam.gserviceaccount.com"


def stripped(**claims) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    body = {
        "iss": "https://accounts.google.com",
        "aud": AUD,
        "sub": "1",
        "email": EMAIL,
        "email_verified": True,
        "iat": now,
        "exp": now + 300,
        **claims,
    }
    return f"Bearer {b64({'alg': 'RS256', 'kid': 'k'})}.{b64(body)}.{SIGNATURE_REMOVED}"


@pytest.fixture(scope="module")
def jwks(tmp_path_factory) -> str:
    from local_stack.local_env import ensure_material

    folder = tmp_path_factory.mktemp("oidc")
    ensure_material(folder)
    return str(folder / "oidc" / "jwks.json")


def settings(platform: bool, jwks: str = "") -> Settings:
    return Settings(
        OIDC_AUDIENCE=AUD,
        OIDC_ALLOWED_EMAILS=EMAIL,
        OIDC_SIGNATURE_CHECKED_BY_PLATFORM=platform,
        OIDC_JWKS_FILE=jwks or None,
        OIDC_ISSUER="https://accounts.google.com",
    )


def test_a_platform_checked_token_is_accepted_on_its_claims():
    assert authenticate(stripped(), settings(True)).email == EMAIL


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "https://elsewhere"}, "wrong audience"),
        ({"exp": 1_700_000_000, "iat": 1_699_999_000}, "token expired"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"email": "x@y.z"}, "caller not allowed"),
    ],
)
def test_its_claims_are_still_checked(claims, reason):
    with pytest.raises(AuthError) as err:
        authenticate(stripped(**claims), settings(True))
    assert err.value.reason == reason


def test_without_the_platform_setting_a_stripped_token_is_refused(jwks):
    with pytest.raises(AuthError):
        authenticate(stripped(), settings(False, jwks))
