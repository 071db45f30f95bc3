"""Reconciliation after the fault run (issue 16 §4), through ``reconciliation-api`` as ops would.

1. **Clean.** Once everything has converged and the audit has read the rails, the ledger and each
   reconciled rail's own records agree movement by movement over the whole run: zero breaks on
   the sandbox, and on Adyen and Stripe with mixed rails.
2. **The bank-file rail** (``bank_file_step.py``): IE sellers paid through bank files, every bank
   file delivered twice (nothing changes, no break), a fee per file posted once however often
   the bank's day is reconciled; with mixed rails, a fee Stripe takes likewise.
3. **Planted at the sandbox** (its ``/v1/_records`` control routes), then reconciled: a transfer
   the platform never made (``unknown_to_us``), a paid payout's transfer whose amount the rail
   now shows 7 minor units higher (``amount_mismatch``), and a paid payout's transfer the rail now
   shows returned with no webhook and no status report (``status_mismatch``). Exactly these three
   breaks, each of its class and naming what was planted; no other break on any rail.
4. **Corrections under maker-checker.** ``ops`` proposes one per break (the money that left to a
   stranger and the extra amount are the marketplace's loss: ``platform:payouts`` +, commission
   -; the silent return's money is back: ``platform:payouts`` -, the seller's available +); its
   own approval is refused (409 ``same_maker_and_checker``); ``finance`` approves and the entry is
   posted. A later reconciliation finds the same breaks, keeps them corrected and sends nothing.
5. **The ledger after the corrections**: the auditor's ledger checks again (entries zero per
   currency, balances = postings, money conserved with what customers paid, the journal
   append-only), and paid out / commission moved by exactly the approved postings.

It runs after the audit because the auditor counts every rail transfer as a payout's.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack import local_env
from verification.auditor import ledger_audit
from verification.faults.bank_file_step import bank_file_step
from verification.faults.context import Breach, FaultContext

API = "reconciliation-api"
AMOUNT_DIFFERENCE = 7  # minor units the rail shows above the payout
JSON = dict[str, Any]


@dataclass(frozen=True)
class Planted:
    """A planted fault: the class it must be reported as, how its break is recognised, and the
    correction ops propose for it ((account, signed minor units, currency), a reason)."""

    kind: str
    cls: str
    is_it: Callable[[JSON], bool]
    postings: list[tuple[str, int, str]]
    reason: str


def _reconcile(ctx: FaultContext, rail: str, start: datetime) -> JSON:
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    time.sleep(2.2)  # the window has ended: the sandbox keeps creation times to the second
    body = {"rail": rail, "from": start.isoformat(), "to": end.isoformat()}
    resp = ctx.ops.call("POST", API, "/reconciliations", body)
    if resp.status_code != 201:
        raise Breach(f"{rail} reconciliation answered {resp.status_code}: {resp.text[:300]}")
    report: JSON = resp.json()
    return report


def _open_breaks(ctx: FaultContext, rail: str | None = None) -> list[JSON]:
    query = "state=open&limit=200" + (f"&rail={rail}" if rail else "")
    resp = ctx.ops.call("GET", API, f"/reconciliation-breaks?{query}")
    if resp.status_code != 200:
        raise Breach(f"reconciliation breaks answered {resp.status_code}: {resp.text[:300]}")
    data: list[JSON] = resp.json()["data"]
    return data


def _matched(report: JSON) -> int:
    return sum(int(x["count"]) for x in report["lines"] if x["class"] == "matched")


def reconciled_rails(ctx: FaultContext) -> tuple[str, ...]:
    return ("sandbox", "adyen", "stripe") if ctx.plan.mixed_rails else ("sandbox",)


def check_reconciliation(
    ctx: FaultContext, start: datetime, expected_collected: Callable[[], Mapping[str, int]]
) -> None:
    rails = reconciled_rails(ctx)
    matched = 0
    for rail in rails:
        clean = _reconcile(ctx, rail, start)
        matched += _matched(clean)
        if clean["breaks"]:
            seen = [f"{b['class']}: {b['note']}" for b in _open_breaks(ctx, rail)[:5]]
            raise Breach(f"{rail} reconciliation found {clean['breaks']} breaks after convergence: {seen}")
        ctx.say(f"reconciliation {rail} over the run: {_matched(clean)} matched, 0 breaks")
    ctx.observed["reconciliation_matched"] = matched

    bank_file_step(ctx)
    if "stripe" in rails:
        stripe_fee_posted_once(ctx, start)

    planted = plant_faults(ctx)
    found = find_planted(ctx, start, rails, planted)
    correct(ctx, start, found, expected_collected)


# --- planting ----------------------------------------------------------------------------------


def stripe_fee_posted_once(ctx: FaultContext, start: datetime) -> None:
    """A fee Stripe takes from the platform's balance (the stand-in's ``POST /v1/_fees``, a
    ``stripe_fee`` balance transaction): a ``fee`` line, booked once over two reconciliations."""
    resp = _stripe(ctx, "/v1/_fees", {"amount": 175, "currency": "eur", "description": "planted fee"})
    if resp.status_code != 200:
        raise Breach(f"could not plant a Stripe fee: {resp.text[:300]}")
    ctx.fault("reconciliation_rail_fee")
    first, second = _reconcile(ctx, "stripe", start), _reconcile(ctx, "stripe", start)
    fees = [sum(int(x["count"]) for x in r["lines"] if x["class"] == "fee") for r in (first, second)]
    if fees != [1, 1] or (first["fees_posted"], second["fees_posted"]) != (1, 0) or first["breaks"]:
        raise Breach(
            f"the Stripe fee: fee lines {fees}, posted {first['fees_posted']} then "
            f"{second['fees_posted']}, {first['breaks']} breaks"
        )
    ctx.observed["reconciliation_fee_posted_once"] += 1
    ctx.say("reconciliation stripe: the planted fee (EUR 1.75) is a fee line, posted once over two runs")


def _stripe(ctx: FaultContext, path: str, body: JSON) -> Any:
    key = local_env.local_secrets(ctx.stack.state_dir)["stripe_secret_key"]
    return ctx.client.http.post(
        ctx.stack.env["STRIPE_API_URL"] + path,
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def _amend(ctx: FaultContext, transfer_id: str, changes: JSON) -> None:
    resp = ctx.client.sandbox("POST", f"/v1/_records/{transfer_id}", changes)
    if resp.status_code != 200:
        raise Breach(f"could not plant {changes} on {transfer_id}: {resp.text[:300]}")


def plant_faults(ctx: FaultContext) -> list[Planted]:
    reference = f"po_planted{ctx.plan.seed}x{int(time.time())}"
    key = local_env.local_secrets(ctx.stack.state_dir)["provider_api_key"]
    stranger = ctx.client.http.post(
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
    if stranger.status_code != 201:
        raise Breach(f"could not plant a transfer at the sandbox: {stranger.text[:300]}")
    ctx.fault("reconciliation_unknown_transfer")

    statuses = ctx.reads.payout_statuses()
    paid = sorted(
        (t for t in ctx.client.sandbox_transfers() if t["status"] == "paid"),
        key=lambda t: str(t["reference"]),
    )
    paid = [t for t in paid if statuses.get(str(t["reference"])) == "paid"]
    if len(paid) < 2:
        raise Breach(f"only {len(paid)} paid sandbox payouts to plant faults on")
    more, returned = ctx.rng.sample(paid, 2)
    _amend(ctx, str(more["id"]), {"amount": int(more["amount"]) + AMOUNT_DIFFERENCE})
    ctx.fault("reconciliation_rail_amount_differs")
    _amend(ctx, str(returned["id"]), {"status": "returned", "failure_code": "account_closed"})
    ctx.fault("reconciliation_silent_return")
    seller = str(ctx.reads.payout(str(returned["reference"]))["seller_id"])
    ctx.say(
        f"planted at the sandbox: transfer {reference} nobody made; {more['reference']} paid "
        f"{AMOUNT_DIFFERENCE} more at the rail; {returned['reference']} returned silently"
    )

    def names(payout_id: str) -> Callable[[JSON], bool]:
        return lambda b: (b.get("ledger") or {}).get("payout_id") == payout_id

    more_ccy, back_ccy, back = str(more["currency"]), str(returned["currency"]), int(returned["amount"])
    return [
        Planted(
            "unknown transfer",
            "unknown_to_us",
            lambda b: (
                b.get("ledger") is None and [r.get("reference") for r in b["rail_records"]] == [reference]
            ),
            [("platform:payouts", 4321, "EUR"), ("platform:commission", -4321, "EUR")],
            "money sent to a stranger: the marketplace's loss until recovered",
        ),
        Planted(
            "rail amount differs",
            "amount_mismatch",
            lambda b: (
                names(str(more["reference"]))(b)
                and b["amount"]["amount"] == int(more["amount"]) + AMOUNT_DIFFERENCE
            ),
            [
                ("platform:payouts", AMOUNT_DIFFERENCE, more_ccy),
                ("platform:commission", -AMOUNT_DIFFERENCE, more_ccy),
            ],
            "the rail paid more than the payout: the difference is the marketplace's loss",
        ),
        Planted(
            "silent return",
            "status_mismatch",
            names(str(returned["reference"])),
            [("platform:payouts", -back, back_ccy), (f"seller:{seller}:available", back, back_ccy)],
            "the bank returned the money with no notice: back to the seller's available balance",
        ),
    ]


def find_planted(
    ctx: FaultContext, start: datetime, rails: tuple[str, ...], planted: list[Planted]
) -> dict[str, JSON]:
    """Each planted fault is exactly one break of its class; nothing else breaks on any rail."""
    reports = {rail: _reconcile(ctx, rail, start) for rail in rails}
    breaks = _open_breaks(ctx)
    found: dict[str, JSON] = {}
    problems: list[str] = []
    for fault in planted:
        ours = [b for b in breaks if fault.is_it(b)]
        if len(ours) != 1 or ours[0]["class"] != fault.cls:
            problems.append(f"{fault.kind}: {[(b['class'], b['note']) for b in ours]}, want one {fault.cls}")
        else:
            found[fault.kind] = {**ours[0], "planted": fault}
    others = [b for b in breaks if not any(b["break_id"] == f["break_id"] for f in found.values())]
    if others:
        problems.append(f"breaks nobody planted: {[(b['rail'], b['class'], b['note']) for b in others[:5]]}")
    totals = {rail: int(r["breaks"]) for rail, r in reports.items()}
    if totals != {rail: (len(planted) if rail == "sandbox" else 0) for rail in rails}:
        problems.append(f"breaks per rail {totals}")
    if problems:
        raise Breach("planted reconciliation faults: " + "; ".join(problems))
    ctx.observed["reconciliation_planted_found"] = len(found)
    ctx.say(
        "reconciliation: every planted fault found as its class, nothing else: "
        + ", ".join(f"{kind} -> {b['class']}" for kind, b in found.items())
    )
    return found


# --- corrections under maker-checker, then the ledger ------------------------------------------


def _act(ctx: FaultContext, who: str, break_id: str, action: str, body: JSON) -> Any:
    client = ctx.ops if who == "ops" else ctx.client.as_identity(who)
    return client.call("POST", API, f"/reconciliation-breaks/{break_id}/{action}", body)


def correct(
    ctx: FaultContext,
    start: datetime,
    found: Mapping[str, JSON],
    expected_collected: Callable[[], Mapping[str, int]],
) -> None:
    before = ledger_audit(ctx.store).totals
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for kind, brk in found.items():
        fault: Planted = brk["planted"]
        postings = [{"account": a, "amount": n, "currency": c} for a, n, c in fault.postings]
        proposed = _act(
            ctx, "ops", brk["break_id"], "propose", {"reason": fault.reason, "postings": postings}
        )
        if proposed.status_code != 200 or proposed.json()["state"] != "correction_proposed":
            raise Breach(
                f"{kind}: proposing a correction answered {proposed.status_code}: {proposed.text[:300]}"
            )
        own = _act(ctx, "ops", brk["break_id"], "approve", {"note": "looks right to me"})
        if own.status_code != 409 or own.json()["error"]["code"] != "same_maker_and_checker":
            raise Breach(f"{kind}: the proposer's own approval answered {own.status_code}: {own.text[:300]}")
        approved = _act(ctx, "finance", brk["break_id"], "approve", {"note": "checked against the rail"})
        if approved.status_code != 200 or approved.json()["state"] != "corrected":
            raise Breach(f"{kind}: finance's approval answered {approved.status_code}: {approved.text[:300]}")
        for account, amount, currency in fault.postings:
            moved[(account, currency)] += amount
    ctx.fault("reconciliation_correction_self_approval_refused", len(found))
    ctx.observed["reconciliation_corrections_approved"] = len(found)

    again = _reconcile(ctx, "sandbox", start)
    kept = [b for b in found.values() if _break(ctx, b["break_id"])["state"] != "corrected"]
    if kept or again["new_breaks"]:
        raise Breach(f"a later reconciliation changed corrected breaks: {kept}, {again['new_breaks']} new")

    report = ledger_audit(ctx.store, journal_snapshots=ctx.snapshots, expected_collected=expected_collected())
    problems = [c.line() for c in report.checks if not c.ok]
    for (account, currency), amount in sorted(moved.items()):
        field = {"platform:payouts": "paid_out", "platform:commission": "commission"}.get(account)
        if field is None:
            continue  # a seller's bucket: in balances, which money_conserved covers
        change = report.totals.get(currency, {}).get(field, 0) - before.get(currency, {}).get(field, 0)
        if change != amount:
            problems.append(f"{currency} {field} moved {change}, the approved corrections {amount}")
    if problems:
        raise Breach("the ledger after approved corrections: " + "; ".join(problems))
    for check in report.checks:
        ctx.say(f"after corrections: {check.line()}")
    ctx.observed["ledger_checks_after_corrections"] = len(report.checks)


def _break(ctx: FaultContext, break_id: str) -> JSON:
    resp = ctx.ops.call("GET", API, f"/reconciliation-breaks/{break_id}")
    if resp.status_code != 200:
        raise Breach(f"break {break_id} answered {resp.status_code}")
    data: JSON = resp.json()
    return data
