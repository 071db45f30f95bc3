"""Reconciliation in the console: reports per rail and day, breaks with both sides, and ops'
actions on a break (acknowledge, propose a correction, approve, reject).

Every rule is the reconciliation use case's (``ReconciliationService``: states, notes, balanced
entries, maker-checker: the proposer may not approve); this module calls it with the signed-in
person as the actor and records each attempt in ``console_actions``, refusals included. The
break keeps its own history of who did what.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.errors import DomainError
from shared.domain.money import Money
from shared.domain.reconciliation import Break, BreakState, MovementClass
from shared.usecases.console_views import BadForm, NotFound, record_action
from shared.usecases.ports import ConsoleReads, ReconciliationRun
from shared.usecases.reconciliation import (
    BreakNotFound,
    BreakPage,
    ReconciliationService,
    ReportNotFound,
)

REPORTS_PAGE = 60
BREAKS_PAGE = 50
MAX_POSTINGS = 20
ACTIONS = ("acknowledge", "propose", "approve", "reject")


@dataclass(frozen=True)
class BreakFilter:
    rail: str | None = None
    state: BreakState | None = None
    cls: MovementClass | None = None


@dataclass(frozen=True)
class ActionOutcome:
    """What came of an action: the break as it is now when done, else the rule's refusal."""

    done: bool
    brk: Break | None
    code: str = ""
    message: str = ""


def reports(svc: ReconciliationService, rail: str | None) -> list[ReconciliationRun]:
    """Reports newest window first (one per rail and day when scheduled)."""
    return svc.reports(rail, REPORTS_PAGE)


def report(svc: ReconciliationService, report_id: str) -> ReconciliationRun:
    try:
        return svc.report(report_id)
    except ReportNotFound as exc:
        raise NotFound(report_id) from exc


def breaks(svc: ReconciliationService, where: BreakFilter, after: tuple[datetime, str] | None) -> BreakPage:
    return svc.list_breaks(rail=where.rail, state=where.state, cls=where.cls, limit=BREAKS_PAGE, after=after)


def get_break(svc: ReconciliationService, break_id: str) -> Break:
    try:
        return svc.get_break(break_id)
    except BreakNotFound as exc:
        raise NotFound(break_id) from exc


_POSTING = re.compile(
    r"^\s*(?P<account>[^\s=]{1,200})\s*[=\s]\s*(?P<amount>-?[0-9][0-9.]*)\s+(?P<ccy>[A-Za-z]{3})\s*$"
)


def parse_postings(text: str) -> list[tuple[str, Money]]:
    """One posting a line, ``ACCOUNT AMOUNT CURRENCY`` (or ``ACCOUNT=AMOUNT CURRENCY``, as the
    CLI takes them), amounts in major units: ``platform:payouts 7.77 EUR``. Whether they balance
    and name real accounts is the use case's rule."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or len(lines) > MAX_POSTINGS:
        raise BadForm("postings", f"a correction has 2 to {MAX_POSTINGS} postings, one a line")
    postings = []
    for n, line in enumerate(lines, start=1):
        found = _POSTING.match(line)
        if not found:
            raise BadForm(
                "postings", f"line {n}: expected ACCOUNT AMOUNT CURRENCY, e.g. platform:payouts 7.77 EUR"
            )
        try:
            money = Money.from_decimal(found["amount"], found["ccy"].upper())
        except (DomainError, ValueError) as exc:
            raise BadForm("postings", f"line {n}: {exc}") from exc
        postings.append((found["account"], money))
    return postings


def act_on_break(
    svc: ReconciliationService,
    reads: ConsoleReads,
    break_id: str,
    action: str,
    *,
    actor: str,
    note: str = "",
    reason: str = "",
    postings: Sequence[tuple[str, Money]] = (),
) -> ActionOutcome:
    """Do ``action`` on the break as ``actor`` through the use case; recorded either way."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    try:
        if action == "acknowledge":
            brk = svc.acknowledge(break_id, actor=actor, note=note)
        elif action == "propose":
            brk = svc.propose(break_id, actor=actor, reason=reason, postings=postings)
        elif action == "approve":
            brk = svc.approve(break_id, actor=actor, note=note)
        else:
            brk = svc.reject(break_id, actor=actor, note=note)
    except BreakNotFound as exc:
        record_action(reads, actor, f"{action}_break", break_id, "refused", exc.code)
        raise NotFound(break_id) from exc
    except DomainError as exc:
        record_action(reads, actor, f"{action}_break", break_id, "refused", exc.code)
        return ActionOutcome(False, None, exc.code, exc.message)
    detail = note or reason
    if action == "propose" and brk.correction is not None:
        detail = f"{brk.correction.entry.entry_id}: {reason}"
    record_action(reads, actor, f"{action}_break", break_id, "done", f"{brk.state.value}; {detail}"[:2000])
    return ActionOutcome(True, brk)
