"""Statements through the running sellers-api and payouts-api (issue 18): JSON paginated with
cursors, CSV with ``Accept: text/csv``, scoped to a seller portal's own sellers, and every bad
request a clear 4xx naming its field."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from local_stack import local_env
from tests.security.helpers import fund, onboard, pay, settled

pytestmark = pytest.mark.e2e

MINE = local_env.SELLER_PORTAL_SELLERS[0]
TODAY = datetime.now(UTC).date()
RANGE = f"from={(TODAY - timedelta(days=2)).isoformat()}&to={(TODAY + timedelta(days=1)).isoformat()}"


@pytest.fixture(scope="module")
def world(client):
    """The portal's seller and another, each with two sales and a paid payout of part of them."""
    client.sandbox("POST", "/v1/_config", {"settle_delay_ms": 300})
    other = f"s-st-{uuid.uuid4().hex[:8]}"
    payouts = {}
    for seller, n in ((MINE, 4242), (other, 4545)):
        onboard(client, seller, "FR", n)
        fund(client, seller, gross=30000)
        fund(client, seller, gross=20000)
        created = pay(client, seller, 40000)
        assert created.status_code == 201, created.text
        payouts[seller] = settled(client, created.json()["payout_id"], "paid")["payout_id"]
    client.sandbox("POST", "/v1/_config", {})
    return {"other": other, "payouts": payouts}


@pytest.fixture
def portal(client):
    return client.as_identity("seller-portal")


def error(resp):
    assert resp.headers["Content-Type"].startswith("application/json"), resp.text
    body = resp.json()["error"]
    return resp.status_code, body["code"], body["details"][0]["field"]


def test_a_payout_statement_lists_what_it_paid_and_sums_to_its_amount(client, world):
    payout_id = world["payouts"][world["other"]]
    resp = client.call("GET", "payouts-api", f"/payouts/{payout_id}/statement")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["amount"] == {"amount": 40000, "currency": "EUR"} and body["status"] == "paid"
    kinds = [line["kind"] for line in body["data"]]
    assert kinds == ["sale", "commission", "sale", "commission", "left_for_later"]
    assert sum(line["amount"]["amount"] for line in body["data"]) == 40000
    first, token = client.call("GET", "payouts-api", f"/payouts/{payout_id}/statement?limit=2").json(), None
    token = first["next_page_token"]
    assert [line["line"] for line in first["data"]] == [1, 2] and token
    rest = client.call(
        "GET", "payouts-api", f"/payouts/{payout_id}/statement?limit=10&page_token={token}"
    ).json()
    assert [line["line"] for line in rest["data"]] == [3, 4, 5] and rest["next_page_token"] is None


