"""Caller authentication: Google-style OIDC ID tokens, verified the same way in every mode.

Production verifies against Google's issuer and key set. The local stack creates its own
issuer and RSA key set at start (``scripts/local_env.py``); only the key source differs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from shared.settings import Settings

_CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class Caller:
    email: str
    subject: str


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
    try:
        claims = jwt.decode(
            token,
            _source(settings).signing_key(token),
            algorithms=["RS256"],
            audience=settings.oidc_audience,
            issuer=settings.oidc_issuer,
            leeway=_CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
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
    if email not in settings.oidc_allowed_emails:
        raise AuthError(403, "caller not allowed")
    return Caller(email=email, subject=str(claims["sub"]))
