"""Ops command-line tool over the HTTP API: payout runs, payouts and seller balances.

    .venv/bin/payouts-ops run start 2026-11-24 --dry-run
    .venv/bin/payouts-ops run show dry-2026-11-24-1a2b3c4d --watch
    .venv/bin/payouts-ops payouts list --seller s-123 --all
    .venv/bin/payouts-ops seller show s-123
    .venv/bin/payouts-ops rails drain adyen --reason "Adyen incident INC-42"

(``payouts-ops`` is installed into .venv by scripts/bootstrap.sh; ``python -m tools.ops`` works too.)

By default it talks to the local stack that ``python -m local_stack.stack start`` left running, with a
locally minted OIDC token. Against production, give both ``--base-url-sellers`` and
``--base-url-payouts`` (or OPS_SELLERS_URL and OPS_PAYOUTS_URL): each call then carries a Google
ID token for that URL from the ambient credentials (ADC). Every command takes ``--json`` to print
the API's JSON instead of tables. An API error exits with status 1 and the API's message.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn, Protocol
from urllib.parse import quote, urlencode

import requests
import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shared.domain.money import Money

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {"sellers": "sellers-api", "payouts": "payouts-api", "recon": "reconciliation-api"}
TOKEN_TTL = 30 * 60  # Google ID tokens live an hour; fetch a new one well before


# ---- targets: where the API is and how to authenticate ---------------------------------------


class Target(Protocol):
    def call(
        self, method: str, service: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response: ...


class LocalTarget:
    """The running local stack, with locally minted OIDC tokens. Found as ``local_stack.stack``
    finds it: STACK_STATE_DIR, else ``.local/`` (``.local/stack-<N>/`` under STACK_PORT_OFFSET=N)."""

    def __init__(self, identity: str = "ops") -> None:
        from local_stack.client import StackClient
        from local_stack.stack import Stack

        try:
            stack = Stack.load(ROOT)
            self.client = StackClient.from_stack(stack, identity=identity)
        except FileNotFoundError:
            _fail(
                "no local stack: start one with `python -m local_stack.stack start`, "
                "or give --base-url-sellers and --base-url-payouts"
            )

    def call(
        self, method: str, service: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        return self.client.call(method, FUNCTIONS[service], path, body, headers)


class RemoteTarget:
    """Deployed functions, called with a Google-signed ID token whose audience is the URL."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.http = requests.Session()
        self._tokens: dict[str, tuple[str, float]] = {}

    def _token(self, audience: str) -> str:
        cached = self._tokens.get(audience)
        if cached and time.monotonic() - cached[1] < TOKEN_TTL:
            return cached[0]
        import google.auth.exceptions
        import google.auth.transport.requests
        from google.oauth2 import id_token

        try:
            request = google.auth.transport.requests.Request()
            token = str(id_token.fetch_id_token(request, audience))  # type: ignore[no-untyped-call]
        except google.auth.exceptions.GoogleAuthError as exc:
            _fail(f"cannot get an ID token for {audience}: {exc}")
        self._tokens[audience] = (token, time.monotonic())
        return token

    def call(
        self, method: str, service: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        base = self.urls[service]
        hdrs = {"Authorization": f"Bearer {self._token(base)}", **(headers or {})}
        return self.http.request(method, base + path, json=body, headers=hdrs, timeout=30)


@dataclass
class Api:
    """Calls a target and returns the JSON body; any error ends the command with its message."""

    target: Target

    def call(self, method: str, service: str, path: str, body: Any = None, **headers: str) -> Any:
        try:
            resp = self.target.call(method, service, path, body, headers or None)
        except requests.RequestException as exc:
            _fail(f"cannot reach {FUNCTIONS[service]}: {exc}")
        if resp.status_code >= 400:
            _fail(_error_message(resp))
        try:
            return resp.json()
        except ValueError:
            _fail(f"{FUNCTIONS[service]} answered HTTP {resp.status_code} without JSON: {resp.text[:200]}")

    def get(self, service: str, path: str, **params: Any) -> Any:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return self.call("GET", service, path + (f"?{query}" if query else ""))


def _error_message(resp: requests.Response) -> str:
    try:
        error = resp.json()["error"]
        lines = [f"{error['message']} ({error['code']}, HTTP {resp.status_code})"]
        details = [d for d in error.get("details") or [] if d.get("reason") != error["message"]]
        lines += [f"  {d.get('field')}: {d.get('reason')}" for d in details]
        return "\n".join(lines)
    except (ValueError, KeyError, TypeError):
        return f"HTTP {resp.status_code}: {resp.text[:500] or resp.reason}"


# ---- output -------------------------------------------------------------------------------------

_err = Console(stderr=True, soft_wrap=True)


def _out() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=200)  # piped: never cut ids


