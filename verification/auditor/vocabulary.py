"""Payout states as the auditor reads them from documents."""

from __future__ import annotations

from shared.domain.payouts import FINAL_STATES

FINAL = frozenset(s.value for s in FINAL_STATES)
MONEY_STATES = ("paid", "failed", "canceled", "returned")  # transitions with a journal entry
