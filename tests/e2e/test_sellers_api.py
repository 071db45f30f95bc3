"""Seller onboarding through the running sellers-api function."""

from __future__ import annotations

import json

import pytest

from stand_ins.sample_sellers import iban_for, seller_body

pytestmark = pytest.mark.e2e


def test_onboard_then_read_back_masked_with_zero_balances(client, uid):
    body = seller_body("DE", 11)
    resp = client.call("PUT", "sellers-api", f"/sellers/s-{uid}", body)
    assert resp.status_code == 201, resp.text
    got = client.call("GET", "sellers-api", f"/sellers/s-{uid}")
    assert got.status_code == 200
    view = got.json()
    iban = body["bank_account"]["iban"]
    assert iban not in got.text and iban not in resp.text
    assert view["bank_account"]["masked"] == f"DE••••{iban[-4:]}"
    assert view["balances"] == [{"currency": "EUR", "pending": 0, "available": 0, "in_flight": 0}]
    assert view["payout_schedule"]  # the country's default


def test_a_bank_account_change_is_recorded_with_its_time(client, stack_store, uid):
    client.call("PUT", "sellers-api", f"/sellers/s-{uid}", seller_body("FR", 21))
    first = client.call("GET", "sellers-api", f"/sellers/s-{uid}").json()["bank_account"]["changed_at"]
    same = client.call("PATCH", "sellers-api", f"/sellers/s-{uid}", {"kyc_status": "verified"}).json()
    assert same["bank_account"]["changed_at"] == first
    new_account = {"scheme": "iban", "holder_name": "New Holder", "iban": iban_for("FR", 22)}
    changed = client.call("PATCH", "sellers-api", f"/sellers/s-{uid}", {"bank_account": new_account})
    assert changed.status_code == 200, changed.text
    assert changed.json()["bank_account"]["changed_at"] > first
    history = stack_store.bank_account_changes(f"s-{uid}")
    assert [h["masked"][-4:] for h in history] == [iban_for("FR", 21)[-4:], iban_for("FR", 22)[-4:]]


def test_payout_hold_needs_a_reason(client, uid):
    client.call("PUT", "sellers-api", f"/sellers/s-{uid}", seller_body("ES", 3))
    resp = client.call("PATCH", "sellers-api", f"/sellers/s-{uid}", {"payout_hold": {"held": True}})
    assert resp.status_code == 422
    assert resp.json()["error"]["details"][0]["field"].startswith("payout_hold")
    ok = client.call(
        "PATCH", "sellers-api", f"/sellers/s-{uid}", {"payout_hold": {"held": True, "reason": "fraud review"}}
    )
    assert ok.json()["payout_hold"] == {"held": True, "reason": "fraud review"}


def _bad(body_change):
    body = seller_body("FR", 5)
    body_change(body)
    return body


BAD_SELLERS = [
    ("wrong type", lambda b: b.update(kyc_status=1), "kyc_status"),
    ("unknown field", lambda b: b.update(nickname="x"), "nickname"),
    ("unknown currency", lambda b: b.update(currency="XYZ"), "currency"),
    ("currency not the country's", lambda b: b.update(currency="USD"), "currency"),
    (
        "bad IBAN checksum",
        lambda b: b["bank_account"].update(iban="FR7630006000011234567890188"),
        "bank_account.iban",
    ),
    (
        "IBAN from another country",
        lambda b: b["bank_account"].update(iban=iban_for("DE", 1)),
        "bank_account.iban",
    ),
    (
        "scheme not the country's",
        lambda b: b.update(
            bank_account={
                "scheme": "us_aba",
                "holder_name": "x",
                "routing_number": "021000021",
                "account_number": "12345678",
                "account_type": "checking",
            }
        ),
        "bank_account",
    ),
    ("unsupported country", lambda b: b.update(country="ZZ"), "country"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_SELLERS, ids=[c[0] for c in BAD_SELLERS])
def test_bad_sellers_get_a_field_path_and_nothing_is_written(client, uid, case, change, field):
    body = _bad(change)
    resp = client.call("PUT", "sellers-api", f"/sellers/s-{uid}", body)
    assert resp.status_code == 422, resp.text
    fields = [d["field"] for d in resp.json()["error"]["details"]]
    assert any(f.startswith(field) for f in fields), fields
    if "iban" in json.dumps(body["bank_account"]):
        assert body["bank_account"].get("iban", "") not in resp.text
    assert client.call("GET", "sellers-api", f"/sellers/s-{uid}").status_code == 404


def test_malformed_json_is_a_400(client, uid):
    resp = client.call("PUT", "sellers-api", f"/sellers/s-{uid}", b"{not json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "malformed_json"


def test_unknown_seller_is_a_404(client, uid):
    assert client.call("GET", "sellers-api", f"/sellers/nobody-{uid}").status_code == 404


def test_the_api_refuses_callers_without_a_valid_token(client, stack, uid):
    url = client.urls["sellers-api"] + f"/sellers/s-{uid}"
    assert client.http.get(url, timeout=10).status_code == 401
    expired = client.token("sellers-api", issued_at=1_700_000_000, ttl=60)
    assert client.http.get(url, headers={"Authorization": f"Bearer {expired}"}, timeout=10).status_code == 401
    from local_stack import local_env

    wrong_aud = local_env.mint_token(
        client.state_dir, email=local_env.identity("ops", client.project), audience="http://elsewhere"
    )
    assert (
        client.http.get(url, headers={"Authorization": f"Bearer {wrong_aud}"}, timeout=10).status_code == 401
    )
    stranger = client.as_identity("stranger")
    assert stranger.call("GET", "sellers-api", f"/sellers/s-{uid}").status_code == 403
