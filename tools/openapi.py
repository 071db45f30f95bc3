"""Write the OpenAPI 3.1 description of every HTTP function to ``shared/openapi/<function>.json``.

Request bodies come from the pydantic models the functions validate with (``model_json_schema``),
so a model change shows up as a diff here; ``tests/hostile/test_openapi_files.py`` checks that the
committed files are what this script writes. ``--check`` exits 1 when they differ.

    .venv/bin/python -m tools.openapi [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from functions.payouts import IdempotencyKey, ListQuery, PayoutRequest, RailChange, RunRequest
from functions.workers import ShardTask, TransferTask
from shared.adapters.providers.sandbox import SIGNATURE_HEADER as SANDBOX_SIGNATURE_HEADER
from shared.adapters.providers.sandbox import SandboxWebhook
from shared.domain.eligibility import SkipReason
from shared.domain.order_events import ORDER_EVENT
from shared.domain.payouts import PayoutStatus
from shared.domain.sellers import SellerIn, SellerPatch
from shared.domain.validation import Identifier, ResourceId
from shared.entrypoints.signing import HEADER as ORDER_SIGNATURE_HEADER

OUT_DIR = Path(__file__).resolve().parent.parent / "shared" / "openapi"
REF = "#/components/schemas/{model}"
JSON = "application/json"

Schema = dict[str, Any]

ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "Every error has this shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["validation_failed"]},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "reason"],
                        "properties": {
                            "field": {"type": "string", "examples": ["bank_account.iban"]},
                            "reason": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        }
    },
}

_ERRORS: dict[int, str] = {
    400: "Malformed JSON (not JSON, a duplicate key, nested too deep: `details` names the path), "
    "or a required header is missing.",
    401: "Missing, malformed, expired, misaddressed or badly signed credentials.",
    403: "The caller is authenticated but not allowed (or a seller-scoped caller out of scope).",
    404: "No such resource (or route).",
    405: "Method not allowed on this path.",
    409: "Conflict with the resource's current state.",
    413: "The body is over the size cap (64 KiB).",
    422: "The request is well-formed but not valid (a path id that can never be valid included); "
    "`details` names each field.",
    503: "A temporary failure: retry later (never a bare 500).",
}

OIDC_SECURITY = {
    "oidc": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Google-signed OIDC ID token (RS256) whose audience is the function's URL and "
        "whose verified email is one of the function's OIDC_ALLOWED_EMAILS.",
    }
}


def _hmac_security(header: str, who: str) -> Schema:
    return {
        "hmac": {
            "type": "apiKey",
            "in": "header",
            "name": header,
            "description": f'{who}: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "{{t}}.{{raw body}}">`. '
            "Refused when t is more than 5 minutes away from now; two secrets may be active (rotation).",
        }
    }


class _Components:
    """Collects schemas under components/schemas, refusing two different schemas of one name."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {"Error": ERROR_SCHEMA}

    def add(self, name: str, schema: Schema) -> Schema:
        schema = dict(schema)
        for def_name, definition in schema.pop("$defs", {}).items():
            self._put(def_name, definition)
        self._put(name, schema)
        return {"$ref": REF.format(model=name)}

    def model(self, model: type[BaseModel]) -> Schema:
        return self.add(model.__name__, model.model_json_schema(ref_template=REF))

    def _put(self, name: str, schema: Schema) -> None:
        if self.schemas.get(name, schema) != schema:
            raise ValueError(f"two different schemas named {name}")
        self.schemas[name] = schema


