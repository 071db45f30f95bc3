"""Local stand-in for Identity-Aware Proxy in front of the console, with a login page.

In production an HTTPS load balancer with IAP on its backend service sits in front of the
console (``infra/console.tf``): IAP signs people in with Google and adds
``x-goog-iap-jwt-assertion`` (ES256, issuer ``https://cloud.google.com/iap``, audience the
backend service) to every request it lets through. Locally this relay does the same:

- ``/_local_iap/login``: pick or type an e-mail (the console's local users are listed); the
  relay keeps the sign-in in a cookie of its own (HMAC-signed, 8 hours);
- every other request, signed in: forwarded to the console with a fresh assertion signed by the
  stack's IAP key (``.local/oidc/iap-private.pem``; the console verifies it against
  ``iap-jwks.json``), any ``x-goog-*`` header from the browser dropped;
- not signed in: a page request is redirected to the login page, anything else is 401;
- ``/_gcp_iap/clear_login_cookie`` (IAP's own sign-out address) signs out.

Whether that person may do anything is the console's business (``CONSOLE_ROLES``), as in
production, where IAP admits anyone granted ``roles/iap.httpsResourceAccessor``.

    .venv/bin/python -m local_stack.iap_proxy --port 8292 --state-dir .local --target http://127.0.0.1:8311
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import logging
import re
import secrets
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local_stack import local_env

log = logging.getLogger("iap-proxy")

SESSION_COOKIE = "local_iap_session"
SESSION_SECONDS = 8 * 3600
LOGIN_PATH = "/_local_iap/login"
LOGOUT_PATH = "/_gcp_iap/clear_login_cookie"
MAX_BODY_BYTES = 1024 * 1024
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
# Hop-by-hop headers, and the identity headers only IAP may set.
_DROPPED_IN = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "x-goog-iap-jwt-assertion",
    "x-goog-authenticated-user-email",
    "x-goog-authenticated-user-id",
}
_DROPPED_OUT = {"content-length", "connection", "keep-alive", "transfer-encoding", "server", "date"}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand the console's redirects to the browser instead of following them here."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Proxy:
    def __init__(self, state_dir: Path, target: str, audience: str, timeout: float = 60.0) -> None:
        self.state_dir = state_dir
        self.target = target.rstrip("/")
        self.audience = audience
        self.timeout = timeout
        self._key = secrets.token_bytes(32)  # sessions end with the process, as they should here
        self._opener = urllib.request.build_opener(_NoRedirects)

    # --- the sign-in cookie ---
    def session_cookie(self, email: str) -> str:
        payload = base64.urlsafe_b64encode(f"{email}|{int(time.time()) + SESSION_SECONDS}".encode()).decode()
        return f"{payload}.{self._sign(payload)}"

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def signed_in(self, cookie_header: str | None) -> str | None:
        """The e-mail of a valid sign-in cookie, or None."""
        for part in (cookie_header or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name != SESSION_COOKIE or "." not in value:
                continue
            payload, _, signature = value.partition(".")
            if not hmac.compare_digest(signature, self._sign(payload)):
                return None
            try:
                email, _, expires = base64.urlsafe_b64decode(payload.encode()).decode().partition("|")
                return email if int(expires) > time.time() else None
            except (ValueError, UnicodeDecodeError):
                return None
        return None

    # --- forwarding ---
    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes, email: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        out = {k: v for k, v in headers.items() if k.lower() not in _DROPPED_IN}
        out["X-Goog-IAP-JWT-Assertion"] = local_env.mint_iap_assertion(
            self.state_dir, email=email, audience=self.audience
        )
        out["X-Goog-Authenticated-User-Email"] = f"accounts.google.com:{email}"
        out["X-Forwarded-Proto"] = "http"
        request = urllib.request.Request(  # noqa: S310 - the stack's own console URL
            self.target + path,
            data=body if method not in ("GET", "HEAD") else None,
            headers=out,
            method=method,
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                return resp.status, list(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, list(exc.headers.items()), exc.read()
        except TimeoutError:
            return 504, [("Content-Type", "text/plain")], b"console timed out\n"
        except OSError:
            return 502, [("Content-Type", "text/plain")], b"console unreachable\n"


def login_page(next_path: str, message: str = "") -> bytes:
    users = "".join(
        f'<li><button type="submit" name="email" value="{html.escape(email)}">{html.escape(email)}</button> '
        f"<small>{html.escape(', '.join(roles))}</small></li>"
        for email, roles in local_env.CONSOLE_USERS.items()
    )
    note = f'<p role="alert"><strong>{html.escape(message)}</strong></p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · local IAP</title></head>
<body>
<h1>Sign in to the payouts console</h1>
<p>Local stand-in for Identity-Aware Proxy. In production you sign in with your Google account.</p>
{note}
<form method="post" action="{LOGIN_PATH}">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<p>As one of the console's local users:</p>
<ul>{users}</ul>
<p><label>or another e-mail <input name="email" type="email" id="email"></label>
<button type="submit" id="sign-in">Sign in</button></p>
</form>
</body></html>""".encode()