def _fail(message: str) -> NoReturn:
    _err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _money(amount: Any, currency: Any) -> str:
    if amount is None:
        return "—"
    try:
        return str(Money(int(amount), str(currency)))
    except (ValueError, TypeError):
        return f"{amount} {currency}"


def _amount(payout: dict[str, Any]) -> str:
    return _money(payout["amount"]["amount"], payout["amount"]["currency"])


def _time(value: Any) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except ValueError:
        return str(value)


def _fields(rows: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows.items():
        grid.add_row(name, escape(str(value)) if value is not None else "—")
    return grid


def _table(title: str, columns: list[str], rows: list[list[Any]], empty: str = "none") -> Table:
    table = Table(title=title, title_justify="left", caption=None if rows else empty)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(c)) if c is not None else "—" for c in row))
    return table


def _section(title: str, columns: list[str], rows: list[list[Any]], empty: str) -> RenderableType:
    """A table inside a panel, or one dim line when there is nothing to list."""
    return _table(title, columns, rows) if rows else Text(f"{title}: {empty}", style="dim")


def _panel(title: str, head: dict[str, Any], *sections: RenderableType) -> Panel:
    return Panel(Group(_fields(head), *sections), title=escape(title), title_align="left", expand=False)


def _run_view(run: dict[str, Any]) -> RenderableType:
    pages = run.get("pages") or {}
    head = {
        "date": run.get("run_date"),
        "kind": "dry run (moves no money)" if run.get("dry_run") else "live",
        "status": run.get("status"),
        "created": _time(run.get("created_at")),
        "pages done": f"{pages.get('done', 0)}/{pages.get('total', 0)}",
        "sellers seen": run.get("sellers_seen"),
    }
    if "would_pay" in run:
        head["would pay"] = f"{run['would_pay'].get('payouts', 0)} seller(s)"
    by_status = [[s, n] for s, n in (run.get("payouts_by_status") or {}).items()]
    amounts = [
        [ccy, status, _money(total, ccy)]
        for ccy, per_status in (run.get("amounts_by_currency") or {}).items()
        for status, total in per_status.items()
    ]
    skips = [[r, n] for r, n in (run.get("skip_reasons") or {}).items()]
    funding = run.get("funding") or {}
    if funding:
        head["funding"] = funding.get("state")
    funding_rows = [
        [
            x["rail"],
            x["currency"],
            _money(x["needed"], x["currency"]),
            "unreported" if x.get("unreported") else _money(x["available"], x["currency"]),
            _money(x["shortfall"], x["currency"]) if x.get("shortfall") else "",
        ]
        for x in funding.get("lines") or []
    ]
    return _panel(
        f"run {run.get('run_id')}",
        head,
        _section("payouts by status", ["status", "payouts"], by_status, "no payouts"),
        _section("amounts by currency", ["currency", "status", "amount"], amounts, "no amounts"),
        _section("skip reasons", ["reason", "sellers"], skips, "no seller skipped"),
        _section(
            "funding (the run's last check)",
            ["rail", "currency", "to send", "available", "short by"],
            funding_rows,
            "not checked yet",
        ),
    )


def _payouts_table(payouts: list[dict[str, Any]], title: str = "payouts") -> Table:
    rows = [
        [
            _time(p["created_at"]),
            p["payout_id"],
            p["seller_id"],
            _amount(p),
            p["status"],
            p.get("failure_code"),
            p["origin"],
            p.get("run_id"),
        ]
        for p in payouts
    ]
    cols = ["created", "payout", "seller", "amount", "status", "failure", "origin", "run"]
    return _table(title, cols, rows, "no payouts")


def _payout_view(p: dict[str, Any]) -> RenderableType:
    head = {
        "seller": p["seller_id"],
        "amount": _amount(p),
        "status": p["status"] + (f" ({p['failure_code']})" if p.get("failure_code") else ""),
        "origin": p["origin"] + (f" (run {p['run_id']})" if p.get("run_id") else ""),
        "provider": f"{p.get('provider') or '—'} {p.get('provider_ref') or ''}".strip(),
        "created": _time(p["created_at"]),
        "updated": _time(p["updated_at"]),
    }
    history = [
        [_time(t["at"]), f"{t['from'] or '∅'} → {t['to']}", t.get("cause"), t.get("actor")]
        for t in p.get("history") or []
    ]
    cols = ["time", "transition", "cause", "actor"]
    return _panel(f"payout {p['payout_id']}", head, _section("history", cols, history, "none"))


