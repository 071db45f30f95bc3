"""One trace per payout, across every hop (OpenTelemetry).

A payout's trace follows it from the request or the run's shard task that created it, through
its transfer task, the provider call, the provider's webhook, the outbox relay and the Pub/Sub
publish of its status events:

- **HTTP and Cloud Tasks hops**: the Flask instrumentation (:func:`instrument_current_app`,
  called by ``main.py`` while functions-framework loads it) opens a server span per request from
  the W3C ``traceparent`` header. :class:`shared.adapters.tasks.TaskQueue` puts that header on
  every task it creates, so a task's span continues the trace that enqueued it.
- **Pub/Sub hops**: :class:`shared.adapters.pubsub.Publisher` puts ``traceparent`` in the
  message attributes; ``shared.entrypoints.pubsub_trigger.in_message_trace`` continues it.
- **The payout itself** carries its trace context (``Payout.trace_context``, a ``traceparent``
  string stored on the payout document), decided once where it is created
  (:func:`payout_trace_context`): an on-demand payout continues the request's trace; a run's
  payout starts a trace of its own, linked to the shard task's span, so a run of 10,000 sellers
  makes 10,000 readable traces instead of one unreadable one. A provider's webhook carries no
  ``traceparent``: the webhook joins the trace stored on its payout (:func:`joined`).
- Work about a payout done in the process that created it (enqueuing its transfer, publishing
  its ``payout.created`` event after the shard's commit) is parented to the payout's trace by
  id (:func:`inject`), not to the shard's.

Export: Cloud Trace in production (``TRACE_EXPORTER=gcp``), JSON lines per process under
``TRACE_FILE_DIR`` locally (``file``: one ``<function>.<pid>.jsonl`` per process, read back by
the tests and ``python -m shared.tracing show``), nothing otherwise (``none``, the default: unit
tests). Log lines carry the current span's trace id in the fields Cloud Logging links
(``shared/log.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
TRACER_NAME = "seller-payouts"
_PAYOUTS_REMEMBERED = 4096  # payouts created in this process whose trace later work joins

_propagator = TraceContextTextMapPropagator()
_lock = threading.Lock()
_configured_pid = 0
_enabled = False
_payout_contexts: OrderedDict[str, trace.SpanContext] = OrderedDict()
_tracer: trace.Tracer | None = None


# ---- setup -----------------------------------------------------------------------------------


def service_name() -> str:
    """The function's name: FUNCTION_NAME locally, K_SERVICE on Cloud Run."""
    return os.environ.get("FUNCTION_NAME") or os.environ.get("K_SERVICE") or "seller-payouts"


def configure(exporter: str, *, project: str, sample_ratio: float = 1.0, file_dir: str | None = None) -> None:
    """Install the tracer provider once per process (idempotent). ``exporter``: gcp, file or none."""
    global _configured_pid
    with _lock:
        if _configured_pid == os.getpid() or exporter == "none":
            return
        _configured_pid = os.getpid()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    span_exporter: SpanExporter
    if exporter == "gcp":
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        span_exporter = CloudTraceSpanExporter(project_id=project)  # type: ignore[no-untyped-call]
        delay_ms = 5000
    elif exporter == "file":
        if not file_dir:
            raise ValueError("TRACE_EXPORTER=file needs TRACE_FILE_DIR")
        span_exporter = JsonLinesSpanExporter(Path(file_dir))
        delay_ms = 500  # the tests read traces back soon after a payout settles
    else:
        raise ValueError(f"unknown TRACE_EXPORTER {exporter!r}: gcp, file or none")
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name(), "gcp.project_id": project}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    # The batch processor restarts its export thread in a forked child (gunicorn's worker).
    provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=delay_ms))
    install(provider)


def install(provider: trace.TracerProvider) -> None:
    """Make ``provider`` the process's tracer provider and turn tracing on (tests use it too)."""
    global _enabled, _tracer
    from opentelemetry import propagate

    _tracer = None
    if not isinstance(trace.get_tracer_provider(), type(provider)):
        trace.set_tracer_provider(provider)  # once per process: OpenTelemetry refuses a second
    propagate.set_global_textmap(_propagator)  # W3C trace context only
    _enabled = True


def disable() -> None:
    """Stop making spans and storing trace contexts (tests)."""
    global _enabled
    _enabled = False


