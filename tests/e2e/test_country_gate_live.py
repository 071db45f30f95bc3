"""The country gate's live part (issue 17) on the running stack, for a new country of issue 17
(SE): synthetic sellers onboarded, funded in SEK and on the euro storefront, paid by a dry run
and a live run through the route's first rail (adyen), then through each further rail (stripe,
sandbox) on demand with the rails before it drained, and the ledger zero per currency with FX;
the command prints GO and exits 0. A no-go of the static part never starts the live part."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PORT_OFFSET
from tests.support.commands import run_module

pytestmark = pytest.mark.e2e


def test_the_live_gate_pays_a_new_countrys_synthetic_sellers_through_each_rail(stack):
    result = run_module(
        "tools.country_gate",
        "SE",
        "--live",
        "--use-running",
        "--port-offset",
        PORT_OFFSET,
        "--json",
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (verdict,) = json.loads(result.stdout)
    assert verdict["go"] is True
    live = {c["name"]: c for c in verdict["checks"] if c["name"].startswith("live: ")}
    assert set(live) == {
        "live: onboard synthetic sellers",
        "live: fund through order events",
        "live: dry run",
        "live: run through adyen",
        "live: on demand through stripe",
        "live: on demand through sandbox",
        "live: ledger zero per currency, FX included",
    }
    assert all(c["status"] == "ok" for c in live.values()), live
    assert "paid through stripe" in live["live: on demand through stripe"]["detail"]


def test_a_static_no_go_never_starts_the_live_part(stack, tmp_path):
    entry = json.loads((stack.root / "shared/domain/data/countries.json").read_text())["countries"]
    jp = next(e for e in entry if e["country"] == "JP")
    bad = tmp_path / "jp.json"
    bad.write_text(json.dumps({**jp, "rails": ["adyen", *jp["rails"]]}))
    result = run_module("tools.country_gate", bad, "--live", "--use-running", "--port-offset", PORT_OFFSET)
    assert result.returncode == 1 and "NO-GO" in result.stdout
    assert "live: " not in result.stdout
