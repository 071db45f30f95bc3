"""What functions-framework answers before our code runs, made to answer as our code does.

The framework (3.10.2, locally and in production alike) does two things before a function runs,
and each could answer with one of Flask's HTML pages instead of the documented JSON error body:

- **Routing.** It mounts the function at ``/`` and ``/<path:path>``, and werkzeug's ``path``
  converter does not match a newline: ``/sellers/a%0Ab`` missed the route and Flask answered a
  text/html 404, before authentication and before the function's own routing. :func:`install`
  gives the framework's URL map a ``path`` converter that matches every character, so every path
  reaches the function, which authenticates the caller and answers for the path itself.
- **CloudEvents.** For a Pub/Sub-triggered function it turns the push body into a CloudEvent. A
  body that is neither a CloudEvent nor a Pub/Sub push envelope (an unwrapped payload, say) ended
  in an HTML 400 page that quoted the request's headers, bearer token included, or in a 500.

:func:`install` registers error handlers through ``functions_framework.errorhandler`` (the
framework's documented hook, bound to its Flask app while it imports ``main.py``) that answer any
such exception with the JSON error body. A Pub/Sub delivery the framework could not read is
authenticated first, as the function would (401/403/413), then refused with 400: the delivery
itself is wrong, so Pub/Sub redelivers it and finally moves it to the subscription's dead-letter
topic, where nothing is lost. An exception raised by a function's own code is a 503 JSON answer
(retry later), never a bare 500.
"""

from __future__ import annotations

import logging

import flask
import functions_framework
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import PathConverter

from shared import log, strict_json
from shared.entrypoints.http import HttpError, error_response
from shared.entrypoints.pubsub_auth import push_refusal
from shared.entrypoints.pubsub_trigger import FUNCTION_STARTED
from shared.settings import get_settings
from shared.topology import FUNCTIONS

logger = logging.getLogger(__name__)

# CloudEvent functions: Pub/Sub pushes, and Eventarc's Cloud Storage events (bank-files-inbound).
_PUBSUB_ENTRY_POINTS = frozenset(
    spec.entry_point for spec in FUNCTIONS if spec.trigger in ("pubsub", "eventarc")
)
_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class AnyPath(PathConverter):
    """werkzeug's ``path`` converter, newlines included (``(?s:…)``: dot matches all)."""

    regex = "[^/](?s:.*?)"


def install() -> None:
    """Make functions-framework's app answer JSON everywhere. Called by ``main.py`` while the
    framework imports it (inside its app context, before it adds its routes); elsewhere it does
    nothing (``functions_framework.errorhandler`` is then a no-op)."""
    functions_framework.errorhandler(HTTPException)(_answer_http_exception)
    functions_framework.errorhandler(Exception)(_answer_exception)
    if flask.has_app_context():
        flask.current_app.url_map.converters["path"] = AnyPath


def _serves_pubsub_before_it_ran() -> bool:
    """A Pub/Sub-triggered function whose code has not started: the framework failed to read it."""
    return flask.current_app.name in _PUBSUB_ENTRY_POINTS and not flask.g.get(FUNCTION_STARTED, False)


def _refused_push(what: str) -> flask.Response:
    settings = get_settings()
    log.configure(settings.log_level)
    refusal = push_refusal(settings)
    if refusal is not None:
        return error_response(refusal)
    try:
        strict_json.check(flask.request.get_data())
    except strict_json.JsonRejected as exc:
        logger.warning("push refused: the body is not strict JSON: %s", exc)
        details = [{"field": exc.path, "reason": exc.reason}]
        return error_response(HttpError(400, "malformed_json", "body is not valid JSON", details))
    logger.warning("push refused: %s", what)
    reason = "neither a CloudEvent nor a Pub/Sub push envelope ({message: {data, messageId}, subscription})"
    return error_response(
        HttpError(
            400, "malformed_envelope", "the body is not a Pub/Sub push", [{"field": "$", "reason": reason}]
        )
    )


def _answer_http_exception(exc: HTTPException) -> flask.Response:
    status = exc.code or 500
    if status in (400, 415) and _serves_pubsub_before_it_ran():
        return _refused_push(f"the framework refused it ({status})")
    message = f"no route for {flask.request.path!r}" if status == 404 else str(exc.name)
    response = error_response(HttpError(status, _CODES.get(status, f"http_{status}"), message))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _answer_exception(exc: Exception) -> flask.Response:
    if _serves_pubsub_before_it_ran():
        # Raised while the framework read the body (a shape it cannot convert, nesting too deep
        # for its parser): the delivery is at fault, not a passing failure.
        return _refused_push(f"the framework could not read it ({type(exc).__name__})")
    logger.exception("unexpected error")
    return error_response(HttpError(503, "unavailable", "temporary failure; retry later"))
