"""Cloud Tasks targets (HTTP, OIDC from the tasks invoker): run shards and transfers.

A task is answered 2xx when its work is done or can never be done (recorded and logged), and
503 when it should be retried; the queue's retry configuration does the rest.
"""

from __future__ import annotations

import logging

import flask
import functions_framework

from shared import log, tracing
from shared.domain.validation import InvalidPayload, ResourceId, StrictModel, parse_payload
from shared.entrypoints import deps
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import HttpError, json_response, raw_body, serve
from shared.settings import Settings
from shared.usecases import payout_runs
from shared.usecases.payouts import RetryLater

logger = logging.getLogger(__name__)
TaskId = ResourceId


class ShardTask(StrictModel):
    run_id: TaskId
    page_id: TaskId


class TransferTask(StrictModel):
    payout_id: TaskId


def _task_context(request: flask.Request) -> dict[str, str | None]:
    """The task's identity, for the logs and its span (whose trace the task's traceparent
    header continued: shared/tracing.py)."""
    queue = request.headers.get("X-CloudTasks-QueueName")
    context = {
        "task_name": request.headers.get("X-CloudTasks-TaskName"),
        "task_retry_count": request.headers.get("X-CloudTasks-TaskRetryCount"),
    }
    tracing.rename_current(
        f"{queue or 'task'} process",
        {"messaging.system": "gcp_cloud_tasks", "messaging.destination.name": queue, **context},
    )
    return context


def _parse(
    model: type[StrictModel], request: flask.Request, settings: Settings
) -> StrictModel | InvalidPayload:
    if request.method != "POST":
        raise HttpError(405, "method_not_allowed", "tasks are POSTed")
    try:
        return parse_payload(model, raw_body(request, settings))
    except InvalidPayload as exc:
        # A task that can never be valid (not strict JSON, or not the model): acknowledge it so the
        # queue does not retry it for days; nothing is written.
        logger.error("invalid task body dropped: %s", exc, extra={"fields": {"errors": exc.details}})
        return exc


def _dropped(exc: InvalidPayload) -> flask.Response:
    return json_response({"result": "invalid_task_dropped", "details": exc.details})


def _shard(request: flask.Request, settings: Settings, caller: Caller | None) -> flask.Response:
    task = _parse(ShardTask, request, settings)
    if isinstance(task, InvalidPayload):
        return _dropped(task)
    assert isinstance(task, ShardTask)
    with log.bind(run_id=task.run_id, **_task_context(request)):
        result = payout_runs.process_page(deps.payout_service(), task.run_id, task.page_id)
    return json_response({"result": _page_counts(result)})


def _page_counts(result: payout_runs.PageResult) -> dict[str, int]:
    if result.outcome in ("unknown", "duplicate"):
        return {result.outcome: 1}
    counts = {"paid": result.paid, "skipped": result.skipped}
    if result.deferred:
        counts["deferred"] = result.deferred
    return counts


def _transfer(request: flask.Request, settings: Settings, caller: Caller | None) -> flask.Response:
    task = _parse(TransferTask, request, settings)
    if isinstance(task, InvalidPayload):
        return _dropped(task)
    assert isinstance(task, TransferTask)
    with log.bind(payout_id=task.payout_id, **_task_context(request)):
        tracing.rename_current("payout-transfers process", {"payout.id": task.payout_id})
        try:
            result = deps.payout_service().send_transfer(task.payout_id)
        except RetryLater as exc:
            raise HttpError(503, "retry_later", str(exc)) from exc
    return json_response({"result": result})


@functions_framework.http
def run_shard_worker(request: flask.Request) -> flask.Response:
    return serve(request, _shard)


@functions_framework.http
def transfer_worker(request: flask.Request) -> flask.Response:
    return serve(request, _transfer)
