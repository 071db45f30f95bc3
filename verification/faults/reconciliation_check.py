"""Reconciliation after the fault run (issue 16): once everything has converged and the audit has
read the sandbox, the ledger and the sandbox's own records must agree, movement by movement, over
the whole run: ``POST /reconciliations`` (reconciliation-api, as ops) finds zero breaks. Then a
transfer the platform never made is planted at the sandbox, and a second reconciliation must find
exactly that one, classified ``unknown_to_us`` (and nothing else).

It runs after the audit because the auditor counts every sandbox transfer as a payout's."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack import local_env
from verification.faults.context import Breach, FaultContext

API = "reconciliation-api"


def _reconcile(ctx: FaultContext, start: datetime) -> dict[str, Any]:
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    time.sleep(2.2)  # the window has ended: the sandbox keeps creation times to the second
    body = {"rail": "sandbox", "from": start.isoformat(), "to": end.isoformat()}
    resp = ctx.ops.call("POST", API, "/reconciliations", body)
    if resp.status_code != 201:
        raise Breach(f"reconciliation answered {resp.status_code}: {resp.text[:300]}")
    report: dict[str, Any] = resp.json()
    return report


def _open_breaks(ctx: FaultContext) -> list[dict[str, Any]]:
    resp = ctx.ops.call("GET", API, "/reconciliation-breaks?rail=sandbox&state=open&limit=200")
    if resp.status_code != 200:
        raise Breach(f"reconciliation breaks answered {resp.status_code}: {resp.text[:300]}")
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def check_reconciliation(ctx: FaultContext, start: datetime) -> None:
    clean = _reconcile(ctx, start)
    matched = sum(x["count"] for x in clean["lines"] if x["class"] == "matched")
    ctx.observed["reconciliation_matched"] = matched
    ctx.say(f"reconciliation over the run: {matched} matched, {clean['breaks']} breaks")
    if clean["breaks"]:
        found = [f"{b['class']}: {b['note']}" for b in _open_breaks(ctx)[:5]]
        raise Breach(f"reconciliation found {clean['breaks']} breaks after convergence: {found}")

    reference = f"po_planted{ctx.plan.seed}x{int(time.time())}"
    key = local_env.local_secrets(ctx.stack.state_dir)["provider_api_key"]
    planted = ctx.client.http.post(
        ctx.client.sandbox_url + "/v1/transfers",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": reference},
        json={
            "amount": 4321,
            "currency": "EUR",
            "reference": reference,
            "destination": {
                "scheme": "iban",
                "country": "FR",
                "holder_name": "Planted Stranger",
                "iban": "FR7630006000011234567890189",
            },
        },
        timeout=30,
    )
    if planted.status_code != 201:
        raise Breach(f"could not plant a transfer at the sandbox: {planted.text[:300]}")
    ctx.fault("reconciliation_unknown_transfer")
    second = _reconcile(ctx, start)
    breaks = _open_breaks(ctx)
    ours = [b for b in breaks if any(r.get("reference") == reference for r in b["rail_records"])]
    if second["breaks"] != 1 or len(ours) != 1 or ours[0]["class"] != "unknown_to_us":
        seen = [(b["class"], b["note"]) for b in breaks[:5]]
        raise Breach(
            f"the planted transfer was not one unknown_to_us break: {second['breaks']} breaks, {seen}"
        )
    ctx.observed["reconciliation_planted_found"] = 1
    ctx.say("reconciliation: the planted transfer is the one break, unknown_to_us")
