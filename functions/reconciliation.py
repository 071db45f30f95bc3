"""Reconciliation: the daily job (Pub/Sub tick) and ops' API (``reconciliation-api``, ops only:
the marketplace, which may call payouts-api, has no say on the ledger's corrections).

- ``reconciliation`` (topic ``reconciliation-tick``, Cloud Scheduler daily): every reconciled
  rail over yesterday (UTC). A message may carry ``{"rail", "date"}`` to run one rail and day.
- ``POST /reconciliations`` ``{"rail", "from", "to"}``: reconcile a rail over a window (at most
  31 days), answered with its report.
- ``GET /reconciliations?rail=&limit=``, ``GET /reconciliations/{report_id}``: reports.
- ``GET /reconciliation-breaks?rail=&state=&class=&limit=&page_token=``: breaks, newest first.
- ``GET /reconciliation-breaks/{break_id}``; ``POST /reconciliation-breaks/{break_id}/acknowledge``
  ``{"note"}``, ``/propose`` ``{"reason", "postings": [{"account", "amount", "currency"}]}``,
  ``/approve`` ``{"note"}`` (by someone other than the proposer), ``/reject`` ``{"note"}``.
  The actor of every action is the authenticated caller.
- ``GET /dac7-reports/{year}``, ``POST /dac7-reports`` ``{"year", "declaration", "test"}``: the
  yearly DAC7 report and its DPI file (``shared/entrypoints/dac7_http.py``; issue 18).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import flask
import functions_framework
from cloudevents.http.event import CloudEvent
from pydantic import AwareDatetime, Field, StringConstraints, ValidationError

from shared import log
from shared.domain.errors import DomainError
from shared.domain.money import Money
from shared.domain.reconciliation import Break, BreakState, MovementClass, Window
from shared.domain.validation import MAX_AMOUNT, CurrencyCode, StrictModel, parse_payload
from shared.entrypoints import dac7_http, deps
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import (
    HttpError,
    Router,
    decode_page_token,
    encode_page_token,
    json_response,
    path_id,
    read_model,
    serve,
    validation_error,
)
from shared.entrypoints.pubsub_trigger import in_message_trace, open_message
from shared.settings import Settings
from shared.usecases.dead_letters import record_poison
from shared.usecases.ports import ReconciliationRun

RailName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
Note = Annotated[str, StringConstraints(max_length=2000)]
Account = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ReconcileRequest(StrictModel):
    rail: RailName
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime


class TickRequest(StrictModel):
    """The scheduler's tick is ``{}``; ops may send one rail and day."""

    rail: RailName | None = None
    day: date | None = Field(default=None, alias="date")


class NoteRequest(StrictModel):
    note: Note = ""


class PostingIn(StrictModel):
    account: Account
    amount: int = Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, description="signed integer minor units")
    currency: CurrencyCode


class ProposeRequest(StrictModel):
    reason: Note
    postings: list[PostingIn] = Field(min_length=2, max_length=20)


class BreakQuery(StrictModel):
    rail: RailName | None = None
    state: BreakState | None = None
    cls: MovementClass | None = Field(default=None, alias="class")
    limit: int = Field(default=50, ge=1, le=200)
    page_token: Annotated[str, StringConstraints(max_length=300)] | None = None


def report_view(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "report_id": run.report_id,
        "rail": run.rail,
        "from": run.window_start.isoformat(),
        "to": run.window_end.isoformat(),
        "lines": [
            {"class": x.cls, "currency": x.currency, "count": x.count, "total": x.total} for x in run.lines
        ],
        "breaks": run.breaks,
        "new_breaks": run.new_breaks,
        "fees_posted": run.fees_posted,
        "ledger_payouts": run.ledger_payouts,
        "rail_records": run.rail_records,
        "ran_at": run.ran_at.isoformat(),
        "ran_by": run.ran_by,
    }


def break_view(brk: Break) -> dict[str, Any]:
    correction = brk.correction
    return {
        "break_id": brk.break_id,
        "rail": brk.rail,
        "class": brk.cls.value,
        "state": brk.state.value,
        "amount": {"amount": brk.amount, "currency": brk.currency},
        "note": brk.note,
        "ledger": dict(brk.ledger) if brk.ledger is not None else None,
        "rail_records": [dict(r) for r in brk.rail_records],
        "detected_at": brk.detected_at.isoformat(),
        "history": [
            {"action": a.action, "actor": a.actor, "at": a.at.isoformat(), "note": a.note}
            for a in brk.history
        ],
        "correction": None
        if correction is None
        else {
            "entry_id": correction.entry.entry_id,
            "reason": correction.reason,
            "proposed_by": correction.proposed_by,
            "proposed_at": correction.proposed_at.isoformat(),
            "postings": [
                {"account": p.account, "amount": p.amount.amount, "currency": p.amount.currency}
                for p in correction.entry.postings
            ],
        },
    }


