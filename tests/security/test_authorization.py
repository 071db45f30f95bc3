"""Seller-scoped callers: a seller portal reads its own sellers' data and nothing else.

Locally the portal (``seller-portal``) may read ``portal-seller-1`` and ``portal-seller-2``
(local_stack/local_env.SELLER_SCOPED_CALLERS, OIDC_SELLER_SCOPES). Ops and the marketplace read
everything. The portal writes nothing, anywhere.
"""

from __future__ import annotations

import json
import uuid

import pytest

from local_stack import local_env
from shared.topology import TOPIC_ORDER_EVENTS
from tests.security.helpers import fund, onboard, pay, post, push_envelope, settled, with_token

pytestmark = pytest.mark.e2e

MINE, ALSO_MINE = local_env.SELLER_PORTAL_SELLERS


@pytest.fixture(scope="module")
def world(client):
    """The portal's seller and another seller, each with a paid payout. Module-scoped: it is slow."""
    client.sandbox("POST", "/v1/_config", {"settle_delay_ms": 300, "return_delay_ms": 600})
    other = f"s-other-{uuid.uuid4().hex[:8]}"
    payouts = {}
    for seller, n in ((MINE, 4242), (other, 4343)):
        onboard(client, seller, "FR", n)
        fund(client, seller)
        created = pay(client, seller, 20000)
        assert created.status_code == 201, created.text
        payouts[seller] = settled(client, created.json()["payout_id"], "paid")["payout_id"]
    onboard(client, ALSO_MINE, "DE", 4444)
    client.sandbox("POST", "/v1/_config", {})
    return {"other": other, "payouts": payouts}


@pytest.fixture
def portal(client):
    return client.as_identity("seller-portal")


def test_the_portal_reads_its_own_sellers_masked(portal, world):
    for seller in (MINE, ALSO_MINE):
        resp = portal.call("GET", "sellers-api", f"/sellers/{seller}")
        assert resp.status_code == 200, resp.text
        assert resp.json()["seller_id"] == seller
        assert "••••" in resp.json()["bank_account"]["masked"]
    own = portal.call("GET", "payouts-api", f"/payouts/{world['payouts'][MINE]}")
    assert own.status_code == 200 and own.json()["seller_id"] == MINE
    listed = portal.call("GET", "payouts-api", f"/payouts?seller_id={MINE}")
    assert listed.status_code == 200
    assert world["payouts"][MINE] in {p["payout_id"] for p in listed.json()["data"]}
    assert {p["seller_id"] for p in listed.json()["data"]} == {MINE}


@pytest.mark.parametrize(
    "path",
    [
        "/sellers/{other}",
        "/sellers/nobody-at-all",  # unknown sellers too: 403, not 404, so ids cannot be probed
        "/payouts?seller_id={other}",
        "/payouts",  # a list must be filtered by one of its sellers
        "/payouts?status=paid",
        f"/payouts?seller_id={MINE}&seller_id={{other}}",
        "/payouts/{other_payout}",
        "/runs/run-2026-01-01",
        "/runs/run-2026-01-01/items",
    ],
)
def test_the_portal_is_refused_every_other_read(portal, world, path):
    path = path.format(other=world["other"], other_payout=world["payouts"][world["other"]])
    function = "sellers-api" if path.startswith("/sellers") else "payouts-api"
    resp = portal.call("GET", function, path)
    assert resp.status_code == 403, resp.text
    assert world["other"] not in resp.text and "bank_account" not in resp.text


def test_the_portal_writes_nothing(portal, client, world):
    mine_before = client.call("GET", "sellers-api", f"/sellers/{MINE}").json()
    listed_before = client.call("GET", "payouts-api", f"/payouts?seller_id={MINE}&limit=200").json()["data"]
    payout_before = client.call("GET", "payouts-api", f"/payouts/{world['payouts'][MINE]}").json()
    writes = [
        ("PATCH", "sellers-api", f"/sellers/{MINE}", {"display_name": "taken over"}),
        ("PATCH", "sellers-api", f"/sellers/{MINE}", {"payout_hold": {"held": False}}),
        ("PUT", "sellers-api", f"/sellers/{MINE}", {"country": "FR"}),
        (
            "POST",
            "payouts-api",
            "/payouts",
            {"seller_id": MINE, "amount": {"amount": 1000, "currency": "EUR"}},
        ),
        ("POST", "payouts-api", f"/payouts/{world['payouts'][MINE]}/cancel", None),
        ("POST", "payouts-api", "/runs", {"run_date": "2026-01-01", "dry_run": True}),
    ]
    for method, function, path, body in writes:
        resp = portal.call(method, function, path, body, headers={"Idempotency-Key": "portal-key-1"})
        assert resp.status_code == 403, (method, path, resp.text)
    assert client.call("GET", "sellers-api", f"/sellers/{MINE}").json() == mine_before
    assert client.call("GET", "payouts-api", f"/payouts/{world['payouts'][MINE]}").json() == payout_before
    listed = client.call("GET", "payouts-api", f"/payouts?seller_id={MINE}&limit=200").json()["data"]
    assert listed == listed_before


@pytest.mark.parametrize("function", ["run-shard-worker", "transfer-worker", "order-events", "payout-runs"])
def test_the_portal_cannot_call_service_functions(client, function):
    headers = with_token(client, function, "seller-portal")
    if function in ("order-events", "payout-runs"):
        path, body = push_envelope(client, TOPIC_ORDER_EVENTS, {"x": 1})
    else:
        path, body = "/", json.dumps({"payout_id": "p", "run_id": "r", "page_id": "p"}).encode()
    resp = post(client.urls[function] + path, body, headers)
    assert resp.status_code == 403, resp.text


def test_ops_and_the_marketplace_read_every_seller(client, ops, world):
    for caller in (client, ops):
        assert caller.call("GET", "sellers-api", f"/sellers/{world['other']}").status_code == 200
        assert caller.call("GET", "sellers-api", f"/sellers/{MINE}").status_code == 200
        everything = caller.call("GET", "payouts-api", "/payouts?limit=200")
        assert everything.status_code == 200 and everything.json()["data"]
        other = caller.call("GET", "payouts-api", f"/payouts/{world['payouts'][world['other']]}")
        assert other.status_code == 200
