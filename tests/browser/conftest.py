"""Browser tests of the console: Debian's Chromium, headless, driven by Playwright, against the
local stack (its console behind the stack's IAP stand-in), with the data of a real payout cycle.

Chromium comes from Debian (``scripts/bootstrap.sh`` installs it); Playwright never downloads
a browser here. Its flags keep it off the network: nothing but the stack on 127.0.0.1.
Screenshots go to ``test-artifacts/console/`` (git-ignored).
"""

from __future__ import annotations

import random
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_stack.client import StackClient
from shared.domain.countries import load_country_rules
from shared.domain.schedule import is_business_day
from stand_ins.sample_sellers import seller_body
from tests.e2e.conftest import client, ops, stack_store, uid  # noqa: F401  (fixtures)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
FINAL = ("paid", "failed", "returned", "canceled")
# Shown in the console, never run: a seller's name and an order event's body.
EVIL_NAME = '<script>window.__owned = "name"</script><img src=x onerror="window.__owned=\'img\'">'
EVIL_BODY = '{"event_id": "<script>window.__owned=\\"body\\"</script>", "type": "<b>bold</b>"}'


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which("chromium") and not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian's chromium is missing: run scripts/bootstrap.sh as root (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Session:
    """One signed-in browser context, with every console error and failed request it saw."""

    context: Any
    page: Any
    base: str
    problems: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def shot(self, name: str, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def take_problems(self) -> list[str]:
        found, self.problems[:] = list(self.problems), []
        return found


def open_session(browser: Any, base: str, email: str | None) -> Session:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=base)
    page = context.new_page()
    session = Session(context, page, base)
    page.on("console", lambda m: m.type == "error" and session.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: session.problems.append(f"page error: {e}"))
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and r.request.resource_type != "document"
            and session.problems.append(f"{r.status} {r.url}")
        ),
    )
    if email is not None:
        page.goto(base + "/runs")  # the IAP stand-in sends us to its login page
        page.get_by_role("button", name=email).click()
        page.wait_for_url("**/runs")
    return session


@pytest.fixture
def sign_in(browser, stack) -> Iterator[Any]:
    opened: list[Session] = []

    def make(email: str | None) -> Session:
        session = open_session(browser, stack.console_url, email)
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.context.close()


def eventually(check: Any, timeout: float = 60, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def fund(api_client: StackClient, seller_id: str, body: dict[str, Any], gross: int) -> None:
    assert api_client.call("PUT", "sellers-api", f"/sellers/{seller_id}", body).status_code == 201
    now = datetime.now(UTC).isoformat()
    ccy = body["currency"]
    base = {"occurred_at": now, "seller_id": seller_id, "order_line_id": f"ol-{seller_id}"}
    paid = {
        **base,
        "event_id": f"paid-{seller_id}",
        "type": "order_line.paid",
        "data": {
            "gross": {"amount": gross, "currency": ccy},
            "commission": {"amount": gross // 10, "currency": ccy},
        },
    }
    closed = {
        **base,
        "event_id": f"closed-{seller_id}",
        "type": "order_line.return_window_closed",
        "data": {"closed_at": now},
    }
    assert api_client.post_order_event(paid).status_code == 202
    assert api_client.post_order_event(closed).status_code == 202


def a_past_business_day(seed: str) -> date:
    """A run date of this test's own (runs are one per date): a past French business day."""
    rules = load_country_rules().get("FR")
    day = date(2021, 1, 4) + timedelta(days=random.Random(seed).randrange(1500))
    while not is_business_day(rules, day):
        day -= timedelta(days=1)
    return day


@dataclass
class Cycle:
    run_id: str
    sellers: dict[str, str]  # role -> seller id
    evil_seller: str


@pytest.fixture(scope="module")
def cycle(client, ops) -> Iterator[Cycle]:  # noqa: F811 - the e2e fixtures
    """A small payout run: sellers paid, failed (account closed), below the minimum, and one
    whose display name is HTML; plus a dead letter whose body is HTML."""
    tag = uuid.uuid4().hex[:8]
    client.sandbox("POST", "/v1/_config", {"settle_delay_ms": 200, "return_delay_ms": 400})
    daily = {"payout_schedule": {"interval": "daily"}}
    plan = {
        "paid-1": (seller_body("FR", 1101, "paid", **daily), 60000),
        "paid-2": (seller_body("DE", 1102, "paid", **daily), 45000),
        "closed": (seller_body("FR", 1103, "account_closed", **daily), 30000),
        "small": (seller_body("FR", 1104, "paid", **daily), 300),
        "evil": (seller_body("FR", 1105, "paid", display_name=EVIL_NAME, **daily), 20000),
    }
    sellers = {role: f"br-{tag}-{role}" for role in plan}
    for role, (body, gross) in plan.items():
        fund(client, sellers[role], body, gross)
    poison = client.publish("order-events", EVIL_BODY.encode())
    assert poison
    run_date = a_past_business_day(tag)
    started = ops.call("POST", "payouts-api", "/runs", {"run_date": run_date.isoformat()})
    assert started.status_code in (200, 202), started.text
    run_id = started.json()["run_id"]

    def settled() -> bool:
        run = ops.call("GET", "payouts-api", f"/runs/{run_id}").json()
        statuses = run.get("payouts_by_status", {})
        return (
            run["pages"]["done"] == run["pages"]["total"] and set(statuses) <= set(FINAL) and bool(statuses)
        )

    eventually(settled, timeout=120)
    try:
        yield Cycle(run_id, sellers, sellers["evil"])
    finally:
        client.sandbox("POST", "/v1/_config", {})
