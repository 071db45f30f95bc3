"""The rails' published contracts, checked at run time: a body is valid only if it matches the
vendor's own schema.

``shared/contracts/`` holds Adyen's OpenAPI documents and Stripe's example objects, copied
unchanged from the vendors' repositories (licences beside them; ``tests/unit/test_contracts.py``
checks the copies against ``../shared/specs`` when that is present). The Adyen adapter validates
every answer and webhook against the OpenAPI schemas (JSON Schema 2020-12, as OpenAPI 3.1 is);
Stripe publishes no schema small enough to ship, so its objects are checked against the keys
and value types of its fixtures (``stripe_shape_errors``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
ADYEN_TRANSFERS = "adyen/TransferService-v4.json"
ADYEN_TRANSFER_WEBHOOKS = "adyen/BalancePlatformTransferNotification-v4.json"
ADYEN_BALANCE_PLATFORM = "adyen/BalancePlatformService-v2.json"
STRIPE_FIXTURES = "stripe/fixtures3.json"

_lock = threading.Lock()


@cache
def document(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONTRACTS / name).read_text("utf-8"))
    return data


@cache
def _registry(name: str) -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(document(name), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(f"urn:contract:{name}", resource)
    return registry


@cache
def _validator(name: str, pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:contract:{name}#{pointer}"}, registry=_registry(name))


def field_path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "$"


def schema_errors(name: str, schema: str, instance: Any) -> list[tuple[str, str]]:
    """Violations of ``#/components/schemas/<schema>`` of contract ``name``: (field path, message),
    deepest first so the path names the offending field."""
    with _lock:  # building a validator the first time is not thread-safe in referencing's cache
        validator = _validator(name, f"/components/schemas/{schema}")
    errors = sorted(validator.iter_errors(instance), key=lambda e: -len(e.absolute_path))
    return [(field_path(e), e.message[:300]) for e in errors]


def operation_schema(name: str, path: str, method: str, status: str) -> str | None:
    """The component schema an operation answers with for an HTTP status (None if undocumented)."""
    op = document(name)["paths"][path][method]
    response = op["responses"].get(status)
    if response is None:
        return None
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1] or None


def request_schema(name: str, path: str, method: str) -> str:
    op = document(name)["paths"][path][method]
    ref: str = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def webhook_examples(event_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Adyen's own examples of a webhook (name, body), resolved from the notification spec."""
    spec = document(ADYEN_TRANSFER_WEBHOOKS)
    content = spec["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]
    for name, ref in content.get("examples", {}).items():
        target = ref["$ref"].rsplit("/", 1)[-1]
        yield name, spec["components"]["examples"][target]["value"]


# --- Stripe: objects shaped like its fixtures -------------------------------------------------


def stripe_fixture(kind: str) -> dict[str, Any]:
    fixture: dict[str, Any] = document(STRIPE_FIXTURES)["resources"][kind]
    return fixture


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", dict: "object", list: "array", float: "number"}.get(type(value), "other")


def stripe_shape_errors(kind: str, obj: Any, *, prefix: str = "") -> list[tuple[str, str]]:
    """Where ``obj`` differs from the shape of Stripe's fixture of ``kind``: a missing or extra
    key, or a value of another type (a fixture's null admits anything, as the fixtures leave
    optional fields null). Nested objects are compared the same way."""
    return _shape(stripe_fixture(kind), obj, prefix)


def stripe_event_errors(event: Any) -> list[tuple[str, str]]:
    """Where an event differs from Stripe's event fixture, its ``data.object`` left to the
    object's own check (a Connect event also names its ``account``)."""
    if not isinstance(event, dict):
        return [("$", "expected object")]
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return [("data.object", "expected object")]
    if not set(data) <= {"object", "previous_attributes"}:
        return [("data", "unexpected keys")]
    top = {k: v for k, v in event.items() if k != "account"}
    return _shape({**stripe_fixture("event"), "data": None}, {**top, "data": None}, "")


def _shape(fixture: Any, obj: Any, path: str) -> list[tuple[str, str]]:
    if fixture is None:
        return []
    if not isinstance(fixture, dict):
        if _kind(fixture) != _kind(obj) and not (_kind(fixture) == "number" and _kind(obj) == "integer"):
            return [(path or "$", f"expected {_kind(fixture)}, got {_kind(obj)}")]
        return []
    if not isinstance(obj, dict):
        return [(path or "$", f"expected object, got {_kind(obj)}")]
    errors: list[tuple[str, str]] = []
    for key in fixture.keys() - obj.keys():
        errors.append((_join(path, key), "missing"))
    for key in obj.keys() - fixture.keys():
        if key != "metadata" and path.split(".")[-1] != "metadata":
            errors.append((_join(path, key), "not in Stripe's object"))
    for key in fixture.keys() & obj.keys():
        if key == "metadata":
            if not isinstance(obj[key], dict) or not all(isinstance(v, str) for v in obj[key].values()):
                errors.append((_join(path, key), "metadata must map strings to strings"))
            continue
        if isinstance(fixture[key], dict) and fixture[key].get("object") == "list":
            if not isinstance(obj[key], dict) or not isinstance(obj[key].get("data"), list):
                errors.append((_join(path, key), "expected a list object"))
            continue
        errors.extend(_shape(fixture[key], obj[key], _join(path, key)))
    return errors


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
