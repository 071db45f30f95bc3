"""What the HTTP API shows of domain objects: one deterministic renderer each.

A replayed ``POST /payouts`` is rendered from the outcome kept under its idempotency key by the
same functions as the first answer, so both are the same bytes.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import flask

from shared.domain.countries import CountryRegistry
from shared.domain.dac7 import Dac7Details, dac7_missing
from shared.domain.fx import Conversion
from shared.domain.payouts import Payout
from shared.domain.remittance import advice_language
from shared.domain.runs import RunItem, RunProgress, run_summary
from shared.domain.sellers import Seller
from shared.entrypoints.http import error_body, json_response, status_of
from shared.usecases.payouts import PayoutRefused, PayoutRequestOutcome
from shared.usecases.ports import Balance
from shared.usecases.rail_ops import RailState
from shared.usecases.sellers import ExpectedNextPayout


def payout_view(payout: Payout) -> dict[str, Any]:
    return {
        "payout_id": payout.payout_id,
        "seller_id": payout.seller_id,
        "amount": {"amount": payout.amount.amount, "currency": payout.amount.currency},
        "status": payout.status.value,
        "origin": payout.origin,
        "run_id": payout.run_id,
        "provider": payout.provider,
        "provider_ref": payout.provider_ref,
        "failure_code": payout.failure_code.value if payout.failure_code else None,
        "sequence": payout.sequence,
        "created_at": payout.created_at.isoformat(),
        "updated_at": payout.updated_at.isoformat(),
        "history": [
            {
                "at": t.at.isoformat(),
                "from": t.from_status.value if t.from_status else None,
                "to": t.to_status.value,
                "cause": t.cause,
                "actor": t.actor,
            }
            for t in payout.history
        ],
        # Rails: the rails passed over or tried before ``provider``, each with its outcome.
        "rail_attempts": [
            {"at": a.at.isoformat(), "rail": a.rail, "outcome": a.outcome, "detail": a.detail}
            for a in payout.rail_attempts
        ],
        # Issue 17: balances in other currencies converted into it, each at its recorded rate.
        "conversions": [conversion_view(c) for c in payout.conversions],
    }


def conversion_view(conversion: Conversion) -> dict[str, Any]:
    """Both amounts, the counter-value at the rate and the rounding, the rate with its source
    and time (exact decimal text, as recorded)."""
    view = conversion.as_record()
    view["rounding"] = {"amount": conversion.rounding.amount, "currency": conversion.rounding.currency}
    return view


def expected_payout_view(expected: ExpectedNextPayout) -> dict[str, Any]:
    """The seller's next payout as it would be now, in its payout currency (issue 17)."""
    view: dict[str, Any] = {"payout_currency": expected.payout_currency}
    if expected.expected is None:
        error = expected.error
        view["error"] = {"code": error.code, "message": error.message} if error else None
        return view
    view["total"] = {"amount": expected.expected.total.amount, "currency": expected.expected.total.currency}
    view["lines"] = [
        {
            "balance": {"amount": line.balance.amount, "currency": line.balance.currency},
            "amount": {"amount": line.amount.amount, "currency": line.amount.currency},
            "rate": line.rate.as_record() if line.rate else None,
            "kept": {"amount": line.kept.amount, "currency": line.kept.currency} if line.kept else None,
        }
        for line in expected.expected.lines
    ]
    return view


def payout_request_response(outcome: PayoutRequestOutcome) -> flask.Response:
    """201 with the payout as created, or the refusal's error (its status from the one table);
    the first answer and every replay alike."""
    if outcome.payout is not None:
        return json_response(payout_view(outcome.payout), 201)
    assert outcome.refusal is not None
    refusal = PayoutRefused.of(outcome.refusal)
    body = error_body(
        refusal.code, refusal.message, [{"field": outcome.refusal.field, "reason": refusal.message}]
    )
    return json_response(body, status_of(refusal))


def balance_view(balance: Balance) -> dict[str, Any]:
    return {
        "currency": balance.currency,
        "pending": balance.pending,
        "available": balance.available,
        "in_flight": balance.in_flight,
    }


