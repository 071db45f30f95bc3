"""HTTP plumbing shared by the HTTP functions: routing, bodies, errors, authentication.

Functions stay thin: they route, parse, call one use case and map its result. Every error
body has one shape: ``{"error": {"code", "message", "details": [{"field", "reason"}]}}``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, TypeAdapter, ValidationError
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from shared import log, strict_json, tracing
from shared.domain.errors import DomainError
from shared.domain.payouts import IllegalTransition, PayoutAlreadySent
from shared.domain.reconciliation import BreakActionRefused
from shared.domain.remittance import PayoutNotPaid
from shared.domain.runs import IllegalRunTransition, RunDateNotBegun, RunNotFound
from shared.domain.statements import StatementOutOfStep
from shared.domain.validation import Identifier, InvalidPayload, ResourceId, field_errors, parse_payload
from shared.entrypoints.auth import AuthError, Caller, authenticate
from shared.settings import Settings, get_settings
from shared.usecases.order_events import EventConflict
from shared.usecases.payouts import IdempotencyConflict, PayoutNotFound, PayoutRefused
from shared.usecases.rail_ops import RailNotFound
from shared.usecases.reconciliation import BreakNotFound, ReportNotFound
from shared.usecases.sellers import SellerNotFound
from shared.usecases.statements import PayoutContentsNotRecorded

logger = logging.getLogger(__name__)

Handler = Callable[..., flask.Response]


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    return flask.Response(
        json.dumps(body, default=_json_default, separators=(",", ":")),
        status=status,
        mimetype="application/json",
        headers=headers,
    )


def error_body(code: str, message: str, details: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The one error shape of every answer."""
    return {"error": {"code": code, "message": message, "details": list(details)}}


def error_response(err: HttpError) -> flask.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="payouts"'} if err.status == 401 else None
    return json_response(error_body(err.code, err.message, err.details), err.status, headers)


_BODY_KEY = "seller_payouts.body"  # the capped body, read once per request (request.environ)


def raw_body(request: flask.Request, settings: Settings) -> bytes:
    """The raw body, refused past the size cap before it is read whole. ``serve`` reads it for
    every route, whether or not the route wants a body; handlers get the same bytes again."""
    cached = request.environ.get(_BODY_KEY)
    if isinstance(cached, bytes):
        return cached
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise HttpError(413, "body_too_large", f"body exceeds {limit} bytes")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise HttpError(413, "body_too_large", f"body exceeds {limit} bytes")
    request.environ[_BODY_KEY] = data
    return data


M = TypeVar("M", bound=BaseModel)


def read_model(request: flask.Request, settings: Settings, model: type[M]) -> M:
    """The capped body, strict JSON (400 if it is not), validated strictly by ``model`` (422)."""
    return parse_payload(model, raw_body(request, settings))


def payload_error(exc: InvalidPayload) -> HttpError:
    """A refused body as an answer: 400 ``malformed_json`` (not strict JSON: a duplicate key,
    nested too deep, not JSON at all), else 422 ``validation_failed``; ``details`` name each field."""
    if exc.malformed:
        return HttpError(400, "malformed_json", "body is not valid JSON", exc.details)
    return HttpError(422, "validation_failed", "the request is not valid", exc.details)


def validation_error(exc: ValidationError, prefix: str = "") -> HttpError:
    details = field_errors(exc)
    if prefix:
        for item in details:
            item["field"] = f"{prefix}.{item['field']}" if item["field"] != "$" else prefix
    if any(d["code"] == "json_invalid" for d in details):
        return HttpError(400, "malformed_json", "body is not valid JSON", details)
    return HttpError(422, "validation_failed", "the request is not valid", details)


# The HTTP status of every domain error, in one table (the most specific class listed wins).
# Anything else the domain refuses is a 422: well-formed, but not acceptable.
DOMAIN_ERROR_STATUS: dict[type[DomainError], int] = {
    SellerNotFound: 404,
    PayoutNotFound: 404,
    RailNotFound: 404,
    RunNotFound: 404,
    BreakNotFound: 404,
    ReportNotFound: 404,
    IllegalTransition: 409,
    IllegalRunTransition: 409,
    PayoutAlreadySent: 409,
    EventConflict: 409,
    BreakActionRefused: 409,
    PayoutNotPaid: 409,
    StatementOutOfStep: 409,  # the journal moved while it was read: ask again
    PayoutContentsNotRecorded: 404,
    IdempotencyConflict: 422,
    PayoutRefused: 422,
    RunDateNotBegun: 422,
    DomainError: 422,
}


