# Metrics and alerts. The metrics are log-based: the functions write one structured line per
# event that matters (shared/monitoring.py: a status change, a provider call, a webhook, a
# sweep, a finished or overdue run; dead letters from shared/usecases/dead_letters.py), and
# Cloud Logging counts them. No exporter runs in the functions: an instance frozen between
# requests or stopped at any time loses nothing, and a metric costs nothing per instance.
# tests/infra/test_monitoring.py checks that every field read here is one the code writes,
# that every alert has its runbook (docs/runbooks/<alert>.md, embedded in the alert and linked)
# and notifies var.notification_channels.

locals {
  # Lines of our functions (2nd gen functions log as Cloud Run revisions).
  log_base_filter = "resource.type=\"cloud_run_revision\""

  # Each metric: the line it counts (event = jsonPayload.event, plus an optional filter), its
  # labels (jsonPayload fields), and for a distribution the field it measures.
  log_metrics = {
    payout_status_changes = {
      description = "Payout status changes (each status event published), by status, currency, rail and failure code."
      event       = "payout_status_changed"
      filter      = ""
      labels      = ["payout_status", "currency", "rail", "failure_code"]
      value_field = null
      unit        = "1"
    }
    payout_settle_seconds = {
      description = "Seconds from a payout's creation to its final state (paid, failed, returned, canceled)."
      event       = "payout_status_changed"
      filter      = "jsonPayload.settle_seconds>=0"
      labels      = ["payout_status", "currency", "rail"]
      value_field = "settle_seconds"
      unit        = "s"
    }
    stuck_payouts = {
      description = "Payouts the sweeper found open too long and could not resolve, per sweep (every 5 minutes)."
      event       = "payout_sweep"
      filter      = ""
      labels      = []
      value_field = "stuck_payouts"
      unit        = "1"
    }
    webhook_lag_seconds = {
      description = "Seconds between a provider event and its webhook reaching us."
      event       = "provider_webhook"
      filter      = "jsonPayload.outcome=\"accepted\""
      labels      = ["provider", "payout_status"]
      value_field = "webhook_lag_seconds"
      unit        = "s"
    }
    provider_webhooks = {
      description = "Provider webhooks, accepted or refused (bad signature, malformed)."
      event       = "provider_webhook"
      filter      = ""
      labels      = ["provider", "outcome"]
      value_field = null
      unit        = "1"
    }
    provider_calls = {
      description = "Calls to a provider's API by operation and outcome (ok, rejected, unavailable, unknown, error)."
      event       = "provider_call"
      filter      = ""
      labels      = ["provider", "operation", "outcome"]
      value_field = null
      unit        = "1"
    }
    provider_latency_ms = {
      description = "Latency of a provider's API calls."
      event       = "provider_call"
      filter      = ""
      labels      = ["provider", "operation"]
      value_field = "latency_ms"
      unit        = "ms"
    }
    run_duration_seconds = {
      description = "Seconds from a payout run's start to its completion (compare run_deadline_seconds)."
      event       = "run_completed"
      filter      = ""
      labels      = []
      value_field = "run_duration_seconds"
      unit        = "s"
    }
    runs_overdue = {
      description = "Payout runs still open past their deadline, reported by each sweep."
      event       = "run_overdue"
      filter      = ""
      labels      = ["run_id", "run_status"]
      value_field = null
      unit        = "1"
    }
    dead_letters = {
      description = "Messages recorded as dead letters (never applicable), by code."
      event       = null # shared/usecases/dead_letters.record_poison writes poison_code
      filter      = "jsonPayload.poison_code:*"
      labels      = ["poison_code"]
      value_field = null
      unit        = "1"
    }
    # Written by the reconciliation feature (to come): a break between our books and a
    # provider's or bank's statement, with whether a known cause explains it.
    reconciliation_breaks = {
      description = "Reconciliation breaks by class and whether a known cause explains them."
      event       = "reconciliation_break"
      filter      = ""
      labels      = ["break_class", "provider", "explained"]
      value_field = null
      unit        = "1"
    }
    # Written by run funding (to come): a run waits until the platform's balance at the
    # provider covers it.
    runs_awaiting_funding = {
      description = "Payout runs waiting for the platform's balance at a provider to cover them."
      event       = "run_awaiting_funding"
      filter      = ""
      labels      = ["run_id", "provider", "currency"]
      value_field = null
      unit        = "1"
    }
  }

  metric_prefix = "logging.googleapis.com/user/payouts"

  # Each alert: its runbook is docs/runbooks/<key>.md. Conditions are OR-ed.
  #   filter, aligner, reducer, group_by, comparison, threshold, duration; ratio conditions add
  #   denominator_filter (same aggregation).
  alerts = {
    "stuck-payouts" = {
      display_name = "Payouts stuck for 30 minutes"
      severity     = "CRITICAL"
      conditions = [{
        name               = "the sweeper finds stuck payouts in every sweep for 30 minutes"
        filter             = "metric.type=\"${local.metric_prefix}/stuck_payouts\" AND resource.type=\"cloud_run_revision\""
        denominator_filter = null
        aligner            = "ALIGN_PERCENTILE_99"
        reducer            = "REDUCE_MAX"
        group_by           = []
        alignment          = "600s"
        comparison         = "COMPARISON_GT"
        threshold          = 0
        duration           = "1800s"
      }]
    }
    "run-past-deadline" = {
      display_name = "A payout run is not complete by its deadline"
      severity     = "CRITICAL"
      conditions = [{
        name               = "a run is reported overdue"
        filter             = "metric.type=\"${local.metric_prefix}/runs_overdue\" AND resource.type=\"cloud_run_revision\""
        denominator_filter = null
        aligner            = "ALIGN_DELTA"
        reducer            = "REDUCE_SUM"
        group_by           = ["metric.label.run_id"]
        alignment          = "600s"
        comparison         = "COMPARISON_GT"
        threshold          = 0
        duration           = "0s"
      }]
    }
    "provider-error-rate" = {
      display_name = "A payment provider's error rate is high"
      severity     = "ERROR"
      conditions = [{
        name               = "failed calls / all calls per provider over 10 minutes"
        filter             = "metric.type=\"${local.metric_prefix}/provider_calls\" AND resource.type=\"cloud_run_revision\" AND metric.label.outcome=one_of(\"unavailable\", \"unknown\", \"error\")"
        denominator_filter = "metric.type=\"${local.metric_prefix}/provider_calls\" AND resource.type=\"cloud_run_revision\""
        aligner            = "ALIGN_DELTA"
        reducer            = "REDUCE_SUM"
        group_by           = ["metric.label.provider"]
        alignment          = "600s"
        comparison         = "COMPARISON_GT"
        threshold          = var.provider_error_rate_threshold
        duration           = "0s"
      }]
    }
    "dead-letters" = {
      display_name = "A dead-letter queue is not empty"
      severity     = "ERROR"
      conditions = [
        {
          name               = "messages wait on a Pub/Sub dead-letter subscription"
          filter             = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=ends_with(\"-dead-letter--hold\")"
          denominator_filter = null
          aligner            = "ALIGN_MAX"
          reducer            = "REDUCE_MAX"
          group_by           = ["resource.label.subscription_id"]
          alignment          = "300s"
          comparison         = "COMPARISON_GT"
          threshold          = 0
          duration           = "300s"
        },
        {
          name               = "a message was recorded as a dead letter"
          filter             = "metric.type=\"${local.metric_prefix}/dead_letters\" AND resource.type=\"cloud_run_revision\""
          denominator_filter = null
          aligner            = "ALIGN_DELTA"
          reducer            = "REDUCE_SUM"
          group_by           = ["metric.label.poison_code"]
          alignment          = "300s"
          comparison         = "COMPARISON_GT"
          threshold          = 0
          duration           = "0s"
        },
      ]
    }
    "reconciliation-break" = {
      display_name = "An unexplained reconciliation break"
      severity     = "ERROR"
      conditions = [{
        name               = "a break no known cause explains"
        filter             = "metric.type=\"${local.metric_prefix}/reconciliation_breaks\" AND resource.type=\"cloud_run_revision\" AND metric.label.explained=\"false\""
        denominator_filter = null
        aligner            = "ALIGN_DELTA"
        reducer            = "REDUCE_SUM"
        group_by           = ["metric.label.break_class", "metric.label.provider"]
        alignment          = "600s"
        comparison         = "COMPARISON_GT"
        threshold          = 0
        duration           = "0s"
      }]
    }
    "run-awaiting-funding" = {
      display_name = "A payout run is waiting for funding"
      severity     = "CRITICAL"
      conditions = [
        {
          name               = "a run waits for the platform's balance at a provider"
          filter             = "metric.type=\"${local.metric_prefix}/runs_awaiting_funding\" AND resource.type=\"cloud_run_revision\""
          denominator_filter = null
          aligner            = "ALIGN_DELTA"
          reducer            = "REDUCE_SUM"
          group_by           = ["metric.label.run_id", "metric.label.provider", "metric.label.currency"]
          alignment          = "600s"
          comparison         = "COMPARISON_GT"
          threshold          = 0
          duration           = "0s"
        },
        {
          name               = "a provider refused payouts for insufficient platform funds"
          filter             = "metric.type=\"${local.metric_prefix}/payout_status_changes\" AND resource.type=\"cloud_run_revision\" AND metric.label.failure_code=\"insufficient_platform_funds\""
          denominator_filter = null
          aligner            = "ALIGN_DELTA"
          reducer            = "REDUCE_SUM"
          group_by           = ["metric.label.rail", "metric.label.currency"]
          alignment          = "600s"
          comparison         = "COMPARISON_GT"
          threshold          = 0
          duration           = "0s"
        },
      ]
    }
  }
}

resource "google_logging_metric" "metric" {
  for_each    = local.log_metrics
  name        = "payouts/${each.key}"
  description = each.value.description
  filter = join(" AND ", compact([
    local.log_base_filter,
    each.value.event == null ? "" : "jsonPayload.event=\"${each.value.event}\"",
    each.value.filter,
  ]))

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = each.value.value_field == null ? "INT64" : "DISTRIBUTION"
    unit        = each.value.unit

    dynamic "labels" {
      for_each = toset(each.value.labels)
      content {
        key        = labels.value
        value_type = "STRING"
      }
    }
  }

  label_extractors = { for label in each.value.labels : label => "EXTRACT(jsonPayload.${label})" }
  value_extractor  = each.value.value_field == null ? null : "EXTRACT(jsonPayload.${each.value.value_field})"

  dynamic "bucket_options" {
    for_each = each.value.value_field == null ? [] : [each.value.value_field]
    content {
      exponential_buckets {
        num_finite_buckets = 40
        growth_factor      = 1.6
        scale              = 0.01
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "alert" {
  for_each              = local.alerts
  display_name          = each.value.display_name
  severity              = each.value.severity
  combiner              = "OR"
  notification_channels = var.notification_channels

  documentation {
    # The runbook itself, in the notification; and a link to read it in full.
    content   = file("${path.module}/../docs/runbooks/${each.key}.md")
    mime_type = "text/markdown"

    links {
      display_name = "Runbook: ${each.key}"
      url          = "${var.runbook_base_url}/${each.key}.md"
    }
  }

  dynamic "conditions" {
    for_each = each.value.conditions
    content {
      display_name = conditions.value.name

      condition_threshold {
        filter             = conditions.value.filter
        denominator_filter = conditions.value.denominator_filter
        comparison         = conditions.value.comparison
        threshold_value    = conditions.value.threshold
        duration           = conditions.value.duration

        aggregations {
          alignment_period     = conditions.value.alignment
          per_series_aligner   = conditions.value.aligner
          cross_series_reducer = conditions.value.reducer
          group_by_fields      = conditions.value.group_by
        }

        dynamic "denominator_aggregations" {
          for_each = conditions.value.denominator_filter == null ? [] : [conditions.value]
          content {
            alignment_period     = denominator_aggregations.value.alignment
            per_series_aligner   = denominator_aggregations.value.aligner
            cross_series_reducer = denominator_aggregations.value.reducer
            group_by_fields      = denominator_aggregations.value.group_by
          }
        }

        trigger {
          count = 1
        }
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_logging_metric.metric]
}
