"""What the code says about itself, read from the code (imports and its syntax tree).

The infrastructure checks compare these facts with infra/. Anything the code cannot tell by
itself (which function may enqueue, publish or call the provider) is in CAPABILITIES below,
worked out by reading the use cases each entry point calls; each entry says where.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared import topology

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED_CODE = (
    ROOT / "main.py",
    *sorted((ROOT / "shared").rglob("*.py")),
    *sorted((ROOT / "functions").glob("*.py")),
)


@dataclass(frozen=True)
class Capabilities:
    """What one deployed function does besides reading and writing Firestore."""

    enqueues: frozenset[str] = frozenset()  # task-triggered functions it creates tasks for
    publishes: bool = False  # publishes payout events (relays the outbox)
    provider_api: bool = False  # calls the payment provider's API (SANDBOX_URL, SANDBOX_API_KEY)
    secrets: frozenset[str] = frozenset()  # secret environment variables it reads
    settings: frozenset[str] = frozenset()  # tuning settings it reads
    bank_files: bool = False  # the SEPA bank-file rail: its buckets and the debtor account
    notes: str = ""


# Read from the code: entry point -> use case -> adapters. PayoutService.after_commit enqueues
# transfers and relays the outbox; apply_state and cancel relay; start_run and process_page
# enqueue shard pages; send_transfer and sweep call the provider.
CAPABILITIES: dict[str, Capabilities] = {
    "sellers-api": Capabilities(notes="shared.usecases.sellers: Firestore only"),
    "order-events-webhook": Capabilities(
        secrets=frozenset({"ORDER_WEBHOOK_SECRETS"}),
        notes="functions.order_events._handle_webhook: signing.verify, then ingest_order_event",
    ),
    "order-events": Capabilities(notes="ingest_order_event: Firestore only"),
    "release-funds": Capabilities(
        settings=frozenset({"RELEASE_BATCH_SIZE"}), notes="release_due_funds: Firestore only"
    ),
    "payouts-api": Capabilities(
        enqueues=frozenset({"run-shard-worker", "transfer-worker"}),
        publishes=True,
        settings=frozenset({"RUN_BUCKETS"}),
        notes="POST /payouts: request_payout -> after_commit; cancel -> relay; POST /runs: start_run",
    ),
    "payout-runs": Capabilities(
        enqueues=frozenset({"run-shard-worker"}),
        settings=frozenset({"RUN_BUCKETS"}),
        notes="start_run: creates the run, enqueues the first page of every bucket",
    ),
    "run-shard-worker": Capabilities(
        enqueues=frozenset({"run-shard-worker", "transfer-worker"}),
        publishes=True,
        provider_api=True,  # the last page's funding check reads each rail's balance
        secrets=frozenset({"SANDBOX_API_KEY", "ADYEN_API_KEY", "STRIPE_SECRET_KEY"}),
        settings=frozenset({"RUN_PAGE_SIZE"}),
        bank_files=True,  # ... and the bank's last statement with the files written since
        notes="process_page: enqueues the next page, creates payouts; the last page's "
        "check_run_funding reads the rails' balances and releases the transfers (after_commit)",
    ),
    "transfer-worker": Capabilities(
        enqueues=frozenset({"remittance-worker"}),  # relay: a payout.paid event's follow-up
        publishes=True,
        provider_api=True,
        secrets=frozenset({"SANDBOX_API_KEY", "ADYEN_API_KEY", "STRIPE_SECRET_KEY"}),
        settings=frozenset({"SENDER_CLAIM_SECONDS"}),
        bank_files=True,
        notes="send_transfer: provider create/fetch_transfer (sandbox, adyen, stripe), apply_state -> relay; "
        "RouteSender's claim (SENDER_CLAIM_SECONDS); sepa_file: queue_for_file (SEPA_DEBTOR_IBAN)",
    ),
    "provider-webhook": Capabilities(
        enqueues=frozenset({"remittance-worker"}),  # relay: a payout.paid event's follow-up
        publishes=True,
        secrets=frozenset({"SANDBOX_WEBHOOK_SECRETS", "ADYEN_HMAC_KEYS", "STRIPE_WEBHOOK_SECRETS"}),
        notes="apply_provider_event -> apply_state -> relay; parse_webhook checks the signature",
    ),
    "payout-sweeper": Capabilities(
        enqueues=frozenset({"transfer-worker", "remittance-worker"}),
        publishes=True,
        provider_api=True,
        secrets=frozenset({"SANDBOX_API_KEY", "ADYEN_API_KEY", "STRIPE_SECRET_KEY"}),
        settings=frozenset(
            {
                "STUCK_AFTER_SECONDS",
                "RETURN_CHECK_AFTER_SECONDS",
                "RETURN_WATCH_DAYS",
                "RUN_DEADLINE_SECONDS",
                "BANK_ANSWER_BUSINESS_DAYS",
            }
        ),
        bank_files=True,
        notes="sweep: provider fetch_transfer (stuck payouts, return watch), after_commit (re-enqueue), "
        "relay; complete_runs: relay; monitoring.report_overdue_runs: RUN_DEADLINE_SECONDS; "
        "BankFileWriter: pain.001 files to the outbound bucket, apply_state -> relay",
    ),
    "console": Capabilities(
        publishes=True,
        secrets=frozenset({"CONSOLE_CSRF_SECRET"}),
        settings=frozenset({"RUN_DEADLINE_SECONDS"}),
        notes="console_views: reads; cancel_payout -> PayoutService.cancel -> relay; CSRF tokens; "
        "runs against RUN_DEADLINE_SECONDS; console_rails: drain/resume -> rail_ops.set_drained; "
        "console_reconciliation: break actions -> ReconciliationService (no provider call: it never "
        "runs a reconciliation); console_sellers: reads",
    ),
    "reconciliation-api": Capabilities(
        publishes=True,
        provider_api=True,
        secrets=frozenset({"SANDBOX_API_KEY", "ADYEN_API_KEY", "STRIPE_SECRET_KEY"}),
        settings=frozenset({"RECONCILED_RAILS", "DAC7_PLATFORM_OPERATOR", "TAX_REPORTS_BUCKET"}),
        bank_files=True,
        notes="ReconciliationService: the rails' records (SandboxRecords, AdyenRecords, StripeRecords, "
        "BankStatementRecords: camt.053 in the inbound bucket), relay of break events; "
        "Dac7Reporting: the yearly DAC7 file to the tax-reports bucket",
    ),
    "reconciliation": Capabilities(
        publishes=True,
        provider_api=True,
        secrets=frozenset({"SANDBOX_API_KEY", "ADYEN_API_KEY", "STRIPE_SECRET_KEY"}),
        settings=frozenset({"RECONCILED_RAILS"}),
        bank_files=True,
        notes="reconcile_yesterday: the rails' records (SandboxRecords, AdyenRecords, StripeRecords, "
        "BankStatementRecords: camt.053 in the inbound bucket), relay of break events",
    ),
    "bank-files-inbound": Capabilities(
        enqueues=frozenset({"remittance-worker"}),  # relay: a payout.paid event's follow-up
        publishes=True,
        bank_files=True,
        notes="BankReportIntake: reads the bank's file from the inbound bucket, apply_state -> relay",
    ),
    "remittance-worker": Capabilities(
        publishes=True,
        settings=frozenset({"DOCUMENTS_BUCKET", "MARKETPLACE_NAME"}),
        notes="issue_remittance: renders the PDF, Cloud Storage put-if-absent, relay payout.remittance_ready",
    ),
}


def entry_point(spec: topology.FunctionSpec) -> object:
    import main

    return getattr(main, spec.entry_point, None)


def signature_type(spec: topology.FunctionSpec) -> str | None:
    """What functions-framework serves the entry point as: it looks its decorator up by the
    entry point's name (FUNCTION_TARGET), and falls back to the platform's FUNCTION_SIGNATURE_TYPE
    (http for a function deployed without an event trigger)."""
    from functions_framework import _function_registry

    entry_point(spec)  # imports its module, whose decorators register it
    found = _function_registry.REGISTRY_MAP.get(spec.entry_point)
    return str(found) if found else None


def verifies_oidc(spec: topology.FunctionSpec) -> bool:
    """Whether the entry point checks the caller's ID token: an HTTP function through
    shared.entrypoints.http.serve(..., require_oidc=...), a CloudEvent function through
    shared.entrypoints.pubsub_auth.require_push_caller(...), usually by way of shared.entrypoints.pubsub_trigger
    (start_trigger or open_message)."""
    fn = entry_point(spec)
    assert callable(fn), spec.entry_point
    tree = ast.parse(inspect.getsource(inspect.unwrap(fn)).lstrip())
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id in ("require_push_caller", "start_trigger", "open_message"):
            return True
        if node.func.id == "serve":
            for kw in node.keywords:
                if kw.arg == "require_oidc":
                    assert isinstance(kw.value, ast.Constant), "require_oidc must be a literal"
                    return bool(kw.value.value)
            return True
    return False


def _constants(tree: ast.AST) -> dict[str, str]:
    """Module-level NAME = "string" constants of shared.topology."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    out[target.id] = node.value.value
    return out