def _json_body(schema: Schema, description: str = "") -> Schema:
    body: Schema = {"required": True, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def _responses(ok: dict[int, tuple[str, Schema]], errors: list[int]) -> Schema:
    out: Schema = {}
    for status, (description, schema) in sorted(ok.items()):
        out[str(status)] = {"description": description, "content": {JSON: {"schema": schema}}}
    for status in sorted(errors):
        out[str(status)] = {
            "description": _ERRORS[status],
            "content": {JSON: {"schema": {"$ref": REF.format(model="Error")}}},
        }
    return out


def _statement_responses(description: str, schema: Schema, errors: list[int]) -> Schema:
    """A statement answers JSON (a page) or, with ``Accept: text/csv``, the whole statement as CSV."""
    out = _responses({200: (description, schema)}, errors)
    out["200"]["content"]["text/csv"] = {
        "schema": {"type": "string"},
        "example": "row_type,date,...\r\n (UTF-8 with a BOM, every cell quoted, amounts in major units)",
    }
    return out


STATEMENT_PAGE_PARAMS: list[Schema] = [
    {"name": "page_token", "in": "query", "required": False, "schema": {"type": "string"}},
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
    },
]


def _path_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _query_param(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _document(
    title: str, description: str, paths: Schema, components: _Components, security: Schema
) -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description},
        "servers": [{"url": "/", "description": "the function's own URL (Cloud Run / functions-framework)"}],
        "security": [{name: []} for name in security],
        "paths": paths,
        "components": {"schemas": dict(sorted(components.schemas.items())), "securitySchemes": security},
    }


IDENTIFIER: Schema = TypeAdapter[str](Identifier).json_schema()
RESOURCE_ID: Schema = TypeAdapter[str](ResourceId).json_schema()
OBJECT: Schema = {"type": "object"}
OIDC_ERRORS = [401, 403, 413]


def sellers_api() -> Schema:
    c = _Components()
    seller_id = _path_param("seller_id", IDENTIFIER, "The seller's id (any other string answers 422).")
    view = {"type": "object", "description": "The seller, bank account masked, with its balances."}
    common = [*OIDC_ERRORS, 404, 422]
    paths = {
        "/sellers/{seller_id}": {
            "parameters": [seller_id],
            "put": {
                "operationId": "putSeller",
                "summary": "Create (201) or replace (200) a seller.",
                "requestBody": _json_body(c.model(SellerIn)),
                "responses": _responses(
                    {200: ("Replaced.", view), 201: ("Created.", view)}, [*common, 400, 409]
                ),
            },
            "patch": {
                "operationId": "patchSeller",
                "summary": "Change some of a seller's fields; country and currency never change.",
                "requestBody": _json_body(c.model(SellerPatch)),
                "responses": _responses({200: ("Updated.", view)}, [*common, 400, 409]),
            },
            "get": {
                "operationId": "getSeller",
                "summary": "The seller with its bank account masked and its balances.",
                "responses": _responses({200: ("The seller.", view)}, common),
            },
        },
        "/sellers/{seller_id}/statement": {
            "parameters": [seller_id],
            "get": {
                "operationId": "getSellerStatement",
                "summary": "Opening balance per currency and bucket, every movement with its order line, "
                "kind and amount, the payouts created in the range with their status, and the closing "
                "balance (equal to the stored balance when the range reaches today). From and to are "
                "the seller's local dates, both included, at most 366 days apart. JSON pages the "
                "movements by cursor; CSV (Accept: text/csv) is the whole statement.",
                "parameters": [
                    {
                        "name": "from",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "date"},
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "date"},
                    },
                    *STATEMENT_PAGE_PARAMS,
                ],
                "responses": _statement_responses(
                    "The statement (a page of movements).", OBJECT, [*common, 400]
                ),
            },
        },
    }
    return _document("sellers-api", "Seller onboarding (OIDC).", paths, c, OIDC_SECURITY)


