"""Payouts API (HTTP, OIDC): on-demand payouts, payouts, runs.

- ``POST /payouts`` with ``Idempotency-Key``: pay a seller an amount (at most ``available``).
- ``GET /payouts?seller_id=&status=&run_id=&limit=&page_token=``: newest first, paginated.
- ``GET /payouts/{payout_id}``; ``POST /payouts/{payout_id}/cancel`` (pending only).
- ``GET /payouts/{payout_id}/statement?page_token=&limit=``: what the payout pays for, line by
  line (JSON, or CSV with ``Accept: text/csv``; ``shared/entrypoints/statements_http.py``).
- ``POST /runs`` ``{"run_date", "dry_run"}``; ``GET /runs/{run_id}``: progress and skip reasons;
  ``GET /runs/{run_id}/items?skip_reason=``: each seller's outcome.
- ``GET /rails``: each rail's drain switch and breakers; ``POST /rails/{rail}/drain`` and
  ``POST /rails/{rail}/resume`` ``{"reason"}`` (ops: recorded with the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated

import flask
import functions_framework
from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from shared import log
from shared.domain.eligibility import SkipReason
from shared.domain.payouts import PayoutStatus
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.domain.validation import Identifier, PositiveMoneyIn, StrictModel
from shared.entrypoints import deps, statements_http
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
from shared.entrypoints.views import item_view, payout_request_response, payout_view, rail_view, run_view
from shared.settings import Settings
from shared.usecases import payout_runs, rail_ops

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")]
_IDEMPOTENCY_KEY = TypeAdapter[str](IdempotencyKey)


class PayoutRequest(StrictModel):
    seller_id: Identifier
    amount: PositiveMoneyIn


class RunRequest(StrictModel):
    run_date: date
    dry_run: bool = False


class ListQuery(StrictModel):
    seller_id: Identifier | None = None
    status: PayoutStatus | None = None
    run_id: Annotated[str, StringConstraints(max_length=80)] | None = None
    limit: int = Field(default=50, ge=1, le=200)
    page_token: Annotated[str, StringConstraints(max_length=200)] | None = None


def _create(request: flask.Request, settings: Settings, caller: Caller) -> flask.Response:
    key = request.headers.get("Idempotency-Key")
    if not key:
        raise HttpError(
            400,
            "idempotency_key_required",
            "send an Idempotency-Key header",
            [{"field": "header.Idempotency-Key", "reason": "required"}],
        )
    try:
        _IDEMPOTENCY_KEY.validate_python(key)
    except ValidationError as exc:
        raise HttpError(
            422,
            "validation_failed",
            "invalid Idempotency-Key",
            [{"field": "header.Idempotency-Key", "reason": "8 to 64 of A-Z a-z 0-9 _ . : -"}],
        ) from exc
    req = read_model(request, settings, PayoutRequest)
    with log.bind(seller_id=req.seller_id):
        outcome = deps.payout_service().request_payout(
            caller=caller.email, idempotency_key=key, seller_id=req.seller_id, amount=req.amount.to_money()
        )
    return payout_request_response(outcome)


def _get(request: flask.Request, settings: Settings, caller: Caller, payout_id: str) -> flask.Response:
    payout_id = path_id("payout_id", payout_id, made_by_us=True)
    return json_response(payout_view(deps.payout_service().get_payout(payout_id)))


def _list(request: flask.Request, settings: Settings, caller: Caller) -> flask.Response:
    args = dict(request.args.items())
    if "limit" in args:
        try:
            args["limit"] = int(args["limit"])  # type: ignore[assignment]
        except ValueError as exc:
            raise HttpError(
                422,
                "validation_failed",
                "limit must be an integer",
                [{"field": "query.limit", "reason": "not an integer"}],
            ) from exc
    try:
        q = ListQuery.model_validate(args, strict=False)
    except ValidationError as exc:
        raise validation_error(exc, prefix="query") from exc
    page, cursor = deps.payout_service().list_payouts(
        seller_id=q.seller_id,
        status=q.status,
        run_id=q.run_id,
        limit=q.limit,
        after=decode_page_token(q.page_token) if q.page_token else None,
    )
    return json_response(
        {
            "data": [payout_view(p) for p in page],
            "next_page_token": encode_page_token(cursor) if cursor else None,
        }
    )


def _cancel(request: flask.Request, settings: Settings, caller: Caller, payout_id: str) -> flask.Response:
    payout_id = path_id("payout_id", payout_id, made_by_us=True)
    with log.bind(payout_id=payout_id):
        payout = deps.payout_service().cancel(payout_id, actor=caller.email)
    return json_response(payout_view(payout))


def _start_run(request: flask.Request, settings: Settings, caller: Caller) -> flask.Response:
    req = read_model(request, settings, RunRequest)
    started = payout_runs.start_run(
        deps.payout_service(), req.run_date, dry_run=req.dry_run, requested_by=caller.email
    )
    # 202: a new run is under way; 200: the run for that date already existed.
    return json_response(run_view(started.progress, started.created), 202 if started.created else 200)


def _get_run(request: flask.Request, settings: Settings, caller: Caller, run_id: str) -> flask.Response:
    run_id = path_id("run_id", run_id, made_by_us=True)
    return json_response(run_view(payout_runs.run_progress(deps.payout_service(), run_id)))


def _run_items(request: flask.Request, settings: Settings, caller: Caller, run_id: str) -> flask.Response:
    """Each seller's outcome in a run, by seller id, cursor-paginated."""
    run_id = path_id("run_id", run_id, made_by_us=True)
    reason = request.args.get("skip_reason") or None
    try:
        skip_reason = SkipReason(reason) if reason else None
    except ValueError:
        # No item has that reason: an empty page, as the query always answered.
        return json_response({"data": [], "next_page_token": None})
    page = payout_runs.run_items(
        deps.payout_service(),
        run_id,
        skip_reason=skip_reason,
        seller_id=request.args.get("seller_id") or None,
        after=request.args.get("page_token") or None,
        limit=_ITEMS_PAGE,
    )
    return json_response({"data": [item_view(i) for i in page.items], "next_page_token": page.next_after})