def _seller_view(s: dict[str, Any]) -> RenderableType:
    account, hold = s["bank_account"], s.get("payout_hold") or {}
    cooling = account.get("cooling_off_until")
    cooling_active = bool(cooling) and datetime.fromisoformat(cooling) > datetime.now(UTC)
    head = {
        "name": s["display_name"],
        "country / currency": f"{s['country']} / {s['currency']}",
        "KYC": s["kyc_status"],
        "bank account": f"{account['masked']} ({account['scheme']}, {account['holder_name']})",
        "account status": account["status"]
        + (f": {account['invalid_reason']}" if account.get("invalid_reason") else ""),
        "account changed": _time(account.get("changed_at")),
        "cooling-off until": _time(cooling) + (" (active: no payouts)" if cooling_active else " (over)"),
        "payout hold": f"HELD: {hold.get('reason')}" if hold.get("held") else "no",
        "schedule": ", ".join(f"{k} {v}" for k, v in (s.get("payout_schedule") or {}).items()),
    }
    balances = [
        [b["currency"], *(_money(b[k], b["currency"]) for k in ("pending", "available", "in_flight"))]
        for b in s.get("balances") or []
    ]
    cols = ["currency", "pending", "available", "in flight"]
    return _panel(f"seller {s['seller_id']}", head, _section("balances", cols, balances, "none"))


# ---- commands -----------------------------------------------------------------------------------

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n\n")[0])
run_app = typer.Typer(no_args_is_help=True, help="Payout runs: start, progress, per-seller outcomes.")
payouts_app = typer.Typer(no_args_is_help=True, help="Payouts: list, show, cancel, create on demand.")
seller_app = typer.Typer(no_args_is_help=True, help="Sellers: profile, balances, payout history.")
app.add_typer(run_app, name="run")
app.add_typer(payouts_app, name="payouts")
app.add_typer(seller_app, name="seller")
rails_app = typer.Typer(no_args_is_help=True, help="Rails: drained or not, breakers; drain and resume.")
app.add_typer(rails_app, name="rails")
recon_app = typer.Typer(
    no_args_is_help=True,
    help="Reconciliation: run it, read reports, list breaks, acknowledge, propose and approve corrections.",
)
app.add_typer(recon_app, name="recon")
statement_app = typer.Typer(
    no_args_is_help=True, help="Statements: a seller's movements, what a payout paid for."
)
app.add_typer(statement_app, name="statement")

AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables.")]


@dataclass
class Options:
    sellers_url: str | None
    payouts_url: str | None
    recon_url: str | None = None
    local_identity: str = "ops"
    api: Api | None = field(default=None)


@app.callback()
def global_options(
    ctx: typer.Context,
    base_url_sellers: Annotated[
        str | None, typer.Option(envvar="OPS_SELLERS_URL", help="sellers-api URL (production).")
    ] = None,
    base_url_payouts: Annotated[
        str | None, typer.Option(envvar="OPS_PAYOUTS_URL", help="payouts-api URL (production).")
    ] = None,
    base_url_recon: Annotated[
        str | None,
        typer.Option(envvar="OPS_RECON_URL", help="reconciliation-api URL (production; recon commands)."),
    ] = None,
    local_identity: Annotated[
        str,
        typer.Option(
            envvar="OPS_LOCAL_IDENTITY",
            help="Local stack only: who calls (ops, finance: the checker of reconciliation corrections).",
        ),
    ] = "ops",
) -> None:
    """Ops tool for the payout platform. Targets the local stack unless given the base URLs."""
    ctx.obj = Options(base_url_sellers, base_url_payouts, base_url_recon, local_identity)


def _api(ctx: typer.Context) -> Api:
    settings: Options = ctx.find_root().obj
    if settings.api is None:
        urls = {"sellers": settings.sellers_url, "payouts": settings.payouts_url}
        if any(urls.values()) and not all(urls.values()):
            _fail("give both --base-url-sellers and --base-url-payouts (or neither, for the local stack)")
        remote = {k: v for k, v in urls.items() if v}
        if remote and settings.recon_url:
            remote["recon"] = settings.recon_url
        settings.api = Api(RemoteTarget(remote) if remote else LocalTarget(settings.local_identity))
    return settings.api


