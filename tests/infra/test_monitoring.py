"""Metrics and alerts (infra/monitoring.tf) agree with the code and the runbooks: every field a
log-based metric reads is one the code writes, every alert has its runbook (embedded in the
alert and linked from it) and notifies the notification channel variable, and the alerts the
on-call needs exist."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from tests.infra import codefacts, tfmodel

infra = tfmodel.load()
METRICS: dict[str, dict[str, Any]] = infra.locals["log_metrics"]
ALERTS: dict[str, dict[str, Any]] = infra.locals["alerts"]
RUNBOOKS = tfmodel.ROOT / "docs" / "runbooks"
MONITORING = tfmodel.ROOT / "shared" / "monitoring.py"
USER_METRIC = "${local.metric_prefix}/"
# Cloud Monitoring's own metrics an alert may use besides ours.
BUILT_IN_METRICS = {"pubsub.googleapis.com/subscription/num_undelivered_messages"}
# Metric lines whose emitters come with later features; the metric and its alert are defined
# now so the on-call is ready. Remove an entry when its feature writes the line.
PENDING_EMITTERS: dict[str, str] = {}


def _module_constants() -> dict[str, str]:
    tree = ast.parse(MONITORING.read_text())
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def emitted_fields() -> dict[str | None, set[str]]:
    """Fields the deployed code writes on metric lines: per ``emit(EVENT, ..., field=...)`` event,
    and (under None) the keys of every ``extra={"fields": {...}}`` written without an event."""
    constants = _module_constants()
    found: dict[str | None, set[str]] = {}
    for path in codefacts.DEPLOYED_CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "emit" and node.args:
                first = node.args[0]
                event = constants.get(first.id) if isinstance(first, ast.Name) else None
                event = event or (first.value if isinstance(first, ast.Constant) else None)
                assert event, f"{path.name}:{node.lineno}: emit() of an event not named by a constant"
                keys = {kw.arg for kw in node.keywords if kw.arg and kw.arg != "level"}
                found.setdefault(event, set()).update(keys | {"event"})
            for kw in node.keywords:
                if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
                    for key, value in zip(kw.value.keys, kw.value.values, strict=True):
                        if (
                            isinstance(key, ast.Constant)
                            and key.value == "fields"
                            and isinstance(value, ast.Dict)
                        ):
                            names = {k.value for k in value.keys if isinstance(k, ast.Constant)}
                            found.setdefault(None, set()).update(names)
    return found


def fields_read(metric: dict[str, Any]) -> set[str]:
    fields = set(metric["labels"]) | set(re.findall(r"jsonPayload\.(\w+)", metric["filter"]))
    if metric["value_field"]:
        fields.add(metric["value_field"])
    return fields


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_field_a_metric_reads_is_written_by_the_code(name):
    metric = METRICS[name]
    event = metric["event"]
    emitted = emitted_fields()
    if event in PENDING_EMITTERS:
        assert event in _module_constants().values(), (
            f"name the pending event {event} in shared/monitoring.py"
        )
        return
    if event is None:
        assert fields_read(metric) <= emitted[None], f"{name}: {sorted(fields_read(metric) - emitted[None])}"
        return
    assert event in emitted, f"{name}: no code emits event {event!r}"
    missing = fields_read(metric) - emitted[event]
    assert not missing, f"{name}: the code never writes {sorted(missing)} on {event} lines"


def test_pending_emitters_are_really_pending():
    emitted = emitted_fields()
    for event, why in PENDING_EMITTERS.items():
        assert event not in emitted, f"{event} is written now ({why}): remove it from PENDING_EMITTERS"
        assert any(m["event"] == event for m in METRICS.values()), f"no metric counts {event}"


def test_the_metric_resource_filters_and_extracts_as_the_checks_assume():
    resource = infra.resource("google_logging_metric", "metric")
    assert resource["for_each"] == "${local.log_metrics}"
    assert 'jsonPayload.event=\\"${each.value.event}\\"' in resource["filter"]
    assert "local.log_base_filter" in resource["filter"] and "each.value.filter" in resource["filter"]
    assert infra.locals["log_base_filter"] == 'resource.type="cloud_run_revision"'
    assert "EXTRACT(jsonPayload.${label})" in resource["label_extractors"]
    assert "EXTRACT(jsonPayload.${each.value.value_field})" in resource["value_extractor"]


def test_the_metrics_the_issue_asks_for_exist():
    wanted = {
        "payouts by status, currency and rail": (
            "payout_status_changes",
            {"payout_status", "currency", "rail"},
        ),
        "time from creation to settlement": ("payout_settle_seconds", {"settle_seconds"}),
        "stuck payouts": ("stuck_payouts", {"stuck_payouts"}),
        "webhook lag": ("webhook_lag_seconds", {"webhook_lag_seconds"}),
        "provider errors": ("provider_calls", {"outcome", "provider"}),
        "provider latency": ("provider_latency_ms", {"latency_ms"}),
        "run duration": ("run_duration_seconds", {"run_duration_seconds"}),
        "runs past their deadline": ("runs_overdue", {"run_id"}),
        "dead letters": ("dead_letters", {"poison_code"}),
        "reconciliation breaks": ("reconciliation_breaks", {"break_class", "explained"}),
    }
    for what, (name, fields) in wanted.items():
        assert name in METRICS, what
        assert fields <= fields_read(METRICS[name]), what


# ---- alerts --------------------------------------------------------------------------------------


def test_every_alert_has_a_runbook_and_every_runbook_an_alert():
    runbooks = {p.stem for p in RUNBOOKS.glob("*.md")}
    assert set(ALERTS) == runbooks, (
        f"alerts without runbook: {set(ALERTS) - runbooks}; runbooks without alert: {runbooks - set(ALERTS)}"
    )
    for name in ALERTS:
        text = (RUNBOOKS / f"{name}.md").read_text()
        assert text.startswith("# Runbook"), name
        assert f"`{name}`" in text, f"{name}.md names its alert"
        # Embedded as the alert's documentation: Cloud Monitoring takes at most 10,240 bytes.
        assert len(text.encode()) < 10240, name
        assert "## First checks" in text and "## Actions" in text, name


def test_the_alert_embeds_and_links_its_runbook_and_notifies_the_channel_variable():
    policy = infra.resource("google_monitoring_alert_policy", "alert")
    assert policy["for_each"] == "${local.alerts}"
    doc = policy["documentation"][0]
    assert doc["content"] == '${file("${path.module}/../docs/runbooks/${each.key}.md")}'
    assert doc["mime_type"] == "text/markdown"
    assert doc["links"][0]["url"] == "${var.runbook_base_url}/${each.key}.md"
    assert policy["notification_channels"] == "${var.notification_channels}"
    assert infra.variables["notification_channels"]["type"] == "${list(string)}"
    for tfvars in sorted((tfmodel.INFRA / "environments").glob("*.tfvars")):
        assert tfmodel.load_tfvars(tfvars).get("notification_channels"), f"{tfvars.name} names no channel"
    assert not [
        name for name, body in infra.of_type("google_monitoring_alert_policy").items() if name != "alert"
    ], "alert policies are declared in local.alerts, so each gets its runbook and channels"


def metric_of(condition_filter: str) -> str:
    found = re.search(r'metric\.type="([^"]+)"', condition_filter)
    assert found, condition_filter
    return found.group(1)


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_alert_conditions_watch_metrics_that_exist(name):
    for condition in ALERTS[name]["conditions"]:
        for key in ("filter", "denominator_filter"):
            if condition[key] is None:
                continue
            metric = metric_of(condition[key])
            if metric.startswith(USER_METRIC):
                assert metric.removeprefix(USER_METRIC) in METRICS, f"{name}: no log metric {metric}"
            else:
                assert metric in BUILT_IN_METRICS, f"{name}: {metric}"
        assert condition["comparison"] == "COMPARISON_GT"
        for label in re.findall(
            r"metric\.label\.(\w+)", condition["filter"] + " ".join(condition["group_by"])
        ):
            user = metric_of(condition["filter"]).removeprefix(USER_METRIC)
            assert label in METRICS[user]["labels"], f"{name}: {user} has no label {label}"


def _only(name: str) -> dict[str, Any]:
    (condition,) = ALERTS[name]["conditions"]
    return condition


def test_stuck_payouts_above_zero_for_30_minutes():
    c = _only("stuck-payouts")
    assert metric_of(c["filter"]).endswith("/stuck_payouts")
    assert (c["threshold"], c["duration"]) == (0, "1800s")


def test_a_run_not_complete_by_its_deadline():
    c = _only("run-past-deadline")
    assert metric_of(c["filter"]).endswith("/runs_overdue") and c["threshold"] == 0
    assert "RUN_DEADLINE_SECONDS" in infra.functions["payout-sweeper"]["settings"]


def test_a_providers_error_rate_above_a_threshold():
    c = _only("provider-error-rate")
    assert metric_of(c["filter"]) == metric_of(c["denominator_filter"])
    assert "metric.label.outcome=" in c["filter"] and "outcome" not in c["denominator_filter"]
    assert c["threshold"] == "${var.provider_error_rate_threshold}"
    assert c["group_by"] == ["metric.label.provider"]


def test_a_dead_letter_queue_not_empty():
    conditions = ALERTS["dead-letters"]["conditions"]
    pubsub = next(c for c in conditions if "num_undelivered_messages" in c["filter"])
    # The hold subscriptions of pubsub.tf: "<dead_letter_topic>--hold", topics "...-dead-letter".
    assert (
        'ends_with(\\"-dead-letter--hold\\")' in pubsub["filter"]
        or 'ends_with("-dead-letter--hold")' in pubsub["filter"]
    )
    hold = infra.resource("google_pubsub_subscription", "dead_letter")
    assert hold["name"] == "${each.value.dead_letter_topic}--hold"
    assert all(
        s["dead_letter_topic"].endswith("-dead-letter") for s in infra.locals["subscriptions"].values()
    )
    assert any(metric_of(c["filter"]).endswith("/dead_letters") for c in conditions)


def test_an_unexplained_reconciliation_break():
    c = _only("reconciliation-break")
    assert metric_of(c["filter"]).endswith("/reconciliation_breaks")
    assert 'metric.label.explained="false"' in c["filter"]


def test_a_run_awaiting_funding():
    filters = [c["filter"] for c in ALERTS["run-awaiting-funding"]["conditions"]]
    assert any(metric_of(f).endswith("/runs_awaiting_funding") for f in filters)
    assert any('failure_code="insufficient_platform_funds"' in f for f in filters)


def test_every_function_may_write_its_traces():
    grant = infra.resource("google_project_iam_member", "function_trace_agent")
    assert grant["for_each"] == "${local.functions}" and grant["role"] == "roles/cloudtrace.agent"
    base = infra.locals["env_groups"]["base"]
    assert base["TRACE_EXPORTER"] == "gcp"