def status_of(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_ERROR_STATUS:
            return DOMAIN_ERROR_STATUS[cls]
    return 422


def domain_error(exc: DomainError) -> HttpError:
    return HttpError(
        status_of(exc), exc.code, exc.message, [{"field": exc.field or "$", "reason": exc.message}]
    )


def parse_json(body: bytes) -> Any:
    """The body as a value, parsed strictly (``shared.strict_json``); 400 ``malformed_json``."""
    try:
        return strict_json.loads(body)
    except strict_json.JsonRejected as exc:
        raise HttpError(
            400, "malformed_json", "body is not valid JSON", [{"field": exc.path, "reason": exc.reason}]
        ) from exc


def encode_page_token(cursor: tuple[datetime, str]) -> str:
    """A list's cursor (a time and the id that breaks its ties) as an opaque page token."""
    raw = json.dumps([cursor[0].isoformat(), cursor[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_page_token(token: str) -> tuple[datetime, str]:
    """The cursor of a page token this API issued; 400 ``invalid_page_token`` otherwise."""
    try:
        at, item_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(at), str(item_id)
    except (ValueError, TypeError) as exc:
        raise HttpError(
            400,
            "invalid_page_token",
            "page_token is not valid",
            [{"field": "query.page_token", "reason": "not a token this API issued"}],
        ) from exc


_IDENTIFIER = TypeAdapter[str](Identifier)
_RESOURCE_ID = TypeAdapter[str](ResourceId)


def path_id(name: str, value: str, *, made_by_us: bool = False) -> str:
    """A path parameter that must be an id (a caller's ``Identifier``, or a ``ResourceId`` the
    platform ``made_by_us``: payouts, runs): one that can never be valid is a 422
    naming the parameter (``seller_id``, as its not-found answer does), not a 404 as if it might
    exist one day."""
    try:
        return (_RESOURCE_ID if made_by_us else _IDENTIFIER).validate_python(value)
    except ValidationError as exc:
        reason = field_errors(exc)[0]["reason"]
        raise HttpError(
            422, "validation_failed", f"{name} is not a valid id", [{"field": name, "reason": reason}]
        ) from exc


class Router:
    """Werkzeug routing over one function's paths; handlers get the path args as kwargs."""

    def __init__(self, routes: Sequence[tuple[str, Sequence[str], Handler]]) -> None:
        self._handlers: dict[str, Handler] = {}
        rules = []
        for i, (path, methods, handler) in enumerate(routes):
            endpoint = f"r{i}"
            self._handlers[endpoint] = handler
            rules.append(Rule(path, endpoint=endpoint, methods=list(methods)))
        self._map = Map(rules, strict_slashes=False)

    def dispatch(self, request: flask.Request, **extra: Any) -> flask.Response:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            rule, args = adapter.match(return_rule=True)
        except NotFound as exc:
            raise HttpError(404, "not_found", f"no route for {request.path}") from exc
        except MethodNotAllowed as exc:
            raise HttpError(
                405, "method_not_allowed", f"{request.method} not allowed on {request.path}"
            ) from exc
        tracing.rename_current(f"{request.method} {rule.rule}", {"http.route": rule.rule})
        return self._handlers[str(rule.endpoint)](request, **extra, **args)


# What a seller-scoped caller (a seller portal, ``shared.entrypoints.auth.Caller.sellers``) may do: GET these
# paths, and nothing else (fail closed: a new route is refused to it until it is listed here).
# ``path``: the seller is in the path; ``query``: a ``seller_id`` filter is required, forced to
# one of its sellers; ``response``: the seller is read from the response. Every response shown to
# it is checked again, whatever the route: each ``seller_id`` in it must be one of its sellers.
_SELLER_SCOPED_READS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/sellers/(?P<seller>[^/]+)/?"), "path"),
    (re.compile(r"/payouts/?"), "query"),
    (re.compile(r"/payouts/[^/]+/?"), "response"),
)


def _out_of_scope(message: str) -> HttpError:
    details = [{"field": "seller_id", "reason": "not a seller of this caller"}]
    return HttpError(403, "forbidden", message, details)


# Statements (issue 18): the handler scopes them itself (another seller's payout is a 404, never
# a 403, so no payout's existence leaks) and may answer CSV, so the response is not read again.
# ``True``: the seller is in the path and is checked here as well.
_SCOPED_BY_HANDLER: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"/sellers/(?P<seller>[^/]+)/statement/?"), True),
    (re.compile(r"/payouts/[^/]+/statement/?"), False),
)