def configure_from_settings() -> None:
    from shared.settings import get_settings

    settings = get_settings()
    configure(
        settings.trace_exporter,
        project=settings.project,
        sample_ratio=settings.trace_sample_ratio,
        file_dir=settings.trace_file_dir,
    )


def enabled() -> bool:
    return _enabled


def instrument_current_app() -> None:
    """Trace every request of the Flask app functions-framework is loading ``main.py`` into
    (it runs the module inside the app's context). Outside functions-framework: nothing."""
    import flask

    configure_from_settings()
    if not _enabled or not flask.has_app_context():
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    app = flask.current_app._get_current_object()  # type: ignore[attr-defined]
    FlaskInstrumentor().instrument_app(app, enable_commenter=False)  # type: ignore[no-untyped-call]


def tracer() -> trace.Tracer:
    """One tracer per process: the SDK builds a new one on every ``get_tracer`` (~100 µs)."""
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer(TRACER_NAME)
    return _tracer


# ---- context in and out ----------------------------------------------------------------------


def traceparent_of(span_context: trace.SpanContext) -> str | None:
    if not span_context.is_valid:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
    return carrier.get(TRACEPARENT)


def current_traceparent() -> str | None:
    return traceparent_of(trace.get_current_span().get_span_context())


def span_context_of(traceparent: str | None) -> trace.SpanContext | None:
    """The remote span context a ``traceparent`` value names, or None if it names none."""
    if not traceparent:
        return None
    found = trace.get_current_span(_propagator.extract({TRACEPARENT: traceparent})).get_span_context()
    return found if found.is_valid else None


def extract(carrier: Mapping[str, str]) -> otel_context.Context | None:
    """The context a message's attributes (or any header map) carries, or None."""
    value = next((v for k, v in carrier.items() if k.lower() == TRACEPARENT), None)
    found = span_context_of(value)
    return trace.set_span_in_context(trace.NonRecordingSpan(found)) if found else None


def inject(carrier: MutableMapping[str, str], *, payout_id: str | None = None) -> None:
    """Put the current trace context in ``carrier``: the payout's own trace when this process
    created the payout (a run's transfer task, its ``payout.created`` event), else the current."""
    if not _enabled:
        return
    remembered = _remembered(payout_id)
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remembered)) if remembered else None
    _propagator.inject(carrier, parent)


def payout_context(payout_id: str | None) -> otel_context.Context | None:
    """The payout's trace as a parent, if this process created the payout."""
    remembered = _remembered(payout_id)
    return trace.set_span_in_context(trace.NonRecordingSpan(remembered)) if remembered else None


def _remembered(payout_id: str | None) -> trace.SpanContext | None:
    if payout_id is None:
        return None
    with _lock:
        return _payout_contexts.get(payout_id)


def _remember(payout_id: str, span_context: trace.SpanContext) -> None:
    with _lock:
        _payout_contexts[payout_id] = span_context
        _payout_contexts.move_to_end(payout_id)
        while len(_payout_contexts) > _PAYOUTS_REMEMBERED:
            _payout_contexts.popitem(last=False)


def payout_trace_context(payout_id: str, *, own_trace: bool) -> str | None:
    """The trace a new payout belongs to, as the ``traceparent`` stored on it.

    ``own_trace`` (a run's payout): a new trace whose root span says the payout was created,
    linked to the current span (the shard task). Otherwise (on demand) the current trace. The
    same payout asked again in this process (a retried transaction) gets the same answer."""
    if not _enabled:
        return None
    remembered = _remembered(payout_id)
    if remembered is not None:
        return traceparent_of(remembered)
    current = trace.get_current_span().get_span_context()
    if own_trace:
        root = tracer().start_span(
            "payout created",
            context=otel_context.Context(),  # no parent: a trace of its own
            kind=SpanKind.INTERNAL,
            links=[Link(current)] if current.is_valid else None,
            attributes={"payout.id": payout_id},
        )
        root.end()
        chosen = root.get_span_context()
    else:
        chosen = current
    if not chosen.is_valid:
        return None
    _remember(payout_id, chosen)
    return traceparent_of(chosen)


