"""Provider webhooks (HTTP, public, guarded by the provider's HMAC signature).

``POST /{provider}`` (e.g. ``/sandbox``). Verifies the signature, then applies the transfer's
new state to its payout, once per provider event id. Anything that would move a final state
backwards is logged and ignored. 2xx tells the provider to stop retrying.
"""

from __future__ import annotations

import time

import flask
import functions_framework

from shared import log
from shared.entrypoints import deps
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import HttpError, Router, json_response, raw_body, serve
from shared.settings import Settings
from shared.usecases.payouts import PayoutNotFound
from shared.usecases.ports import UnknownProvider, WebhookRejected


def _receive(
    request: flask.Request, settings: Settings, caller: Caller | None, provider: str
) -> flask.Response:
    try:
        adapter = deps.providers().get(provider)
    except UnknownProvider as exc:
        raise HttpError(404, "unknown_provider", f"no provider {provider}") from exc
    body = raw_body(request, settings)
    try:
        event = adapter.parse_webhook(dict(request.headers.items()), body, now=int(time.time()))
    except WebhookRejected as exc:
        status = 401 if exc.reason.startswith("signature") else 400
        raise HttpError(status, "invalid_webhook", exc.reason) from exc
    with log.bind(provider_event_id=event.event_id, payout_id=event.transfer.reference):
        try:
            result = deps.payout_service().apply_provider_event(adapter, event)
        except PayoutNotFound:
            # A transfer we never asked for: record nothing, tell ops, stop the retries.
            return json_response({"result": "unknown_payout"}, 200)
    return json_response({"result": result})


_router = Router([("/<provider>", ["POST"], _receive)])


def _handle(request: flask.Request, settings: Settings, caller: Caller | None) -> flask.Response:
    return _router.dispatch(request, settings=settings, caller=caller)


@functions_framework.http
def provider_webhook(request: flask.Request) -> flask.Response:
    return serve(request, _handle, require_oidc=False)