_ITEMS_PAGE = 200


class RailChange(StrictModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


_RAIL = TypeAdapter[str](Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")])


def _rail_path(rail: str) -> str:
    try:
        return _RAIL.validate_python(rail)
    except ValidationError as exc:
        raise HttpError(
            422,
            "validation_failed",
            "rail is not a valid rail name",
            [{"field": "rail", "reason": "pattern"}],
        ) from exc


def _list_rails(request: flask.Request, settings: Settings, caller: Caller) -> flask.Response:
    states = rail_ops.list_rails(deps.rail_controls(), load_rail_capabilities(), deps.country_rules())
    return json_response({"data": [rail_view(s) for s in states]})


def _change_rail(drained: bool) -> Callable[[flask.Request, Settings, Caller, str], flask.Response]:
    def change(request: flask.Request, settings: Settings, caller: Caller, rail: str) -> flask.Response:
        rail = _rail_path(rail)
        req = read_model(request, settings, RailChange)
        with log.bind(rail=rail):
            state = rail_ops.set_drained(
                deps.rail_controls(),
                load_rail_capabilities(),
                deps.country_rules(),
                rail,
                drained=drained,
                actor=caller.email,
                reason=req.reason,
                now=datetime.now(UTC),
            )
        deps.rail_selector().forget()  # this instance sees it at once; the others within seconds
        return json_response(rail_view(state))

    return change


def _statement(request: flask.Request, settings: Settings, caller: Caller, payout_id: str) -> flask.Response:
    return statements_http.payout_statement(request, caller, payout_id)


_router = Router(
    [
        ("/payouts", ["POST"], _create),
        ("/payouts", ["GET"], _list),
        ("/payouts/<payout_id>", ["GET"], _get),
        ("/payouts/<payout_id>/cancel", ["POST"], _cancel),
        ("/payouts/<payout_id>/statement", ["GET"], _statement),
        ("/runs", ["POST"], _start_run),
        ("/runs/<run_id>", ["GET"], _get_run),
        ("/runs/<run_id>/items", ["GET"], _run_items),
        ("/rails", ["GET"], _list_rails),
        ("/rails/<rail>/drain", ["POST"], _change_rail(True)),
        ("/rails/<rail>/resume", ["POST"], _change_rail(False)),
    ]
)


def _handle(request: flask.Request, settings: Settings, caller: Caller | None) -> flask.Response:
    assert caller is not None
    return _router.dispatch(request, settings=settings, caller=caller)


@functions_framework.http
def payouts_api(request: flask.Request) -> flask.Response:
    return serve(request, _handle)
