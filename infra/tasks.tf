# Cloud Tasks: the queues of shared/topology.py (QUEUES) and who may fill them.
#
# Every task is an HTTP POST to one of our functions with an ID token of the tasks-invoker
# account (shared/adapters/tasks.py). A worker answers 2xx when the work is done or can never
# be done, and 503 to be retried: the retry settings below decide when.

locals {
  queues = {
    # One task per page of sellers of a payout run. Few and heavy (each page creates up to
    # RUN_PAGE_SIZE payouts in Firestore transactions): a modest rate keeps Firestore and the
    # worker comfortable, and a run of 10,000 sellers (100 pages) still fans out in seconds.
    "payout-run-shards" = {
      max_dispatches_per_second = 5
      max_concurrent_dispatches = 8
      max_attempts              = 20
      min_backoff               = "10s"
      max_backoff               = "300s"
      max_doublings             = 5
      max_retry_duration        = "21600s" # 6 h, then ops sees the run stay fanned_out
    }
    # One task per payout sent to the provider. The rate stays under the provider's limit for
    # transfer creation (PSP APIs allow tens of requests per second; var sets ours), and the
    # backoff rides out provider incidents: 30 s doubling to 1 h, for up to a day. After that
    # the payout stays pending and the sweeper (STUCK_AFTER_SECONDS) asks the provider and
    # re-enqueues it, so an exhausted task never loses a payout.
    "payout-transfers" = {
      max_dispatches_per_second = var.transfer_dispatches_per_second
      max_concurrent_dispatches = var.transfer_max_concurrent
      max_attempts              = 50
      min_backoff               = "30s"
      max_backoff               = "3600s"
      max_doublings             = 7
      max_retry_duration        = "86400s"
    }
    # One task per paid payout: render its remittance advice (issue 18). A renderer or Cloud
    # Storage failure is retried for a day; the advice is a convenience, never money.
    "payout-documents" = {
      max_dispatches_per_second = 5
      max_concurrent_dispatches = 10
      max_attempts              = 30
      min_backoff               = "10s"
      max_backoff               = "1800s"
      max_doublings             = 6
      max_retry_duration        = "86400s"
    }
  }
}

resource "google_cloud_tasks_queue" "queue" {
  for_each = local.queues
  name     = each.key
  location = var.region

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    max_concurrent_dispatches = each.value.max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = each.value.max_attempts
    min_backoff        = each.value.min_backoff
    max_backoff        = each.value.max_backoff
    max_doublings      = each.value.max_doublings
    max_retry_duration = each.value.max_retry_duration
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}

# The identity every task presents to its worker (TASKS_INVOKER_EMAIL).
resource "google_service_account" "tasks_invoker" {
  account_id   = "tasks-invoker"
  display_name = "Cloud Tasks invoker"
  description  = "Identity of Cloud Tasks HTTP tasks; may invoke the task workers only."
}

# Functions that enqueue: roles/cloudtasks.enqueuer on the queues of their targets only, and the
# right to have tasks carry the invoker's token (iam.serviceAccounts.actAs on that account).
locals {
  enqueuer_grants = {
    for g in flatten([
      for name, f in local.functions : [
        for queue in distinct([for t in f.enqueues : local.task_queues[t]]) : {
          key      = "${name}/${queue}"
          function = name
          queue    = queue
        }
      ]
    ]) : g.key => g
  }
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.enqueuer_grants
  project  = var.project
  location = var.region
  name     = google_cloud_tasks_queue.queue[each.value.queue].name
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_service_account_iam_member" "enqueuer_acts_as_invoker" {
  for_each           = { for name, f in local.functions : name => f if length(f.enqueues) > 0 }
  service_account_id = google_service_account.tasks_invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function[each.key].email}"
}
