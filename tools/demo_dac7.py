"""The demo's DAC7 step (issue 18): two sellers who must be reported (one person with 30 sales,
one company over EUR 2,000), the year's report as finance reads it, and its DPI file written to
the tax-reports bucket, checked against the schema and copied to ``.local/demo/``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from local_stack.client import StackClient
from shared.adapters.cloud_storage import CloudStorage
from shared.adapters.documents.dpi_xml import DpiFileInvalid, validate_dpi_xml
from shared.settings import Settings
from stand_ins.sample_sellers import seller_body

CAMILLE = {
    "kind": "individual",
    "address": {"country": "FR", "city": "Lyon", "street": "12 rue Mercière", "post_code": "69002"},
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1985-07-30",
    "birth_place": {"city": "Lyon", "country": "FR"},
}


def _sell(client: StackClient, seller_id: str, sales: int, gross: int) -> None:
    now = datetime.now(UTC).isoformat()
    for i in range(sales):
        money = {"amount": gross, "currency": "EUR"}
        event = {
            "event_id": f"e-{seller_id}-{i}",
            "type": "order_line.paid",
            "occurred_at": now,
            "seller_id": seller_id,
            "order_line_id": f"ol-{seller_id}-{i}",
            "data": {"gross": money, "commission": {"amount": gross // 10, "currency": "EUR"}},
        }
        resp = client.post_order_event(event)
        resp.raise_for_status()


def dac7_report(client: StackClient, ops: StackClient, out: Path, console: Console) -> int:
    tag = uuid.uuid4().hex[:6]
    person, company = f"dac7-camille-{tag}", f"dac7-gmbh-{tag}"
    body = seller_body("FR", 901, dac7=CAMILLE, tax_id={"country": "FR", "number": "3023217600053"})
    for seller_id, seller in ((person, body), (company, seller_body("DE", 902))):
        client.call("PUT", "sellers-api", f"/sellers/{seller_id}", seller).raise_for_status()
    _sell(client, person, 30, 2599)
    _sell(client, company, 2, 150_000)

    finance = ops.as_identity("finance")
    year = datetime.now(UTC).year
    body = {"year": year, "test": True}
    resp = finance.call("POST", "reconciliation-api", "/dac7-reports", body, timeout=120)
    if resp.status_code != 201:
        console.print(f"[red]DAC7 file refused: {resp.status_code} {resp.text[:400]}")
        return 1
    report = resp.json()
    table = Table(title=f"DAC7 {year}: {len(report['reportable'])} reportable sellers (sales of goods)")
    for col in ("seller", "kind", "residence", "TIN", "sales Q1/Q2/Q3/Q4", "consideration", "fees"):
        table.add_column(col)
    for s in report["reportable"]:
        table.add_row(
            s["seller_id"],
            s["kind"],
            s["residence_country"],
            ", ".join(s["tins"]) or "—",
            " / ".join(map(str, s["activities"])),
            f"{sum(map(Decimal, s['consideration'])):f} {s['currency']}",
            f"{sum(map(Decimal, s['fees'])):f} {s['currency']}",
        )
    console.print(table)
    reasons: dict[str, int] = {}
    for e in report["excluded"]:
        reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
    console.print("excluded: " + (", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "none"))

    file = report["file"]
    bucket, name = file["uri"].removeprefix("gs://").split("/", 1)
    data = CloudStorage(Settings()).get(bucket, name)
    if data is None:
        console.print(f"[red]{file['uri']} is not in the bucket")
        return 1
    try:
        validate_dpi_xml(data)
    except DpiFileInvalid as exc:
        console.print(f"[red]{exc.message}")
        return 1
    path = out / Path(name).name
    path.write_bytes(data)
    mine = person.encode() in data and company.encode() in data
    console.print(
        f"DPI file {file['uri']} ({file['bytes']} bytes): valid against the DGFiP DPI schema"
        + ("" if mine else " [red]but without the demo's two sellers")
        + f" -> {path}"
    )
    return 0 if mine else 1