# ---- spans -----------------------------------------------------------------------------------


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    links: Sequence[trace.SpanContext] = (),
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span around a block (current inside it); an exception marks it as an error."""
    if not _enabled:
        yield trace.INVALID_SPAN
        return
    with tracer().start_as_current_span(
        name,
        context=parent,
        kind=kind,
        links=[Link(c) for c in links if c.is_valid] or None,
        attributes={k: v for k, v in (attributes or {}).items() if v is not None},
        record_exception=True,
        set_status_on_exception=True,
    ) as current:
        yield current


@contextlib.contextmanager
def joined(traceparent: str | None, name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Handle something in the trace ``traceparent`` names (a webhook about a payout), linked to
    the span it arrived in. Without a stored trace, the current trace carries on."""
    stored = span_context_of(traceparent)
    if not _enabled or stored is None:
        yield
        return
    arrived = trace.get_current_span().get_span_context()
    parent = trace.set_span_in_context(trace.NonRecordingSpan(stored))
    with span(name, kind=SpanKind.SERVER, parent=parent, links=[arrived], attributes=attributes):
        yield


def rename_current(name: str, attributes: Mapping[str, Any] | None = None) -> None:
    """Give the current (server) span a name that says what it did: ``POST /payouts``."""
    current = trace.get_current_span()
    if current.is_recording():
        current.update_name(name)
        for key, value in (attributes or {}).items():
            if value is not None:
                current.set_attribute(key, value)


def mark_error(message: str) -> None:
    current = trace.get_current_span()
    if current.is_recording():
        current.set_status(Status(StatusCode.ERROR, message))


# ---- the local exporter ------------------------------------------------------------------------


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def span_record(span: Any) -> dict[str, Any]:
    """One finished span as the JSON line the local exporter writes."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "service": span.resource.attributes.get("service.name"),
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": _hex(ctx.trace_id, 32),
        "span_id": _hex(ctx.span_id, 16),
        "parent_span_id": _hex(parent.span_id, 16) if parent is not None else None,
        "sampled": ctx.trace_flags.sampled,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "duration_ms": round(((span.end_time or 0) - (span.start_time or 0)) / 1e6, 3),
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "links": [
            {"trace_id": _hex(link.context.trace_id, 32), "span_id": _hex(link.context.span_id, 16)}
            for link in span.links
        ],
    }


class JsonLinesSpanExporter(SpanExporter):
    """Spans as JSON lines, one file per process: ``<dir>/<function>.<pid>.jsonl``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.directory / f"{service_name()}.{os.getpid()}.jsonl", "a") as handle:
                handle.write(lines)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def read_spans(directory: Path) -> list[dict[str, Any]]:
    """Every span the local exporter wrote under ``directory``."""
    spans = []
    for path in sorted(directory.glob("*.jsonl")):
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    spans.append(json.loads(line))
    return spans


def trace_of(spans: Sequence[dict[str, Any]], trace_id: str) -> list[dict[str, Any]]:
    return sorted((s for s in spans if s["trace_id"] == trace_id), key=lambda s: s["start_ns"] or 0)


def trace_id_of(traceparent: str | None) -> str | None:
    found = span_context_of(traceparent)
    return _hex(found.trace_id, 32) if found else None


def show(directory: Path, trace_id: str) -> str:
    """One trace as an indented tree with each span's service, duration and key attributes."""
    spans = trace_of(read_spans(directory), trace_id)
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    ids = {s["span_id"] for s in spans}
    for s in spans:
        by_parent.setdefault(s["parent_span_id"] if s["parent_span_id"] in ids else None, []).append(s)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in by_parent.get(parent, []):
            keys = ("payout.id", "payout.status", "cloudevents.event_type", "provider", "outcome")
            attrs = " ".join(f"{k}={s['attributes'][k]}" for k in keys if k in s["attributes"])
            head = f"{'  ' * depth}{s['name']} [{s['service']}] {s['duration_ms']:.1f} ms"
            lines.append(f"{head} {attrs}".rstrip())
            walk(s["span_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines) if lines else f"no spans of trace {trace_id} under {directory}"


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.tracing show TRACE_ID [--dir .local/traces]``: print one local trace."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m shared.tracing")
    parser.add_argument("command", choices=["show"])
    parser.add_argument("trace_id")
    parser.add_argument("--dir", type=Path, default=Path(".local/traces"))
    args = parser.parse_args(argv)
    print(show(args.dir, args.trace_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
