"""Seller onboarding API (HTTP, OIDC-authenticated).

- ``PUT /sellers/{seller_id}``: create or replace a seller (201 created, 200 replaced).
- ``PATCH /sellers/{seller_id}``: change KYC status, schedule, hold, bank account or name.
- ``GET /sellers/{seller_id}``: the seller, bank account masked, with current balances and its
  expected next payout in its payout currency (issue 17).
- ``GET /sellers/{seller_id}/statement?from=&to=&page_token=&limit=``: the seller's statement
  (JSON, or CSV with ``Accept: text/csv``; ``shared/entrypoints/statements_http.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import flask
import functions_framework

from shared import log
from shared.domain.sellers import SellerIn, SellerPatch
from shared.entrypoints import deps, statements_http
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import Router, json_response, path_id, read_model, serve
from shared.entrypoints.views import seller_view
from shared.settings import Settings
from shared.usecases import sellers


def _put(request: flask.Request, settings: Settings, seller_id: str) -> flask.Response:
    seller_id = path_id("seller_id", seller_id)
    data = read_model(request, settings, SellerIn)
    result = sellers.put_seller(deps.store(), deps.country_rules(), seller_id, data)
    balances = sellers.seller_balances(deps.store(), result.seller)
    return json_response(
        seller_view(result.seller, deps.country_rules(), balances), 201 if result.created else 200
    )


def _patch(request: flask.Request, settings: Settings, seller_id: str) -> flask.Response:
    seller_id = path_id("seller_id", seller_id)
    patch = read_model(request, settings, SellerPatch)
    seller = sellers.update_seller(deps.store(), deps.country_rules(), seller_id, patch)
    balances = sellers.seller_balances(deps.store(), seller)
    return json_response(seller_view(seller, deps.country_rules(), balances))


def _get(request: flask.Request, settings: Settings, seller_id: str) -> flask.Response:
    found = sellers.get_seller(deps.store(), path_id("seller_id", seller_id))
    # Issue 17: each balance, and the next payout as expected now in the payout currency.
    expected = sellers.expected_next_payout(deps.store(), deps.rate_source(), found.seller, datetime.now(UTC))
    return json_response(seller_view(found.seller, deps.country_rules(), found.balances, expected))


def _statement(request: flask.Request, settings: Settings, seller_id: str) -> flask.Response:
    return statements_http.seller_statement(request, seller_id)


_router = Router(
    [
        ("/sellers/<seller_id>", ["PUT"], _put),
        ("/sellers/<seller_id>", ["PATCH"], _patch),
        ("/sellers/<seller_id>", ["GET"], _get),
        ("/sellers/<seller_id>/statement", ["GET"], _statement),
    ]
)


def _handle(request: flask.Request, settings: Settings, caller: Caller | None) -> flask.Response:
    with log.bind(seller_id=request.path.removesuffix("/statement").rsplit("/", 1)[-1]):
        return _router.dispatch(request, settings=settings)


@functions_framework.http
def sellers_api(request: flask.Request) -> flask.Response:
    return serve(request, _handle)