TOPOLOGY_CONSTANTS = _constants(ast.parse((ROOT / "shared" / "topology.py").read_text()))


def _resolve(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return TOPOLOGY_CONSTANTS.get(node.id)
    if isinstance(node, ast.Attribute):
        return TOPOLOGY_CONSTANTS.get(node.attr)
    return None


def _calls(method: str) -> Iterator[tuple[Path, ast.Call]]:
    for path in DEPLOYED_CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == method
            ):
                yield path, node


def enqueue_targets() -> set[tuple[str, str]]:
    """(queue, function) of every ``<tasks>.enqueue(QUEUE, "function", ...)`` in the code."""
    found = set()
    for path, call in _calls("enqueue"):
        if len(call.args) < 2:
            continue
        queue, function = _resolve(call.args[0]), _resolve(call.args[1])
        assert queue and function, (
            f"{path.name}:{call.lineno}: enqueue with a queue or target not named literally"
        )
        found.add((queue, function))
    return found


def published_topics() -> set[str]:
    """Topics of every ``<publisher>.publish(TOPIC, ...)`` / ``publish_event(TOPIC, ...)`` in the code."""
    found = set()
    for path, call in [*_calls("publish"), *_calls("publish_event")]:
        if not call.args:
            continue
        topic = _resolve(call.args[0])
        if topic is None and isinstance(call.args[0], ast.Name) and call.args[0].id in ("path", "topic"):
            continue  # the adapter itself: publish(path, data, ...), publish(topic, ...)
        assert topic, f"{path.name}:{call.lineno}: publish to a topic not named literally"
        found.add(topic)
    return found