def dac7_view(details: Dac7Details) -> dict[str, Any]:
    view = {k: v for k, v in asdict(details).items() if v not in (None, (), False)}
    view["kind"] = details.kind.value
    if details.birth_date:
        view["birth_date"] = details.birth_date.isoformat()
    if details.permanent_establishments:
        view["permanent_establishments"] = list(details.permanent_establishments)
    view["address"] = {k: v for k, v in asdict(details.address).items() if v is not None}
    view["governmental_entity"], view["listed_entity"] = details.governmental_entity, details.listed_entity
    return view


def seller_view(
    seller: Seller,
    registry: CountryRegistry,
    balances: list[Balance] | None = None,
    expected: ExpectedNextPayout | None = None,
) -> dict[str, Any]:
    """The bank account only ever masked."""
    rules = registry.get(seller.country)
    view: dict[str, Any] = {
        "seller_id": seller.seller_id,
        "country": seller.country,
        "currency": seller.currency,
        "payout_currency": seller.payout_currency,  # issue 17
        "display_name": seller.display_name,
        "bank_account": {
            "scheme": seller.bank_account.scheme,
            "holder_name": seller.bank_account.holder_name,
            "masked": seller.bank_account.masked,
            "status": seller.bank_account_status.value,
            "invalid_reason": seller.bank_account_invalid_reason,
            "changed_at": seller.bank_account_changed_at.isoformat(),
            "cooling_off_until": seller.cooling_off_until(rules).isoformat(),
        },
        "kyc_status": seller.kyc_status.value,
        "payout_schedule": seller.payout_schedule.model_dump(mode="json", exclude_none=True),
        "payout_hold": seller.payout_hold.model_dump(mode="json"),
        # The language of its documents: the one it gave, or its country's (issue 18).
        "language": seller.language or advice_language(None, seller.country),
        # DAC7: the tax id, masked only (never the number).
        "tax_id": (
            {"country": seller.tax_id.country, "masked": seller.tax_id.masked, "scheme": seller.tax_id.scheme}
            if seller.tax_id
            else None
        ),
        "created_at": seller.created_at.isoformat(),
        "updated_at": seller.updated_at.isoformat(),
        "rail_accounts": seller.rail_accounts.masked(),  # masked, as bank numbers are
        # DAC7: who the seller is, and what the yearly report still misses (issue 18).
        "dac7": dac7_view(seller.dac7) if seller.dac7 else None,
        "dac7_missing": dac7_missing(seller),
    }
    if balances is not None:
        view["balances"] = [balance_view(b) for b in balances]
    if expected is not None:
        view["expected_payout"] = expected_payout_view(expected)
    return view


def run_view(progress: RunProgress, created: bool | None = None) -> dict[str, Any]:
    view = dict(run_summary(progress))
    if created is not None:
        view["created"] = created
    return view


def item_view(item: RunItem) -> dict[str, Any]:
    """Paid: ``payout_id`` and ``amount``; not paid: ``skip_reason``; a dry run: ``would_pay``."""
    view: dict[str, Any] = {
        "seller_id": item.seller_id,
        "country": item.country,
        "currency": item.currency,
        "decided_at": item.decided_at.isoformat(),
        "skip_reason": item.skip_reason.value if item.skip_reason else None,
        "detail": item.detail,
    }
    if item.payout_id is not None or item.amount is not None:
        view.update({"payout_id": item.payout_id, "amount": item.amount})
    else:
        view["would_pay"] = item.would_pay
    if item.left_for_next_run is not None:
        view.update({"left_for_next_run": item.left_for_next_run, "left_reason": item.left_reason})
    if item.conversions:  # issue 17: converted (a dry run: would convert), with the rates
        view["conversions"] = [conversion_view(c) for c in item.conversions]
    return view


def rail_view(state: RailState) -> dict[str, Any]:
    """A rail for ops: its drain switch (who, when, why) and each instance's breaker."""
    control = state.control
    return {
        "rail": state.rail,
        "batch": state.batch,
        "drained": state.drained,
        "last_change": None
        if control is None
        else {
            "drained": control.drained,
            "actor": control.actor,
            "at": control.at.isoformat(),
            "reason": control.reason,
        },
        "instances": [
            {
                "instance": h.instance,
                "state": h.state,
                "consecutive_failures": h.consecutive_failures,
                "calls": h.calls,
                "error_rate": h.error_rate,
                "latency_ms_p50": h.p50_ms,
                "latency_ms_p95": h.p95_ms,
                "at": h.at.isoformat(),
            }
            for h in state.instances
        ],
        "routes": [{"country": c, "position": n} for c, n in state.routes],
    }
