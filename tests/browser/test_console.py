"""The console in a real browser (Debian's Chromium, headless), against the local stack and the
data of a real payout cycle."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_stack import local_env
from shared.entrypoints.console import csrf
from shared.topology import QUEUE_TRANSFERS
from stand_ins.sample_sellers import seller_body
from tests.browser.conftest import ARTIFACTS, EVIL_NAME, Cycle, eventually, fund

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
OPERATOR, VIEWER = "operator@example.com", "viewer@example.com"


def api(ops, path: str) -> Any:
    response = ops.call("GET", "payouts-api", path)
    assert response.status_code == 200, response.text
    return response.json()


def run_payouts(ops, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
    query = f"/payouts?run_id={run_id}&limit=200" + (f"&status={status}" if status else "")
    return api(ops, query)["data"]


def test_an_unauthenticated_request_is_sent_to_sign_in_or_refused(stack, sign_in):
    anonymous = sign_in(None)
    anonymous.open("/runs")
    assert "/_local_iap/login" in anonymous.page.url
    assert anonymous.page.get_by_role("button", name=OPERATOR).is_visible()
    anonymous.shot("login", full_page=False)
    # Straight to the function, around the proxy: no IAP assertion, 401: a page for a browser,
    # the documented JSON error body for anything else.
    page = requests.get(
        stack.url("console") + "/runs", headers={"Accept": "text/html"}, timeout=30, allow_redirects=False
    )
    assert page.status_code == 401
    assert "text/html" in page.headers["Content-Type"]
    direct = requests.get(stack.url("console") + "/runs", timeout=30, allow_redirects=False)
    assert direct.status_code == 401
    assert direct.json()["error"]["code"] == "unauthenticated"
    # A forged assertion (not signed by the stack's IAP key) is 401 too.
    forged = requests.get(
        stack.url("console") + "/runs",
        headers={"X-Goog-IAP-JWT-Assertion": "eyJhbGciOiJFUzI1NiJ9.eyJlbWFpbCI6Im9wc0B4In0.c2ln"},
        timeout=30,
    )
    assert forged.status_code == 401
    posted = requests.post(
        stack.console_url + "/payouts/po_x/cancel", data={}, timeout=30, allow_redirects=False
    )
    assert posted.status_code == 401


def test_every_page_loads_with_no_console_error(cycle: Cycle, sign_in, ops):
    paid = run_payouts(ops, cycle.run_id, "paid")[0]["payout_id"]
    session = sign_in(OPERATOR)
    pages = {
        "runs": "/runs",
        "run": f"/runs/{cycle.run_id}",
        "payouts": f"/payouts?run_id={cycle.run_id}",
        "payouts-failed": f"/payouts?run_id={cycle.run_id}&status=failed&failure_code=account_closed",
        "payout": f"/payouts/{paid}",
        "dead-letters": "/dead-letters",
    }
    for name, path in pages.items():
        response = session.open(path)
        assert response.status == 200, (path, response.status)
        assert response.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
        assert session.page.locator("main h2").first.is_visible(), path
        session.shot(name)
        assert session.take_problems() == [], path
    assert {p.stem for p in ARTIFACTS.glob("*.png")} >= set(pages), "screenshots saved"
    # The run's charts are SVG drawn by the server: there without any network or script.
    session.open(f"/runs/{cycle.run_id}")
    assert session.page.locator("svg.chart").count() == 2
    assert session.page.locator("svg.chart path.series").count() >= 1


def shown_numbers(row: Any) -> dict[str, Any]:
    """What a run's row or page shows, read back from its data attributes."""

    def collect(selector: str, *keys: str) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for element in row.locator(selector).all():
            values = [element.get_attribute(f"data-{k}") for k in keys]
            out[tuple(values[:-1]) if len(keys) > 2 else values[0]] = int(values[-1])
        return out

    return {
        "payouts_by_status": collect("[data-status][data-count]", "status", "count"),
        "amounts": collect(".amount[data-amount]", "currency", "status", "amount"),
        "skip_reasons": collect(".skip[data-reason]", "reason", "count"),
    }


def api_numbers(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "payouts_by_status": run["payouts_by_status"],
        "amounts": {(c, s): v for c, per in run["amounts_by_currency"].items() for s, v in per.items()},
        "skip_reasons": run["skip_reasons"],
    }


def test_the_runs_page_shows_the_apis_numbers(cycle: Cycle, sign_in, ops):
    run = api(ops, f"/runs/{cycle.run_id}")
    assert run["payouts_by_status"].get("paid") and run["payouts_by_status"].get("failed")
    assert run["skip_reasons"].get("below_minimum")
    session = sign_in(VIEWER)
    session.open("/runs")
    row = session.page.locator(f'tr[data-run-id="{cycle.run_id}"]')
    assert row.count() == 1, "the run is listed"
    assert shown_numbers(row) == api_numbers(run)
    progress = row.locator("progress")
    final = sum(
        n for s, n in run["payouts_by_status"].items() if s in ("paid", "failed", "returned", "canceled")
    )
    assert progress.get_attribute("value") == str(final)
    session.open(f"/runs/{cycle.run_id}")
    assert shown_numbers(session.page.locator("main")) == api_numbers(run)
    failed = run_payouts(ops, cycle.run_id, "failed")
    codes = {p["failure_code"] for p in failed}
    assert codes
    for code in codes:  # each failure code has its bar
        assert session.page.locator("svg.chart text", has_text=code).count() >= 1, code
    assert session.take_problems() == []


