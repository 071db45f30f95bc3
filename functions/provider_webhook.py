"""Provider webhooks (HTTP, public, guarded by the provider's HMAC signature).

``POST /{provider}`` (e.g. ``/sandbox``). Verifies the signature, then applies the transfer's
new state to its payout, once per provider event id. Anything that would move a final state
backwards is logged and ignored. 2xx tells the provider to stop retrying.

A webhook carries no trace context: it joins the trace stored on its payout (one read of that
field, only when tracing is on), so the payout's trace runs from its request to its webhook.
"""

from __future__ import annotations

import contextlib
import logging
import time

import flask
import functions_framework
from google.api_core import exceptions as gexc

from shared import log, tracing
from shared.entrypoints import deps
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import HttpError, Router, json_response, raw_body, serve
from shared.settings import Settings
from shared.usecases.ports import ProviderUnavailable, UnknownProvider, WebhookIgnored, WebhookRejected

logger = logging.getLogger(__name__)


def _receive(
    request: flask.Request, settings: Settings, caller: Caller | None, provider: str
) -> flask.Response:
    try:
        adapter = deps.providers().get(provider)
    except UnknownProvider as exc:
        raise HttpError(
            404, "unknown_provider", f"no provider {provider!r}", [{"field": "provider", "reason": "unknown"}]
        ) from exc
    body = raw_body(request, settings)
    try:
        event = adapter.parse_webhook(dict(request.headers.items()), body, now=int(time.time()))
    except WebhookIgnored as exc:
        # Signed, but about something the platform does not follow: acknowledge, log, apply nothing.
        logger.info("webhook ignored: %s", exc)
        return json_response({"result": "ignored", "reason": exc.why}, 200)
    except WebhookRejected as exc:
        status = 401 if exc.reason.startswith("signature") else 400
        details = exc.details or [{"field": "$", "reason": exc.reason}]
        raise HttpError(status, "invalid_webhook", exc.reason, details) from exc
    except ProviderUnavailable as exc:
        # Verified, but the rail must act first (Stripe: take a failed bank payout's money back
        # before the failure is booked): 503, and the rail delivers the webhook again.
        logger.warning("webhook not applied yet: %s", exc)
        raise HttpError(503, "rail_unavailable", "the rail could not be reached; deliver it again") from exc
    payout_id = event.transfer.reference
    attributes = {
        "provider": adapter.name,
        "payout.id": payout_id,
        "payout.status": event.transfer.status.value,
    }
    with (
        log.bind(provider_event_id=event.event_id, payout_id=payout_id),
        tracing.joined(_payout_trace(payout_id), f"{adapter.name} webhook", attributes),
    ):
        # A transfer we never asked for is kept for ops (a dead letter) and acknowledged.
        result = deps.payout_service().apply_provider_event(adapter, event)
    return json_response({"result": result})


def _payout_trace(payout_id: str) -> str | None:
    """The trace context stored on the payout, for the webhook to join (None: carry on in the
    webhook's own trace). A failed read costs the link only, never the webhook."""
    if not tracing.enabled():
        return None
    with contextlib.suppress(ValueError, gexc.GoogleAPICallError):
        payout = deps.store().payouts.get(payout_id)
        return payout.trace_context if payout is not None else None
    return None


_router = Router([("/<provider>", ["POST"], _receive)])


def _handle(request: flask.Request, settings: Settings, caller: Caller | None) -> flask.Response:
    return _router.dispatch(request, settings=settings, caller=caller)


@functions_framework.http
def provider_webhook(request: flask.Request) -> flask.Response:
    return serve(request, _handle, require_oidc=False)
