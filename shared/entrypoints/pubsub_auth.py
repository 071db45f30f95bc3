"""Authentication of Pub/Sub push deliveries into the CloudEvent functions.

A push subscription (or the Eventarc trigger of a gen2 function) with an OIDC service account
sends ``Authorization: Bearer <Google ID token>``: email the push service account, audience the
function's URL. Every Pub/Sub-triggered function calls :func:`require_push_caller` first, so the
token is verified exactly like the HTTP functions' (``shared.entrypoints.auth.authenticate``: signature,
issuer, audience, expiry, ``OIDC_ALLOWED_EMAILS``). Locally the Pub/Sub emulator sends no token;
the stack's push relay (``local_stack/push_relay.py``) adds one, as production does.

functions-framework runs a CloudEvent function inside the Flask request of the push, so the
headers are at hand. A refusal raises an HTTP exception carrying the usual JSON error body:
401 (no, expired, forged or misaddressed token), 403 (a caller that is not the push account)
or 413 (an envelope over the size cap). functions-framework answers with that status, nothing
is read or written, and Pub/Sub, which acknowledges only a 2xx, redelivers the message (then
its dead-letter topic takes it): a misconfigured token never loses a message.
"""

from __future__ import annotations

import logging

import flask

from shared.entrypoints.auth import AuthError, authenticate
from shared.entrypoints.http import HttpError, error_response
from shared.settings import Settings

logger = logging.getLogger(__name__)

# A push envelope carries the message base64-encoded (4/3 of its size) plus its attributes and ids.
_ENVELOPE_OVERHEAD_BYTES = 8 * 1024


def envelope_limit(settings: Settings) -> int:
    """Largest push request accepted: a message of ``MAX_BODY_BYTES`` in its envelope."""
    return (settings.max_body_bytes + 2) // 3 * 4 + _ENVELOPE_OVERHEAD_BYTES


def push_refusal(settings: Settings) -> HttpError | None:
    """Why this push delivery is refused (a bad token, a seller-scoped caller, over the size cap),
    or None when it comes from the push identity within the cap."""
    request = flask.request
    try:
        caller = authenticate(request.headers.get("Authorization"), settings)
    except AuthError as exc:
        logger.warning("push refused (%d): %s", exc.status, exc.reason)
        return HttpError(exc.status, "unauthenticated" if exc.status == 401 else "forbidden", exc.reason)
    if caller.sellers is not None:
        logger.warning("push refused: a seller-scoped caller")
        return HttpError(403, "forbidden", "caller not allowed")
    limit = envelope_limit(settings)
    size = request.content_length if request.content_length is not None else len(request.get_data())
    if size > limit:
        logger.warning("push refused: %d bytes, over the %d-byte cap", size, limit)
        return HttpError(413, "body_too_large", f"body exceeds {limit} bytes")
    return None


def require_push_caller(settings: Settings) -> None:
    """Verify the push's OIDC token and its size; refuse the delivery otherwise."""
    refusal = push_refusal(settings)
    if refusal is not None:
        flask.abort(error_response(refusal))
