"""The deployment smoke test (infra/smoke_test.py), against a stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra import smoke_test
from shared import topology


class FakeFunctions(BaseHTTPRequestHandler):
    """provider-webhook refuses unsigned webhooks; every other function refuses anonymous calls."""

    open_function: str | None = None  # a function wrongly left open

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        name = self.path.strip("/").split("/")[0]
        body: object
        if name == "provider-webhook":
            status, body = 401, {"error": {"code": "invalid_webhook", "message": "signature missing"}}
        elif name == self.open_function:
            status, body = 200, {"ok": True}
        else:
            status, body = 403, {"error": "Forbidden"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def outputs(tmp_path: Path) -> Iterator[Path]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeFunctions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    path = tmp_path / "tf-outputs.json"
    urls = {spec.name: f"{base}/{spec.name}" for spec in topology.FUNCTIONS}
    public = [spec.name for spec in topology.FUNCTIONS if spec.public]
    path.write_text(
        json.dumps(
            {
                "function_urls": {"value": urls},
                "public_functions": {"value": public},
                "region": {"value": "europe-west1"},
                "ops_service_account": {"value": "ops@p.iam.gserviceaccount.com"},
            }
        )
    )
    try:
        yield path
    finally:
        FakeFunctions.open_function = None
        server.shutdown()
        server.server_close()


def test_passes_when_exposed_as_intended(outputs: Path, capsys: pytest.CaptureFixture[str]):
    assert smoke_test.main([str(outputs), "--no-state-check"]) == 0
    assert "0 problems" in capsys.readouterr().out


def test_fails_when_a_private_function_answers_anyone(outputs: Path, capsys: pytest.CaptureFixture[str]):
    FakeFunctions.open_function = "transfer-worker"
    assert smoke_test.main([str(outputs), "--no-state-check"]) == 1
    assert "transfer-worker: an anonymous request got 200" in capsys.readouterr().err


def test_refuses_plain_http_beyond_loopback():
    with pytest.raises(ValueError, match="non-https"):
        smoke_test.request("http://example.com/x")
