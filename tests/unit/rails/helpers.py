"""A stand-in served over real HTTP on a free port (the adapters speak through the vendors'
libraries, which use ``requests``), with a fake clock and a webhook catcher."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from shared.domain.bank_accounts import ValidatedBankAccount
from stand_ins.sample_sellers import bank_account


class Clock:
    """Starts at the real time (rails look transfers up in windows around now), then moves only
    when a test moves it."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time())) if now is None else now

    def __call__(self) -> float:
        return self.now


class Catcher:
    """The stand-in's webhook sender, faked: keeps (body, headers), answers 200."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: Any) -> int:
        self.deliveries.append((body, dict(headers)))
        return 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 until the block ends; yield its base URL."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def account(country: str, n: int = 1, outcome: str = "paid") -> ValidatedBankAccount:
    data = bank_account(country, n, f"Refurb Shop {country}-{n}", outcome)
    return ValidatedBankAccount.from_storage(data)
