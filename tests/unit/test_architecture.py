"""The layers keep to their places: the domain and the use cases import no cloud client, domain
errors carry no HTTP status, and the one table in the HTTP layer maps them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from shared.domain import errors, payouts, runs
from shared.domain.errors import DomainError
from shared.entrypoints.http import DOMAIN_ERROR_STATUS, domain_error, status_of
from shared.usecases import order_events as order_event_cases
from shared.usecases import payouts as payout_cases
from shared.usecases import sellers as seller_cases

ROOT = Path(__file__).resolve().parents[2]
INNER = [
    *sorted((ROOT / "shared" / "domain").rglob("*.py")),
    *sorted((ROOT / "shared" / "usecases").rglob("*.py")),
]


def imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", INNER, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_domain_and_the_use_cases_import_no_cloud_client_and_no_adapter(path):
    names = imported(path)
    assert not {n for n in names if n.startswith(("google", "grpc", "flask", "functions_framework"))}
    allowed = {"shared.adapters.providers.base"}  # the provider interface, re-exported by the ports
    assert not {n for n in names if n.startswith(("shared.adapters", "shared.entrypoints"))} - allowed


def test_the_use_cases_name_no_collection_and_build_no_document():
    source = "\n".join(p.read_text() for p in (ROOT / "shared" / "usecases").rglob("*.py"))
    for collection in (
        "payout_runs",
        "idempotency_keys",
        "provider_events",
        'order_events"',
        "balance_shards",
    ):
        assert f'"{collection.strip(chr(34))}"' not in source


def test_domain_errors_carry_no_http_status():
    for module in (errors, payouts, runs, payout_cases, seller_cases, order_event_cases):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, DomainError):
                assert not hasattr(value, "http_status"), value


def test_an_adapter_error_is_not_a_domain_error():
    from shared.adapters.firestore import UnknownDocument

    assert not issubclass(UnknownDocument, DomainError)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (seller_cases.SellerNotFound("s"), 404),
        (payout_cases.PayoutNotFound("p"), 404),
        (runs.RunNotFound("r"), 404),
        (payouts.IllegalTransition(payouts.PayoutStatus.PAID, payouts.PayoutStatus.CANCELED), 409),
        (payouts.PayoutAlreadySent("p"), 409),
        (order_event_cases.EventConflict("e"), 409),
        (payout_cases.IdempotencyConflict(), 422),
        (payout_cases.PayoutRefused("below_minimum", "too small", "amount.amount"), 422),
        (
            runs.RunDateNotBegun(
                __import__("datetime").date(2030, 1, 1), __import__("datetime").date(2026, 1, 1)
            ),
            422,
        ),
        (errors.InvalidAmount("bad", "amount"), 422),
    ],
)
def test_one_table_maps_each_domain_error_to_its_status_and_the_error_shape(error, status):
    assert status_of(error) == status
    http = domain_error(error)
    assert (http.status, http.code) == (status, error.code)
    assert http.details == [{"field": error.field or "$", "reason": error.message}]


def test_every_status_in_the_table_is_a_client_error():
    assert all(400 <= s < 500 for s in DOMAIN_ERROR_STATUS.values())


def test_importing_main_loads_no_function_until_it_is_asked_for():
    import subprocess

    code = (
        "import sys, main\n"
        "assert not [m for m in sys.modules if m.startswith('functions.')], 'imported eagerly'\n"
        "main.sellers_api\n"
        "assert 'functions.sellers' in sys.modules and 'functions.payouts' not in sys.modules\n"
        "assert 'google.cloud.tasks_v2' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
