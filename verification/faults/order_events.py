"""The order events a fault run sends, as the marketplace's order service would."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stand_ins.sample_sellers import CURRENCIES

JSON = dict[str, Any]


def iso(at: datetime) -> str:
    return at.isoformat()


def order_event(seller_id: str, line: str, kind: str, data: JSON, at: datetime, suffix: str = "") -> JSON:
    return {
        "event_id": f"evt-{line}-{kind}{suffix}",
        "type": f"order_line.{kind}",
        "occurred_at": iso(at),
        "seller_id": seller_id,
        "order_line_id": line,
        "data": data,
    }


def paid_data(country: str, gross: int, commission_pct: int, currency: str | None = None) -> JSON:
    """A sale in the seller's country's currency, or ``currency`` (a storefront's: issue 17)."""
    ccy = currency or CURRENCIES[country]
    return {
        "gross": {"amount": gross, "currency": ccy},
        "commission": {"amount": gross * commission_pct // 100, "currency": ccy},
    }


def refund_data(country: str, refund_id: str, amount: int, currency: str | None = None) -> JSON:
    return {"refund_id": refund_id, "amount": {"amount": amount, "currency": currency or CURRENCIES[country]}}
