"""The console's web plumbing: a Flask app of its own inside the function, with Jinja2 templates
(autoescaped, all of them), its own static files (``static/``; front-end libraries vendored from
npm into ``static/vendor`` by ``scripts/bootstrap.sh``), and for every request:

- the user, verified from Identity-Aware Proxy's signed assertion (``access.py``): 401 or 403
  pages otherwise (static files, under ``/assets``, need no identity: they hold no data);
- a CSRF check of every form posted (``csrf.py``): 403 when the token is missing or forged;
- security headers on every response: a content security policy that allows scripts, styles
  and everything else only from the console itself (no inline script, no inline style, nothing
  from a CDN), no framing, no sniffing, no caching of pages.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import flask
from werkzeug.exceptions import HTTPException

from shared import log, tracing
from shared.domain.money import Money
from shared.entrypoints.console import access, csrf
from shared.entrypoints.http import json_response
from shared.settings import get_settings

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC_PREFIX = "/assets"
MAX_FORM_BYTES = 16 * 1024
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

F = TypeVar("F", bound=Callable[..., Any])


def create_app() -> flask.Flask:
    app = flask.Flask(
        "console",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        # Not /static: functions-framework's own app answers that prefix (and /favicon.ico).
        static_url_path=STATIC_PREFIX,
    )
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.jinja_env.autoescape = True  # every template, whatever its name
    app.jinja_env.filters.update(money=money, when=when, duration=duration, number=number)
    app.before_request(_identify)
    app.after_request(_secure)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    app.context_processor(_template_context)
    return app


def dispatch(app: flask.Flask, request: flask.Request) -> flask.Response:
    """Serve functions-framework's request with the console's own app."""
    with app.request_context(request.environ):
        response = app.full_dispatch_request()
        return response


# ---- every request -------------------------------------------------------------------------------


def _identify() -> flask.Response | None:
    request = flask.request
    if request.path.startswith(STATIC_PREFIX + "/"):
        return None
    settings = get_settings()
    log.configure(settings.log_level, settings.project)
    if request.url_rule is not None:
        tracing.rename_current(
            f"{request.method} {request.url_rule.rule}", {"http.route": request.url_rule.rule}
        )
    try:
        user = access.identify(request.headers.get(access.ASSERTION_HEADER), settings)
    except access.AccessDenied as exc:
        logger.warning("console request refused (%d): %s", exc.status, exc.reason)
        return error_page(exc.status, "Sign-in required" if exc.status == 401 else "Not allowed", exc.reason)
    flask.g.user = user
    flask.g.csrf_nonce = request.cookies.get(csrf.COOKIE) or csrf.new_nonce()
    if request.method not in _SAFE_METHODS:
        secret = settings.console_csrf_secret.get_secret_value()
        if not secret:
            logger.error("CONSOLE_CSRF_SECRET is not set: every form is refused")
        if not csrf.valid(secret, user.email, request.cookies.get(csrf.COOKIE), request.form.get(csrf.FIELD)):
            logger.warning("console form refused: missing or forged CSRF token (%s)", user.email)
            return error_page(
                403,
                "Form refused",
                "The form's security token is missing or not valid. Reload the page and try again.",
            )
    return None


def _secure(response: flask.Response) -> flask.Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not flask.request.path.startswith(STATIC_PREFIX + "/"):
        headers["Cache-Control"] = "no-store"
    nonce = flask.g.get("csrf_nonce")
    if nonce and flask.request.cookies.get(csrf.COOKIE) != nonce:
        secure = flask.request.headers.get("X-Forwarded-Proto", flask.request.scheme) == "https"
        response.set_cookie(csrf.COOKIE, nonce, httponly=True, samesite="Strict", secure=secure, path="/")
    return response


def _template_context() -> dict[str, Any]:
    def csrf_token() -> str:
        user = flask.g.get("user")
        secret = get_settings().console_csrf_secret.get_secret_value()
        return csrf.token(secret, user.email, flask.g.csrf_nonce) if user else ""

    return {"user": flask.g.get("user"), "csrf_token": csrf_token, "csrf_field": csrf.FIELD}


def requires(permission: access.Permission) -> Callable[[F], F]:
    """Refuse (403) a user without ``permission``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = flask.g.get("user")
            if user is None or not user.may(permission):
                logger.warning("console: %s may not %s", user.email if user else "nobody", permission.value)
                return error_page(403, "Not allowed", f"Your role does not allow this ({permission.value}).")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


# ---- errors --------------------------------------------------------------------------------------


# The documented JSON error body's code for each status the console answers with.
_ERROR_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    503: "unavailable",
}


def error_page(status: int, title: str, detail: str) -> flask.Response:
    """A page for a browser; for any other client (an API caller, a probe, curl) the platform's
    documented JSON error body, as every other function answers."""
    if "text/html" in flask.request.accept_mimetypes.values():  # browsers name it explicitly
        html = flask.render_template("error.html", status=status, title=title, detail=detail)
        response = flask.make_response(html, status)
    else:
        code = _ERROR_CODES.get(status, "error")
        response = json_response(
            {"error": {"code": code, "message": f"{title}: {detail}", "details": []}}, status
        )
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="console"'
    return response


def _http_error(exc: HTTPException) -> flask.Response:
    status = exc.code or 500
    return error_page(status, exc.name, exc.description or "")


def _unexpected(exc: Exception) -> flask.Response:
    logger.exception("console: unexpected error")
    tracing.mark_error("unexpected error")
    return error_page(503, "Temporary failure", "Something failed on our side; try again in a moment.")


# ---- template filters ----------------------------------------------------------------------------


def money(amount: Any, currency: Any, with_code: bool = True) -> str:
    """Minor units as major units: 1,234.56 EUR (1,234.56 where a heading names the currency)."""
    try:
        value: Decimal = Money(int(amount), str(currency)).to_decimal()
    except Exception:  # an odd stored value is shown as it is, never a failed page
        return f"{amount} {currency}"
    return f"{value:,f} {currency}" if with_code else f"{value:,f}"


def when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return "" if value is None else str(value)


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
    )


def number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
