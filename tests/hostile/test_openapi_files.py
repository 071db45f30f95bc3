"""The OpenAPI files in shared/openapi/ are what tools/openapi.py writes, and every one loads."""

from __future__ import annotations

import json

import pytest
import schemathesis

from tools import openapi

DOCUMENTS = openapi.documents()


def test_one_file_per_http_function() -> None:
    assert sorted(p.stem for p in openapi.OUT_DIR.glob("*.json")) == sorted(DOCUMENTS)
    assert sorted(DOCUMENTS) == sorted(
        [
            "sellers-api",
            "payouts-api",
            "order-events-webhook",
            "provider-webhook",
            "reconciliation-api",
            "run-shard-worker",
            "transfer-worker",
        ]
    )


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_committed_file_is_generated(name: str) -> None:
    committed = (openapi.OUT_DIR / f"{name}.json").read_text()
    assert committed == openapi.render(DOCUMENTS[name]), (
        f"shared/openapi/{name}.json is stale: run .venv/bin/python -m tools.openapi"
    )


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_file_loads_and_documents_errors(name: str) -> None:
    raw = json.loads((openapi.OUT_DIR / f"{name}.json").read_text())
    schema = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    assert raw["components"]["securitySchemes"]
    for operation in operations:
        responses = operation.definition.raw["responses"]
        errors = [status for status in responses if status.startswith(("4", "5"))]
        assert errors, f"{operation.label} documents no error"
        for status in errors:
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error"


def test_check_mode_reports_nothing_stale() -> None:
    assert openapi.main(["--check"]) == 0
