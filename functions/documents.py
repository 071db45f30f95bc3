"""Cloud Tasks target (HTTP, OIDC from the tasks invoker): the remittance advice of a paid payout
(issue 18; ``shared/usecases/remittance.py``).

Answered 2xx when the advice is issued or can never be (logged); a failure of Cloud Storage or
of the renderer is a 5xx JSON answer, and the queue retries the task.
"""

from __future__ import annotations

import flask
import functions_framework

from shared import log
from shared.domain.remittance import RemittanceAdvice
from shared.domain.validation import InvalidPayload, ResourceId, StrictModel, parse_payload
from shared.entrypoints import deps
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import HttpError, json_response, raw_body, serve
from shared.settings import Settings
from shared.usecases import remittance


class RemittanceTask(StrictModel):
    payout_id: ResourceId


def _render(advice: RemittanceAdvice) -> bytes:
    from shared.adapters.documents.remittance_pdf import render_pdf  # WeasyPrint: loaded here only

    return render_pdf(advice)


def _remittance(request: flask.Request, settings: Settings, caller: Caller | None) -> flask.Response:
    if request.method != "POST":
        raise HttpError(405, "method_not_allowed", "tasks are POSTed")
    try:
        task = parse_payload(RemittanceTask, raw_body(request, settings))
    except InvalidPayload as exc:
        return json_response({"result": "invalid_task_dropped", "details": exc.details})
    with log.bind(payout_id=task.payout_id):
        svc = deps.payout_service()
        result = remittance.issue_remittance(
            svc.store,
            deps.country_rules(),
            deps.documents(),
            _render,
            svc.relay,
            task.payout_id,
            marketplace_name=settings.marketplace_name,
        )
    return json_response({"result": result})


@functions_framework.http
def remittance_worker(request: flask.Request) -> flask.Response:
    return serve(request, _remittance)
