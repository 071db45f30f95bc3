"""The console's sellers, providers and reconciliation pages through Flask's test client, on the
in-memory store and fakes: roles, CSRF, confirmation, maker-checker shown, escaping, no inline
script. (tests/browser drives them in Chromium against the stack.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from functions import console as console_function
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.domain.reconciliation import BreakState, RailStatus
from shared.entrypoints.console import csrf
from shared.settings import get_settings
from shared.usecases.reconciliation import ReconciliationService
from tests.fakes.console import FakeConsoleReads
from tests.fakes.rail_controls import FakeRailControls
from tests.unit.test_console_app import AUDIENCE, KEY, Tags, signed_in
from tests.unit.usecases.conftest import NOW, RULES, make_world
from tests.unit.usecases.test_reconciliation import FakeRailRecords, sent

OPS, RO, CHECKER = "ops@example.com", "ro@example.com", "checker@example.com"
EVIL = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
POSTINGS = "platform:payouts 7.77 EUR\nplatform:commission -7.77 EUR"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
    jwk.update({"kid": "k", "alg": "ES256"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    roles = {OPS: ["operator"], RO: ["viewer"], CHECKER: ["approver"]}
    env = {
        "CONSOLE_IAP_AUDIENCE": AUDIENCE,
        "CONSOLE_IAP_JWKS_FILE": str(tmp_path / "jwks.json"),
        "CONSOLE_ROLES": json.dumps(roles),
        "CONSOLE_CSRF_SECRET": "unit-test-secret",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    world = make_world()
    world.seller("s-evil", display_name=EVIL, payout_hold={"held": True, "reason": EVIL})
    world.fund("s-evil", 5000)
    records = FakeRailRecords()
    recon = ReconciliationService(
        world.store, records, relay=lambda events: len(events), clock=lambda: NOW + timedelta(hours=1)
    )
    paid = sent(world, "s-ok", 1000, "key-0000000a")
    records.transfer(paid.payout_id, 1000)
    records.transfer(f"po_{EVIL}", 777, RailStatus.PAID)
    recon.reconcile_day("sandbox", NOW.date(), actor="scheduler")
    (brk,) = world.store.t.breaks.values()
    reads, controls = FakeConsoleReads(world.store), FakeRailControls()
    deps = console_function.deps
    monkeypatch.setattr(deps, "payout_service", lambda: world.svc)
    monkeypatch.setattr(deps, "console_reads", lambda: reads)
    monkeypatch.setattr(deps, "reconciliation_service", lambda: recon)
    monkeypatch.setattr(deps, "rail_controls", lambda: controls)
    monkeypatch.setattr(deps, "country_rules", lambda: RULES)
    client = console_function.app.test_client()
    try:
        yield type(
            "App",
            (),
            {
                "client": client,
                "world": world,
                "reads": reads,
                "controls": controls,
                "break_id": brk.break_id,
            },
        )
    finally:
        get_settings.cache_clear()


def page(app: Any, path: str, email: str = RO) -> Any:
    return app.client.get(path, headers={**signed_in(email), "Accept": "text/html"})


def post(app: Any, path: str, email: str, data: dict[str, str], token: str | bool | None = True) -> Any:
    """Post as ``email``: with their valid CSRF token (True), none (None), or the one given."""
    page(app, "/rails", email)  # the CSRF cookie
    if token is True:
        token = csrf.token("unit-test-secret", email, app.client.get_cookie(csrf.COOKIE).value)
    form = dict(data) if token is None else {**data, csrf.FIELD: token}
    return app.client.post(path, data=form, headers={**signed_in(email), "Accept": "text/html"})


def no_inline_script(html: str) -> None:
    tags = Tags()
    tags.feed(html)
    assert not [a for _, attrs in tags.found for a, _ in attrs if a.startswith("on") or a == "style"]
    assert [t for t, _ in tags.found].count("script") == 1


def test_every_new_page_renders_escaped_with_no_inline_script(app):
    rail = load_rail_capabilities().rails()[0]
    pages = [
        "/sellers",
        "/sellers?q=s-",
        "/sellers/s-evil",
        "/rails",
        "/reconciliation",
        "/reconciliation?rail=sandbox",
        f"/reconciliation/reports/sandbox-{NOW.date().isoformat()}",
        "/reconciliation/breaks",
        "/reconciliation/breaks?rail=sandbox&class=unknown_to_us&state=open",
        f"/reconciliation/breaks/{app.break_id}",
    ]
    for path in pages:
        response = page(app, path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        no_inline_script(html)
        assert "<script>alert" not in html and "<img src=x" not in html, path
    seller = page(app, "/sellers/s-evil").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in seller
    assert seller.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 1
    stored = app.world.store.t.sellers["s-evil"]
    assert stored.bank_account.masked in seller
    assert "&lt;script&gt;" in page(app, f"/reconciliation/breaks/{app.break_id}").get_data(as_text=True)
    assert page(app, f"/rails/{rail}/drain", OPS).status_code == 200


def test_unknown_things_are_404_and_bad_filters_are_said(app):
    for path in ("/sellers/nobody", "/reconciliation/breaks/brk_none", "/reconciliation/reports/x"):
        assert page(app, path).status_code == 404, path
    assert page(app, "/rails/nope/drain", OPS).status_code == 404
    listing = page(app, "/reconciliation/breaks?state=bogus&page_token=%%%").get_data(as_text=True)
    assert "unknown state" in listing


def test_a_viewer_may_not_drain_and_an_operator_drains_through_a_confirmation(app):
    rail = load_rail_capabilities().rails()[0]
    assert page(app, "/rails").get_data(as_text=True).count("Drain…") == 0
    assert page(app, f"/rails/{rail}/drain", RO).status_code == 403
    assert post(app, f"/rails/{rail}/drain", RO, {"reason": "x"}).status_code == 403
    assert app.controls.all() == []
    assert post(app, f"/rails/{rail}/drain", OPS, {"reason": "x"}, token=None).status_code == 403
    assert post(app, f"/rails/{rail}/drain", OPS, {"reason": "x"}, token="forged.00").status_code == 403
    assert post(app, f"/rails/{rail}/drain", OPS, {"reason": " "}).status_code == 422
    assert app.controls.all() == []
    done = post(app, f"/rails/{rail}/drain", OPS, {"reason": "INC-42"})
    assert done.status_code == 303 and "done=drained" in done.headers["Location"]
    (control,) = app.controls.all()
    assert (control.rail, control.drained, control.actor, control.reason) == (rail, True, OPS, "INC-42")
    assert f'id="resume-{rail}"' in page(app, "/rails", OPS).get_data(as_text=True)
    assert [(a["action"], a["actor"], a["outcome"]) for a in app.reads.actions] == [
        ("drain_rail", OPS, "refused"),
        ("drain_rail", OPS, "done"),
    ]


def test_maker_checker_through_the_pages(app):
    base = f"/reconciliation/breaks/{app.break_id}"
    viewer_page = page(app, base).get_data(as_text=True)
    assert 'id="acknowledge"' not in viewer_page and 'id="propose"' not in viewer_page
    assert post(app, base + "/acknowledge", RO, {"note": "x"}).status_code == 403
    assert post(app, base + "/acknowledge", OPS, {"note": "seen"}, token=None).status_code == 403
    assert post(app, base + "/acknowledge", OPS, {"note": "seen"}).status_code == 303
    assert post(app, base + "/propose", OPS, {"reason": "r", "postings": "nonsense"}).status_code == 422
    proposed = post(app, base + "/propose", OPS, {"reason": "money left", "postings": POSTINGS})
    assert proposed.status_code == 303 and proposed.headers["Location"].endswith("done=propose")
    # The operator may not approve at all (role); the approver sees a confirmation first.
    assert page(app, base + "/approve", OPS).status_code == 403
    assert post(app, base + "/approve", OPS, {"note": ""}).status_code == 403
    confirm = page(app, base + "/approve", CHECKER).get_data(as_text=True)
    assert "moves money" in confirm and 'id="confirm-approve"' in confirm
    done = post(app, base + "/approve", CHECKER, {"note": "checked"})
    assert done.status_code == 303
    assert app.world.store.t.breaks[app.break_id].state is BreakState.CORRECTED
    shown = page(app, base).get_data(as_text=True)
    assert re.search(r"correction_approved</td><td class=\"actor\">checker@example.com", shown)
    actions = [(a["action"], a["actor"], a["outcome"]) for a in app.reads.actions]
    assert actions == [
        ("acknowledge_break", RO, "refused"),
        ("acknowledge_break", OPS, "done"),
        ("propose_break", OPS, "done"),
        ("approve_break", OPS, "refused"),
        ("approve_break", CHECKER, "done"),
    ]


def test_the_proposers_own_approval_is_refused_by_the_use_case_and_shown(app):
    base = f"/reconciliation/breaks/{app.break_id}"
    assert post(app, base + "/propose", CHECKER, {"reason": "r", "postings": POSTINGS}).status_code == 303
    mine = page(app, base, CHECKER).get_data(as_text=True)
    assert 'id="maker-checker"' in mine and 'id="approve"' not in mine
    refused = post(app, base + "/approve", CHECKER, {"note": ""})
    assert refused.status_code == 409
    assert "maker-checker" in refused.get_data(as_text=True)
    assert "same_maker_and_checker" in refused.get_data(as_text=True)
    assert app.world.store.t.breaks[app.break_id].state is BreakState.CORRECTION_PROPOSED
    rejected = post(app, base + "/reject", CHECKER, {"note": "second thoughts"})
    assert rejected.status_code == 303
    assert app.world.store.t.breaks[app.break_id].state is BreakState.OPEN


def test_a_run_held_for_funding_shows_its_shortfall_and_then_its_release(app):
    from shared.usecases import payout_runs as runs
    from tests.fakes.outside import FakeFundingBalances
    from tests.unit.usecases.test_runs import drain

    world = app.world
    world.svc.funding = FakeFundingBalances()
    world.svc.funding.fund("sandbox", "EUR", 1)
    world.seller("s-run", n=7)
    world.fund("s-run", 5000)
    run_id = runs.start_run(
        world.svc, NOW.date(), dry_run=False, requested_by="t", now=NOW
    ).progress.run.run_id
    drain(world)
    html = page(app, f"/runs/{run_id}").get_data(as_text=True)
    no_inline_script(html)
    assert 'id="funding" data-state="awaiting_funding"' in html and "waiting since" in html
    assert 'data-rail="sandbox" data-currency="EUR" data-shortfall="' in html
    world.svc.funding.fund("sandbox", "EUR", 10**9)
    runs.complete_runs(world.svc, now=NOW + timedelta(minutes=5))
    released = page(app, f"/runs/{run_id}").get_data(as_text=True)
    assert 'id="funding" data-state="released"' in released and "waiting since" not in released
