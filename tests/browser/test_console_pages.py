"""The console's Sellers, Providers and Reconciliation pages in a real browser (Debian's Chromium,
headless), against the local stack: the payout cycle of ``conftest.cycle`` and reconciliation
breaks planted as tests/e2e/test_reconciliation.py plants one (transfers the platform never made,
at the sandbox), found by a real reconciliation run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from local_stack import local_env
from shared.adapters.firestore import documents as d
from shared.adapters.firestore.console import CONSOLE_ACTIONS
from shared.domain.ledger import entry_id_for
from shared.entrypoints.console import csrf
from stand_ins.sample_sellers import seller_body, stripe_account_for
from tests.browser.conftest import ARTIFACTS, EVIL_NAME, Cycle, eventually
from tests.e2e.test_rail_routes import onboard_and_fund, pay, settled

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
OPERATOR, VIEWER, APPROVER = "operator@example.com", "viewer@example.com", "approver@example.com"
RECON = "reconciliation-api"
DRAINED_RAIL = "stripe"  # no test of the stack routes a payout through it first


@dataclass
class Planted:
    report_id: str
    breaks: list[str]  # unknown_to_us breaks, one per transfer we never made


def _stranger(stack: Any, ops: Any, reference: str, amount: int) -> None:
    key = local_env.local_secrets(stack.state_dir)["provider_api_key"]
    made = requests.post(
        ops.sandbox_url + "/v1/transfers",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"stranger-{reference}"},
        timeout=30,
        json={
            "amount": amount,
            "currency": "EUR",
            "reference": reference,
            "destination": {
                "scheme": "iban",
                "country": "FR",
                "holder_name": "Someone Else",
                "iban": "FR7630006000011234567890189",
            },
        },
    )
    assert made.status_code == 201, made.text


@pytest.fixture(scope="module")
def planted(stack, ops, cycle: Cycle) -> Planted:  # after the cycle: its payouts are in the window
    tag = uuid.uuid4().hex[:8]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    references = [f"po_stranger{tag}a", f"po_stranger{tag}b"]
    for n, reference in enumerate(references):
        _stranger(stack, ops, reference, 777 + n)
    time.sleep(1.1)  # the sandbox keeps creation times to the second
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    window = {"rail": "sandbox", "from": start.isoformat(), "to": end.isoformat()}
    run = ops.call("POST", RECON, "/reconciliations", window)
    assert run.status_code == 201, run.text
    found = ops.call("GET", RECON, "/reconciliation-breaks?rail=sandbox&class=unknown_to_us&limit=200")
    by_reference = {b["rail_records"][0]["reference"]: b["break_id"] for b in found.json()["data"]}
    return Planted(run.json()["report_id"], [by_reference[r] for r in references])


def token_for(stack: Any, session: Any, email: str) -> str:
    """The CSRF token the console gives ``email`` for this browser's cookie: a post with it is
    refused only for what the person may not do."""
    nonce = next(c["value"] for c in session.context.cookies() if c["name"] == csrf.COOKIE)
    secret = str(local_env.local_secrets(stack.state_dir)["console_csrf_secret"])
    return csrf.token(secret, email, nonce)


def recon_break(ops: Any, break_id: str) -> dict[str, Any]:
    found = ops.call("GET", RECON, f"/reconciliation-breaks/{break_id}")
    assert found.status_code == 200, found.text
    return found.json()


def actions_on(stack_store: Any, target: str) -> list[tuple[str, str, str]]:
    from google.cloud import firestore

    query = stack_store.client.collection(CONSOLE_ACTIONS).where(
        filter=firestore.FieldFilter("target", "==", target)
    )
    docs = sorted((s.to_dict() or {} for s in query.stream()), key=lambda a: a["at"])
    return [(a["action"], a["actor"], a["outcome"]) for a in docs]


def test_every_new_page_loads_with_no_console_error(cycle: Cycle, planted: Planted, sign_in, ops):
    paid_seller = cycle.sellers["paid-1"]
    session = sign_in(OPERATOR)
    pages = {
        "sellers": f"/sellers?q={paid_seller}",
        "seller": f"/sellers/{paid_seller}",
        "rails": "/rails",
        "rail-drain-confirm": "/rails/sandbox/drain",
        "reconciliation": "/reconciliation?rail=sandbox",
        "reconciliation-report": f"/reconciliation/reports/{planted.report_id}",
        "breaks": "/reconciliation/breaks?rail=sandbox&class=unknown_to_us",
        "break": f"/reconciliation/breaks/{planted.breaks[0]}",
    }
    for name, path in pages.items():
        response = session.open(path)
        assert response.status == 200, (path, response.status)
        assert response.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
        assert session.page.locator("main h2, main h3").first.is_visible(), path
        session.shot(name)
        assert session.take_problems() == [], path
    assert {p.stem for p in ARTIFACTS.glob("*.png")} >= set(pages), "screenshots saved"
    # The reconciliation page lists the run's report and the planted breaks.
    session.open("/reconciliation?rail=sandbox")
    assert session.page.locator(f'tr[data-report-id="{planted.report_id}"]').count() == 1
    for break_id in planted.breaks:
        assert session.page.locator(f'#open-breaks tr[data-break-id="{break_id}"]').count() == 1
    session.shot("reconciliation", full_page=False)
    # Filters: the breaks of another class are not these.
    session.open("/reconciliation/breaks?rail=sandbox&class=amount_mismatch")
    assert session.page.locator(f'tr[data-break-id="{planted.breaks[0]}"]').count() == 0
    assert session.take_problems() == []


def test_a_sellers_page_shows_the_apis_balances_a_chart_and_masked_accounts(cycle: Cycle, sign_in, ops):
    seller_id = cycle.sellers["paid-1"]
    api = ops.call("GET", "sellers-api", f"/sellers/{seller_id}")
    assert api.status_code == 200, api.text
    seller = api.json()
    session = sign_in(VIEWER)
    session.open(f"/sellers/{seller_id}")
    page = session.page
    for balance in seller["balances"]:
        row = page.locator(f'#balances tr[data-currency="{balance["currency"]}"]')
        for bucket in ("pending", "available", "in_flight"):
            shown = row.locator(f'[data-bucket="{bucket}"]').get_attribute("data-amount")
            assert int(shown or "x") == balance[bucket], (bucket, balance)
    assert page.locator("svg.chart").count() == len(seller["balances"]) >= 1
    assert page.locator("svg.chart path.series").count() >= 1, "the balance moved: lines drawn"
    assert page.locator("#bank-account").inner_text() == seller["bank_account"]["masked"]
    assert "•" in seller["bank_account"]["masked"] or "*" in seller["bank_account"]["masked"]
    assert page.locator("#payouts tr[data-payout-id]").count() >= 1
    assert session.take_problems() == []


def test_money_on_hold_is_listed_on_the_sellers_page(client, sign_in, ops):
    seller_id = f"br-hold-{uuid.uuid4().hex[:8]}"
    body = seller_body("FR", 1301, "paid", payout_hold={"held": True, "reason": "KYC review <b>x</b>"})
    assert client.call("PUT", "sellers-api", f"/sellers/{seller_id}", body).status_code == 201
    paid = {
        "event_id": f"paid-{seller_id}",
        "type": "order_line.paid",
        "occurred_at": datetime.now(UTC).isoformat(),
        "seller_id": seller_id,
        "order_line_id": f"ol-{seller_id}",
        "data": {
            "gross": {"amount": 12000, "currency": "EUR"},
            "commission": {"amount": 2000, "currency": "EUR"},
        },
    }
    assert client.post_order_event(paid).status_code == 202
    session = sign_in(VIEWER)

    def listed() -> bool:
        session.open(f"/sellers/{seller_id}")
        return session.page.locator(f'#held-lines tr[data-order-line-id="ol-{seller_id}"]').count() == 1

    eventually(listed, timeout=30)
    row = session.page.locator(f'#held-lines tr[data-order-line-id="ol-{seller_id}"]')
    assert "100.00 EUR" in row.inner_text() and "awaiting delivery" in row.inner_text()
    assert session.page.locator("#hold").inner_text() == "Payouts are held: KYC review <b>x</b>"
    assert session.page.locator("#hold b").count() == 0
    pending = session.page.locator('#balances [data-bucket="pending"]').get_attribute("data-amount")
    assert pending == "10000"
    session.shot("seller-on-hold")
    assert session.take_problems() == []


def test_html_in_a_sellers_name_is_shown_escaped_never_run(cycle: Cycle, sign_in):
    session = sign_in(VIEWER)
    for path in (f"/sellers?q={cycle.evil_seller}", f"/sellers/{cycle.evil_seller}"):
        session.open(path)
        page = session.page
        assert page.evaluate("() => window.__owned") is None, f"{path}: injected script ran"
        assert page.locator('img[src="x"]').count() == 0, path
        assert page.locator("script").count() == 1, "only the console's own script file"
        assert page.locator(".display-name").first.inner_text() == EVIL_NAME, "shown as the text it is"
    assert session.take_problems() == []


def test_an_approver_approves_an_operators_correction_the_operator_may_not(
    stack, planted: Planted, sign_in, ops, stack_store
):
    break_id = planted.breaks[0]
    path = f"/reconciliation/breaks/{break_id}"
    operator = sign_in(OPERATOR)
    operator.open(path)
    operator.page.locator("#ack-note").fill("PSP test transfer")
    operator.page.locator("#acknowledge").click()
    operator.page.wait_for_url("**done=acknowledge")
    operator.page.locator("#propose-reason").fill("money left the sandbox account")
    operator.page.locator("#propose-postings").fill(
        "platform:payouts 7.77 EUR\nplatform:commission -7.77 EUR"
    )
    operator.page.locator("#propose").click()
    operator.page.wait_for_url("**done=propose")
    assert "someone else" in operator.page.locator("p.notice").inner_text()
    assert operator.page.locator("#approve").count() == 0, "no approve for an operator"
    operator.shot("break-proposed")
    # The operator posting an approval with its own valid token: refused (403), nothing posted.
    refused = operator.context.request.post(
        stack.console_url + path + "/approve",
        form={csrf.FIELD: token_for(stack, operator, OPERATOR), "note": "me"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert recon_break(ops, break_id)["state"] == "correction_proposed"
    assert operator.take_problems() == []

    approver = sign_in(APPROVER)
    approver.open(path)
    approver.page.locator("#approve").click()
    approver.page.wait_for_url(f"**{path}/approve")
    assert "moves money" in approver.page.locator("article.confirm").inner_text()
    approver.shot("approve-confirm", full_page=False)
    approver.page.locator("#approve-note").fill("checked")
    approver.page.locator("#confirm-approve").click()
    approver.page.wait_for_url("**done=approve")
    assert approver.take_problems() == []

    done = recon_break(ops, break_id)
    assert done["state"] == "corrected"
    assert [(a["action"], a["actor"]) for a in done["history"]][1:] == [
        ("acknowledged", OPERATOR),
        ("correction_proposed", OPERATOR),
        ("correction_approved", APPROVER),
    ]
    entry = stack_store.get(d.JOURNAL, entry_id_for("reconciliation.correction", f"{break_id}:1"))
    assert entry is not None and sum(p["amount"] for p in entry["postings"]) == 0
    assert actions_on(stack_store, break_id) == [
        ("acknowledge_break", OPERATOR, "done"),
        ("propose_break", OPERATOR, "done"),
        ("approve_break", OPERATOR, "refused"),
        ("approve_break", APPROVER, "done"),
    ]


def test_the_proposers_own_approval_is_refused(stack, planted: Planted, sign_in, ops):
    break_id = planted.breaks[1]
    path = f"/reconciliation/breaks/{break_id}"
    approver = sign_in(APPROVER)
    approver.open(path)
    approver.page.locator("#propose-reason").fill("fee we never booked")
    approver.page.locator("#propose-postings").fill(
        "platform:payouts 7.78 EUR\nplatform:commission -7.78 EUR"
    )
    approver.page.locator("#propose").click()
    approver.page.wait_for_url("**done=propose")
    assert "someone else must approve" in approver.page.locator("#maker-checker").inner_text()
    assert approver.page.locator("#approve").count() == 0
    # Straight to the confirmation, as the proposer: warned, and the use case refuses it.
    approver.open(path + "/approve")
    assert "maker-checker" in approver.page.locator("article.confirm").inner_text()
    with approver.page.expect_response(lambda r: r.request.method == "POST") as answer:
        approver.page.locator("#confirm-approve").click()
    assert answer.value.status == 409
    approver.page.wait_for_load_state()
    assert "same_maker_and_checker" in approver.page.locator("main").inner_text()
    approver.shot("maker-checker-refused", full_page=False)
    assert recon_break(ops, break_id)["state"] == "correction_proposed"


def test_a_viewers_drain_is_403_and_an_operator_drains_and_resumes(stack, sign_in, ops):
    def drained() -> bool:
        rails = ops.call("GET", "payouts-api", "/rails").json()["data"]
        return next(r for r in rails if r["rail"] == DRAINED_RAIL)["drained"]

    assert not drained()
    viewer = sign_in(VIEWER)
    viewer.open("/rails")
    assert viewer.page.locator(f"#drain-{DRAINED_RAIL}").count() == 0
    assert viewer.open(f"/rails/{DRAINED_RAIL}/drain").status == 403
    posted = viewer.context.request.post(
        f"{stack.console_url}/rails/{DRAINED_RAIL}/drain",
        form={csrf.FIELD: token_for(stack, viewer, VIEWER), "reason": "viewer"},
        max_redirects=0,
    )
    assert posted.status == 403 and "does not allow" in posted.text()
    assert not drained()

    operator = sign_in(OPERATOR)
    operator.open("/rails")
    # A post without the form's token is refused before anything else.
    bare = operator.context.request.post(
        f"{stack.console_url}/rails/{DRAINED_RAIL}/drain", form={"reason": "no token"}, max_redirects=0
    )
    assert bare.status == 403 and not drained()
    try:
        operator.page.locator(f"#drain-{DRAINED_RAIL}").click()
        operator.page.wait_for_url(f"**/rails/{DRAINED_RAIL}/drain")
        operator.page.locator("#reason").fill("browser test: INC-42")
        operator.shot("rail-drain-reason", full_page=False)
        operator.page.locator("#confirm-change").click()
        operator.page.wait_for_url("**/rails?done=drained*")
        assert drained()
        card = operator.page.locator(f"#rail-{DRAINED_RAIL}")
        assert card.get_attribute("data-drained") == "true"
        assert "browser test: INC-42" in card.inner_text() and OPERATOR in card.inner_text()
        operator.shot("rails-drained")
    finally:
        operator.open(f"/rails/{DRAINED_RAIL}/resume")
        operator.page.locator("#reason").fill("browser test over")
        operator.page.locator("#confirm-change").click()
        operator.page.wait_for_url("**/rails?done=resumed*")
    assert not drained()
    assert operator.take_problems() == []


def test_the_rails_page_shows_each_instances_breaker(client, sign_in, ops):
    # An SE seller is paid through Adyen, a rail behind its circuit breaker: the transfer worker
    # publishes its breaker's snapshot.
    seller_id = f"se-console-{uuid.uuid4().hex[:8]}"
    onboard_and_fund(client, seller_id, "SE", 500_000, rail_accounts={"stripe": stripe_account_for("SE", 2)})
    assert settled(client, pay(client, seller_id, 100_000, "SEK"))["provider"] == "adyen"

    def adyen() -> dict[str, Any] | None:
        rails = ops.call("GET", "payouts-api", "/rails").json()["data"]
        found = next(r for r in rails if r["rail"] == "adyen")
        return found if found["instances"] else None

    api = eventually(adyen, timeout=30)
    session = sign_in(VIEWER)
    session.open("/rails")
    card = session.page.locator("#rail-adyen")
    rows = card.locator("table.instances tbody tr")
    assert rows.count() == len(api["instances"]) >= 1
    for instance in api["instances"]:
        row = card.locator("table.instances tbody tr", has_text=instance["instance"])
        assert row.locator("[data-state]").get_attribute("data-state") == instance["state"]
        assert f"{instance['error_rate'] * 100:.1f}" in row.inner_text()
    session.shot("rails-breakers")
    assert session.take_problems() == []


@pytest.fixture(autouse=True)
def _no_drain_left(ops) -> Iterator[None]:
    yield
    rails = ops.call("GET", "payouts-api", "/rails").json()["data"]
    assert not next(r for r in rails if r["rail"] == DRAINED_RAIL)["drained"], "a drain was left behind"