def payouts_api() -> Schema:
    c = _Components()
    payout = {"type": "object", "description": "A payout with its history."}
    page = {
        "type": "object",
        "required": ["data", "next_page_token"],
        "properties": {
            "data": {"type": "array", "items": OBJECT},
            "next_page_token": {"type": ["string", "null"]},
        },
    }
    idempotency_key = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": "Same key and body replay the first response; same key, other body: 422.",
        "schema": TypeAdapter[str](IdempotencyKey).json_schema(),
    }
    list_query = ListQuery.model_json_schema(ref_template=REF)
    for name, definition in list_query.pop("$defs", {}).items():
        c._put(name, definition)
    status_schema = c.add("PayoutStatus", TypeAdapter(PayoutStatus).json_schema())
    skip_schema = c.add("SkipReason", TypeAdapter(SkipReason).json_schema())
    list_params = []
    for name, prop in list_query["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
        list_params.append(_query_param(name, status_schema if name == "status" else prop))
    payout_id = _path_param("payout_id", RESOURCE_ID, "The payout's id (any other string answers 422).")
    run_id = _path_param("run_id", RESOURCE_ID, "`run-YYYY-MM-DD` (any other shape of id answers 422).")
    rail = _path_param("rail", {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"}, "A rail's name.")
    paths = {
        "/payouts": {
            "post": {
                "operationId": "createPayout",
                "summary": "Pay a seller an amount now (at most its available balance).",
                "parameters": [idempotency_key],
                "requestBody": _json_body(c.model(PayoutRequest)),
                "responses": _responses(
                    {200: ("Replayed.", payout), 201: ("Created.", payout)},
                    [*OIDC_ERRORS, 400, 404, 409, 422],
                ),
            },
            "get": {
                "operationId": "listPayouts",
                "summary": "Payouts, newest first, cursor-paginated.",
                "parameters": list_params,
                "responses": _responses({200: ("A page of payouts.", page)}, [*OIDC_ERRORS, 400, 422]),
            },
        },
        "/payouts/{payout_id}": {
            "parameters": [payout_id],
            "get": {
                "operationId": "getPayout",
                "responses": _responses({200: ("The payout.", payout)}, [*OIDC_ERRORS, 404, 422]),
            },
        },
        "/payouts/{payout_id}/cancel": {
            "parameters": [payout_id],
            "post": {
                "operationId": "cancelPayout",
                "summary": "Cancel a pending payout not yet sent (409 otherwise).",
                "responses": _responses({200: ("Canceled.", payout)}, [*OIDC_ERRORS, 404, 409, 422]),
            },
        },
        "/payouts/{payout_id}/statement": {
            "parameters": [payout_id],
            "get": {
                "operationId": "getPayoutStatement",
                "summary": "What the payout pays for, line by line (sales, commissions, refunds, debts "
                "carried, parts paid earlier or left for later); the lines sum to its amount. A "
                "seller-scoped caller gets 404 for another seller's payout.",
                "parameters": STATEMENT_PAGE_PARAMS,
                "responses": _statement_responses(
                    "The payout's contents (a page of lines).", OBJECT, [*OIDC_ERRORS, 400, 404, 422]
                ),
            },
        },
        "/runs": {
            "post": {
                "operationId": "startRun",
                "summary": "Start the payout run of a date (once).",
                "requestBody": _json_body(c.model(RunRequest)),
                "responses": _responses(
                    {200: ("The run already existed.", OBJECT), 202: ("A new run is under way.", OBJECT)},
                    [*OIDC_ERRORS, 400, 422],
                ),
            }
        },
        "/runs/{run_id}": {
            "parameters": [run_id],
            "get": {
                "operationId": "getRun",
                "summary": "Progress: pages, payouts by status, amounts, skip reasons.",
                "responses": _responses({200: ("The run.", OBJECT)}, [*OIDC_ERRORS, 404, 422]),
            },
        },
        "/runs/{run_id}/items": {
            "parameters": [run_id],
            "get": {
                "operationId": "listRunItems",
                "summary": "Each seller's outcome in a run, by seller id.",
                "parameters": [
                    _query_param("skip_reason", skip_schema),
                    _query_param("seller_id", IDENTIFIER),
                    _query_param("page_token", {"type": "string"}),
                ],
                "responses": _responses({200: ("A page of items.", page)}, [*OIDC_ERRORS, 404, 422]),
            },
        },
        "/rails": {
            "get": {
                "operationId": "listRails",
                "summary": "Each rail: drained or not (who, when, why), each instance's breaker, its routes.",
                "responses": _responses({200: ("The rails.", OBJECT)}, [*OIDC_ERRORS]),
            }
        },
        **{
            f"/rails/{{rail}}/{verb}": {
                "parameters": [rail],
                "post": {
                    "operationId": f"{verb}Rail",
                    "summary": summary,
                    "requestBody": _json_body(c.model(RailChange)),
                    "responses": _responses({200: ("The rail.", OBJECT)}, [*OIDC_ERRORS, 400, 404, 422]),
                },
            }
            for verb, summary in (
                (
                    "drain",
                    "Drain a rail: new payouts go to the next rail of their route; in-flight ones finish.",
                ),
                ("resume", "Resume a drained rail: new payouts may go to it again."),
            )
        },
    }
    return _document("payouts-api", "On-demand payouts, payouts and runs (OIDC).", paths, c, OIDC_SECURITY)


def order_events_webhook() -> Schema:
    c = _Components()
    result = {"type": "object", "description": "The outcome: applied or parked (202), duplicate (200)."}
    paths = {
        "/": {
            "post": {
                "operationId": "postOrderEvent",
                "summary": "Apply one order event, signed by the order service.",
                "requestBody": _json_body(c.add("OrderEvent", ORDER_EVENT.json_schema(ref_template=REF))),
                "responses": _responses(
                    {200: ("A duplicate delivery.", result), 202: ("Applied or parked.", result)},
                    [400, 401, 405, 409, 413, 422],
                ),
            }
        }
    }
    security = _hmac_security(ORDER_SIGNATURE_HEADER, "The order service's signature")
    return _document("order-events-webhook", "Order events over HTTP (HMAC).", paths, c, security)


def provider_webhook() -> Schema:
    c = _Components()
    paths = {
        "/{provider}": {
            "parameters": [_path_param("provider", {"enum": ["sandbox"]}, "The provider's name.")],
            "post": {
                "operationId": "postProviderEvent",
                "summary": "A transfer's new state, from the payment provider. A signed body that breaks "
                "this schema is a 400 invalid_webhook naming each field; nothing is written.",
                "requestBody": _json_body(c.model(SandboxWebhook)),
                "responses": _responses(
                    {200: ("Applied, ignored or an unknown payout: stop retrying.", OBJECT)},
                    [400, 401, 404, 405, 409, 413, 422],
                ),
            },
        }
    }
    security = _hmac_security(SANDBOX_SIGNATURE_HEADER, "The provider's signature")
    return _document("provider-webhook", "Payment provider webhooks (public, HMAC).", paths, c, security)


def reconciliation_api() -> Schema:
    from functions.reconciliation import BreakQuery, NoteRequest, ProposeRequest, ReconcileRequest
    from shared.entrypoints.dac7_http import Dac7FileRequest

    c = _Components()
    report = {"type": "object", "description": "A reconciliation report: counts and totals per class."}
    brk = {"type": "object", "description": "A break, with both sides' data and its history."}
    page = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"type": "array", "items": OBJECT},
            "next_page_token": {"type": ["string", "null"]},
        },
    }
    dac7 = {"type": "object", "description": "The year's DAC7 report, masked (TINs, accounts)."}
    queries = BreakQuery.model_json_schema(ref_template=REF)
    for name, definition in queries.pop("$defs", {}).items():
        c._put(name, definition)
    break_params = [
        _query_param(name, {k: v for k, v in prop.items() if k not in ("title", "default")})
        for name, prop in queries["properties"].items()
    ]
    report_params = [p for p in break_params if p["name"] in ("rail", "limit")]
    made_id = _path_param("{}", RESOURCE_ID, "")
    report_id = made_id | {"name": "report_id", "description": "`<rail>-<day>` or a window's id."}
    break_id = made_id | {"name": "break_id", "description": "A break's id (`brk_…`)."}
    year = _path_param("year", {"type": "string", "pattern": "^[0-9]{4}$"}, "A calendar year, 2023 on.")
    common = [*OIDC_ERRORS, 400, 422]
    bodies: dict[str, type[BaseModel]] = {"propose": ProposeRequest}
    paths = {
        "/reconciliations": {
            "post": {
                "operationId": "reconcileWindow",
                "summary": "Reconcile a rail over a window (at most 31 days, not in the future), now.",
                "requestBody": _json_body(c.model(ReconcileRequest)),
                "responses": _responses({201: ("The report.", report)}, common),
            },
            "get": {
                "operationId": "listReports",
                "summary": "Reports, newest window first.",
                "parameters": report_params,
                "responses": _responses({200: ("Reports.", page)}, common),
            },
        },
        "/reconciliations/{report_id}": {
            "parameters": [report_id],
            "get": {
                "operationId": "getReport",
                "responses": _responses({200: ("The report.", report)}, [*common, 404]),
            },
        },
        "/reconciliation-breaks": {
            "get": {
                "operationId": "listBreaks",
                "summary": "Breaks, newest first, filtered by rail, state and class.",
                "parameters": break_params,
                "responses": _responses({200: ("A page of breaks.", page)}, common),
            }
        },
        "/reconciliation-breaks/{break_id}": {
            "parameters": [break_id],
            "get": {
                "operationId": "getBreak",
                "responses": _responses({200: ("The break.", brk)}, [*common, 404]),
            },
        },
        **{
            f"/reconciliation-breaks/{{break_id}}/{action}": {
                "parameters": [break_id],
                "post": {
                    "operationId": f"{action}Break",
                    "summary": summary,
                    "requestBody": _json_body(c.model(bodies.get(action, NoteRequest))),
                    "responses": _responses({200: ("The break.", brk)}, [*common, 404, 409]),
                },
            }
            for action, summary in (
                ("acknowledge", "Acknowledge a break with a note."),
                ("propose", "Propose a correction: a balanced journal entry with a reason."),
                ("approve", "Approve the proposed correction (not by its proposer), which posts it."),
                ("reject", "Reject the proposed correction."),
            )
        },
        "/dac7-reports/{year}": {
            "parameters": [year],
            "get": {
                "operationId": "previewDac7Report",
                "summary": "The year's DAC7 report as it stands: reportable sellers (masked), exclusions "
                "and their reasons, what is missing.",
                "responses": _responses({200: ("The report.", dac7)}, common),
            },
        },
        "/dac7-reports": {
            "post": {
                "operationId": "writeDac7File",
                "summary": "Write the year's DPI file, checked against the schema, to the tax-reports "
                "bucket; answered with the report and the file's name, size and hash (never its data).",
                "requestBody": _json_body(c.model(Dac7FileRequest)),
                "responses": _responses({201: ("Written.", dac7)}, common),
            }
        },
    }
    return _document(
        "reconciliation-api",
        "Reconciliation and the DAC7 report (OIDC; ops and finance only).",
        paths,
        c,
        OIDC_SECURITY,
    )


