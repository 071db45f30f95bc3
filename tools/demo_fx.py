"""The demo's FX section (issue 17 part B): sellers paid in another currency than they sell in.

- a Swedish seller selling on the euro storefront, paid in SEK;
- a Polish seller selling in PLN and EUR, paid in PLN;
- a French seller holding EUR and GBP balances, paid in EUR.

Each is onboarded, funded through order events, shown with its balances and expected payout
(``GET /sellers/{id}``), and paid on demand in its payout currency: the payout converts its other
balances at the fixed table's rate, fixed when the payout is created. The section prints each
conversion (rate, source, time, both amounts, the rounding) and checks the ledger per currency,
the FX accounts included: every currency sums to zero and money is conserved. Called by
``tools/demo.py`` after the other sections.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from local_stack.client import StackClient
from shared.adapters.firestore_store import FirestoreStore
from shared.domain.fx import parse_fx_account
from shared.domain.ledger_invariants import money_flows
from shared.usecases.ledger_audit import audit_ledger
from stand_ins.sample_sellers import seller_body

Check = tuple[str, bool, str]

# (who, country, sales as (gross, currency), what it is, the bank's answer, the final status)
FX_SELLERS: tuple[tuple[str, str, tuple[tuple[int, str], ...], str, str, str], ...] = (
    (
        "se", "SE", ((27_500, "EUR"), (11_000, "EUR")), "Swedish seller selling in EUR, paid in SEK",
        "paid", "paid",
    ),
    (
        "pl", "PL", ((44_000, "PLN"), (22_000, "EUR")), "Polish seller selling in PLN and EUR, paid in PLN",
        "paid", "paid",
    ),
    (
        "fr", "FR", ((33_000, "EUR"), (16_500, "GBP")), "French seller holding EUR and GBP, paid in EUR",
        "paid", "paid",
    ),
    (
        "fr-ret", "FR", ((5_500, "EUR"), (22_000, "GBP")),
        "French seller whose bank returns its EUR payout made from GBP", "returned", "returned",
    ),
)  # fmt: skip


def _money(m: dict[str, Any]) -> str:
    return f"{m['amount']} {m['currency']}"


def _sell(client: StackClient, seller_id: str, sales: tuple[tuple[int, str], ...]) -> None:
    now = datetime.now(UTC).isoformat()
    for i, (gross, ccy) in enumerate(sales):
        line = f"ol-{seller_id}-{i}"
        base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": line}
        paid = {
            **base,
            "event_id": f"p-{line}",
            "type": "order_line.paid",
            "data": {
                "gross": {"amount": gross, "currency": ccy},
                "commission": {"amount": gross // 11, "currency": ccy},
            },
        }
        closed = {
            **base,
            "event_id": f"c-{line}",
            "type": "order_line.return_window_closed",
            "data": {"closed_at": now},
        }
        for event in (paid, closed):
            resp = client.post_order_event(event)
            if resp.status_code != 202:
                raise SystemExit(f"order event for {seller_id}: {resp.status_code} {resp.text[:200]}")


def _wait(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def run_fx_section(client: StackClient, store: FirestoreStore, console: Console) -> list[Check]:
    tag = uuid.uuid4().hex[:6]
    checks: list[Check] = []
    payouts: list[tuple[str, dict[str, Any]]] = []
    before_return: dict[str, dict[str, int]] = {}
    for who, country, sales, what, outcome, _ in FX_SELLERS:
        seller_id = f"fx{tag}-{who}"
        body = seller_body(country, 11, outcome)
        resp = client.call("PUT", "sellers-api", f"/sellers/{seller_id}", body)
        if resp.status_code != 201:
            raise SystemExit(f"onboarding {seller_id}: {resp.status_code} {resp.text[:200]}")
        _sell(client, seller_id, sales)
        currencies = {ccy for _, ccy in sales}

        def funded(sid: str = seller_id, want: set[str] = currencies) -> dict[str, Any] | None:
            view = client.call("GET", "sellers-api", f"/sellers/{sid}").json()
            held = {b["currency"] for b in view["balances"] if b["available"] > 0}
            return view if want <= held else None

        view = _wait(funded, 30)
        if not view:
            checks.append((f"{who}: funded", False, "its balances did not become available"))
            continue
        before_return[seller_id] = {b["currency"]: b["available"] for b in view["balances"]}
        expected = view["expected_payout"]
        balances = ", ".join(f"{b['available']} {b['currency']}" for b in view["balances"] if b["available"])
        console.print(
            f"  {what}: available {balances}; expected payout {_money(expected['total'])} "
            f"({view['payout_currency']})"
        )
        body = {"seller_id": seller_id, "amount": expected["total"]}
        created = client.call(
            "POST", "payouts-api", "/payouts", body, headers={"Idempotency-Key": f"fx-demo-{seller_id}"}
        )
        ok = created.status_code == 201 and bool(created.json()["conversions"])
        checks.append((f"{who}: paid in {view['payout_currency']}", ok, what if ok else created.text[:200]))
        if created.status_code == 201:
            payouts.append((what, created.json()))
    want = {f"fx{tag}-{who}": final for who, *_, final in FX_SELLERS}

    table = Table(title="Conversions at payout creation (rate fixed then, recorded on the payout)")
    for column in ("seller", "from", "rate", "source, as of", "at rate", "paid", "rounding"):
        table.add_column(column)
    for what, payout in payouts:
        for c in payout["conversions"]:
            rate = c["rate"]
            table.add_row(
                what.split(",")[0],
                _money(c["source"]),
                f"1 {rate['base']} = {rate['value']} {rate['quote']}",
                f"{rate['source']}, {rate['as_of']}",
                _money(c["at_rate"]),
                _money(c["target"]),
                _money(c["rounding"]),
            )
    console.print(table)

    def settled() -> list[dict[str, Any]] | None:
        now = [client.call("GET", "payouts-api", f"/payouts/{p['payout_id']}").json() for _, p in payouts]
        return now if all(p["status"] == want[p["seller_id"]] for p in now) else None

    final = _wait(settled, 90) or []
    statuses = sorted(p["status"] for p in final)
    checks.append(("FX payouts settled as their banks answered", len(final) == len(payouts), f"{statuses}"))
    for payout in final:
        if payout["status"] != "returned":
            continue
        sid = payout["seller_id"]
        after = client.call("GET", "sellers-api", f"/sellers/{sid}").json()
        held = {b["currency"]: b["available"] for b in after["balances"] if b["available"]}
        was = {c: v for c, v in before_return[sid].items() if v}
        checks.append(
            (
                "a returned FX payout converts back at the recorded rate",
                held == was,
                f"{sid} holds {held} again (before the payout: {was})",
            )
        )

    report = audit_ledger(store)
    flows = money_flows(report.account_totals, report.stored_balances)
    ledger = Table(title="Ledger per currency, FX accounts included")
    for column in (
        "currency",
        "journal sum",
        "collected",
        "paid out",
        "balances",
        "FX accounts",
        "conserved",
    ):
        ledger.add_column(column)
    for ccy, flow in sorted(flows.items()):
        ledger.add_row(
            ccy,
            str(report.totals_by_currency.get(ccy, 0)),
            str(flow.collected),
            str(flow.paid_out),
            str(flow.balances),
            str(flow.fx),
            "[green]yes" if flow.conserved else "[red]NO",
        )
    console.print(ledger)
    fx_accounts = sorted({a for a, _ in report.account_totals if parse_fx_account(a)})
    console.print(f"  FX accounts in the journal: {', '.join(fx_accounts) or 'none'}")
    checks.append(
        (
            "ledger zero per currency, FX included",
            report.ok and all(v == 0 for v in report.totals_by_currency.values()) and bool(fx_accounts),
            f"{len(report.totals_by_currency)} currencies, {len(fx_accounts)} FX accounts",
        )
    )
    checks.append(
        (
            "money conserved per currency with FX positions",
            all(flow.conserved for flow in flows.values()),
            "collected = paid out + commission + refunds + balances + rail fees + FX",
        )
    )
    return checks
