"""The local push relay passes a message's trace context on: the envelope (attributes included)
byte for byte, and a traceparent header if one came."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from local_stack import local_env
from local_stack.push_relay import Relay

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def function() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_envelope_and_its_trace_attribute_reach_the_function_unchanged(tmp_path: Path, function):
    url, received = function
    local_env.ensure_material(tmp_path)
    relay = Relay(tmp_path, "payouts-local", {"payout-runs": url}, timeout=5)
    envelope = json.dumps(
        {
            "message": {
                "data": base64.b64encode(b'{"run_date": "2026-12-01"}').decode(),
                "attributes": {"traceparent": TRACEPARENT, "ce-type": "x"},
                "messageId": "42",
            },
            "subscription": "projects/payouts-local/subscriptions/payout-runs--payout-runs",
        }
    ).encode()
    status, _, _ = relay.forward(
        "/push/payout-runs/projects/payouts-local/topics/payout-runs",
        {"Content-Type": "application/json", "traceparent": TRACEPARENT},
        envelope,
    )
    assert status == 204
    (got,) = received
    assert got["path"] == "/projects/payouts-local/topics/payout-runs"
    assert got["body"] == envelope, "attributes, the trace context among them, are passed on as they came"
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["traceparent"] == TRACEPARENT
    assert headers["authorization"].startswith("Bearer ")
