"""Local Pub/Sub push relay: adds the OIDC token that the Pub/Sub emulator leaves out.

A production push subscription with an OIDC service account (or a gen2 function's Eventarc
trigger) sends ``Authorization: Bearer <ID token>``, email the push service account, audience
the function's URL. The emulator sends no token at all, so the stack points every push
subscription here instead::

    http://127.0.0.1:RELAY/push/<function name>/projects/P/topics/T

and the relay mints the token Pub/Sub would (``local_stack.local_env.mint_token``, the stack's own
issuer), forwards the body and headers to ``<function URL>/projects/P/topics/T``
(functions-framework fills the CloudEvent's source from that path) and answers with the
function's status and body, so Pub/Sub acknowledges exactly what the function acknowledged.
A function that does not answer is a 502/504: Pub/Sub redelivers.

    .venv/bin/python -m local_stack.push_relay --port 8299 --state-dir .local --project payouts-local \\
        --target order-events=http://127.0.0.1:8303 …
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local_stack import local_env

log = logging.getLogger("push-relay")

# Pub/Sub messages are at most 10 MB; the functions cap far lower and answer 413 themselves.
MAX_BODY_BYTES = 11 * 1024 * 1024
# Hop-by-hop and per-connection headers, and any Authorization a caller might have sent.
_DROPPED = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "authorization"}


class Relay:
    def __init__(self, state_dir: Path, project: str, targets: dict[str, str], timeout: float) -> None:
        self.state_dir = state_dir
        self.email = local_env.identity(local_env.PUSH_IDENTITY, project)
        self.targets = targets
        self.timeout = timeout

    def forward(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """``/push/<function>/<rest>`` → ``<function URL>/<rest>`` with a fresh ID token."""
        _, prefix, rest = path.partition("/push/")
        name, _, tail = rest.partition("/")
        if prefix != "/push/" or name not in self.targets:
            return 404, {}, b"no such push target\n"
        audience = self.targets[name]
        token = local_env.mint_token(self.state_dir, email=self.email, audience=audience, ttl=3600)
        out = {k: v for k, v in headers.items() if k.lower() not in _DROPPED}
        out["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(  # noqa: S310 - the stack's own http:// function URLs
            f"{audience}/{tail}", data=body, headers=out, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - local URL
                status, reply_headers, reply = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            status, reply_headers, reply = exc.code, dict(exc.headers.items()), exc.read()
        except TimeoutError:
            status, reply_headers, reply = 504, {}, b"function timed out\n"
        except OSError:
            status, reply_headers, reply = 502, {}, b"function unreachable\n"
        log.info("push %s -> %s %d", name, tail, status)
        kept = {k: v for k, v in reply_headers.items() if k.lower() == "content-type"}
        return status, kept, reply


def _handler(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(200, {"Content-Type": "text/plain"}, b"ok\n")
            else:
                self._reply(404, {}, b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._reply(413, {}, b"body too large\n")
                return
            body = self.rfile.read(length)
            self._reply(*relay.forward(self.path, dict(self.headers.items()), body))

        def log_message(self, format: str, *args: Any) -> None:
            pass  # forward() logs one line per push, without headers

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.push_relay", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True, help="holds the local issuer's key")
    parser.add_argument("--project", required=True)
    parser.add_argument("--target", action="append", default=[], help="FUNCTION=URL, once per function")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (the ack deadline)")
    args = parser.parse_args(argv)
    targets = {name: url for name, _, url in (item.partition("=") for item in args.target)}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    relay = Relay(args.state_dir, args.project, targets, args.timeout)
    server = ThreadingHTTPServer((args.host, args.port), _handler(relay))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("relaying pushes on %s:%d to %s", args.host, args.port, ", ".join(sorted(targets)))
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