def _worker(name: str, model: type[BaseModel], what: str) -> Schema:
    c = _Components()
    result = {"type": "object", "required": ["result"], "properties": {"result": {}}}
    paths = {
        "/": {
            "post": {
                "operationId": name.replace("-", "_"),
                "summary": f"{what}. A body that can never be valid is dropped with 200 (no retry).",
                "requestBody": _json_body(c.model(model)),
                "responses": {
                    **_responses(
                        {200: ("Done, or dropped for good.", result)}, [*OIDC_ERRORS, 404, 405, 409]
                    ),
                    "503": {
                        "description": "Retry later (the queue retries).",
                        "content": {JSON: {"schema": {"$ref": REF.format(model="Error")}}},
                    },
                },
            }
        }
    }
    return _document(name, f"Cloud Tasks target (OIDC, tasks invoker): {what}.", paths, c, OIDC_SECURITY)


def documents() -> dict[str, Schema]:
    return {
        "sellers-api": sellers_api(),
        "payouts-api": payouts_api(),
        "order-events-webhook": order_events_webhook(),
        "provider-webhook": provider_webhook(),
        "reconciliation-api": reconciliation_api(),
        "run-shard-worker": _worker("run-shard-worker", ShardTask, "Process one page of a payout run"),
        "transfer-worker": _worker("transfer-worker", TransferTask, "Send one payout to its provider"),
    }


def render(document: Schema) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, document in documents().items():
        path = OUT_DIR / f"{name}.json"
        text = render(document)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
