"""The outcome of a fault run: the faults injected and observed, the audit, every breach (those a
known product bug explains named with its key), and the figures: double payouts, lost payouts,
ledger imbalance, and PASS or BREACH."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from verification.auditor import AuditReport
from verification.faults.context import FaultContext
from verification.faults.findings import FINDINGS

JSON = dict[str, Any]


@dataclass
class Outcome:
    report: AuditReport | None
    breaches: list[str]  # every breach, explained or not
    figures: JSON
    lines: list[str] = field(default_factory=list)
    findings: dict[str, list[str]] = field(default_factory=dict)  # known product bug -> its breaches

    @property
    def ok(self) -> bool:
        return not self.breaches

    @property
    def unexplained(self) -> list[str]:
        explained = {b for found in self.findings.values() for b in found}
        return [b for b in self.breaches if b not in explained]


def classify(ctx: FaultContext, report: AuditReport) -> None:
    """Name the breaches a known product bug explains (FINDINGS)."""
    returned: dict[str, str] = {}
    for line in report.check("provider_agrees").breaches:
        pid, _, rest = line.partition(" ")
        if rest == "is paid but its transfer is returned":
            returned[pid] = f"provider_agrees: {line}"
    if not returned and not ctx.returned_but_paid:
        return
    found = ctx.findings["returned-not-reconciled"]
    found += returned.values()
    unreturned: dict[str, int] = defaultdict(int)
    for pid in returned:
        doc = ctx.reads.payout(pid)
        unreturned[str(doc.get("currency"))] += int(doc.get("amount", 0))
    for line in report.check("ledger_matches_provider").breaches:
        ccy, _, rest = line.partition(": ")
        ours, theirs = (int(part.split()[-1]) for part in rest.split(", "))
        if ours - theirs == unreturned.get(ccy):
            found.append(f"ledger_matches_provider: {line}")
    for pid, line in ctx.returned_but_paid.items():
        # A return is asynchronous: it may be booked after the run's outcome check (a dropped
        # webhook is booked by the sweeper's return watch during the drain). Still paid now, after
        # the drain, is the breach.
        if ctx.reads.payout(pid).get("status") == "returned":
            ctx.notes.append(f"{pid}: returned after the run's outcome check (late webhook or return watch)")
            continue
        ctx.breaches.append(line)
        if pid in returned:
            found.append(line)


def outcome(ctx: FaultContext, report: AuditReport | None) -> Outcome:
    if report is not None:
        classify(ctx, report)
    breaches = list(ctx.breaches)
    breaches += ["the audit did not run"] if report is None else report.breaches
    findings = {k: v for k, v in ctx.findings.items() if v}
    figures = _figures(ctx, report, findings)
    lines = _details(ctx, report, findings) + _summary(ctx, figures, breaches)
    return Outcome(report, breaches, figures, lines, findings)


def _figures(ctx: FaultContext, report: AuditReport | None, findings: dict[str, list[str]]) -> JSON:
    return {
        "seed": ctx.plan.seed,
        "sellers": len(ctx.plan.sellers),
        "events": len(ctx.sent_events),
        "payouts": sum(report.payouts_by_status.values()) if report else 0,
        "payouts_by_status": report.payouts_by_status if report else {},
        "faults": dict(ctx.faults),
        "observed": dict(ctx.observed),
        "double_payouts": report.double_payouts if report else -1,
        "lost_payouts": (report.lost_payouts if report else -1) + ctx.lost_sellers,
        "ledger_imbalance": report.ledger_imbalance if report else -1,
        "wall_seconds": round(time.monotonic() - ctx.t0, 1),
        "findings": sorted(findings),
    }


def _details(ctx: FaultContext, report: AuditReport | None, findings: dict[str, list[str]]) -> list[str]:
    lines = ["", f"seed: {ctx.plan.seed}", "faults injected (per kind):"]
    lines += [f"  {k}: {n}" for k, n in sorted(ctx.faults.items())]
    lines += ["observed at the provider and in the logs:"]
    lines += [f"  {k}: {n}" for k, n in sorted(ctx.observed.items())]
    lines += [f"answers: {dict(sorted(ctx.delivery.answers.items()))}"]
    if report is not None:
        lines += ["", "audit:"] + [f"  {line}" for line in report.lines()]
    if ctx.notes:
        lines += ["notes:"] + [f"  {n}" for n in ctx.notes]
    if ctx.breaches:
        lines += ["harness breaches:"] + [f"  BREACH {b}" for b in ctx.breaches]
    for key, found in sorted(findings.items()):
        lines += [f"BREACH [{key}] regression of a fixed bug: {FINDINGS[key]}"]
        lines += [f"  explains: {b}" for b in found]
    return lines


def _summary(ctx: FaultContext, figures: JSON, breaches: list[str]) -> list[str]:
    return [
        "",
        f"seed: {ctx.plan.seed}",
        f"sellers: {figures['sellers']}, order events: {figures['events']}, "
        f"payouts: {figures['payouts']} {figures['payouts_by_status']}",
        f"faults injected: {sum(ctx.faults.values())} in {len(ctx.faults)} kinds",
        f"double payouts: {figures['double_payouts']}",
        f"lost payouts: {figures['lost_payouts']}",
        f"ledger imbalance: {figures['ledger_imbalance']}",
        f"wall time: {figures['wall_seconds']} s",
        "RESULT: " + ("PASS" if not breaches else f"BREACH ({len(breaches)})"),
    ]
