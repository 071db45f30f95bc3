"""CSRF protection of every console form: a signed double-submit token.

A random nonce lives in a cookie (``SameSite=Strict``, HttpOnly); every form carries
``nonce.HMAC(secret, email|nonce)``. A POST is accepted only when the form's token names the
cookie's nonce and its signature is the server's, for the signed-in user. A forged site can
neither read the cookie nor sign a token, and a token lifted from one user is worthless to
another. No server-side state: any instance checks any token. Missing or wrong: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "console_csrf"
FIELD = "csrf_token"


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def _signature(secret: str, email: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"{email}|{nonce}".encode(), hashlib.sha256).hexdigest()


def token(secret: str, email: str, nonce: str) -> str:
    return f"{nonce}.{_signature(secret, email, nonce)}"


def valid(secret: str, email: str, cookie_nonce: str | None, submitted: str | None) -> bool:
    """The submitted token is the one this server issued to ``email`` for the cookie's nonce."""
    if not secret or not cookie_nonce or not submitted or "." not in submitted:
        return False
    nonce, _, signature = submitted.partition(".")
    return hmac.compare_digest(nonce, cookie_nonce) and hmac.compare_digest(
        signature, _signature(secret, email, nonce)
    )
