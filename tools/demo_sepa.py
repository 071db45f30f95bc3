"""The demo's SEPA bank-file section (issue 16 §2): IE sellers, whose route puts ``sepa_file``
first, are paid through a pain.001 file in the outbound bucket; the bank stand-in answers with
pain.002 and camt.054 files (a closed account rejected, a return later), bank-files-inbound
settles the payouts, and the day's camt.053 statement is asked for so that reconciliation can read
the bank's side. Called by ``tools/demo.py`` after its run, before the reconciliation tables.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from local_stack.client import StackClient
from local_stack.stack import Stack
from shared.adapters.bank_files.sepa_credit_transfer import Pain001Invalid, validate_pain001
from shared.adapters.cloud_storage import CloudStorage
from shared.settings import Settings
from shared.topology import TOPIC_SWEEPER
from stand_ins.sample_sellers import seller_body

COUNTRY = "IE"  # route: sepa_file, sandbox (shared/domain/data/countries.json)
AMOUNT = 12_500  # 125.00 EUR per payout


def _bank(stack: Stack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the stack's own bank stand-in
        stack.env["BANK_URL"] + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return dict(json.loads(resp.read() or b"{}"))


def _onboard_and_fund(client: StackClient, seller_id: str, n: int, outcome: str) -> None:
    body = seller_body(COUNTRY, n, outcome)
    resp = client.call("PUT", "sellers-api", f"/sellers/{seller_id}", body)
    if resp.status_code != 201:
        raise SystemExit(f"onboarding {seller_id}: {resp.status_code} {resp.text[:200]}")
    now = datetime.now(UTC).isoformat()
    base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": f"ol-{seller_id}"}
    money = {
        "gross": {"amount": 50_000, "currency": "EUR"},
        "commission": {"amount": 5_000, "currency": "EUR"},
    }
    for event in (
        {**base, "event_id": f"e1-{seller_id}", "type": "order_line.paid", "data": money},
        {
            **base,
            "event_id": f"e2-{seller_id}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        },
    ):
        if client.post_order_event(event).status_code != 202:
            raise SystemExit(f"order event for {seller_id} refused")


def run_sepa_section(
    stack: Stack, client: StackClient, ops: StackClient, console: Console, n: int
) -> list[tuple[str, bool, str]]:
    """Pay ``n`` IE sellers (one with a closed account, one whose payout comes back) through
    bank files; return the checks (name, ok, detail)."""
    tag = uuid.uuid4().hex[:6]
    outcomes = ["account_closed", "returned", *(["paid"] * max(n - 2, 1))]
    expected = {"paid": "paid", "account_closed": "failed", "returned": "returned"}
    sellers = [(f"sepa-{tag}-{i:02d}", outcome) for i, outcome in enumerate(outcomes)]
    payouts: dict[str, str] = {}
    for i, (seller_id, outcome) in enumerate(sellers):
        _onboard_and_fund(client, seller_id, 7000 + i, outcome)
    for seller_id, _ in sellers:
        resp = client.call(
            "POST",
            "payouts-api",
            "/payouts",
            {"seller_id": seller_id, "amount": {"amount": AMOUNT, "currency": "EUR"}},
            {"Idempotency-Key": f"demo-sepa-{uuid.uuid4().hex}"},
        )
        if resp.status_code != 201:
            raise SystemExit(f"payout for {seller_id}: {resp.status_code} {resp.text[:200]}")
        payouts[seller_id] = str(resp.json()["payout_id"])

    def view(payout_id: str) -> dict[str, Any]:
        return dict(client.call("GET", "payouts-api", f"/payouts/{payout_id}").json())

    final: dict[str, dict[str, Any]] = {}
    deadline, last_tick = time.monotonic() + 120, 0.0
    while time.monotonic() < deadline and len(final) < len(sellers):
        if time.monotonic() - last_tick > 3:  # the sweeper's tick writes the files
            client.publish(TOPIC_SWEEPER, {"reason": "demo-sepa"})
            last_tick = time.monotonic()
        for seller_id, outcome in sellers:
            payout = view(payouts[seller_id])
            if payout["status"] == expected[outcome]:
                final[seller_id] = payout
        time.sleep(0.5)
    statement = _bank(stack, "/v1/_statements", {"date": datetime.now(UTC).date().isoformat()})

    objects = CloudStorage(
        Settings(GOOGLE_CLOUD_PROJECT=stack.project, STORAGE_EMULATOR_HOST=stack.env["STORAGE_EMULATOR_HOST"])
    )
    outbound, inbound = stack.env["BANK_OUTBOUND_BUCKET"], stack.env["BANK_INBOUND_BUCKET"]
    files = {}
    for obj in objects.list(outbound, "pain.001/"):
        content = objects.get(outbound, obj.name) or b""
        ours = [p for p in payouts.values() if p.replace("_", "/").encode() in content]
        if ours:
            files[obj.name] = (content, ours)
    valid = True
    for content, _ in files.values():
        try:
            validate_pain001(content)
        except Pain001Invalid:
            valid = False
    answers = sorted(o.name.split("/")[0] for o in objects.list(inbound))

    table = Table(title=f"SEPA bank files: {len(sellers)} IE payouts through sepa_file")
    for column in ("seller", "expected", "status", "rail", "failure", "bank file"):
        table.add_column(column)
    for seller_id, outcome in sellers:
        payout = final.get(seller_id) or view(payouts[seller_id])
        in_file = next(
            (
                c.removeprefix("in bank file ")
                for h in payout["history"]
                if (c := h["cause"]).startswith("in bank file ")
            ),
            "",
        )
        table.add_row(
            seller_id, expected[outcome], payout["status"], str(payout["provider"]),
            str(payout.get("failure_code") or ""), in_file,
        )  # fmt: skip
    console.print(table)
    every_payout = sum(len(ids) for _, ids in files.values())
    return [
        ("payouts settled as the bank said", len(final) == len(sellers), f"{len(final)}/{len(sellers)}"),
        (
            "one pain.001 per batch, every payout in exactly one",
            bool(files) and every_payout == len(payouts),
            f"{len(files)} file(s), {every_payout} transfers",
        ),
        ("every pain.001 valid against the XSD", valid and bool(files), "pain.001.001.09 (sepaxml)"),
        (
            "the bank answered in the inbound bucket",
            {"pain.002", "camt.054", "camt.053"} <= set(answers),
            ", ".join(f"{k} x{answers.count(k)}" for k in sorted(set(answers)))
            + f"; {statement.get('object_name')}",
        ),
    ]
