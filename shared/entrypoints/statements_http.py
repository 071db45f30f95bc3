"""The statement endpoints (issue 18), shared by the sellers API and the payouts API:

- ``GET /sellers/{seller_id}/statement?from=&to=&page_token=&limit=``
- ``GET /payouts/{payout_id}/statement?page_token=&limit=``

JSON, paginated with cursors (the movements, or the content lines); or the whole statement as
CSV with ``Accept: text/csv``. A seller-scoped caller sees only its own: another seller's payout is
a 404, as if it did not exist (``http.scoped_by_handler``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import flask

from shared.domain.money import Money
from shared.domain.statement_csv import payout_statement_csv, seller_statement_csv
from shared.domain.statements import (
    Movement,
    PayoutStatement,
    SellerStatement,
    StatementRequestError,
    content_line_key,
    decode_cursor,
    movement_key,
    paginate,
)
from shared.entrypoints import deps
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import HttpError, json_response, path_id
from shared.usecases import statements

CSV = "text/csv"
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)
_QUERY = {"from", "to", "page_token", "limit"}


def _money(m: Money) -> dict[str, Any]:
    return {"amount": m.amount, "currency": m.currency}


def _bad_query(field: str, code: str, message: str, status: int = 422) -> HttpError:
    return HttpError(status, code, message, [{"field": f"query.{field}", "reason": message}])


def _refused(exc: StatementRequestError) -> HttpError:
    field = exc.field or "$"
    return _bad_query(field, exc.code, exc.message, 400 if exc.code == "invalid_page_token" else 422)


def _query(request: flask.Request, allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise _bad_query(unknown[0], "validation_failed", "not a parameter of this endpoint")
    repeated = [k for k in request.args if len(request.args.getlist(k)) > 1]
    if repeated:
        raise _bad_query(repeated[0], "validation_failed", "given more than once")
    return dict(request.args.items())


def _date(args: dict[str, str], name: str) -> date:
    value = args.get(name)
    if value is None:
        raise _bad_query(name, "validation_failed", "required (YYYY-MM-DD)")
    try:
        if len(value) != 10:
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise _bad_query(name, "validation_failed", "not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:  # the range's end + 1 day must still be a date
        raise _bad_query(name, "validation_failed", f"a date from {FIRST_DAY} to {LAST_DAY}")
    return day


def _limit(args: dict[str, str]) -> int | None:
    value = args.get("limit")
    if value is None:
        return None
    if not value.isdigit() or len(value) > 4:
        raise _bad_query("limit", "invalid_limit", "limit must be an integer between 1 and 500")
    return int(value)


def _token(args: dict[str, str], shape: tuple[type, ...]) -> str | None:
    """A page token of the shape this endpoint gives (a token of the other endpoint is refused)."""
    token = args.get("page_token")
    if token is None:
        return None
    key = decode_cursor(token)
    if len(key) != len(shape) or not all(type(part) is kind for part, kind in zip(key, shape, strict=True)):
        raise StatementRequestError("invalid_page_token", "page_token is not one this API gave", "page_token")
    return token


MOVEMENT_TOKEN = (str, str, int)
CONTENT_TOKEN = (int,)


def wants_csv(request: flask.Request) -> bool:
    best = request.accept_mimetypes.best_match(["application/json", CSV], default="application/json")
    return best == CSV


def _csv_response(text: str, filename: str) -> flask.Response:
    response = flask.Response(text.encode("utf-8"), status=200, mimetype=CSV)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def movement_view(statement: SellerStatement, m: Movement) -> dict[str, Any]:
    return {
        "at": m.at.isoformat(),
        "date": statement.range.local_date(m.at).isoformat(),
        "entry_id": m.entry_id,
        "kind": m.kind,
        "bucket": m.bucket.value,
        "amount": _money(m.amount),
        "balance_after": _money(m.balance_after),
        "order_line_id": m.order_line_id,
        "payout_id": m.payout_id,
        "refund_id": m.refund_id,
        "details": [{"kind": d.kind, "amount": _money(d.amount), "ref": d.ref} for d in m.details],
    }


def _balances(statement: SellerStatement, which: str) -> list[dict[str, Any]]:
    values = statement.opening if which == "opening" else statement.closing
    return [
        {"currency": ccy, "bucket": bucket.value, "amount": values.get((ccy, bucket), Money.zero(ccy)).amount}
        for ccy, bucket in statement.balance_keys()
    ]


def seller_statement_view(
    statement: SellerStatement, movements: list[Movement], next_token: str | None
) -> dict[str, Any]:
    return {
        "seller_id": statement.seller_id,
        "from": statement.range.start.isoformat(),
        "to": statement.range.end.isoformat(),
        "timezone": statement.range.timezone,
        "opening_balance": _balances(statement, "opening"),
        "closing_balance": _balances(statement, "closing"),
        "payouts": [
            {
                "payout_id": p.payout_id,
                "created_at": p.created_at.isoformat(),
                "amount": _money(p.amount),
                "status": p.status.value,
                "paid_at": p.paid_at.isoformat() if p.paid_at else None,
                "failure_code": p.failure_code,
            }
            for p in statement.payouts
        ],
        "data": [movement_view(statement, m) for m in movements],
        "next_page_token": next_token,
    }


def payout_statement_view(
    statement: PayoutStatement, lines: list[tuple[int, Any]], next_token: str | None
) -> dict[str, Any]:
    return {
        "payout_id": statement.payout_id,
        "seller_id": statement.seller_id,
        "amount": _money(statement.amount),
        "status": statement.status.value,
        "data": [
            {
                "line": i + 1,
                "kind": line.kind.value,
                "amount": _money(line.amount),
                "order_line_id": line.order_line_id,
                "occurred_at": line.occurred_at.isoformat(),
                "movement_id": line.movement_id,
                "movement_kind": line.movement_kind.value,
                "ref": line.ref,
                "owed": line.owed,
                "reopened_from": line.reopened_from,
            }
            for i, line in lines
        ],
        "next_page_token": next_token,
    }


def seller_statement(request: flask.Request, seller_id: str) -> flask.Response:
    seller_id = path_id("seller_id", seller_id)
    args = _query(request, _QUERY)
    start, end = _date(args, "from"), _date(args, "to")
    limit = _limit(args)
    try:
        statement = statements.seller_statement_for(deps.store(), deps.country_rules(), seller_id, start, end)
        if wants_csv(request):
            return _csv_response(seller_statement_csv(statement), f"statement-{seller_id}-{start}-{end}.csv")
        page_token = _token(args, MOVEMENT_TOKEN)
        page, token = paginate(list(statement.movements), movement_key, page_token, limit)
    except StatementRequestError as exc:
        raise _refused(exc) from exc
    return json_response(seller_statement_view(statement, page, token))


def payout_statement(request: flask.Request, caller: Caller | None, payout_id: str) -> flask.Response:
    payout_id = path_id("payout_id", payout_id, made_by_us=True)
    args = _query(request, {"page_token", "limit"})
    limit = _limit(args)
    scoped = caller is not None and caller.sellers is not None
    statement = statements.payout_statement_for(
        deps.store(), payout_id, caller.may_read_seller if scoped and caller else None
    )
    try:
        if wants_csv(request):
            seller = deps.store().sellers.get(statement.seller_id)
            tz = deps.country_rules().get(seller.country).timezone if seller else "UTC"
            return _csv_response(payout_statement_csv(statement, tz), f"payout-{payout_id}.csv")
        page, token = paginate(
            list(enumerate(statement.lines)), content_line_key, args.get("page_token"), limit
        )
    except StatementRequestError as exc:
        raise _refused(exc) from exc
    return json_response(payout_statement_view(statement, page, token))
