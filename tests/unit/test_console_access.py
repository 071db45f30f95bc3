"""Who may use the console: IAP's signed assertion checked in full, roles from configuration
(fail closed), and the CSRF token of every form."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.entrypoints.console import access, csrf
from shared.entrypoints.console.access import AccessDenied, Permission, Role
from shared.settings import Settings

AUDIENCE = "/projects/123/global/backendServices/456"
ISSUER = "https://cloud.google.com/iap"


@pytest.fixture(scope="module")
def iap_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def settings(tmp_path: Path, iap_key) -> Settings:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(iap_key.public_key()))
    jwk.update({"kid": "k1", "alg": "ES256"})
    jwks = tmp_path / "iap-jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    roles = {"ops@example.com": ["operator"], "cfo@example.com": "approver", "ro@example.com": ["viewer"]}
    return Settings(
        CONSOLE_IAP_AUDIENCE=AUDIENCE,
        CONSOLE_IAP_JWKS_FILE=str(jwks),
        CONSOLE_ROLES=json.dumps(roles),
    )


def assertion(
    key, *, email="ops@example.com", aud=AUDIENCE, iss=ISSUER, ttl=600, alg="ES256", kid="k1", **extra
):
    now = int(time.time())
    claims = {
        "iss": iss,
        "aud": aud,
        "sub": "accounts.google.com:1",
        "email": email,
        "iat": now,
        "exp": now + ttl,
    }
    claims.update(extra)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def test_a_valid_assertion_names_the_user_and_their_roles(settings, iap_key):
    user = access.identify(assertion(iap_key, email="OPS@example.com"), settings)
    assert user.email == "ops@example.com" and user.roles == {Role.OPERATOR}
    assert user.may(Permission.CANCEL_PAYOUT) and not user.may(Permission.APPROVE_CORRECTION)


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "/projects/123/global/backendServices/999"},
        {"iss": "https://accounts.google.com"},
        {"ttl": -120},
        {"kid": "unknown"},
    ],
    ids=["other-audience", "other-issuer", "expired", "unknown-key"],
)
def test_an_assertion_not_made_for_this_console_is_refused(settings, iap_key, change):
    with pytest.raises(AccessDenied) as refused:
        access.identify(assertion(iap_key, **change), settings)
    assert refused.value.status == 401


def test_an_assertion_signed_by_another_key_or_algorithm_is_refused(settings):
    other = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (
        assertion(other),
        assertion(rsa_key, alg="RS256"),
        assertion("a-shared-secret-long-enough-1234", alg="HS256"),
    ):
        with pytest.raises(AccessDenied) as refused:
            access.identify(token, settings)
        assert refused.value.status == 401


def test_no_assertion_at_all_is_401_and_no_audience_configured_refuses_everyone(settings, iap_key):
    with pytest.raises(AccessDenied) as missing:
        access.identify(None, settings)
    assert missing.value.status == 401
    unconfigured = settings.model_copy(update={"console_iap_audience": None})
    with pytest.raises(AccessDenied):
        access.identify(assertion(iap_key), unconfigured)


def test_a_signed_in_person_without_a_role_is_403(settings, iap_key):
    with pytest.raises(AccessDenied) as refused:
        access.identify(assertion(iap_key, email="stranger@example.com"), settings)
    assert refused.value.status == 403


def test_roles_grant_what_they_say():
    viewer = access.ConsoleUser("v@x", frozenset({Role.VIEWER}))
    operator = access.ConsoleUser("o@x", frozenset({Role.OPERATOR}))
    approver = access.ConsoleUser("a@x", frozenset({Role.APPROVER}))
    assert viewer.may(Permission.VIEW) and not viewer.may(Permission.CANCEL_PAYOUT)
    assert operator.may(Permission.CANCEL_PAYOUT) and operator.may(Permission.DRAIN_PROVIDER)
    assert approver.may(Permission.APPROVE_CORRECTION) and not approver.may(Permission.CANCEL_PAYOUT)


@pytest.mark.parametrize("raw", ["not json", "[]", '{"a@x": []}', '{"a@x": ["superuser"]}', '{"a@x": 3}'])
def test_a_broken_roles_configuration_grants_nobody_anything(raw):
    assert access.parse_roles(raw) == {}


def test_a_form_token_is_accepted_only_for_its_cookie_and_its_user():
    secret, nonce = "s3cret", csrf.new_nonce()
    good = csrf.token(secret, "ops@example.com", nonce)
    assert csrf.valid(secret, "ops@example.com", nonce, good)
    assert not csrf.valid(secret, "other@example.com", nonce, good), "another user's token"
    assert not csrf.valid(secret, "ops@example.com", csrf.new_nonce(), good), "another cookie"
    assert not csrf.valid(secret, "ops@example.com", nonce, None), "missing"
    assert not csrf.valid(secret, "ops@example.com", None, good), "no cookie"
    assert not csrf.valid(secret, "ops@example.com", nonce, f"{nonce}.{'0' * 64}"), "forged signature"
    assert not csrf.valid("", "ops@example.com", nonce, csrf.token("", "ops@example.com", nonce)), "no secret"
