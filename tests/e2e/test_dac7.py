"""The yearly DAC7 report through the running stack (issue 18): sellers onboarded with their
identity through the sellers API, their sales from order events, the report read by finance
from reconciliation-api and its DPI file written to the tax-reports bucket (the storage
emulator), valid against the schema. The report covers every seller of the stack's year; the
assertions look at this test's own sellers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.adapters.cloud_storage import CloudStorage
from shared.adapters.documents.dpi_xml import validate_dpi_xml
from shared.settings import Settings
from stand_ins.sample_sellers import seller_body
from tests.support.commands import VENV_BIN, run_command

pytestmark = pytest.mark.e2e

YEAR = datetime.now(UTC).year
TIN = "3023217600053"  # a French numéro fiscal
CAMILLE = {
    "kind": "individual",
    "address": {"country": "FR", "city": "Lyon", "street": "12 rue Mercière", "post_code": "69002"},
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1985-07-30",
}


def sell(client, seller_id, n, gross):
    now = datetime.now(UTC).isoformat()
    for i in range(n):
        money = {
            "gross": {"amount": gross, "currency": "EUR"},
            "commission": {"amount": gross // 10, "currency": "EUR"},
        }
        event = {
            "event_id": f"e-{seller_id}-{i}",
            "type": "order_line.paid",
            "occurred_at": now,
            "seller_id": seller_id,
            "order_line_id": f"ol-{seller_id}-{i}",
            "data": money,
        }
        resp = client.post_order_event(event)
        assert resp.status_code == 202, resp.text


@pytest.fixture(scope="module")
def sellers(stack):
    from local_stack.client import StackClient

    client = StackClient.from_stack(stack, identity="marketplace")
    tag = uuid.uuid4().hex[:8]
    camille, refurb, small = f"s-d7-cam-{tag}", f"s-d7-gmbh-{tag}", f"s-d7-small-{tag}"
    body = seller_body("FR", 1, dac7=CAMILLE, tax_id={"country": "FR", "number": TIN})
    assert client.call("PUT", "sellers-api", f"/sellers/{camille}", body).status_code == 201
    assert client.call("PUT", "sellers-api", f"/sellers/{refurb}", seller_body("DE", 2)).status_code == 201
    assert client.call("PUT", "sellers-api", f"/sellers/{small}", seller_body("FR", 3)).status_code == 201
    sell(client, camille, 30, 2000)  # 30 sales: reportable
    sell(client, refurb, 2, 150_000)  # EUR 2,700 after commission: reportable on amount
    sell(client, small, 2, 5000)  # de minimis: excluded
    return camille, refurb, small


def test_the_sellers_api_keeps_the_identity_and_says_what_is_missing(client, sellers):
    camille, refurb, _ = sellers
    got = client.call("GET", "sellers-api", f"/sellers/{camille}").json()
    assert got["dac7"]["last_name"] == "Martin" and got["dac7_missing"] == []
    assert TIN not in json.dumps(got)
    refused = client.call(
        "PATCH", "sellers-api", f"/sellers/{refurb}", {"dac7": {**CAMILLE, "vat_number": "FR00"}}
    )
    assert refused.status_code == 422
    assert [d["field"] for d in refused.json()["error"]["details"]] == ["dac7.vat_number"]


def test_finance_previews_the_year_and_writes_a_valid_file_to_the_tax_reports_bucket(ops, stack, sellers):
    camille, refurb, small = sellers
    finance = ops.as_identity("finance")
    preview = finance.call("GET", "reconciliation-api", f"/dac7-reports/{YEAR}")
    assert preview.status_code == 200, preview.text
    report = preview.json()
    mine = {s["seller_id"]: s for s in report["reportable"] if s["seller_id"] in sellers}
    assert set(mine) == {camille, refurb}
    assert sum(mine[camille]["activities"]) == 30 and mine[camille]["gaps"] == []
    assert mine[camille]["tins"] == ["FR••••••••••053"]
    assert {e["seller_id"]: e["reason"] for e in report["excluded"]}[small] == "de_minimis"
    assert TIN not in preview.text

    written = finance.call("POST", "reconciliation-api", "/dac7-reports", {"year": YEAR, "test": True})
    assert written.status_code == 201, written.text
    file = written.json()["file"]
    assert file["name"].startswith(f"dac7/{YEAR}/test/DPIDAC7_{YEAR}_732829320_001_")
    assert TIN not in written.text
    storage = CloudStorage(
        Settings(GOOGLE_CLOUD_PROJECT=stack.project, STORAGE_EMULATOR_HOST=stack.env["STORAGE_EMULATOR_HOST"])
    )
    data = storage.get(stack.env["TAX_REPORTS_BUCKET"], file["name"])
    assert data is not None and len(data) == file["bytes"]
    validate_dpi_xml(data)
    assert TIN.encode() in data and camille.encode() in data and small.encode() not in data


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "field"),
    [
        ("GET", "/dac7-reports/20x6", None, 422, "validation_failed", "year"),
        ("GET", "/dac7-reports/2022", None, 422, "dac7_year_out_of_range", "year"),
        ("POST", "/dac7-reports", {"year": YEAR}, 422, "dac7_year_not_closed", "year"),
        ("POST", "/dac7-reports", {"year": "2025"}, 422, "validation_failed", "year"),
        ("POST", "/dac7-reports", {"year": YEAR, "test": "yes"}, 422, "validation_failed", "test"),
        (
            "POST",
            "/dac7-reports",
            {"year": YEAR, "declaration": 0, "test": True},
            422,
            "validation_failed",
            "declaration",
        ),
        ("POST", "/dac7-reports", b'{"year": 2025, "year": 2026}', 400, "malformed_json", "year"),
    ],
)
def test_bad_requests_are_clear_4xx(ops, method, path, body, status, code, field):
    resp = ops.as_identity("finance").call(method, "reconciliation-api", path, body)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and field in [d["field"] for d in error["details"]]


def test_the_marketplace_cannot_read_the_report(client):
    assert client.call("GET", "reconciliation-api", f"/dac7-reports/{YEAR}").status_code == 403


def test_the_ops_cli_prints_the_report(stack, sellers):
    ran = run_command(
        [str(VENV_BIN / "payouts-ops"), "--local-identity", "finance", "dac7", str(YEAR)],
        env={"STACK_STATE_DIR": str(stack.state_dir), "COLUMNS": "200"},
    )
    assert ran.returncode == 0, ran.stderr
    assert sellers[0] in ran.stdout and "de_minimis" in ran.stdout and TIN not in ran.stdout