def scoped_by_handler(request: flask.Request, caller: Caller) -> bool:
    """Whether the route scopes a seller-scoped caller itself (after the checks made here)."""
    for pattern, seller_in_path in _SCOPED_BY_HANDLER:
        match = pattern.fullmatch(request.path)
        if not match:
            continue
        if request.method not in ("GET", "HEAD"):
            raise HttpError(403, "forbidden", "a seller-scoped caller may only read")
        if seller_in_path and not caller.may_read_seller(match.group("seller")):
            raise _out_of_scope("this caller may not read that seller")
        return True
    return False


def check_seller_scoped_request(request: flask.Request, caller: Caller) -> None:
    """Refuse, before anything runs, what a seller-scoped caller may not do."""
    if request.method not in ("GET", "HEAD"):
        raise HttpError(403, "forbidden", "a seller-scoped caller may only read")
    for pattern, where in _SELLER_SCOPED_READS:
        match = pattern.fullmatch(request.path)
        if not match:
            continue
        if where == "path" and not caller.may_read_seller(match.group("seller")):
            raise _out_of_scope("this caller may not read that seller")
        if where == "query":
            wanted = request.args.getlist("seller_id")
            if len(wanted) != 1 or not caller.may_read_seller(wanted[0]):
                raise _out_of_scope("a seller-scoped caller must filter by one of its sellers (seller_id)")
        return
    raise HttpError(403, "forbidden", "a seller-scoped caller may not read this")


def check_seller_scoped_response(response: flask.Response, caller: Caller) -> flask.Response:
    """Show a seller-scoped caller a successful response only if all of it is its sellers' data."""
    if response.status_code >= 300:
        return response
    try:
        body = json.loads(response.get_data())
    except ValueError:
        logger.error("non-JSON response withheld from a seller-scoped caller")
        return error_response(_out_of_scope("this caller may not read that"))
    listed = body.get("data") if isinstance(body, dict) else None
    items = listed if isinstance(listed, list) else [body]
    sellers = [item.get("seller_id") if isinstance(item, dict) else None for item in items]
    if not all(caller.may_read_seller(s) for s in sellers):
        logger.warning("response withheld from a seller-scoped caller: another seller's data")
        return error_response(_out_of_scope("this caller may not read that"))
    return response


def serve(
    request: flask.Request,
    handle: Callable[[flask.Request, Settings, Caller | None], flask.Response],
    *,
    require_oidc: bool = True,
) -> flask.Response:
    """Common wrapper: logging context, authentication, and error mapping. Never a bare 500."""
    settings = get_settings()
    log.configure(settings.log_level, settings.project)
    # The request's trace context was taken from its traceparent header by the Flask
    # instrumentation (shared/tracing.py); this header is the fallback of untraced processes.
    trace = log.trace_from_header(
        settings.project, request.headers.get("X-Cloud-Trace-Context") or request.headers.get("traceparent")
    )
    with log.bind(trace=trace, http_method=request.method, path=request.path):
        try:
            if require_oidc:
                caller = authenticate(request.headers.get("Authorization"), settings)
                with log.bind(caller=caller.email):
                    raw_body(request, settings)  # the size cap, on every route
                    if caller.sellers is None:
                        return handle(request, settings, caller)
                    if scoped_by_handler(request, caller):
                        return handle(request, settings, caller)
                    check_seller_scoped_request(request, caller)
                    return check_seller_scoped_response(handle(request, settings, caller), caller)
            raw_body(request, settings)
            return handle(request, settings, None)
        except AuthError as exc:
            logger.warning("unauthenticated request refused: %s", exc.reason)
            code = "unauthenticated" if exc.status == 401 else "forbidden"
            return error_response(HttpError(exc.status, code, exc.reason))
        except HttpError as exc:
            if exc.status >= 500:
                logger.error("request failed: %s", exc.message)
            else:
                logger.info("request refused: %s %s", exc.code, exc.message)
            return error_response(exc)
        except InvalidPayload as exc:
            err = payload_error(exc)
            logger.info("request refused: %s %s", err.code, exc)
            return error_response(err)
        except ValidationError as exc:
            return error_response(validation_error(exc))
        except DomainError as exc:
            return error_response(domain_error(exc))
        except Exception:
            logger.exception("unexpected error")
            tracing.mark_error("unexpected error")
            return error_response(HttpError(503, "unavailable", "temporary failure; retry later"))
