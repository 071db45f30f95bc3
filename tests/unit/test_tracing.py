"""One trace per payout: how the context is chosen, carried across tasks and messages, joined by
a webhook, written locally, and named in the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import flask
from cloudevents.http import CloudEvent
from opentelemetry import trace

from shared import log, tracing
from shared.adapters import pubsub, tasks
from shared.entrypoints.http import Router, json_response, serve
from shared.entrypoints.pubsub_trigger import in_message_trace
from shared.settings import Settings

TRACE_A = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def trace_id(traceparent: str | None) -> str:
    assert traceparent
    return traceparent.split("-")[1]


def test_an_on_demand_payout_continues_the_request_trace(spans):
    with tracing.span("POST /payouts") as request:
        stored = tracing.payout_trace_context("po_1", own_trace=False)
    assert trace_id(stored) == format(request.get_span_context().trace_id, "032x")
    assert stored == tracing.traceparent_of(request.get_span_context())


def test_a_run_payout_gets_a_trace_of_its_own_linked_to_the_shard_task(spans):
    with tracing.span("payout-run-shards process") as shard:
        stored = tracing.payout_trace_context("po_2", own_trace=True)
        again = tracing.payout_trace_context("po_2", own_trace=True)  # a retried transaction
    assert stored == again
    shard_trace = format(shard.get_span_context().trace_id, "032x")
    assert trace_id(stored) != shard_trace
    roots = [s for s in spans.get_finished_spans() if s.name == "payout created"]
    assert len(roots) == 1 and roots[0].parent is None
    assert roots[0].attributes["payout.id"] == "po_2"
    assert [format(link.context.trace_id, "032x") for link in roots[0].links] == [shard_trace]


def test_nothing_is_stored_when_tracing_is_off():
    assert tracing.payout_trace_context("po_3", own_trace=True) is None
    carrier: dict[str, str] = {}
    tracing.inject(carrier)
    assert carrier == {}


def test_work_about_a_payout_created_here_is_parented_to_its_trace(spans):
    with tracing.span("shard"):
        stored = tracing.payout_trace_context("po_4", own_trace=True)
        about_payout: dict[str, str] = {}
        tracing.inject(about_payout, payout_id="po_4")
        current: dict[str, str] = {}
        tracing.inject(current)
    assert trace_id(about_payout["traceparent"]) == trace_id(stored)
    assert trace_id(current["traceparent"]) != trace_id(stored)


def test_a_webhook_joins_the_trace_stored_on_its_payout(spans):
    with tracing.span("POST /<provider>") as arrived, tracing.joined(TRACE_A, "sandbox webhook"):
        inside = trace.get_current_span().get_span_context()
    assert format(inside.trace_id, "032x") == trace_id(TRACE_A)
    webhook = next(s for s in spans.get_finished_spans() if s.name == "sandbox webhook")
    assert format(webhook.parent.span_id, "016x") == "b7ad6b7169203331"
    assert webhook.links[0].context.span_id == arrived.get_span_context().span_id


def test_a_webhook_without_a_stored_trace_stays_in_its_own(spans):
    with tracing.span("POST /<provider>") as arrived, tracing.joined(None, "sandbox webhook"):
        assert trace.get_current_span() is arrived


def test_context_is_read_from_attributes_whatever_the_case():
    assert tracing.extract({"TraceParent": TRACE_A}) is not None
    assert tracing.extract({"traceparent": "00-garbage"}) is None
    assert tracing.extract({}) is None
    assert tracing.trace_id_of(TRACE_A) == "0af7651916cd43dd8448eb211c80319c"
    assert tracing.trace_id_of("nonsense") is None


class FakeTasksClient:
    def __init__(self) -> None:
        self.tasks: list[dict[str, Any]] = []

    def create_task(self, parent: str, task: dict[str, Any]) -> Any:
        self.tasks.append(task)
        return SimpleNamespace(name=f"{parent}/tasks/t{len(self.tasks)}")


def test_a_transfer_task_carries_its_payout_trace(spans, monkeypatch):
    client = FakeTasksClient()
    monkeypatch.setattr(tasks, "_tasks_client", lambda settings: client)
    queue = tasks.TaskQueue(Settings())
    with tracing.span("shard"):
        stored = tracing.payout_trace_context("po_5", own_trace=True)
        queue.enqueue("payout-transfers", "transfer-worker", {"payout_id": "po_5"})
        queue.enqueue("payout-run-shards", "run-shard-worker", {"run_id": "r", "page_id": "p"})
    transfer, page = (t["http_request"]["headers"] for t in client.tasks)
    assert trace_id(transfer["traceparent"]) == trace_id(stored)
    assert trace_id(page["traceparent"]) != trace_id(stored)
    enqueue = next(
        s
        for s in spans.get_finished_spans()
        if s.name == "payout-transfers enqueue" and s.attributes.get("payout.id") == "po_5"
    )
    assert transfer["traceparent"].split("-")[2] == format(enqueue.context.span_id, "016x")
    assert enqueue.kind is trace.SpanKind.PRODUCER


def test_a_published_event_carries_the_trace_in_its_attributes(spans, monkeypatch):
    sent: list[Any] = []

    class Api:
        def publish(self, topic: str, messages: list[Any], timeout: float) -> Any:
            sent.extend(messages)
            return SimpleNamespace(message_ids=["m1"])

    fake = SimpleNamespace(api=Api(), topic_path=lambda project, topic: f"projects/{project}/topics/{topic}")
    monkeypatch.setattr(pubsub, "_client", lambda: fake)
    attributes = {"ce-type": "payout.paid", "ce-subject": "po_6"}
    with tracing.span("transfer") as current:
        pubsub.Publisher(Settings()).publish("payout-events", b"{}", attributes)
    assert "traceparent" not in attributes, "the caller's attributes are left alone"
    carried = dict(sent[0].attributes)["traceparent"]
    assert trace_id(carried) == format(current.get_span_context().trace_id, "032x")
    publish = next(s for s in spans.get_finished_spans() if s.name == "payout-events publish")
    assert publish.attributes["cloudevents.event_type"] == "payout.paid"


def test_a_message_handler_runs_in_the_trace_its_message_carries(spans):
    seen: list[trace.SpanContext] = []

    @in_message_trace
    def handler(event: CloudEvent) -> None:
        seen.append(trace.get_current_span().get_span_context())

    data = {"message": {"data": "", "messageId": "1", "attributes": {"traceparent": TRACE_A}}}
    handler(CloudEvent({"type": "t", "source": "//pubsub/projects/p/topics/payout-runs", "id": "1"}, data))
    handler(CloudEvent({"type": "t", "source": "//x/topics/t", "id": "2"}, {"message": "not a map"}))
    assert format(seen[0].trace_id, "032x") == trace_id(TRACE_A)
    assert format(seen[1].trace_id, "032x") != trace_id(TRACE_A)
    names = [s.name for s in spans.get_finished_spans()]
    assert "payout-runs process" in names


def test_an_http_request_is_traced_from_its_traceparent_and_named_by_its_route(spans):
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    app = flask.Flask("test-app")
    FlaskInstrumentor().instrument_app(app, enable_commenter=False)
    router = Router(
        [("/payouts/<payout_id>", ["GET"], lambda request, payout_id: json_response({"id": payout_id}))]
    )

    @app.route("/<path:path>", methods=["GET"])
    def anything(path: str) -> flask.Response:
        return serve(
            flask.request, lambda request, settings, caller: router.dispatch(request), require_oidc=False
        )

    response = app.test_client().get("/payouts/po_7", headers={"traceparent": TRACE_A})
    assert response.status_code == 200
    server = next(s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER)
    assert server.name == "GET /payouts/<payout_id>"
    assert format(server.context.trace_id, "032x") == trace_id(TRACE_A)


def test_log_lines_name_the_current_trace_in_cloud_loggings_fields(spans):
    log.configure("INFO", "proj-1")
    formatter = log.CloudLoggingFormatter()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    with tracing.span("work") as current:
        entry = json.loads(formatter.format(record))
    ctx = current.get_span_context()
    assert entry[log.TRACE_FIELD] == f"projects/proj-1/traces/{ctx.trace_id:032x}"
    assert entry[log.SPAN_FIELD] == f"{ctx.span_id:016x}"
    assert entry[log.SAMPLED_FIELD] is True


def test_untraced_log_lines_fall_back_to_the_cloud_trace_header():
    formatter = log.CloudLoggingFormatter()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    with log.bind(trace="projects/p/traces/abc"):
        entry = json.loads(formatter.format(record))
    assert entry[log.TRACE_FIELD] == "projects/p/traces/abc"
    assert log.SPAN_FIELD not in entry


def test_the_local_exporter_writes_json_lines_that_read_back_as_a_tree(spans, tmp_path: Path):
    with tracing.span("outer", attributes={"payout.id": "po_8"}), tracing.span("inner"):
        pass
    finished = spans.get_finished_spans()
    assert tracing.JsonLinesSpanExporter(tmp_path).export(finished).name == "SUCCESS"
    read = tracing.read_spans(tmp_path)
    assert {s["name"] for s in read} >= {"outer", "inner"}
    outer = next(s for s in read if s["name"] == "outer")
    tree = tracing.show(tmp_path, outer["trace_id"]).splitlines()
    assert tree[0].startswith("outer") and "payout.id=po_8" in tree[0]
    assert tree[1].startswith("  inner")