def _safe_next(value: str | None) -> str:
    """Only a path of this site (never //host or a scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in _DROPPED_OUT:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _page(self, status: int, body: bytes, extra: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
                ("Cache-Control", "no-store"),
                *extra,
            ]
            self._reply(status, headers, body)

        def _body(self) -> bytes | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._reply(413, [("Content-Type", "text/plain")], b"body too large\n")
                return None
            return self.rfile.read(length)

        def _handle(self) -> None:
            path = self.path
            route = urllib.parse.urlsplit(path).path
            if route == "/healthz":
                self._reply(200, [("Content-Type", "text/plain")], b"ok\n")
                return
            if route == LOGIN_PATH:
                self._login()
                return
            if route == LOGOUT_PATH:
                expired = f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
                self._reply(303, [("Location", LOGIN_PATH), ("Set-Cookie", expired)], b"")
                return
            body = self._body()
            if body is None:
                return
            email = proxy.signed_in(self.headers.get("Cookie"))
            if email is None:
                if self.command in ("GET", "HEAD"):
                    where = LOGIN_PATH + "?" + urllib.parse.urlencode({"next": path})
                    self._reply(302, [("Location", where)], b"")
                else:
                    self._reply(401, [("Content-Type", "text/plain")], b"sign in first\n")
                return
            status, headers, reply = proxy.forward(
                self.command, path, dict(self.headers.items()), body, email
            )
            log.info("%s %s as %s -> %d", self.command, route, email, status)
            self._reply(status, headers, reply)

        def _login(self) -> None:
            if self.command == "GET":
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                self._page(200, login_page(_safe_next((query.get("next") or ["/"])[0])))
                return
            body = self._body()
            if body is None:
                return
            form = urllib.parse.parse_qs(body.decode(errors="replace"))
            emails = [e.strip() for e in form.get("email", []) if e.strip()]
            next_path = _safe_next((form.get("next") or ["/"])[0])
            if len(emails) != 1 or not _EMAIL.match(emails[0]):
                self._page(400, login_page(next_path, "Give one valid e-mail address."))
                return
            cookie = (
                f"{SESSION_COOKIE}={proxy.session_cookie(emails[0].lower())}; Path=/; HttpOnly; SameSite=Lax"
            )
            self._reply(303, [("Location", next_path), ("Set-Cookie", cookie)], b"")

        do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # _handle logs one line per forwarded request

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.iap_proxy", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True, help="holds the stack's IAP signing key")
    parser.add_argument("--target", required=True, help="the console function's URL")
    parser.add_argument("--audience", default=local_env.IAP_AUDIENCE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    local_env.ensure_material(args.state_dir)
    proxy = Proxy(args.state_dir, args.target, args.audience)
    server = ThreadingHTTPServer((args.host, args.port), _handler(proxy))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("local IAP on %s:%d in front of %s", args.host, args.port, args.target)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