def test_a_payout_statement_as_csv_opens_as_a_table_whose_amounts_sum_to_the_payout(client, world):
    payout_id = world["payouts"][world["other"]]
    resp = client.call(
        "GET", "payouts-api", f"/payouts/{payout_id}/statement", headers={"Accept": "text/csv"}
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert sum(round(float(r["amount"]) * 100) for r in rows) == 40000
    assert {r["currency"] for r in rows} == {"EUR"}


def test_a_seller_statement_opens_moves_and_closes_on_the_stored_balance(client, world):
    seller = world["other"]
    resp = client.call("GET", "sellers-api", f"/sellers/{seller}/statement?{RANGE}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    stored = client.call("GET", "sellers-api", f"/sellers/{seller}").json()["balances"][0]
    closing = {b["bucket"]: b["amount"] for b in body["closing_balance"] if b["currency"] == "EUR"}
    assert closing == {k: stored[k] for k in ("pending", "available", "in_flight")}
    assert all(b["amount"] == 0 for b in body["opening_balance"])
    kinds = {m["kind"] for m in body["data"]}
    assert {"order_line.paid", "funds.released", "payout.created", "payout.paid"} <= kinds
    assert [p["payout_id"] for p in body["payouts"]] == [world["payouts"][seller]]
    assert body["payouts"][0]["status"] == "paid"
    # Pages follow one another by cursor and add up to the whole.
    pages, token = [], None
    while True:
        query = f"{RANGE}&limit=3" + (f"&page_token={token}" if token else "")
        page = client.call("GET", "sellers-api", f"/sellers/{seller}/statement?{query}").json()
        pages.extend(page["data"])
        token = page["next_page_token"]
        if token is None:
            break
    assert pages == body["data"]
    as_csv = client.call(
        "GET", "sellers-api", f"/sellers/{seller}/statement?{RANGE}", headers={"Accept": "text/csv"}
    )
    assert as_csv.status_code == 200 and as_csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert sum(1 for r in rows if r["row_type"] == "movement") == len(body["data"])


def test_the_portal_reads_its_own_statements(portal, world):
    own = portal.call("GET", "payouts-api", f"/payouts/{world['payouts'][MINE]}/statement")
    assert own.status_code == 200 and own.json()["seller_id"] == MINE
    mine = portal.call("GET", "sellers-api", f"/sellers/{MINE}/statement?{RANGE}")
    assert mine.status_code == 200 and mine.json()["seller_id"] == MINE
    csv_own = portal.call(
        "GET", "payouts-api", f"/payouts/{world['payouts'][MINE]}/statement", headers={"Accept": "text/csv"}
    )
    assert csv_own.status_code == 200


def test_another_seller_s_payout_through_a_seller_scoped_token_is_not_found(portal, world):
    other_payout = world["payouts"][world["other"]]
    for accept in ("application/json", "text/csv"):
        resp = portal.call(
            "GET", "payouts-api", f"/payouts/{other_payout}/statement", headers={"Accept": accept}
        )
        assert error(resp) == (404, "payout_not_found", "payout_id")
        assert world["other"] not in resp.text
    unknown = portal.call("GET", "payouts-api", "/payouts/po_doesnotexist0000/statement")
    # The same answer as for a payout that does not exist: existence does not leak.
    assert error(unknown) == (404, "payout_not_found", "payout_id")


def test_another_seller_s_statement_through_a_seller_scoped_token_is_refused(portal, world):
    resp = portal.call("GET", "sellers-api", f"/sellers/{world['other']}/statement?{RANGE}")
    assert resp.status_code == 403 and world["other"] not in resp.text.replace(
        f"/sellers/{world['other']}", ""
    )


def test_an_unknown_payout_has_no_statement(client):
    assert error(client.call("GET", "payouts-api", "/payouts/po_doesnotexist0000/statement")) == (
        404,
        "payout_not_found",
        "payout_id",
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from=2025-01-01&to=2026-01-02", (422, "statement_range_too_long", "query.to")),
        ("from=2026-03-02&to=2026-03-01", (422, "statement_range_reversed", "query.to")),
        (f"{RANGE}&page_token=not-a-token!", (400, "invalid_page_token", "query.page_token")),
        (f"{RANGE}&page_token=WyJ4Il0", (400, "invalid_page_token", "query.page_token")),
        (f"{RANGE}&limit=0", (422, "invalid_limit", "query.limit")),
        (f"{RANGE}&limit=abc", (422, "invalid_limit", "query.limit")),
        ("to=2026-03-01", (422, "validation_failed", "query.from")),
        ("from=2026-3-1&to=2026-03-01", (422, "validation_failed", "query.from")),
        (f"{RANGE}&color=red", (422, "validation_failed", "query.color")),
        ("from=9999-12-31&to=9999-12-31", (422, "validation_failed", "query.from")),
    ],
    ids=[
        "range-too-long",
        "to-before-from",
        "malformed-cursor",
        "foreign-cursor",
        "limit-0",
        "limit-text",
        "from-missing",
        "from-malformed",
        "unknown-parameter",
        "date-at-the-end-of-time",
    ],
)
def test_a_bad_seller_statement_request_is_a_clear_4xx(client, world, query, expected):
    resp = client.call("GET", "sellers-api", f"/sellers/{world['other']}/statement?{query}")
    assert error(resp) == expected


def test_a_malformed_cursor_on_a_payout_statement_is_a_400(client, world):
    payout_id = world["payouts"][world["other"]]
    resp = client.call("GET", "payouts-api", f"/payouts/{payout_id}/statement?page_token=%%%")
    assert error(resp) == (400, "invalid_page_token", "query.page_token")


def test_an_unknown_seller_has_no_statement(client):
    resp = client.call("GET", "sellers-api", f"/sellers/nobody-{uuid.uuid4().hex[:6]}/statement?{RANGE}")
    assert error(resp)[:2] == (404, "seller_not_found")
