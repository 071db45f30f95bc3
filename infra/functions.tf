# Every Cloud Function (2nd gen), driven by one map that mirrors shared/topology.py.
# tests/infra/ checks the two agree: names, entry points, triggers, what each function may do.
#
# Source: every function deploys the same archive of the repository root (main.py names the
# entry points, and the shared package travels with each). The archive leaves out what
# .gcloudignore leaves out; its object name is its hash, so a code change deploys everything.

locals {
  # One canonical URL per function: https://REGION-PROJECT.cloudfunctions.net/NAME. It is known
  # before the function exists (so a function can name itself), it is what Settings.function_url
  # defaults to, and it is the audience of every ID token sent to the function (Cloud Tasks,
  # Pub/Sub push, API callers), checked by the function itself against OIDC_AUDIENCE.
  function_urls = {
    for name, f in local.functions : name => "https://${var.region}-${var.project}.cloudfunctions.net/${name}"
  }

  # Cloud Tasks: the queue that carries the tasks of each task-triggered function
  # (shared.adapters.tasks.TaskQueue.enqueue(queue, function, ...) in the code).
  task_queues = {
    "run-shard-worker" = "payout-run-shards"
    "transfer-worker"  = "payout-transfers"
    "remittance-worker" = "payout-documents" # remittance advice (issue 18)
  }

  # Deadline Cloud Tasks gives a worker to answer (TASK_DISPATCH_DEADLINE_SECONDS, set on each
  # task by the code that enqueues it). Every worker's timeout is shorter, so a worker that
  # hangs is cut off before the task is retried and no two attempts overlap.
  task_dispatch_deadline_seconds = 120

  # Who may invoke what. Callers named as in local_stack/local_env.py ALLOWED_CALLERS.
  caller_members = {
    "ops"           = ["serviceAccount:${google_service_account.ops.email}"]
    "marketplace"   = ["serviceAccount:${var.marketplace_service_account}"]
    "order-service" = ["serviceAccount:${var.order_service_account}"]
    "tasks-invoker" = ["serviceAccount:${google_service_account.tasks_invoker.email}"]
    "pubsub-push"   = ["serviceAccount:${google_service_account.pubsub_push.email}"]
    "iap"           = ["serviceAccount:${local.iap_service_agent}"] # the console's load balancer (console.tf)
    # The people who check ops' reconciliation corrections (maker-checker: functions/reconciliation.py).
    "finance" = [for e in var.finance_emails : "user:${e}"]
    # Eventarc's trigger on the inbound bank-file bucket (bank_files.tf).
    "eventarc-trigger" = ["serviceAccount:${google_service_account.eventarc_trigger.email}"]
  }
  caller_emails = {
    "ops"           = [google_service_account.ops.email]
    "marketplace"   = [var.marketplace_service_account]
    "order-service" = [var.order_service_account]
    "tasks-invoker" = [google_service_account.tasks_invoker.email]
    "pubsub-push"   = [google_service_account.pubsub_push.email]
    "iap"           = [local.iap_service_agent]
    "finance"       = var.finance_emails
    # Eventarc's trigger on the inbound bank-file bucket (bank_files.tf).
    "eventarc-trigger" = [google_service_account.eventarc_trigger.email]
  }

  # Environment variables shared by groups of functions (shared/settings.py reads them).
  env_groups = {
    # Every function.
    base = {
      GOOGLE_CLOUD_PROJECT = var.project
      FUNCTION_REGION      = var.region
      PAYOUTS_ENV          = var.environment
      LOG_LEVEL            = var.log_level
      BALANCE_SHARDS       = tostring(var.balance_shards)
      # Spans to Cloud Trace (shared/tracing.py); every function needs roles/cloudtrace.agent.
      TRACE_EXPORTER     = "gcp"
      TRACE_SAMPLE_RATIO = tostring(var.trace_sample_ratio)
    }
    # Functions that enqueue Cloud Tasks (they also get FUNCTION_URL_<TARGET> per target).
    tasks = {
      TASKS_LOCATION                 = var.region
      TASKS_INVOKER_EMAIL            = google_service_account.tasks_invoker.email
      TASK_DISPATCH_DEADLINE_SECONDS = tostring(local.task_dispatch_deadline_seconds)
    }
    # Functions that call the payment provider's API (the key is a secret, see secrets.tf).
    provider_api = {
      SANDBOX_URL              = var.provider_api_url
      PROVIDER_TIMEOUT_SECONDS = tostring(var.provider_timeout_seconds)
      ADYEN_BALANCE_ACCOUNT_ID = var.adyen_balance_account_id
      ADYEN_ENVIRONMENT        = var.adyen_environment
    }
    # The SEPA bank-file rail (bank_files.tf): the buckets and the platform's debtor account, for
    # the functions that queue payouts for files (transfer-worker), write them (payout-sweeper),
    # read the bank's answers (bank-files-inbound) and its statements (reconciliation, -api).
    bank_files = {
      BANK_OUTBOUND_BUCKET = local.bank_file_buckets["outbound"]
      BANK_INBOUND_BUCKET  = local.bank_file_buckets["inbound"]
      SEPA_DEBTOR_NAME     = var.sepa_debtor_name
      SEPA_DEBTOR_IBAN     = var.sepa_debtor_iban
      SEPA_DEBTOR_BIC      = var.sepa_debtor_bic
    }
    # The console: who IAP's assertions are for (the backend service behind its load balancer,
    # console.tf), and who may do what in it.
    console = {
      CONSOLE_IAP_AUDIENCE = local.console_iap_audience
      CONSOLE_ROLES        = jsonencode(var.console_roles)
    }
  }

  # The functions. trigger: http (called directly), pubsub (push subscription from `topic`,
  # pubsub.tf), task (Cloud Tasks, queue in local.task_queues).
  #   timeout        seconds; shorter than the trigger's deadline (ack deadline, dispatch deadline)
  #   concurrency    requests per instance; THREADS is set to the same number
  #   verifies_oidc  the code checks the caller's ID token (shared.entrypoints.http.serve(require_oidc=True),
  #                  shared.entrypoints.pubsub_auth.require_push_caller for the Pub/Sub functions)
  #   callers        granted roles/run.invoker; with verifies_oidc, also OIDC_ALLOWED_EMAILS
  #   enqueues       task-triggered functions it creates tasks for
  #   publishes      publishes payout events (topic payout-events)
  #   secrets        keys of local.secrets it reads
  functions = {
    "sellers-api" = {
      entry_point   = "sellers_api"
      trigger       = "http"
      topic         = null
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 16
      max_instances = 20
      ingress       = "ALLOW_ALL"
      verifies_oidc = true
      callers       = ["ops", "marketplace"]
      public        = false
      env_groups    = ["base"]
      enqueues      = []
      publishes     = false
      secrets       = []
      settings      = {}
    }
    "order-events-webhook" = {
      entry_point   = "order_events_webhook"
      trigger       = "http"
      topic         = null
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 16
      max_instances = 50
      ingress       = "ALLOW_ALL"
      verifies_oidc = false # HMAC-signed; IAM still requires the order service's identity
      callers       = ["order-service"]
      public        = false
      env_groups    = ["base"]
      enqueues      = []
      publishes     = false
      secrets       = ["order-webhook-secrets"]
      settings      = {}
    }
    "order-events" = {
      entry_point   = "order_events_pubsub"
      trigger       = "pubsub"
      topic         = "order-events"
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 16
      max_instances = 50
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["pubsub-push"]
      public        = false
      env_groups    = ["base"]
      enqueues      = []
      publishes     = false
      secrets       = []
      settings      = {}
    }
    "release-funds" = {
      entry_point   = "release_funds"
      trigger       = "pubsub"
      topic         = "release-funds-tick"
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 540
      concurrency   = 1
      max_instances = 1 # one tick at a time; a second delivery waits (429) and is retried
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["pubsub-push"]
      public        = false
      env_groups    = ["base"]
      enqueues      = []
      publishes     = false
      secrets       = []
      settings = {
        RELEASE_BATCH_SIZE = tostring(var.release_batch_size)
      }
    }
    "payouts-api" = {
      entry_point   = "payouts_api"
      trigger       = "http"
      topic         = null
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 16
      max_instances = 20
      ingress       = "ALLOW_ALL"
      verifies_oidc = true
      callers       = ["ops", "marketplace"]
      public        = false
      env_groups    = ["base", "tasks"]
      enqueues      = ["run-shard-worker", "transfer-worker"] # POST /runs; POST /payouts
      publishes     = true
      secrets       = []
      settings = {
        RUN_BUCKETS = tostring(var.run_buckets)
      }
    }
    "payout-runs" = {
      entry_point   = "payout_runs"
      trigger       = "pubsub"
      topic         = "payout-runs"
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 300
      concurrency   = 1
      max_instances = 1
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["pubsub-push"]
      public        = false
      env_groups    = ["base", "tasks"]
      enqueues      = ["run-shard-worker"]
      publishes     = false
      secrets       = []
      settings = {
        RUN_BUCKETS = tostring(var.run_buckets)
      }
    }
    "run-shard-worker" = {
      entry_point   = "run_shard_worker"
      trigger       = "task"
      topic         = null
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 100
      concurrency   = 4
      max_instances = 4
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["tasks-invoker"]
      public        = false
      env_groups    = ["base", "tasks", "provider_api", "bank_files"] # the run's funding check reads the rails
      enqueues      = ["run-shard-worker", "transfer-worker"] # the next page; each payout's transfer
      publishes     = true
      secrets       = ["sandbox-api-key", "adyen-api-key", "stripe-secret-key"] # the rails' balances
      settings = {
        RUN_PAGE_SIZE = tostring(var.run_page_size)
      }
    }
    "transfer-worker" = {
      entry_point   = "transfer_worker"
      trigger       = "task"
      topic         = null
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 10
      max_instances = 5
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["tasks-invoker"]
      public        = false
      env_groups    = ["base", "provider_api", "tasks", "bank_files"]
      enqueues      = ["remittance-worker"] # a payout.paid event's follow-up (issue 18)
      publishes     = true
      secrets       = ["sandbox-api-key", "adyen-api-key", "stripe-secret-key"]
      settings = {
        SENDER_CLAIM_SECONDS = tostring(var.sender_claim_seconds) # its claim on a payout while it sends
      }
    }
    "provider-webhook" = {
      entry_point   = "provider_webhook"
      trigger       = "http"
      topic         = null
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 16
      max_instances = 20
      ingress       = "ALLOW_ALL"
      verifies_oidc = false
      callers       = []
      public        = true # the provider cannot present a Google ID token: guarded by its signature
      env_groups    = ["base", "tasks"]
      enqueues      = ["remittance-worker"] # a payout.paid event's follow-up (issue 18)
      publishes     = true
      secrets       = ["sandbox-webhook-secrets", "adyen-hmac-keys", "stripe-webhook-secrets"]
      settings      = {}
    }
    "payout-sweeper" = {
      entry_point   = "payout_sweeper"
      trigger       = "pubsub"
      topic         = "payout-sweeper-tick"
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 240 # under the 5-minute tick, so sweeps never overlap
      concurrency   = 1
      max_instances = 1
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["pubsub-push"]
      public        = false
      env_groups    = ["base", "tasks", "provider_api", "bank_files"]
      enqueues      = ["transfer-worker", "remittance-worker"] # stuck transfers; paid events relayed late
      publishes     = true
      secrets       = ["sandbox-api-key", "adyen-api-key", "stripe-secret-key"]
      settings = {
        STUCK_AFTER_SECONDS        = tostring(var.stuck_after_seconds)
        RETURN_CHECK_AFTER_SECONDS = tostring(var.return_check_after_seconds)
        RETURN_WATCH_DAYS          = tostring(var.return_watch_days)
        RUN_DEADLINE_SECONDS       = tostring(var.run_deadline_seconds) # reports overdue runs
        BANK_ANSWER_BUSINESS_DAYS  = tostring(var.bank_answer_business_days)
      }
    }
    # Reconciliation (issue 16, functions/reconciliation.py): ops' API (ops only: the
    # marketplace has no say on breaks and corrections) and the daily job. Both read the rails'
    # records (the provider API) and relay reconciliation.break_found events.
    "reconciliation-api" = {
      entry_point   = "reconciliation_api"
      trigger       = "http"
      topic         = null
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 300 # an on-demand window reads a day of the rail's records
      concurrency   = 4
      max_instances = 2
      ingress       = "ALLOW_ALL"
      verifies_oidc = true
      callers       = ["ops", "finance"]
      public        = false
      env_groups    = ["base", "provider_api", "bank_files"]
      enqueues      = []
      publishes     = true
      secrets       = ["sandbox-api-key", "adyen-api-key", "stripe-secret-key"] # the rails it reads (RECONCILED_RAILS)
      settings = {
        RECONCILED_RAILS = var.reconciled_rails
        # The yearly DAC7 report (issue 18): who files it, and the finance-only bucket it goes to.
        DAC7_PLATFORM_OPERATOR = var.dac7_platform_operator
        TAX_REPORTS_BUCKET     = local.tax_reports_bucket
      }
    }
    "reconciliation" = {
      entry_point   = "reconciliation"
      trigger       = "pubsub"
      topic         = "reconciliation-tick"
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 540
      concurrency   = 1
      max_instances = 1 # one day's run at a time; a second delivery waits and is retried
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["pubsub-push"]
      public        = false
      env_groups    = ["base", "provider_api", "bank_files"]
      enqueues      = []
      publishes     = true
      secrets       = ["sandbox-api-key", "adyen-api-key", "stripe-secret-key"] # the rails it reads (RECONCILED_RAILS)
      settings = {
        RECONCILED_RAILS = var.reconciled_rails
      }
    }
    # The ops and finance console, reached only through the HTTPS load balancer with
    # Identity-Aware Proxy (console.tf); the code checks IAP's signed assertion itself.
    "console" = {
      entry_point   = "console"
      trigger       = "http"
      topic         = null
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 16
      max_instances = 5
      ingress       = "ALLOW_INTERNAL_AND_GCLB" # the load balancer only: nobody gets around IAP
      verifies_oidc = false                     # IAP's ES256 assertion instead (shared/entrypoints/console/access.py)
      callers       = ["iap"]
      public        = false
      env_groups    = ["base", "console"]
      enqueues      = []
      publishes     = true # a cancel relays its status event
      secrets       = ["console-csrf-secret"]
      settings = {
        RUN_DEADLINE_SECONDS = tostring(var.run_deadline_seconds)
      }
    }
    # The SEPA bank-file rail (issue 16, functions/bank_files.py): the bank's pain.002, camt.054
    # and camt.053 files, one CloudEvent per finalized object of the inbound bucket, delivered by
    # the Eventarc trigger of bank_files.tf. It moves payouts (postings, outbox events).
    "bank-files-inbound" = {
      entry_point   = "bank_files_inbound"
      trigger       = "eventarc"
      topic         = null
      memory        = "1Gi" # a camt.053 of a busy day is read whole
      cpu           = "1"
      timeout       = 540
      concurrency   = 1
      max_instances = 5
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["eventarc-trigger"]
      public        = false
      env_groups    = ["base", "tasks", "bank_files"]
      enqueues      = ["remittance-worker"] # a payout.paid event's follow-up (issue 18)
      publishes     = true
      secrets       = []
      settings      = {}
    }
    # Remittance advice (issue 18): renders a paid payout's PDF (WeasyPrint, about a second),
    # writes it to the documents bucket once and relays its payout.remittance_ready event.
    "remittance-worker" = {
      entry_point   = "remittance_worker"
      trigger       = "task"
      topic         = null
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 100
      concurrency   = 2
      max_instances = 5
      ingress       = "ALLOW_INTERNAL_ONLY"
      verifies_oidc = true
      callers       = ["tasks-invoker"]
      public        = false
      env_groups    = ["base"]
      enqueues      = []
      publishes     = true
      secrets       = []
      settings = {
        DOCUMENTS_BUCKET = local.documents_bucket
        MARKETPLACE_NAME = var.marketplace_name
      }
    }
  }

  # The environment of each function: its groups, THREADS, who may call it (if it checks ID
  # tokens), the URL of each function it enqueues tasks for, and its own settings.
  function_env = {
    for name, f in local.functions : name => merge(
      merge([for g in f.env_groups : local.env_groups[g]]...),
      { THREADS = tostring(f.concurrency) },
      { for k, v in {
        OIDC_AUDIENCE       = local.function_urls[name]
        OIDC_ALLOWED_EMAILS = join(",", flatten([for c in f.callers : local.caller_emails[c]]))
        # Cloud Run IAM verifies the token and strips its signature; the function checks the rest.
        OIDC_SIGNATURE_CHECKED_BY_PLATFORM = "true"
      } : k => v if f.verifies_oidc },
      { for t in f.enqueues : "FUNCTION_URL_${upper(replace(t, "-", "_"))}" => local.function_urls[t] },
      f.settings,
    )
  }

  # roles/run.invoker grants, one per (function, caller member).
  invoker_bindings = {
    for b in flatten([
      for name, f in local.functions : [
        for c in f.callers : [
          for i, member in local.caller_members[c] : {
            key      = "${name}/${c}/${i}"
            function = name
            member   = member
          }
        ]
      ]
    ]) : b.key => b
  }

  # Files of the repository left out of the deployed archive (as in .gcloudignore, plus the
  # local virtual environments and state).
  source_excludes = [
    ".git/**",
    ".gitignore",
    ".gcloudignore",
    ".venv/**",
    ".venv-tasks/**",
    ".venv-checkov/**",
    "node_modules/**",
    "package.json",
    "package-lock.json",
    ".local/**",
    ".ci/**",
    "tests/**",
    "infra/**",
    "scripts/**",
    "local_stack/**",
    "stand_ins/**",
    "verification/**",
    "tools/**",
    "**/__pycache__/**",
    "**/node_modules/**", # the console's npm packages; bootstrap copies what it serves into static/vendor
    ".mypy_cache/**",
    ".ruff_cache/**",
    ".pytest_cache/**",
    ".hypothesis/**",
    "bench-results/**",
    "cloudbuild.yaml",
  ]
}

