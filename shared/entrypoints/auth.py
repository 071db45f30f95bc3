"""Caller authentication: Google-style OIDC ID tokens, verified the same way in every mode.

Production verifies against Google's issuer and key set. The local stack creates its own
issuer and RSA key set at start (``local_stack/local_env.py``); only the key source differs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt

from shared.settings import Settings

_CLOCK_SKEW_SECONDS = 30
# What Cloud Run leaves in place of a token's signature after its IAM check verified it.
SIGNATURE_REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"
SELLER_SCOPES_ENV = "OIDC_SELLER_SCOPES"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    email: str
    subject: str
    # None: the caller may act on every seller (ops, the marketplace, service callers).
    # A set: a seller-scoped caller (a seller portal): it may only read these sellers' data.
    sellers: frozenset[str] | None = None

    def may_read_seller(self, seller_id: object) -> bool:
        return self.sellers is None or seller_id in self.sellers


@dataclass(frozen=True)
class AuthError(Exception):
    status: int  # 401 unauthenticated, 403 authenticated but not allowed
    reason: str

    def __str__(self) -> str:
        return self.reason


class _KeySource:
    """Resolves the signing key of a token by its ``kid``, from a URL or a local file."""

    def __init__(self, settings: Settings) -> None:
        self._file = settings.oidc_jwks_file
        self._client = None if self._file else jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True)
        self._file_keys: jwt.PyJWKSet | None = None
        self._lock = threading.Lock()

    def signing_key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        header = jwt.get_unverified_header(token)
        with self._lock:
            if self._file_keys is None:
                assert self._file is not None
                self._file_keys = jwt.PyJWKSet.from_dict(json.loads(Path(self._file).read_text()))
        for key in self._file_keys.keys:
            if key.key_id == header.get("kid"):
                return key.key
        raise jwt.InvalidTokenError("unknown key id")


_sources: dict[tuple[str | None, str], _KeySource] = {}
_sources_lock = threading.Lock()


def _source(settings: Settings) -> _KeySource:
    key = (settings.oidc_jwks_file, settings.oidc_jwks_url)
    with _sources_lock:
        if key not in _sources:
            _sources[key] = _KeySource(settings)
        return _sources[key]


@lru_cache(maxsize=4)
def _parse_seller_scopes(raw: str) -> dict[str, frozenset[str]]:
    try:
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise ValueError("not an object")
        scopes = {}
        for email, sellers in data.items():
            if not isinstance(sellers, list) or not all(isinstance(s, str) and s for s in sellers):
                raise ValueError(f"{email}: not a list of seller ids")
            scopes[str(email)] = frozenset(sellers)
        return scopes
    except ValueError as exc:
        # Fail closed: with a broken configuration no seller-scoped caller gets in.
        logger.error("%s is not valid, seller-scoped callers refused: %s", SELLER_SCOPES_ENV, exc)
        return {}


def seller_scopes() -> dict[str, frozenset[str]]:
    """Seller-scoped callers of this function: ``OIDC_SELLER_SCOPES={"email": ["seller id", …]}``.

    A caller listed here may only read the listed sellers' data, even if it is also in
    ``OIDC_ALLOWED_EMAILS``: the narrower grant wins.
    """
    return _parse_seller_scopes(os.environ.get(SELLER_SCOPES_ENV, ""))


def authenticate(authorization: str | None, settings: Settings) -> Caller:
    """Verify a bearer token's signature, issuer, audience, expiry and caller email."""
    if not authorization:
        raise AuthError(401, "missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError(401, "malformed authorization header")
    if not settings.oidc_audience:
        # Fail closed: a function without a configured audience accepts nobody.
        raise AuthError(401, "function has no OIDC audience configured")
    checked_by_platform = settings.oidc_signature_checked_by_platform and token.endswith(
        "." + SIGNATURE_REMOVED
    )
    try:
        claims = jwt.decode(
            token,
            "" if checked_by_platform else _source(settings).signing_key(token),
            algorithms=["RS256"],
            audience=settings.oidc_audience,
            issuer=settings.oidc_issuer,
            leeway=_CLOCK_SKEW_SECONDS,
            options={
                "require": ["exp", "iat", "iss", "aud", "sub"],
                # Behind Cloud Run IAM the platform checked the signature, then removed it.
                "verify_signature": not checked_by_platform,
                # PyJWT turns every other check off with the signature's unless told otherwise.
                "verify_exp": True,
                "verify_iat": True,
                "verify_aud": True,
                "verify_iss": True,
            },
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError(401, "token expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthError(401, "wrong audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError(401, "wrong issuer") from exc
    except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
        raise AuthError(401, "invalid token") from exc
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        raise AuthError(403, "token has no verified email")
    scope = seller_scopes().get(email)
    if scope is not None:
        return Caller(email=email, subject=str(claims["sub"]), sellers=scope)
    if email not in settings.oidc_allowed_emails:
        raise AuthError(403, "caller not allowed")
    return Caller(email=email, subject=str(claims["sub"]))