def _show_run(api: Api, run: dict[str, Any], as_json: bool, watch: bool, interval: float) -> None:
    if not watch:
        _print_json(run) if as_json else _out().print(_run_view(run))
        return
    path, last = f"/runs/{quote(run['run_id'], safe='')}", None
    console = _out()
    try:
        with nullcontext() if as_json else Live(console=console, auto_refresh=False) as live:
            while True:
                if as_json and run != last:  # one line per change, for scripts to follow
                    typer.echo(json.dumps(run, ensure_ascii=False))
                elif isinstance(live, Live):
                    live.update(_run_view(run), refresh=True)
                if run.get("status") == "completed":
                    return
                last = run
                time.sleep(interval)
                run = api.get("payouts", path)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


Watch = Annotated[bool, typer.Option("--watch", help="Refresh until the run is completed.")]
Interval = Annotated[float, typer.Option(help="Seconds between refreshes with --watch.", min=0.1)]


@run_app.command("show")
def run_show(
    ctx: typer.Context, run_id: str, watch: Watch = False, interval: Interval = 2.0, as_json: AsJson = False
) -> None:
    """Progress of a run: pages, payouts by status, amounts by currency, skip reasons.

    A run is marked completed by the payout-sweeper once every page is done and every payout final."""
    api = _api(ctx)
    _show_run(api, api.get("payouts", f"/runs/{quote(run_id, safe='')}"), as_json, watch, interval)


@run_app.command("start")
def run_start(
    ctx: typer.Context,
    run_date: Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="YYYY-MM-DD")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide for every seller; move no money.")
    ] = False,
    watch: Watch = False,
    interval: Interval = 2.0,
    as_json: AsJson = False,
) -> None:
    """Start the payout run of a date (a date's live run starts once; starting it again shows it)."""
    api = _api(ctx)
    run = api.call("POST", "payouts", "/runs", {"run_date": run_date.date().isoformat(), "dry_run": dry_run})
    _show_run(api, run, as_json, watch, interval)


@run_app.command("items")
def run_items(
    ctx: typer.Context,
    run_id: str,
    skip_reason: Annotated[str | None, typer.Option(help="Only sellers skipped for this reason.")] = None,
    seller: Annotated[str | None, typer.Option(help="Only this seller.")] = None,
    as_json: AsJson = False,
) -> None:
    """Each seller's outcome in a run: its payout, or why it was not paid."""
    path = f"/runs/{quote(run_id, safe='')}/items"
    items = _api(ctx).get("payouts", path, skip_reason=skip_reason, seller_id=seller)["data"]
    if as_json:
        return _print_json(items)
    rows = [
        [
            i.get("seller_id"),
            i.get("country"),
            i.get("payout_id") or ("would pay" if i.get("would_pay") is not None else None),
            _money(i.get("amount", i.get("would_pay")), i.get("currency")),
            i.get("skip_reason"),
            i.get("detail"),
            _time(i.get("decided_at")),
        ]
        for i in items
    ]
    cols = ["seller", "country", "payout", "amount", "skip reason", "detail", "decided"]
    _out().print(_table(f"run {run_id}: sellers", cols, rows, "no sellers match"))
    if len(items) >= 200:
        _err.print(
            "[yellow]the API returns at most 200 items: narrow with --skip-reason or --seller[/yellow]"
        )


def _list_payouts(
    ctx: typer.Context, limit: int, every: bool, page_token: str | None = None, **filters: Any
) -> dict[str, Any]:
    api, data = _api(ctx), []
    while True:
        page = api.get("payouts", "/payouts", **filters, limit=limit, page_token=page_token)
        data += page["data"]
        page_token = page.get("next_page_token")
        if not every or not page_token:
            return {"data": data, "next_page_token": page_token}


Limit = Annotated[int, typer.Option(min=1, max=200, help="Payouts per page.")]
All = Annotated[bool, typer.Option("--all", help="Follow next_page_token to the last page.")]


def _print_payouts(listing: dict[str, Any], title: str, as_json: bool) -> None:
    if as_json:
        return _print_json(listing)
    _out().print(_payouts_table(listing["data"], title))
    if listing["next_page_token"]:
        _err.print(f"more: --all, or --page-token {listing['next_page_token']}")


@payouts_app.command("list")
def payouts_list(
    ctx: typer.Context,
    seller: Annotated[str | None, typer.Option(help="Only this seller's payouts.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, processing, paid, failed, ...")] = None,
    run: Annotated[str | None, typer.Option(help="Only this run's payouts.")] = None,
    limit: Limit = 50,
    every: All = False,
    page_token: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    as_json: AsJson = False,
) -> None:
    """Payouts, newest first."""
    listing = _list_payouts(ctx, limit, every, page_token, seller_id=seller, status=status, run_id=run)
    _print_payouts(listing, "payouts", as_json)


