"""Structured JSON logs in the shape Cloud Logging reads.

Every line carries ``severity``, ``message`` and, when known, the trace and the business ids
(seller, payout, run, event) bound with :func:`bind`. The trace fields are the ones Cloud
Logging links to Cloud Trace (``logging.googleapis.com/trace``, ``…/spanId``,
``…/trace_sampled``), taken from the current OpenTelemetry span (``shared/tracing.py``), or
from the request's ``X-Cloud-Trace-Context`` header when nothing is traced. A
last-line-of-defence redactor masks anything that looks like an IBAN, a long account number or a bearer token.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace as otel_trace

TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context", default={})  # noqa: B039

# An IBAN, printed with or without single spaces between its groups (never the space after it).
_IBAN_RE = re.compile(r"\b([A-Z]{2})\d{2}(?: ?[A-Z0-9]){10,30}\b")
_DIGITS_RE = re.compile(r"\b\d{9,}\b")
# A credential after "Bearer": 8+ characters of the token alphabet, with a digit or one of ._~+/=
# in it (JWTs, hex and base64 keys) or 20+ long. Words ("bearer token", "Bearer realm") are not
# credentials and stay readable.
_BEARER_RE = re.compile(
    r"(?i)\b(bearer\s+)((?=[A-Za-z-]*[0-9._~+/=])[A-Za-z0-9._~+/=-]{8,}|[A-Za-z0-9._~+/=-]{20,})"
)
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """Mask IBAN-like strings, long digit runs and tokens. Never rely on it alone."""
    text = _BEARER_RE.sub(r"\1[redacted]", text)
    text = _JWT_RE.sub("[redacted-jwt]", text)
    text = _IBAN_RE.sub(lambda m: f"{m.group(1)}••••{m.group(0).replace(' ', '')[-4:]}", text)
    return _DIGITS_RE.sub(lambda m: f"••••{m.group(0)[-4:]}", text)


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Attach ids (seller_id, payout_id, run_id, event_id, trace, …) to every log line inside."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bound(key: str) -> Any:
    return _context.get().get(key)


class CloudLoggingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = dict(_context.get())
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARNING" else "WARNING",
            "message": redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        trace = ctx.pop("trace", None)
        span = otel_trace.get_current_span().get_span_context()
        if span.is_valid and _project:
            entry[TRACE_FIELD] = f"projects/{_project}/traces/{span.trace_id:032x}"
            entry[SPAN_FIELD] = f"{span.span_id:016x}"
            entry[SAMPLED_FIELD] = span.trace_flags.sampled
        elif trace:
            entry[TRACE_FIELD] = trace
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            ctx.update(extra)
        for key, value in ctx.items():
            entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["stack_trace"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


_configured = False
_project = ""  # the project whose Cloud Trace the trace fields name


def configure(level: str = "INFO", project: str | None = None) -> None:
    global _configured, _project
    if project:
        _project = project
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _configured = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def trace_from_header(project: str, header: str | None) -> str | None:
    """``X-Cloud-Trace-Context: TRACE_ID/SPAN;o=1`` or ``traceparent: 00-TRACE-SPAN-01``."""
    if not header:
        return None
    if header.startswith("00-"):
        parts = header.split("-")
        trace_id = parts[1] if len(parts) > 2 else ""
    else:
        trace_id = header.split("/")[0]
    if not re.fullmatch(r"[0-9a-fA-F]{16,32}", trace_id):
        return None
    return f"projects/{project}/traces/{trace_id}"
