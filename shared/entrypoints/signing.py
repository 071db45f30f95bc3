"""HMAC-SHA256 webhook signatures with a timestamp, in the widely used ``t=…,v1=…`` shape.

The signed payload is ``"{t}.{raw body}"``. Several ``v1`` values may be present, and several
secrets may be active at once, so a secret can be rotated without downtime.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "X-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class SignatureError(Exception):
    reason: str  # missing | malformed | stale | future | mismatch | no_secret

    def __str__(self) -> str:
        return f"signature {self.reason}"


def compute(secret: str, timestamp: int, body: bytes) -> str:
    payload = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={compute(secret, timestamp, body)}"


def parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed")
        if key == "t":
            if not (value.isascii() and value.isdigit()) or len(value) > 12:
                raise SignatureError("malformed")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("malformed")
    return timestamp, signatures


def verify(
    header: str | None,
    body: bytes,
    secrets: Iterable[str],
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Return the signed timestamp, or raise :class:`SignatureError`."""
    if not header:
        raise SignatureError("missing")
    active = [s for s in secrets if s]
    if not active:
        raise SignatureError("no_secret")
    timestamp, signatures = parse(header)
    if timestamp < now - tolerance:
        raise SignatureError("stale")
    if timestamp > now + tolerance:
        raise SignatureError("future")
    expected = [compute(secret, timestamp, body) for secret in active]
    # Compare every pair in constant time; don't stop at the first match.
    matched = False
    for candidate in signatures:
        for wanted in expected:
            matched |= hmac.compare_digest(candidate.encode(), wanted.encode())
    if not matched:
        raise SignatureError("mismatch")
    return timestamp