@payouts_app.command("show")
def payouts_show(ctx: typer.Context, payout_id: str, as_json: AsJson = False) -> None:
    """A payout and its history of transitions."""
    payout = _api(ctx).get("payouts", f"/payouts/{quote(payout_id, safe='')}")
    _print_json(payout) if as_json else _out().print(_payout_view(payout))


@payouts_app.command("cancel")
def payouts_cancel(ctx: typer.Context, payout_id: str, as_json: AsJson = False) -> None:
    """Cancel a payout that is still pending."""
    payout = _api(ctx).call("POST", "payouts", f"/payouts/{quote(payout_id, safe='')}/cancel")
    _print_json(payout) if as_json else _out().print(_payout_view(payout))


@payouts_app.command("create")
def payouts_create(
    ctx: typer.Context,
    seller: str,
    amount: Annotated[str, typer.Argument(help="In major units: 12.34 (EUR), 1200 (JPY).")],
    currency: str,
    key: Annotated[str | None, typer.Option(help="Idempotency-Key; reuse it to retry safely.")] = None,
    as_json: AsJson = False,
) -> None:
    """Pay a seller on demand (at most its available balance)."""
    try:
        money = Money.from_decimal(amount, currency.upper())
    except ValueError as exc:
        _fail(str(exc))
    key = key or f"ops-{uuid.uuid4().hex}"
    (_err if as_json else _out()).print(f"Idempotency-Key: {key}")
    body = {"seller_id": seller, "amount": {"amount": money.amount, "currency": money.currency}}
    payout = _api(ctx).call("POST", "payouts", "/payouts", body, **{"Idempotency-Key": key})
    _print_json(payout) if as_json else _out().print(_payout_view(payout))


@seller_app.command("show")
def seller_show(ctx: typer.Context, seller_id: str, as_json: AsJson = False) -> None:
    """A seller: masked bank account, KYC, hold, cooling-off end and balances."""
    seller = _api(ctx).get("sellers", f"/sellers/{quote(seller_id, safe='')}")
    _print_json(seller) if as_json else _out().print(_seller_view(seller))


@seller_app.command("history")
def seller_history(
    ctx: typer.Context, seller_id: str, limit: Limit = 50, every: All = False, as_json: AsJson = False
) -> None:
    """A seller's payouts, newest first."""
    listing = _list_payouts(ctx, limit, every, seller_id=seller_id)
    _print_payouts(listing, f"payouts of {seller_id}", as_json)


def _rails_table(rails: list[dict[str, Any]]) -> Table:
    rows = []
    for r in rails:
        change = r.get("last_change") or {}
        breakers = ", ".join(
            f"{i['state']} ({i['error_rate']:.0%} err, p95 {i['latency_ms_p95'] or '-'} ms)"
            for i in r["instances"]
        )
        rows.append(
            [
                r["rail"] + (" (batch)" if r["batch"] else ""),
                "DRAINED" if r["drained"] else "open",
                " ".join(
                    str(x) for x in (change.get("actor"), _time(change.get("at")), change.get("reason")) if x
                )
                if change
                else "",
                breakers or "no instance has reported",
                " ".join(f"{x['country']}#{x['position']}" for x in r["routes"]),
            ]
        )
    return _table("rails", ["rail", "new payouts", "last drain/resume", "breakers", "routes"], rows)


@rails_app.command("list")
def rails_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Each rail: drained or not (who, when, why), each instance's breaker, the routes using it."""
    rails = _api(ctx).get("payouts", "/rails")["data"]
    _print_json(rails) if as_json else _out().print(_rails_table(rails))


def _change_rail(ctx: typer.Context, rail: str, verb: str, reason: str, as_json: bool) -> None:
    state = _api(ctx).call("POST", "payouts", f"/rails/{quote(rail, safe='')}/{verb}", {"reason": reason})
    _print_json(state) if as_json else _out().print(_rails_table([state]))


Reason = Annotated[str, typer.Option("--reason", help="Why (recorded with you and the time).")]


@rails_app.command("drain")
def rails_drain(ctx: typer.Context, rail: str, reason: Reason, as_json: AsJson = False) -> None:
    """Drain a rail: new payouts go to the next rail of their route; in-flight ones finish there."""
    _change_rail(ctx, rail, "drain", reason, as_json)


@rails_app.command("resume")
def rails_resume(ctx: typer.Context, rail: str, reason: Reason, as_json: AsJson = False) -> None:
    """Resume a drained rail."""
    _change_rail(ctx, rail, "resume", reason, as_json)


# ---- reconciliation ---------------------------------------------------------------------------