def test_html_in_displayed_fields_is_shown_escaped_never_run(cycle: Cycle, sign_in, ops):
    evil_payout = api(ops, f"/payouts?seller_id={cycle.evil_seller}")["data"][0]["payout_id"]
    session = sign_in(OPERATOR)
    for path in (f"/payouts/{evil_payout}", "/dead-letters", f"/payouts?seller_id={cycle.evil_seller}"):
        session.open(path)
        page = session.page
        assert page.evaluate("() => window.__owned") is None, f"{path}: injected script ran"
        assert page.locator('img[src="x"]').count() == 0, path
        assert page.locator("b:text-is('bold')").count() == 0, path
        assert page.locator("script").count() == 1, "only the console's own script file"
    session.open(f"/payouts/{evil_payout}")
    assert session.page.locator(".display-name").inner_text() == EVIL_NAME, "shown as the text it is"

    def poison_shown() -> bool:
        session.open("/dead-letters")
        return "<script>window.__owned" in session.page.locator("#dead-letters").inner_text()

    eventually(poison_shown, timeout=30)
    assert session.take_problems() == []


def _pause_transfers(stack, action: str) -> None:
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(stack.env["CLOUD_TASKS_EMULATOR_HOST"])
    try:
        client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        name = f"projects/{stack.project}/locations/{stack.location}/queues/{QUEUE_TRANSFERS}"
        getattr(client, f"{action}_queue")(name=name, timeout=10)
    finally:
        channel.close()


@pytest.fixture
def pending_payout(stack, client) -> Iterator[str]:
    """An on-demand payout kept pending: its transfer waits on the paused transfers queue."""
    seller = f"br-cancel-{uuid.uuid4().hex[:8]}"
    fund(client, seller, seller_body("FR", 1201, "paid"), 40000)
    _pause_transfers(stack, "pause")
    try:
        created = client.call(
            "POST",
            "payouts-api",
            "/payouts",
            {"seller_id": seller, "amount": {"amount": 15000, "currency": "EUR"}},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "pending"
        yield created.json()["payout_id"]
    finally:
        _pause_transfers(stack, "resume")


def test_an_operator_cancels_a_pending_payout_through_the_ui(pending_payout, sign_in, ops):
    session = sign_in(OPERATOR)
    session.open(f"/payouts/{pending_payout}")
    session.page.locator("#cancel").click()
    session.page.wait_for_url(f"**/payouts/{pending_payout}/cancel")
    assert "cannot be undone" in session.page.locator("article.confirm").inner_text()
    session.shot("cancel-confirm", full_page=False)
    session.page.locator("#confirm-cancel").click()
    session.page.wait_for_url(f"**/payouts/{pending_payout}?done=canceled")
    assert "canceled" in session.page.locator("p.notice").inner_text()
    assert session.page.locator("#cancel").count() == 0, "no second cancel"
    payout = api(ops, f"/payouts/{pending_payout}")
    assert payout["status"] == "canceled"
    assert payout["history"][-1]["actor"] == OPERATOR, "recorded with its actor"
    assert session.take_problems() == []


def viewer_token(stack, session: Any) -> str:
    """The CSRF token the console would give this viewer (its cookie, the server's secret):
    proof that what refuses the viewer is its role, not a bad token."""
    nonce = next(c["value"] for c in session.context.cookies() if c["name"] == csrf.COOKIE)
    secret = str(local_env.local_secrets(stack.state_dir)["console_csrf_secret"])
    return csrf.token(secret, VIEWER, nonce)


def test_a_viewer_may_not_cancel(stack, pending_payout, sign_in, ops):
    session = sign_in(VIEWER)
    session.open(f"/payouts/{pending_payout}")
    assert session.page.locator("#cancel").count() == 0
    refused_page = session.open(f"/payouts/{pending_payout}/cancel")
    assert refused_page.status == 403
    url = f"{stack.console_url}/payouts/{pending_payout}/cancel"
    posted = session.context.request.post(
        url, form={csrf.FIELD: viewer_token(stack, session)}, max_redirects=0
    )
    assert posted.status == 403
    assert "does not allow" in posted.text()
    assert api(ops, f"/payouts/{pending_payout}")["status"] == "pending"


@pytest.mark.parametrize("token", [None, "forged", "another-users"])
def test_a_post_without_a_valid_csrf_token_is_refused(stack, pending_payout, sign_in, ops, token):
    session = sign_in(OPERATOR)
    session.open(f"/payouts/{pending_payout}")
    form = {}
    if token == "forged":
        form = {csrf.FIELD: "AAAA." + "0" * 64}
    elif token == "another-users":
        form = {csrf.FIELD: viewer_token(stack, session)}  # the right cookie, signed for the viewer
    url = f"{stack.console_url}/payouts/{pending_payout}/cancel"
    posted = session.context.request.post(url, form=form, max_redirects=0)
    assert posted.status == 403
    assert re.search(r"security token", posted.text())
    assert api(ops, f"/payouts/{pending_payout}")["status"] == "pending"