# --- source ----------------------------------------------------------------------------------------

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/source.zip"
  excludes    = local.source_excludes
  # Same bytes on every machine for the same tree, so the object name (its hash) changes only
  # when the code does.
  output_file_mode = "0644"
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only deployment archives written by Terraform; access is audited by Cloud Audit Logs, no separate access-log bucket.
  name                        = "${var.project}-functions-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  name   = "seller-payouts/${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# --- functions -------------------------------------------------------------------------------------

resource "google_service_account" "function" {
  for_each     = local.functions
  account_id   = "fn-${each.key}"
  display_name = "Cloud Function ${each.key}"
  description  = "Runs the ${each.key} function; holds only the roles that function needs."
}

resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:The HTTP functions are called from outside Google Cloud (the marketplace, the order service, the payment provider); each still requires IAM (roles/run.invoker) or a verified signature. The Pub/Sub and Cloud Tasks targets are ALLOW_INTERNAL_ONLY.
  for_each    = local.functions
  name        = each.key
  location    = var.region
  description = "seller-payouts ${each.key} (${each.value.trigger})"

  build_config {
    runtime         = "python311"
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = lookup(var.min_instances, each.key, 0)
    max_instance_count               = lookup(var.max_instances, each.key, each.value.max_instances)
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email
    environment_variables            = local.function_env[each.key]

    dynamic "secret_environment_variables" {
      for_each = toset(each.value.secrets)
      content {
        key        = local.secrets[secret_environment_variables.value].env
        project_id = var.project
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.accessor,
    google_project_iam_member.build,
  ]
}

# --- who may invoke each function (roles/run.invoker on its Cloud Run service) ---------------------
# (The service of a 2nd gen function has the function's name.)

resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = local.invoker_bindings
  project  = var.project
  location = var.region
  service  = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

resource "google_cloud_run_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:provider-webhook receives the payment provider's webhooks, which carry no Google identity; every request is verified by the provider's HMAC signature (functions/provider_webhook.py).
  for_each = { for name, f in local.functions : name => f if f.public }
  project  = var.project
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