def _report_view(r: dict[str, Any]) -> RenderableType:
    head = {
        "rail": r["rail"],
        "window": f"{_time(r['from'])} → {_time(r['to'])}",
        "breaks": f"{r['breaks']} ({r['new_breaks']} new)",
        "fees posted": r["fees_posted"],
        "read": f"{r['ledger_payouts']} ledger payouts, {r['rail_records']} rail records",
        "ran": f"{_time(r['ran_at'])} by {r['ran_by']}",
    }
    rows = [[x["class"], x["currency"], x["count"], _money(x["total"], x["currency"])] for x in r["lines"]]
    cols = ["class", "currency", "count", "total"]
    return _panel(f"reconciliation {r['report_id']}", head, _section("movements", cols, rows, "none"))


def _breaks_table(breaks: list[dict[str, Any]]) -> Table:
    rows = [
        [
            b["break_id"],
            b["rail"],
            b["class"],
            b["state"],
            _money(b["amount"]["amount"], b["amount"]["currency"]),
            (b["ledger"] or {}).get("payout_id", "—"),
            b["note"],
        ]
        for b in breaks
    ]
    return _table("breaks", ["break", "rail", "class", "state", "amount", "payout", "note"], rows)


def _break_view(b: dict[str, Any]) -> RenderableType:
    head = {
        "rail": b["rail"],
        "class": b["class"],
        "state": b["state"],
        "amount": _money(b["amount"]["amount"], b["amount"]["currency"]),
        "note": b["note"],
        "ledger": json.dumps(b["ledger"]) if b["ledger"] else "—",
        "rail records": json.dumps(b["rail_records"]),
    }
    history = [[_time(a["at"]), a["action"], a["actor"], a["note"]] for a in b["history"]]
    sections = [_section("history", ["at", "action", "actor", "note"], history, "none")]
    if b.get("correction"):
        c = b["correction"]
        postings = [[p["account"], _money(p["amount"], p["currency"])] for p in c["postings"]]
        title = f"correction proposed by {c['proposed_by']}: {c['reason']}"
        sections.append(_section(title, ["account", "amount"], postings, "none"))
    return _panel(f"break {b['break_id']}", head, *sections)


DateArg = Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="YYYY-MM-DD (UTC day)")]


