"""The ops and finance console (HTTP, behind Identity-Aware Proxy): server-rendered pages.

- ``GET /runs``: runs with status, progress, totals by currency and status, skip reasons and
  duration; ``GET /runs/{id}``: one run, with payouts settled over time and failures by code
  (SVG drawn here); ``GET /runs/{id}/progress.json`` feeds its live progress.
- ``GET /payouts?payout_id=&seller_id=&run_id=&status=&failure_code=&provider=``: search;
  ``GET /payouts/{id}``: history, provider transfer and webhooks, journal entries, events;
  ``GET|POST /payouts/{id}/cancel``: confirm, then cancel a pending payout (operators).
- ``GET /dead-letters``: poison messages and parked order events, with their reasons.
- ``GET /sellers?q=``: search; ``GET /sellers/{id}``: balances per currency and their chart over
  time (from the journal), holds, KYC, bank and rail accounts and tax id masked, payouts.
- ``GET /rails``: each rail's drain switch and each instance's breaker; ``GET|POST
  /rails/{rail}/drain|resume``: confirm with a reason, then drain or resume (operators).
- ``GET /reconciliation``: reports per rail and day; ``/reconciliation/reports/{id}``;
  ``/reconciliation/breaks?rail=&state=&class=``; ``/reconciliation/breaks/{id}`` with both
  sides; ``POST .../acknowledge|propose`` (operators, approvers), ``GET|POST .../approve`` and
  ``POST .../reject`` (approvers; the proposer may not approve: the use case's maker-checker).

Identity, roles, CSRF and the security headers are the plumbing's
(``shared/entrypoints/console/``); what is read and done is ``shared/usecases/console_views``.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from typing import Any

import flask
import functions_framework
from werkzeug.wrappers import Response as WerkzeugResponse

from shared import log, tracing
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.domain.reconciliation import BreakState, MovementClass
from shared.entrypoints import deps
from shared.entrypoints.console import charts
from shared.entrypoints.console.access import Permission
from shared.entrypoints.console.app import create_app, dispatch, duration, error_page, requires
from shared.entrypoints.http import HttpError, decode_page_token, encode_page_token
from shared.entrypoints.views import payout_view
from shared.settings import get_settings
from shared.usecases import console_rails, console_reconciliation, console_sellers
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


# ---- sellers -------------------------------------------------------------------------------------


@app.get("/sellers")
@requires(Permission.VIEW)
def sellers() -> str:
    query = _filter("q") or ""
    return flask.render_template(
        "sellers.html", sellers=console_sellers.search_sellers(deps.console_reads(), query), q=query
    )


def _major(amount: int, currency: str) -> float:
    return float(Money(amount, currency).to_decimal())


@app.get("/sellers/<seller_id>")
@requires(Permission.VIEW)
def seller(seller_id: str) -> flask.Response | str:
    try:
        detail = console_sellers.seller_detail(
            deps.payout_service(), deps.console_reads(), deps.country_rules(), seller_id, datetime.now(UTC)
        )
    except views.NotFound:
        return error_page(404, "No such seller", f"There is no seller {seller_id}.")
    balance_charts = {
        currency: charts.time_series_chart(
            [
                charts.Series(bucket, [(p.at, _major(getattr(p, bucket), currency)) for p in points])
                for bucket in ("available", "pending", "in_flight")
            ],
            title=f"Balance in {currency} over time",
            chart_id=f"balance-{currency}",
            y_label=currency,
        )
        for currency, points in detail["history"].items()
    }
    return flask.render_template(
        "seller.html",
        d=detail,
        s=detail["seller"],
        payouts=[payout_view(p) for p in detail["payouts"]],
        balance_charts=balance_charts,
    )


# ---- providers and rails ---------------------------------------------------------------------------

_RAIL_DONE = {"drained": "drained: new payouts go to the next rail of their route", "resumed": "resumed"}


def _rails_args() -> tuple[Any, Any, Any]:
    return deps.rail_controls(), load_rail_capabilities(), deps.country_rules()


@app.get("/rails")
@requires(Permission.VIEW)
def rails() -> str:
    done = flask.request.args.get("done", "")
    return flask.render_template(
        "rails.html",
        rails=console_rails.rails(*_rails_args()),
        can_drain=flask.g.user.may(Permission.DRAIN_PROVIDER),
        done=f"{flask.request.args.get('rail', '')[:64]} {_RAIL_DONE[done]}" if done in _RAIL_DONE else None,
    )


def _drain_action(action: str) -> bool | None:
    return {"drain": True, "resume": False}.get(action)


@app.get("/rails/<rail>/<action>")
@requires(Permission.DRAIN_PROVIDER)
def change_rail(rail: str, action: str) -> flask.Response | str:
    if _drain_action(action) is None:
        return error_page(404, "Not found", "No such action.")
    try:
        state = console_rails.rail(*_rails_args(), rail)
    except views.NotFound:
        return error_page(404, "No such rail", f"There is no rail {rail}.")
    return flask.render_template("rail_change.html", r=state, action=action)


@app.post("/rails/<rail>/<action>")
@requires(Permission.DRAIN_PROVIDER)
def change_rail_confirmed(rail: str, action: str) -> flask.Response | WerkzeugResponse:
    drained = _drain_action(action)
    if drained is None:
        return error_page(404, "Not found", "No such action.")
    actor = flask.g.user.email
    with log.bind(rail=rail[:64], actor=actor):
        try:
            console_rails.change_rail(
                *_rails_args(),
                deps.console_reads(),
                rail,
                drained=drained,
                actor=actor,
                reason=flask.request.form.get("reason", ""),
                now=datetime.now(UTC),
            )
        except views.NotFound:
            return error_page(404, "No such rail", f"There is no rail {rail}.")
        except views.BadForm as exc:
            return error_page(422, "Not done", f"{exc.field}: {exc.message}")
    done = "drained" if drained else "resumed"
    return flask.redirect(flask.url_for("rails", done=done, rail=rail), code=303)


# ---- reconciliation --------------------------------------------------------------------------------

_BREAK_DONE = {
    "acknowledge": "The break is acknowledged.",
    "propose": "The correction is proposed: someone else (an approver) must approve it before it posts.",
    "approve": "The correction is approved and posted to the journal.",
    "reject": "The correction is rejected; another may be proposed.",
}
_MAX_ID = 200


def _enum_filter(name: str, kind: type[BreakState] | type[MovementClass]) -> tuple[Any, str | None]:
    value = _filter(name)
    if value is None:
        return None, None
    try:
        return kind(value), None
    except ValueError:
        return None, f"unknown {name} {value!r}"


@app.get("/reconciliation")
@requires(Permission.VIEW)
def reconciliation() -> str:
    rail_filter = _filter("rail")
    svc = deps.reconciliation_service()
    return flask.render_template(
        "reconciliation.html",
        reports=console_reconciliation.reports(svc, rail_filter),
        open_breaks=console_reconciliation.breaks(
            svc, console_reconciliation.BreakFilter(rail=rail_filter, state=BreakState.OPEN), None
        ).breaks,
        rail=rail_filter,
    )


@app.get("/reconciliation/reports/<report_id>")
@requires(Permission.VIEW)
def reconciliation_report(report_id: str) -> flask.Response | str:
    try:
        found = console_reconciliation.report(deps.reconciliation_service(), report_id[:_MAX_ID])
    except views.NotFound:
        return error_page(404, "No such report", f"There is no reconciliation report {report_id}.")
    return flask.render_template("reconciliation_report.html", r=found)


@app.get("/reconciliation/breaks")
@requires(Permission.VIEW)
def reconciliation_breaks() -> str:
    state, state_error = _enum_filter("state", BreakState)
    cls, cls_error = _enum_filter("class", MovementClass)
    where = console_reconciliation.BreakFilter(rail=_filter("rail"), state=state, cls=cls)
    after = None
    token = flask.request.args.get("page_token")
    if token:
        try:
            after = decode_page_token(token[:300])
        except HttpError:
            after = None
    page = console_reconciliation.breaks(deps.reconciliation_service(), where, after)
    next_page = None
    if page.next_after:
        query = {k: v for k, v in flask.request.args.items() if k != "page_token" and v}
        next_page = (
            flask.url_for("reconciliation_breaks")
            + "?"
            + urllib.parse.urlencode({**query, "page_token": encode_page_token(page.next_after)})
        )
    return flask.render_template(
        "breaks.html",
        breaks=page.breaks,
        where=where,
        states=[s.value for s in BreakState],
        classes=[c.value for c in MovementClass if c not in (MovementClass.MATCHED, MovementClass.FEE)],
        next_page=next_page,
        error=state_error or cls_error,
    )


@app.get("/reconciliation/breaks/<break_id>")
@requires(Permission.VIEW)
def reconciliation_break(break_id: str) -> flask.Response | str:
    try:
        brk = console_reconciliation.get_break(deps.reconciliation_service(), break_id[:_MAX_ID])
    except views.NotFound:
        return error_page(404, "No such break", f"There is no break {break_id}.")
    user = flask.g.user
    proposer = brk.correction.proposed_by if brk.correction else None
    return flask.render_template(
        "break.html",
        b=brk,
        done=_BREAK_DONE.get(flask.request.args.get("done", "")),
        may_resolve=user.may(Permission.RESOLVE_BREAK),
        may_approve=user.may(Permission.APPROVE_CORRECTION),
        is_proposer=proposer == user.email,
    )


@app.get("/reconciliation/breaks/<break_id>/approve")
@requires(Permission.APPROVE_CORRECTION)
def approve_correction(break_id: str) -> flask.Response | str:
    try:
        brk = console_reconciliation.get_break(deps.reconciliation_service(), break_id[:_MAX_ID])
    except views.NotFound:
        return error_page(404, "No such break", f"There is no break {break_id}.")
    if brk.correction is None:
        return error_page(409, "Nothing to approve", "This break has no proposed correction.")
    return flask.render_template(
        "approve.html", b=brk, is_proposer=brk.correction.proposed_by == flask.g.user.email
    )


# Who may do what on a break; the use case's rules (states, maker-checker) apply on top.
_BREAK_ACTIONS = {
    "acknowledge": Permission.RESOLVE_BREAK,
    "propose": Permission.RESOLVE_BREAK,
    "approve": Permission.APPROVE_CORRECTION,
    "reject": Permission.APPROVE_CORRECTION,
}


@app.post("/reconciliation/breaks/<break_id>/<action>")
@requires(Permission.VIEW)
def act_on_break(break_id: str, action: str) -> flask.Response | WerkzeugResponse:
    needed = _BREAK_ACTIONS.get(action)
    if needed is None:
        return error_page(404, "Not found", "No such action.")
    user = flask.g.user
    if not user.may(needed):
        target = break_id[:_MAX_ID]
        views.record_action(deps.console_reads(), user.email, f"{action}_break", target, "refused", "role")
        return error_page(403, "Not allowed", f"Your role does not allow this ({needed.value}).")
    form = flask.request.form
    with log.bind(break_id=break_id[:_MAX_ID], actor=user.email):
        try:
            postings = (
                console_reconciliation.parse_postings(form.get("postings", "")) if action == "propose" else ()
            )
            outcome = console_reconciliation.act_on_break(
                deps.reconciliation_service(),
                deps.console_reads(),
                break_id[:_MAX_ID],
                action,
                actor=user.email,
                note=form.get("note", ""),
                reason=form.get("reason", ""),
                postings=postings,
            )
        except views.BadForm as exc:
            return error_page(422, "Not done", f"{exc.field}: {exc.message}")
        except views.NotFound:
            return error_page(404, "No such break", f"There is no break {break_id}.")
    if not outcome.done:
        title = "Refused: maker-checker" if outcome.code == "same_maker_and_checker" else "Refused"
        return error_page(409, title, f"{outcome.message} ({outcome.code})")
    return flask.redirect(flask.url_for("reconciliation_break", break_id=break_id, done=action), code=303)


@functions_framework.http
def console(request: flask.Request) -> flask.Response:
    return dispatch(app, request)