# --- Firestore queries -----------------------------------------------------------------------------

RANGE_OPS = {"<", "<=", ">", ">=", "!=", "not-in"}


@dataclass
class QuerySite:
    """The Firestore query pieces of one function of the deployed code."""

    where: str  # path::Qualified.name
    filters: list[tuple[str, str]] = field(default_factory=list)  # (field or "?", op)
    order_by: list[str] = field(default_factory=list)
    collection_group: bool = False
    strings: set[str] = field(default_factory=set)  # every string literal in the function

    @property
    def needs_review(self) -> bool:
        """Might need a composite index: ordering, a range, several filters, or a collection group."""
        return (
            bool(self.order_by)
            or self.collection_group
            or len(self.filters) > 1
            or any(op in RANGE_OPS or op == "in" for _, op in self.filters)
        )


def _qualified(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef]]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    yield f"{node.name}.{item.name}", item


def query_sites() -> dict[str, QuerySite]:
    sites: dict[str, QuerySite] = {}
    for path in DEPLOYED_CODE:
        tree = ast.parse(path.read_text())
        for name, fn in _qualified(tree):
            site = QuerySite(where=f"{path.relative_to(ROOT)}::{name}")
            ordering: list[tuple[int, int, str]] = []
            for node in ast.walk(fn):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    site.strings.add(node.value)
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if callee == "FieldFilter" and len(node.args) >= 2:
                    first, op = node.args[0], node.args[1]
                    fieldname = first.value if isinstance(first, ast.Constant) else "?"
                    operator = str(op.value) if isinstance(op, ast.Constant) else "?"
                    site.filters.append((str(fieldname), operator))
                elif callee == "order_by" and node.args:
                    first = node.args[0]  # its position orders chained calls as written
                    value = str(first.value) if isinstance(first, ast.Constant) else "?"
                    ordering.append((first.lineno, first.col_offset, value))
                elif callee == "collection_group":
                    site.collection_group = True
            site.order_by = [value for _, _, value in sorted(ordering)]
            if site.filters or site.order_by or site.collection_group:
                sites[site.where] = site
    return sites


# --- environment read outside the settings model ---------------------------------------------------


def direct_env_reads() -> set[str]:
    """Names read with os.environ.get / os.environ[...] / os.getenv in the deployed code; a name
    built at run time is reported by its literal prefix and a ``*`` (``FUNCTION_URL_*``)."""
    found: set[str] = set()
    for path in DEPLOYED_CODE:
        tree = ast.parse(path.read_text())
        constants = _constants(tree)
        for node in ast.walk(tree):
            arg: ast.expr | None = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                target = ast.unparse(node.func)
                if target in ("os.environ.get", "os.getenv", "environ.get"):
                    arg = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ"):
                arg = node.slice
            if arg is None:
                continue
            found.add(_env_name(arg, constants, tree) or f"{path.name}:{arg.lineno}:?")
    return found


def _env_name(arg: ast.expr, constants: dict[str, str], tree: ast.Module) -> str | None:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name):
        if arg.id in constants:
            return constants[arg.id]
        # A local built as "PREFIX" + ...: report the prefix.
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == arg.id for t in node.targets)
                and isinstance(node.value, ast.BinOp)
                and isinstance(node.value.left, ast.Constant)
                and isinstance(node.value.left.value, str)
            ):
                return f"{node.value.left.value}*"
    return None