@recon_app.command("run")
def recon_run(
    ctx: typer.Context,
    rail: str,
    day: DateArg,
    to_day: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (inclusive); default: DAY."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Reconcile a rail over a UTC day (or DAY..--to), now; answers with the report."""
    start = day.replace(tzinfo=UTC)
    end = (to_day or day).replace(tzinfo=UTC) + timedelta(days=1)
    body = {"rail": rail, "from": start.isoformat(), "to": end.isoformat()}
    report = _api(ctx).call("POST", "recon", "/reconciliations", body)
    _print_json(report) if as_json else _out().print(_report_view(report))


@recon_app.command("reports")
def recon_reports(
    ctx: typer.Context,
    rail: Annotated[str | None, typer.Option(help="Only this rail.")] = None,
    limit: Limit = 20,
    as_json: AsJson = False,
) -> None:
    """Reconciliation reports, newest window first."""
    listing = _api(ctx).get("recon", "/reconciliations", rail=rail, limit=limit)
    if as_json:
        _print_json(listing)
        return
    for report in listing["data"]:
        _out().print(_report_view(report))
    if not listing["data"]:
        _out().print("no reports")


@recon_app.command("breaks")
def recon_breaks(
    ctx: typer.Context,
    rail: Annotated[str | None, typer.Option(help="Only this rail.")] = None,
    state: Annotated[
        str | None, typer.Option(help="open, acknowledged, correction_proposed, corrected.")
    ] = None,
    cls: Annotated[
        str | None,
        typer.Option(
            "--class",
            help="missing_at_rail, unknown_to_us, amount_mismatch, currency_mismatch, status_mismatch.",
        ),
    ] = None,
    limit: Limit = 50,
    as_json: AsJson = False,
) -> None:
    """Breaks, newest first, filtered by rail, state and class."""
    listing = _api(ctx).get(
        "recon", "/reconciliation-breaks", rail=rail, state=state, limit=limit, **{"class": cls}
    )
    _print_json(listing) if as_json else _out().print(_breaks_table(listing["data"]))


@recon_app.command("show")
def recon_show(ctx: typer.Context, break_id: str, as_json: AsJson = False) -> None:
    """A break: both sides' data, its history of actions, and any proposed correction."""
    brk = _api(ctx).get("recon", f"/reconciliation-breaks/{quote(break_id, safe='')}")
    _print_json(brk) if as_json else _out().print(_break_view(brk))


def _act(ctx: typer.Context, break_id: str, action: str, body: dict[str, Any], as_json: bool) -> None:
    path = f"/reconciliation-breaks/{quote(break_id, safe='')}/{action}"
    brk = _api(ctx).call("POST", "recon", path, body)
    _print_json(brk) if as_json else _out().print(_break_view(brk))


NoteOpt = Annotated[str, typer.Option("--note", help="Why (recorded with your identity and the time).")]


@recon_app.command("ack")
def recon_ack(ctx: typer.Context, break_id: str, note: NoteOpt, as_json: AsJson = False) -> None:
    """Acknowledge a break with a note (it is known, or in hand)."""
    _act(ctx, break_id, "acknowledge", {"note": note}, as_json)


@recon_app.command("propose")
def recon_propose(
    ctx: typer.Context,
    break_id: str,
    reason: Annotated[str, typer.Option(help="Why this correction.")],
    posting: Annotated[
        list[str],
        typer.Option(
            help="ACCOUNT=AMOUNT CURRENCY, amount in major units, signed (repeat; must balance), "
            "e.g. --posting platform:payouts=-9.00 EUR --posting platform:commission=9.00 EUR.",
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """Propose a correction: a balanced journal entry, approved later by someone else."""
    postings = []
    for item in posting:
        try:
            account, value = item.split("=", 1)
            amount, currency = value.split()
            money = Money.from_decimal(amount, currency.upper())
        except ValueError:
            _fail(f"--posting {item!r}: expected ACCOUNT=AMOUNT CURRENCY")
        postings.append({"account": account, "amount": money.amount, "currency": money.currency})
    _act(ctx, break_id, "propose", {"reason": reason, "postings": postings}, as_json)


@recon_app.command("approve")
def recon_approve(
    ctx: typer.Context,
    break_id: str,
    note: Annotated[str, typer.Option("--note", help="Optional note.")] = "",
    as_json: AsJson = False,
) -> None:
    """Approve the proposed correction (not by its proposer); it is then posted to the ledger."""
    _act(ctx, break_id, "approve", {"note": note}, as_json)


@recon_app.command("reject")
def recon_reject(ctx: typer.Context, break_id: str, note: NoteOpt, as_json: AsJson = False) -> None:
    """Reject the proposed correction; the break is open for another."""
    _act(ctx, break_id, "reject", {"note": note}, as_json)


# ---- statements (issue 18) ------------------------------------------------------------------------

AsCsv = Annotated[bool, typer.Option("--csv", help="Print the API's CSV (for a spreadsheet).")]
Day = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD, the seller's local date.")]


def _csv(ctx: typer.Context, service: str, path: str) -> None:
    api = _api(ctx)
    try:
        resp = api.target.call("GET", service, path, None, {"Accept": "text/csv"})
    except requests.RequestException as exc:
        _fail(f"cannot reach {FUNCTIONS[service]}: {exc}")
    if resp.status_code >= 400:
        _fail(_error_message(resp))
    typer.echo(resp.content.decode("utf-8-sig"), nl=False)


def _all_pages(ctx: typer.Context, service: str, path: str, **params: Any) -> dict[str, Any]:
    first: dict[str, Any] = _api(ctx).get(service, path, limit=500, **params)
    token = first.get("next_page_token")
    while token:
        page = _api(ctx).get(service, path, limit=500, page_token=token, **params)
        first["data"].extend(page["data"])
        token = page.get("next_page_token")
    first["next_page_token"] = None
    return first


@statement_app.command("seller")
def statement_seller(
    ctx: typer.Context,
    seller_id: str,
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="YYYY-MM-DD, included.")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="YYYY-MM-DD, included.")],
    as_csv: AsCsv = False,
    as_json: AsJson = False,
) -> None:
    """A seller's statement: opening balance, every movement, payouts, closing balance."""
    path = f"/sellers/{quote(seller_id, safe='')}/statement"
    dates = {"from": start.date().isoformat(), "to": end.date().isoformat()}
    if as_csv:
        return _csv(ctx, "sellers", f"{path}?{urlencode(dates)}")
    st = _all_pages(ctx, "sellers", path, **dates)
    if as_json:
        return _print_json(st)
    balance_rows = [
        [o["currency"], o["bucket"], _money(o["amount"], o["currency"]), _money(c["amount"], c["currency"])]
        for o, c in zip(st["opening_balance"], st["closing_balance"], strict=False)
    ]
    movements = [
        [
            m["date"],
            m["kind"],
            m["bucket"],
            m["order_line_id"] or m["payout_id"],
            _money(**m["amount"]),
            _money(**m["balance_after"]),
        ]
        for m in st["data"]
    ]
    payouts = [
        [p["payout_id"], _time(p["created_at"]), _money(**p["amount"]), p["status"]] for p in st["payouts"]
    ]
    _out().print(
        Group(
            Text(f"Statement of {seller_id}, {st['from']} to {st['to']} ({st['timezone']})", style="bold"),
            _table("balances", ["currency", "bucket", "opening", "closing"], balance_rows),
            _table(
                "movements",
                ["date", "kind", "bucket", "order line / payout", "amount", "balance after"],
                movements,
            ),
            _table("payouts", ["payout", "created", "amount", "status"], payouts),
        )
    )


@statement_app.command("payout")
def statement_payout(
    ctx: typer.Context, payout_id: str, as_csv: AsCsv = False, as_json: AsJson = False
) -> None:
    """What a payout paid for, line by line; the lines sum to its amount."""
    path = f"/payouts/{quote(payout_id, safe='')}/statement"
    if as_csv:
        return _csv(ctx, "payouts", path)
    st = _all_pages(ctx, "payouts", path)
    if as_json:
        return _print_json(st)
    rows = [
        [
            line["line"],
            line["kind"],
            line["order_line_id"],
            line["ref"],
            _money(**line["amount"]),
            "owed"
            if line["owed"]
            else (f"back from {line['reopened_from']}" if line["reopened_from"] else ""),
        ]
        for line in st["data"]
    ]
    total = sum(line["amount"]["amount"] for line in st["data"])
    _out().print(
        Group(
            _table(
                f"payout {payout_id} ({st['status']}): {_money(**st['amount'])}",
                ["#", "kind", "order line", "reference", "amount", "note"],
                rows,
            ),
            Text(f"lines sum to {_money(total, st['amount']['currency'])}"),
        )
    )


# ---- DAC7 ----------------------------------------------------------------------------------------


def _dac7_view(r: dict[str, Any]) -> RenderableType:
    head = {
        "year": r["year"],
        "operator": r["operator"],
        "reportable": len(r["reportable"]),
        "excluded": len(r["excluded"]),
        "ready to file": "yes" if r["ready_to_file"] else "no: collect the missing fields first",
    }
    if r.get("file"):
        head["file"] = f"{r['file']['uri']} ({r['file']['bytes']} bytes, sha256 {r['file']['sha256'][:16]}…)"
    reportable = [
        [
            s["seller_id"],
            s["kind"],
            s["residence_country"],
            " / ".join(str(n) for n in s["activities"]),
            f"{sum(Decimal(c) for c in s['consideration']):f} {s['currency']}",
            f"{sum(Decimal(c) for c in s['fees']):f} {s['currency']}",
            ", ".join(s["gaps"]) or "—",
        ]
        for s in r["reportable"]
    ]
    excluded = [
        [e["seller_id"], e["reason"], e["activities"], f"{e['consideration'] or '—'} {e['currency'] or ''}"]
        for e in r["excluded"]
    ]
    sections = [
        _section(
            "reportable sellers",
            ["seller", "kind", "residence", "sales Q1/Q2/Q3/Q4", "consideration", "fees", "missing"],
            reportable,
            "none",
        ),
        _section("excluded sellers", ["seller", "reason", "sales", "consideration"], excluded, "none"),
    ]
    if r["warnings"]:
        sections.append(Text("\n".join(f"warning: {w}" for w in r["warnings"])))
    return _panel(f"DAC7 {r['year']}", head, *sections)


@app.command("dac7")
def dac7(
    ctx: typer.Context,
    year: Annotated[int, typer.Argument(help="The reportable period (a calendar year, 2023 on).")],
    write: Annotated[
        bool, typer.Option("--write", help="Write the DPI file to the tax-reports bucket, for finance.")
    ] = False,
    declaration: Annotated[int, typer.Option(help="The operator's file number in the year: 1, 2, …")] = 1,
    test: Annotated[bool, typer.Option("--test", help="A file for the tax authority's tests.")] = False,
    as_json: AsJson = False,
) -> None:
    """The yearly DAC7 report: every seller who sold, reportable or excluded and why, what is
    missing; with --write, the validated DPI XML file (TINs and IBANs in it, never printed)."""
    api = _api(ctx)
    if write:
        body = {"year": year, "declaration": declaration, "test": test}
        report = api.call("POST", "recon", "/dac7-reports", body)
    else:
        report = api.get("recon", f"/dac7-reports/{year}")
    _print_json(report) if as_json else _out().print(_dac7_view(report))


def main() -> None:
    """The ``payouts-ops`` console script (``[project.scripts]`` in pyproject.toml)."""
    app()


if __name__ == "__main__":
    app(prog_name="ops")
