"""The audit's report: one line per check, the breaches it found, and the figures a run prints
(double payouts, lost payouts, ledger imbalance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EXAMPLES = 3  # how many offending items a report line names


@dataclass
class Check:
    key: str
    title: str
    checked: int = 0  # how many things were looked at
    breaches: list[str] = field(default_factory=list)
    kind: str = "other"  # double | lost | ledger | other: what a breach counts towards

    @property
    def ok(self) -> bool:
        return not self.breaches

    def line(self) -> str:
        status = "ok    " if self.ok else "BREACH"
        text = f"{status} {self.title}: {self.checked} checked"
        if self.breaches:
            text += f", {len(self.breaches)} breached (" + "; ".join(self.breaches[:EXAMPLES])
            text += ", …)" if len(self.breaches) > EXAMPLES else ")"
        return text


@dataclass
class AuditReport:
    checks: list[Check]
    payouts_by_status: dict[str, int]
    stuck: list[str]  # open payouts the sweeper flagged, with its reason
    transfers: int
    entries: int
    totals: dict[str, dict[str, int]]  # currency -> collected, paid_out, commission, refunds, balances

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    def _count(self, kind: str) -> int:
        return sum(len(c.breaches) for c in self.checks if c.kind == kind)

    @property
    def double_payouts(self) -> int:
        return self._count("double")

    @property
    def lost_payouts(self) -> int:
        return self._count("lost")

    @property
    def ledger_imbalance(self) -> int:
        return self._count("ledger")

    @property
    def breaches(self) -> list[str]:
        return [f"{c.key}: {b}" for c in self.checks for b in c.breaches]

    def lines(self) -> list[str]:
        out = [c.line() for c in self.checks]
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(self.payouts_by_status.items()))
        out += [
            "",
            "audit summary",
            f"  payouts: {sum(self.payouts_by_status.values())} ({by_status or 'none'})",
            f"  flagged stuck by the sweeper: {len(self.stuck)}",
            f"  provider transfers: {self.transfers}",
            f"  journal entries: {self.entries}",
        ]
        for ccy, t in sorted(self.totals.items()):
            out.append(
                f"  {ccy}: collected {t['collected']} = paid out {t['paid_out']} + commission "
                f"{t['commission']} + refunds {t['refunds']} + balances {t['balances']}"
                + (f" + rail fees {t['rail_fees']}" if t.get("rail_fees") else "")
                + (f" + FX positions {t['fx']}" if t.get("fx") else "")
            )
        out += [
            f"  double payouts: {self.double_payouts}",
            f"  lost payouts: {self.lost_payouts}",
            f"  ledger imbalance: {self.ledger_imbalance}",
            f"  checks: {sum(c.ok for c in self.checks)}/{len(self.checks)} ok -> "
            + ("PASS" if self.ok else "BREACH"),
        ]
        return out

    def render(self) -> str:
        return "\n".join(self.lines())

    def as_json(self) -> dict[str, Any]:
        return {
            "result": "PASS" if self.ok else "BREACH",
            "double_payouts": self.double_payouts,
            "lost_payouts": self.lost_payouts,
            "ledger_imbalance": self.ledger_imbalance,
            "payouts_by_status": self.payouts_by_status,
            "stuck": self.stuck,
            "transfers": self.transfers,
            "entries": self.entries,
            "totals": self.totals,
            "checks": [
                {"key": c.key, "title": c.title, "kind": c.kind, "checked": c.checked, "breaches": c.breaches}
                for c in self.checks
            ],
        }
