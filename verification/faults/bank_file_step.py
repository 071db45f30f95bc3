"""The bank-file rail in a fault run (issue 16): the plan's countries route nothing to
``sepa_file``, so after the run converges a few IE sellers (route ``sepa_file``, then the sandbox)
are paid on demand through a pain.001, the bank stand-in charges a fee per file (a CHRG entry on
its camt.053 statement), and then delivers every answer file it wrote a second time
(``POST /v1/_resend``: pain.002, camt.054 and camt.053 as ``…-resent.xml``, the same MsgIds).

Checked here: the payouts are paid once; the duplicated files change nothing (each IE payout's
status, history and outbox events, the journal, the dead letters, all the same before and after
every copy was delivered to bank-files-inbound); and the bank's day reconciles to zero breaks with
the fee booked to ``platform:rail_fees`` once, by its rail record, however often reconciliation
runs (run twice: fees posted N, then 0; the journal holds N ``rail.fee`` entries of the rail).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from google.cloud.firestore import FieldFilter

from shared.adapters.firestore.documents import JOURNAL, OUTBOX
from shared.topology import TOPIC_RELEASE_FUNDS, TOPIC_SWEEPER
from stand_ins.sample_sellers import seller_body
from verification.faults.context import Breach, FaultContext

API = "reconciliation-api"
RAIL = "sepa_file"
COUNTRY = "IE"  # route: sepa_file, sandbox (shared/domain/data/countries.json)
SELLERS = 2
AMOUNT = 12_500  # EUR 125.00 per payout
FEE_PER_FILE = 150  # EUR 1.50, booked by the bank per pain.001 (on the statement only)
JSON = dict[str, Any]


def _bank(ctx: FaultContext, path: str, body: JSON) -> JSON:
    resp = requests.post(ctx.stack.env["BANK_URL"] + path, json=body, timeout=30)
    if resp.status_code != 200:
        raise Breach(f"bank stand-in {path} answered {resp.status_code}: {resp.text[:200]}")
    answer: JSON = resp.json()
    return answer


def _onboard_and_fund(ctx: FaultContext, seller_id: str, n: int) -> None:
    resp = ctx.client.call("PUT", "sellers-api", f"/sellers/{seller_id}", seller_body(COUNTRY, n, "paid"))
    if resp.status_code != 201:
        raise Breach(f"onboarding {seller_id}: {resp.status_code} {resp.text[:200]}")
    ctx.countries[seller_id] = COUNTRY  # the expected ledger replays its events by country
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
        ctx.sent_events[str(event["event_id"])] = event
        if ctx.client.post_order_event(event).status_code != 202:
            raise Breach(f"order event for {seller_id} refused")


def _delivered(ctx: FaultContext, names: list[str]) -> bool:
    """Every object's finalize event answered 2xx by bank-files-inbound (the Eventarc log)."""
    log = Path(ctx.stack.procs["storage"].log).read_text("utf-8", errors="replace")
    return all(re.search(rf"objects/{re.escape(n)} -> \S+: 2\d\d", log) for n in names)


def _state_of(ctx: FaultContext, payout_ids: list[str]) -> JSON:
    """What a duplicated file must not change."""
    db = ctx.store.client
    payouts = {pid: ctx.reads.payout(pid) for pid in payout_ids}
    return {
        "payouts": {
            pid: (p["status"], p.get("sequence"), len(p.get("history") or []), p.get("failure_code"))
            for pid, p in payouts.items()
        },
        "outbox": sorted(
            str(doc.id)
            for pid in payout_ids
            for doc in db.collection(OUTBOX).where(filter=FieldFilter("payout_id", "==", pid)).stream()
        ),
        "journal": ctx.store.count(db.collection(JOURNAL)),
        "dead_letters": ctx.reads.dead_letters(),
    }


