# Cloud Scheduler: the ticks that start the scheduled functions, each a Pub/Sub message on the
# function's topic. Delivery is at least once; every consumer is idempotent (a run is created
# once per date, a release or sweep of nothing changes nothing).

locals {
  schedules = {
    # The daily payout run. The body omits run_date, so the run is for today (UTC); a duplicate
    # message finds the run of that date already there.
    "payout-run-daily" = {
      topic       = "payout-runs"
      schedule    = var.payout_run_schedule
      description = "Start the payout run of the day (run_date omitted: today, UTC)."
    }
    # Release pending funds whose holding period is over.
    "release-funds-hourly" = {
      topic       = "release-funds-tick"
      schedule    = "0 * * * *"
      description = "Release pending funds whose holding period is over."
    }
    # Resolve stuck payouts, relay unpublished events, complete finished runs.
    "payout-sweeper-5min" = {
      topic       = "payout-sweeper-tick"
      schedule    = "*/5 * * * *"
      description = "Sweep stuck payouts, relay the outbox, complete finished runs."
    }
    # Reconcile every rail over yesterday (UTC), once the rails have booked it.
    "reconciliation-daily" = {
      topic       = "reconciliation-tick"
      schedule    = var.reconciliation_schedule
      description = "Reconcile the ledger with every rail's records of yesterday (UTC)."
    }
  }
}

resource "google_cloud_scheduler_job" "tick" {
  for_each    = local.schedules
  name        = each.key
  region      = var.region
  description = each.value.description
  schedule    = each.value.schedule
  time_zone   = "Etc/UTC"

  retry_config {
    retry_count = 0 # publishing is retried by Pub/Sub itself; the next tick comes anyway
  }

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.value.topic].id
    data       = base64encode("{}")
  }

  depends_on = [google_project_service.apis]
}