def _query(request: flask.Request, model: type[BreakQuery]) -> BreakQuery:
    args: dict[str, Any] = dict(request.args.items())
    if "limit" in args:
        try:
            args["limit"] = int(args["limit"])
        except ValueError as exc:
            raise HttpError(
                422,
                "validation_failed",
                "limit must be an integer",
                [{"field": "query.limit", "reason": "not an integer"}],
            ) from exc
    try:
        return model.model_validate(args, strict=False)
    except ValidationError as exc:
        raise validation_error(exc, prefix="query") from exc


# --- HTTP handlers ----------------------------------------------------------------------------------


def start(request: flask.Request, settings: Settings, caller: Caller) -> flask.Response:
    req = read_model(request, settings, ReconcileRequest)
    with log.bind(rail=req.rail):
        run = deps.reconciliation_service().reconcile_window(
            req.rail, Window(req.from_, req.to), actor=caller.email
        )
    return json_response(report_view(run), 201)


def reports(request: flask.Request, settings: Settings, caller: Caller) -> flask.Response:
    q = _query(request, BreakQuery)  # the same rail and limit rules
    return json_response(
        {"data": [report_view(r) for r in deps.reconciliation_service().reports(q.rail, q.limit)]}
    )


def report(request: flask.Request, settings: Settings, caller: Caller, report_id: str) -> flask.Response:
    report_id = path_id("report_id", report_id, made_by_us=True)
    return json_response(report_view(deps.reconciliation_service().report(report_id)))


def breaks(request: flask.Request, settings: Settings, caller: Caller) -> flask.Response:
    q = _query(request, BreakQuery)
    page = deps.reconciliation_service().list_breaks(
        rail=q.rail,
        state=q.state,
        cls=q.cls,
        limit=q.limit,
        after=decode_page_token(q.page_token) if q.page_token else None,
    )
    return json_response(
        {
            "data": [break_view(b) for b in page.breaks],
            "next_page_token": encode_page_token(page.next_after) if page.next_after else None,
        }
    )


def get_break(request: flask.Request, settings: Settings, caller: Caller, break_id: str) -> flask.Response:
    break_id = path_id("break_id", break_id, made_by_us=True)
    return json_response(break_view(deps.reconciliation_service().get_break(break_id)))


def act(
    request: flask.Request, settings: Settings, caller: Caller, break_id: str, action: str
) -> flask.Response:
    break_id = path_id("break_id", break_id, made_by_us=True)
    if action not in ("acknowledge", "propose", "approve", "reject"):
        raise HttpError(404, "not_found", "no such action", [{"field": "action", "reason": "unknown"}])
    svc = deps.reconciliation_service()
    with log.bind(break_id=break_id):
        if action == "propose":
            proposal = read_model(request, settings, ProposeRequest)
            postings = [(p.account, Money(p.amount, p.currency)) for p in proposal.postings]
            done = svc.propose(break_id, actor=caller.email, reason=proposal.reason, postings=postings)
        else:
            note = read_model(request, settings, NoteRequest).note
            if action == "acknowledge":
                done = svc.acknowledge(break_id, actor=caller.email, note=note)
            elif action == "approve":
                done = svc.approve(break_id, actor=caller.email, note=note)
            else:
                done = svc.reject(break_id, actor=caller.email, note=note)
    return json_response(break_view(done))


_router = Router(
    [
        ("/reconciliations", ["POST"], start),
        ("/reconciliations", ["GET"], reports),
        ("/reconciliations/<report_id>", ["GET"], report),
        ("/reconciliation-breaks", ["GET"], breaks),
        ("/reconciliation-breaks/<break_id>", ["GET"], get_break),
        ("/reconciliation-breaks/<break_id>/<action>", ["POST"], act),
        ("/dac7-reports", ["POST"], dac7_http.write_file),  # issue 18
        ("/dac7-reports/<year>", ["GET"], dac7_http.preview),
    ]
)


def _handle(request: flask.Request, settings: Settings, caller: Caller | None) -> flask.Response:
    assert caller is not None
    return _router.dispatch(request, settings=settings, caller=caller)


@functions_framework.http
def reconciliation_api(request: flask.Request) -> flask.Response:
    return serve(request, _handle)


# --- the daily job ----------------------------------------------------------------------------------


def _parse_tick(data: bytes) -> TickRequest:
    return parse_payload(TickRequest, data or b"{}")


@functions_framework.cloud_event
@in_message_trace
def reconciliation(cloud_event: CloudEvent) -> None:
    opened = open_message(
        cloud_event,
        source="reconciliation",
        parse=_parse_tick,
        invalid_code="invalid_message",
        invalid_reason="not a reconciliation tick",
    )
    if opened is None:
        return
    message, tick = opened
    svc = deps.reconciliation_service()
    with log.bind(message_id=message.message_id):
        try:
            if tick.rail is not None and tick.day is not None:
                svc.reconcile_day(tick.rail, tick.day, actor=f"pubsub:{message.message_id}")
            else:
                svc.reconcile_yesterday(actor=f"pubsub:{message.message_id}")
        except DomainError as exc:
            # Never valid as sent (a rail not reconciled here, a day in the future): kept, acknowledged.
            record_poison(
                deps.store(),
                source="reconciliation",
                message_id=message.message_id,
                code=exc.code,
                reason=exc.message,
                details=[{"field": exc.field or "$", "reason": exc.message}],
                payload=message.data,
            )
