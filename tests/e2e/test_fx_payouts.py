"""Issue 17 part B through the running stack: a Swedish seller selling in EUR is paid in SEK.
The seller API takes and checks the payout currency, shows each balance and the expected payout
with its rates; an on-demand payout in SEK converts the EUR at the fixed table's rate, records the
conversion and is paid by the rails; a dry run shows the rates it would use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from stand_ins.sample_sellers import seller_body
from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e


def sell(client, seller_id: str, gross: int, ccy: str, line: str) -> None:
    now = datetime.now(UTC).isoformat()
    base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": line}
    for event in (
        {
            **base,
            "event_id": f"p-{line}",
            "type": "order_line.paid",
            "data": {
                "gross": {"amount": gross, "currency": ccy},
                "commission": {"amount": gross // 11, "currency": ccy},
            },
        },
        {
            **base,
            "event_id": f"c-{line}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        },
    ):
        resp = client.post_order_event(event)
        assert resp.status_code == 202, resp.text


def test_a_payout_currency_the_country_cannot_receive_is_a_422_naming_the_field(client, uid):
    body = seller_body("SE", int(uuid.uuid4().int % 90000), payout_currency="EUR")
    resp = client.call("PUT", "sellers-api", f"/sellers/se-{uid}", body)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unsupported_payout_currency"
    assert error["details"][0]["field"] == "payout_currency"


def test_a_swedish_seller_selling_in_eur_is_paid_in_sek_at_the_rate_fixed_at_creation(client, uid):
    seller = f"se-{uid}"
    body = seller_body("SE", int(uuid.uuid4().int % 90000))
    resp = client.call("PUT", "sellers-api", f"/sellers/{seller}", body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["payout_currency"] == "SEK"
    sell(client, seller, 27_500, "EUR", f"ol-{uid}-1")  # EUR 250.00 for the seller

    view = eventually(
        lambda: (
            (v := client.call("GET", "sellers-api", f"/sellers/{seller}").json())
            and any(b["currency"] == "EUR" and b["available"] == 25_000 for b in v["balances"])
            and v
        )
    )
    expected = view["expected_payout"]
    assert expected["payout_currency"] == "SEK" and expected["total"] == {
        "amount": 273_362,
        "currency": "SEK",
    }
    (line,) = expected["lines"]
    assert line["rate"]["value"] == "10.9345" and line["rate"]["source"] == "fixed_table"

    headers = {"Idempotency-Key": f"fx-{uid}"}
    body = {"seller_id": seller, "amount": {"amount": 273_362, "currency": "SEK"}}
    created = client.call("POST", "payouts-api", "/payouts", body, headers=headers)
    assert created.status_code == 201, created.text
    payout = created.json()
    (conversion,) = payout["conversions"]
    assert conversion["source"] == {"amount": 25_000, "currency": "EUR"}
    assert conversion["target"] == {"amount": 273_362, "currency": "SEK"}
    assert conversion["rate"]["value"] == "10.9345" and conversion["rate"]["as_of"]

    final = eventually(
        lambda: (
            (p := client.call("GET", "payouts-api", f"/payouts/{payout['payout_id']}").json())["status"]
            in ("paid", "failed")
            and p
        ),
        timeout=60,
    )
    assert final["status"] == "paid", final
    balances = {
        b["currency"]: b for b in client.call("GET", "sellers-api", f"/sellers/{seller}").json()["balances"]
    }
    assert balances["EUR"]["available"] == 0 and balances["SEK"]["in_flight"] == 0


def test_an_on_demand_payout_in_the_wrong_currency_is_a_422_on_the_currency(client, uid):
    seller = f"se-{uid}"
    assert client.call("PUT", "sellers-api", f"/sellers/{seller}", seller_body("SE", 7)).status_code == 201
    sell(client, seller, 27_500, "EUR", f"ol-{uid}-2")
    body = {"seller_id": seller, "amount": {"amount": 10_000, "currency": "EUR"}}
    resp = client.call("POST", "payouts-api", "/payouts", body, headers={"Idempotency-Key": f"fxw-{uid}"})
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "currency_mismatch" and error["details"][0]["field"] == "amount.currency"


def test_a_dry_run_shows_the_rates_it_would_use(ops):
    today = datetime.now(UTC).date().isoformat()
    started = ops.call("POST", "payouts-api", "/runs", {"run_date": today, "dry_run": True})
    assert started.status_code == 202, started.text
    run = ops.call("GET", "payouts-api", f"/runs/{started.json()['run_id']}").json()
    pairs = {r["base"] + "/" + r["quote"]: r for r in run["fx_rates"]}
    assert pairs["EUR/SEK"]["value"] == "10.9345" and pairs["EUR/SEK"]["source"] == "fixed_table"
    assert "GBP/PLN" in pairs and run["fx_rates_unavailable"] == []
