"""The ops and finance console (HTTP, behind Identity-Aware Proxy): server-rendered pages.

- ``GET /runs``: runs with status, progress, totals by currency and status, skip reasons and
  duration; ``GET /runs/{id}``: one run, with payouts settled over time and failures by code
  (SVG drawn here); ``GET /runs/{id}/progress.json`` feeds its live progress.
- ``GET /payouts?payout_id=&seller_id=&run_id=&status=&failure_code=&provider=``: search;
  ``GET /payouts/{id}``: history, provider transfer and webhooks, journal entries, events;
  ``GET|POST /payouts/{id}/cancel``: confirm, then cancel a pending payout (operators).
- ``GET /dead-letters``: poison messages and parked order events, with their reasons.

Identity, roles, CSRF and the security headers are the plumbing's
(``shared/entrypoints/console/``); what is read and done is ``shared/usecases/console_views``.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import flask
import functions_framework
from werkzeug.wrappers import Response as WerkzeugResponse

from shared import log, tracing
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.entrypoints import deps
from shared.entrypoints.console import charts
from shared.entrypoints.console.access import Permission
from shared.entrypoints.console.app import create_app, dispatch, duration, error_page, requires
from shared.entrypoints.views import payout_view
from shared.settings import get_settings
from shared.usecases import console_views as views

app = create_app()
_DONE = {"canceled": "The payout was canceled; its amount is available to the seller again."}
_MAX_FILTER = 128


@app.get("/")
@requires(Permission.VIEW)
def home() -> WerkzeugResponse:
    return flask.redirect(flask.url_for("runs"))


@app.get("/runs")
@requires(Permission.VIEW)
def runs() -> str:
    found, next_page = views.list_runs(
        deps.payout_service(),
        deps.console_reads(),
        get_settings().run_deadline_seconds,
        flask.request.args.get("page_token"),
    )
    return flask.render_template("runs.html", runs=found, next_page=next_page)


@app.get("/runs/<run_id>")
@requires(Permission.VIEW)
def run(run_id: str) -> flask.Response | str:
    try:
        detail = views.run_detail(
            deps.payout_service(), deps.console_reads(), run_id, get_settings().run_deadline_seconds
        )
    except views.NotFound:
        return error_page(404, "No such run", f"There is no run {run_id}.")
    settled = [
        charts.Series(status, charts.cumulative(times))
        for status, times in detail["settled_times"].items()
        if times or status != "returned"
    ]
    return flask.render_template(
        "run.html",
        run=detail,
        settled_chart=charts.time_series_chart(
            settled, title="Payouts settled over time", chart_id="settled", y_label="payouts (cumulative)"
        ),
        failures_chart=charts.bar_chart(
            list(detail["failures_by_code"].items()), title="Failures by code", chart_id="failures"
        ),
    )


@app.get("/runs/<run_id>/progress.json")
@requires(Permission.VIEW)
def run_progress(run_id: str) -> flask.Response:
    try:
        summary = views.run_summary(deps.payout_service(), run_id, get_settings().run_deadline_seconds)
    except views.NotFound:
        body = {"error": {"code": "run_not_found", "message": f"no run {run_id}", "details": []}}
        return flask.make_response(flask.jsonify(body), 404)
    summary["duration_text"] = duration(summary["duration_seconds"])
    return flask.jsonify({k: v for k, v in summary.items() if k not in ("completed_at",)})


def _filter(name: str) -> str | None:
    value = (flask.request.args.get(name) or "").strip()
    return value[:_MAX_FILTER] or None


@app.get("/payouts")
@requires(Permission.VIEW)
def payouts() -> str:
    search = views.PayoutSearch(
        payout_id=_filter("payout_id"),
        seller_id=_filter("seller_id"),
        run_id=_filter("run_id"),
        status=_filter("status"),
        failure_code=_filter("failure_code"),
        provider=_filter("provider"),
    )
    error = None
    if search.status and search.status not in {s.value for s in PayoutStatus}:
        error, search = f"unknown status {search.status!r}", views.PayoutSearch()
    found, token = views.search_payouts(deps.payout_service(), search, flask.request.args.get("page_token"))
    next_page = None
    if token:
        query = {k: v for k, v in flask.request.args.items() if k != "page_token" and v}
        next_page = flask.url_for("payouts") + "?" + urllib.parse.urlencode({**query, "page_token": token})
    return flask.render_template(
        "payouts.html",
        payouts=[payout_view(p) for p in found],
        search=search,
        statuses=[s.value for s in PayoutStatus],
        failure_codes=[c.value for c in FailureCode],
        next_page=next_page,
        error=error,
    )


def _payout_detail(payout_id: str) -> dict[str, Any]:
    detail = views.payout_detail(deps.payout_service(), deps.console_reads(), payout_id)
    return {**detail, "payout": payout_view(detail["payout"])}


@app.get("/payouts/<payout_id>")
@requires(Permission.VIEW)
def payout(payout_id: str) -> flask.Response | str:
    try:
        detail = _payout_detail(payout_id)
    except views.NotFound:
        return error_page(404, "No such payout", f"There is no payout {payout_id}.")
    trace_id = tracing.trace_id_of(detail["trace_context"])
    settings = get_settings()
    trace_url = (
        f"https://console.cloud.google.com/traces/list?tid={trace_id}&project={settings.project}"
        if trace_id and settings.trace_exporter == "gcp"
        else None
    )
    return flask.render_template(
        "payout.html",
        d=detail,
        can_cancel=detail["cancellable"] and flask.g.user.may(Permission.CANCEL_PAYOUT),
        done=_DONE.get(flask.request.args.get("done", "")),
        trace_id=trace_id,
        trace_url=trace_url,
    )


@app.get("/payouts/<payout_id>/cancel")
@requires(Permission.CANCEL_PAYOUT)
def cancel_payout(payout_id: str) -> flask.Response | str:
    try:
        detail = _payout_detail(payout_id)
    except views.NotFound:
        return error_page(404, "No such payout", f"There is no payout {payout_id}.")
    if not detail["cancellable"]:
        return error_page(
            409, "Cannot cancel", "Only a pending payout not yet sent to the provider can be canceled."
        )
    return flask.render_template("cancel.html", p=detail["payout"])


@app.post("/payouts/<payout_id>/cancel")
@requires(Permission.CANCEL_PAYOUT)
def cancel_payout_confirmed(payout_id: str) -> flask.Response | WerkzeugResponse:
    actor = flask.g.user.email
    with log.bind(payout_id=payout_id, actor=actor):
        done, what = views.cancel_payout(deps.payout_service(), deps.console_reads(), payout_id, actor)
    if not done:
        return error_page(409, "Not canceled", what)
    return flask.redirect(flask.url_for("payout", payout_id=payout_id, done="canceled"), code=303)


@app.get("/dead-letters")
@requires(Permission.VIEW)
def dead_letters() -> str:
    reads = deps.console_reads()
    return flask.render_template(
        "dead_letters.html", letters=views.dead_letters(reads), parked=views.parked_order_events(reads)
    )


@functions_framework.http
def console(request: flask.Request) -> flask.Response:
    return dispatch(app, request)