def _reconcile_day(ctx: FaultContext) -> JSON:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    body = {"rail": RAIL, "from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    resp = ctx.ops.call("POST", API, "/reconciliations", body)
    if resp.status_code != 201:
        raise Breach(f"{RAIL} reconciliation answered {resp.status_code}: {resp.text[:300]}")
    report: JSON = resp.json()
    return report


def _line(report: JSON, cls: str) -> int:
    return sum(int(x["count"]) for x in report["lines"] if x["class"] == cls)


def bank_file_step(ctx: FaultContext) -> None:
    tag = f"{ctx.plan.seed}-{uuid.uuid4().hex[:4]}"
    _bank(ctx, "/v1/_config", {"fee_per_file": FEE_PER_FILE, "seed": ctx.plan.seed})
    sellers = [f"ie-{tag}-{i}" for i in range(SELLERS)]
    for i, seller_id in enumerate(sellers):
        _onboard_and_fund(ctx, seller_id, 9100 + i)
    want = len(ctx.sent_events)
    ctx.wait_for(lambda: ctx.reads.order_events() >= want, "the IE sellers' order events", 120, 1.0)
    ctx.delivery.publish(TOPIC_RELEASE_FUNDS, {"reason": "faults-bank-step"}).result(timeout=60)
    ctx.wait_for(lambda: not ctx.reads.release_due(), "the IE sellers' funds released", 120, 1.0)
    payouts: list[str] = []
    for seller_id in sellers:
        resp = ctx.client.call(
            "POST",
            "payouts-api",
            "/payouts",
            {"seller_id": seller_id, "amount": {"amount": AMOUNT, "currency": "EUR"}},
            {"Idempotency-Key": f"faults-sepa-{seller_id}"},
        )
        if resp.status_code != 201 or resp.json().get("provider") not in (None, RAIL):
            raise Breach(f"payout for {seller_id}: {resp.status_code} {resp.text[:200]}")
        payouts.append(str(resp.json()["payout_id"]))

    def all_paid() -> bool:
        ctx.delivery.publish(TOPIC_SWEEPER, {"reason": "faults-bank-step"}).result(timeout=60)
        return all(ctx.reads.payout(pid)["status"] == "paid" for pid in payouts)

    ctx.wait_for(all_paid, f"{len(payouts)} IE payouts paid through bank files", 180, 3.0)
    not_sepa = [pid for pid in payouts if ctx.reads.payout(pid).get("provider") != RAIL]
    if not_sepa:
        raise Breach(f"IE payouts not paid over {RAIL}: {not_sepa}")
    statement = _bank(ctx, "/v1/_statements", {"date": datetime.now(UTC).date().isoformat()})
    files = [str(n) for n in _bank_state(ctx)["files"]]
    ctx.wait_for(lambda: _delivered(ctx, files), "the bank's files read by bank-files-inbound", 120, 1.0)
    before = _state_of(ctx, payouts)

    resent = [str(n) for n in _bank(ctx, "/v1/_resend", {})["resent"]]
    ctx.fault("bank_file_duplicated", len(resent))
    ctx.wait_for(lambda: _delivered(ctx, resent), f"{len(resent)} re-sent bank files read", 120, 1.0)
    after = _state_of(ctx, payouts)
    if after != before:
        raise Breach(f"a duplicated bank file changed something: before {before}, after {after}")
    ctx.observed["bank_files_resent_unchanged"] = len(resent)
    ctx.say(
        f"bank files: {len(payouts)} IE payouts paid over {RAIL}; {len(resent)} files delivered "
        f"twice ({', '.join(sorted({n.split('/')[0] for n in resent}))}), nothing changed; "
        f"statement {statement['object_name']}"
    )

    pain001 = sum(1 for n in _outbound(ctx) if n.startswith("pain.001/"))
    first, second = _reconcile_day(ctx), _reconcile_day(ctx)
    fee_entries = [
        doc
        for doc in ctx.store.client.collection(JOURNAL)
        .where(filter=FieldFilter("kind", "==", "rail.fee"))
        .stream()
        if str(doc.get("cause")).startswith(f"{RAIL}:")
    ]
    problems = []
    if first["breaks"] or second["breaks"]:
        problems.append(f"breaks {first['breaks']}, {second['breaks']}")
    if _line(first, "matched") != len(payouts):
        problems.append(f"matched {_line(first, 'matched')} of {len(payouts)}")
    if not pain001 or _line(first, "fee") != pain001 or _line(second, "fee") != pain001:
        problems.append(f"fee lines {_line(first, 'fee')}, {_line(second, 'fee')} for {pain001} pain.001")
    if first["fees_posted"] != pain001 or second["fees_posted"] != 0 or len(fee_entries) != pain001:
        problems.append(
            f"fees posted {first['fees_posted']} then {second['fees_posted']}, "
            f"{len(fee_entries)} rail.fee entries, {pain001} files"
        )
    if problems:
        raise Breach(f"{RAIL} reconciliation of the bank-file step: {'; '.join(problems)}")
    ctx.fault("reconciliation_rail_fee", pain001)
    ctx.observed["reconciliation_fee_posted_once"] += len(fee_entries)
    ctx.say(
        f"reconciliation {RAIL}: {_line(first, 'matched')} matched, 0 breaks, {pain001} fee(s) of "
        f"EUR {FEE_PER_FILE / 100:.2f} posted once (second run posted {second['fees_posted']})"
    )


def _bank_state(ctx: FaultContext) -> JSON:
    resp = requests.get(ctx.stack.env["BANK_URL"] + "/v1/_state", timeout=30)
    state: JSON = resp.json()
    return state


def _outbound(ctx: FaultContext) -> list[str]:
    from shared.adapters.cloud_storage import CloudStorage
    from shared.settings import Settings

    objects = CloudStorage(
        Settings(
            GOOGLE_CLOUD_PROJECT=ctx.stack.project,
            STORAGE_EMULATOR_HOST=ctx.stack.env["STORAGE_EMULATOR_HOST"],
        )
    )
    return [o.name for o in objects.list(ctx.stack.env["BANK_OUTBOUND_BUCKET"], "pain.001/")]
