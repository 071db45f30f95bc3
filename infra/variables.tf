# Inputs. One project per environment; environments/*.tfvars hold examples.

variable "project" {
  description = "Google Cloud project id (one project per environment)."
  type        = string
}

variable "region" {
  description = "Region of the functions, the queues and the scheduler jobs."
  type        = string
  default     = "europe-west1"
}

variable "environment" {
  description = "staging or production; set as PAYOUTS_ENV and as a label."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "firestore_location" {
  description = "Firestore location (a multi-region such as eur3 or nam5, or a region). Fixed once created."
  type        = string
  default     = "eur3"
}

# --- who may call what -------------------------------------------------------------------------

variable "ops_group" {
  description = <<-EOT
    Google group of the people who operate payouts (e.g. group:payout-ops@example.com). Its
    members call sellers-api and payouts-api as the `ops` service account (they may mint its ID
    tokens), because the functions allow callers by e-mail and a group has none of its own.
  EOT
  type        = string

  validation {
    condition     = startswith(var.ops_group, "group:")
    error_message = "ops_group is an IAM member of the form group:NAME@DOMAIN."
  }
}

variable "marketplace_service_account" {
  description = "E-mail of the marketplace's service account, which calls sellers-api and payouts-api."
  type        = string
}

variable "order_service_account" {
  description = <<-EOT
    E-mail of the order service's service account. It publishes order events to the
    order-events topic and may call the order-events-webhook (which also checks the HMAC).
  EOT
  type        = string
}

# --- runtime settings ---------------------------------------------------------------------------

variable "log_level" {
  description = "LOG_LEVEL of every function."
  type        = string
  default     = "INFO"
}

variable "balance_shards" {
  description = <<-EOT
    BALANCE_SHARDS: how many documents hold each seller balance. Every function must use the same
    value (a reader sums shards 0..n-1); only ever increase it.
  EOT
  type        = number
  default     = 4
}

variable "run_buckets" {
  description = "RUN_BUCKETS: shard tasks per payout run."
  type        = number
  default     = 16
}

variable "run_page_size" {
  description = "RUN_PAGE_SIZE: sellers per shard task page."
  type        = number
  default     = 100
}

variable "release_batch_size" {
  description = "RELEASE_BATCH_SIZE: order lines released per query page."
  type        = number
  default     = 200
}

variable "stuck_after_seconds" {
  description = "STUCK_AFTER_SECONDS: the sweeper looks at payouts untouched for this long."
  type        = number
  default     = 900
}

variable "sender_claim_seconds" {
  description = "SENDER_CLAIM_SECONDS: the transfer worker's claim on a payout; under stuck_after_seconds."
  type        = number
  default     = 600
}

variable "return_check_after_seconds" {
  description = "RETURN_CHECK_AFTER_SECONDS: the sweeper first asks the provider whether a paid payout was returned this long after it was paid, then at doubling intervals."
  type        = number
  default     = 86400
}

variable "return_watch_days" {
  description = "RETURN_WATCH_DAYS: how long after payment the sweeper keeps asking about returns (lost transfer.returned webhooks)."
  type        = number
  default     = 14
}

variable "bank_answer_business_days" {
  description = "BANK_ANSWER_BUSINESS_DAYS: TARGET2 business days a payout in a bank file may wait for the bank's answer before the sweeper flags it stuck."
  type        = number
  default     = 2
}

variable "provider_api_url" {
  description = "SANDBOX_URL: base URL of the payment provider's API."
  type        = string
}

variable "adyen_balance_account_id" {
  description = "ADYEN_BALANCE_ACCOUNT_ID: the platform's Adyen balance account that pays sellers out."
  type        = string
}

variable "adyen_environment" {
  description = "ADYEN_ENVIRONMENT: test or live (Adyen's URLs for the Transfers API)."
  type        = string
  validation {
    condition     = contains(["test", "live"], var.adyen_environment)
    error_message = "adyen_environment is test or live."
  }
}

variable "provider_timeout_seconds" {
  description = "PROVIDER_TIMEOUT_SECONDS: read timeout of one provider call."
  type        = number
  default     = 10
}

variable "secret_versions" {
  description = <<-EOT
    Secret Manager version each function reads, per secret id (missing: "latest"). Instances read
    it when they start: to roll a new value out to every instance, pin the new version number
    here and apply, which deploys a new revision of exactly the functions that read it.
  EOT
  type        = map(string)
  default     = {}
}

# --- capacity -----------------------------------------------------------------------------------

variable "min_instances" {
  description = "Minimum instances per function name (missing: 0). Keeps latency-sensitive HTTP functions warm."
  type        = map(number)
  default     = {}
}

variable "max_instances" {
  description = "Maximum instances per function name (missing: the default of functions.tf)."
  type        = map(number)
  default     = {}
}

variable "payout_run_schedule" {
  description = "Cron schedule (UTC) of the daily payout run. The message omits run_date, so the run is for today (UTC)."
  type        = string
  default     = "0 5 * * *"
}

variable "transfer_dispatches_per_second" {
  description = "Cloud Tasks rate of payout-transfers: keep under the provider's API rate limit for transfers."
  type        = number
  default     = 10
}

variable "transfer_max_concurrent" {
  description = "Transfers in flight at once (payout-transfers max_concurrent_dispatches)."
  type        = number
  default     = 20
}

# --- observability and the console (console.tf, monitoring.tf) ---------------------------------

variable "trace_sample_ratio" {
  description = "TRACE_SAMPLE_RATIO: share of new traces kept (a payout's later hops follow its first decision)."
  type        = number
  default     = 1.0

  validation {
    condition     = var.trace_sample_ratio >= 0 && var.trace_sample_ratio <= 1
    error_message = "trace_sample_ratio is between 0 and 1."
  }
}

variable "run_deadline_seconds" {
  description = "RUN_DEADLINE_SECONDS: a payout run should be complete this long after it started; the sweeper reports (and an alert pages on) runs past it."
  type        = number
  default     = 14400
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channels (projects/P/notificationChannels/N) every alert policy notifies."
  type        = list(string)
  default     = []
}

variable "runbook_base_url" {
  description = "Where the runbooks (docs/runbooks/<alert>.md) are read in a browser; each alert links its own."
  type        = string
  default     = "https://github.com/seller-payouts/seller-payouts/blob/main/docs/runbooks"
}

variable "provider_error_rate_threshold" {
  description = "Share of a provider's calls that fail (unavailable, timed out) over 10 minutes that pages."
  type        = number
  default     = 0.1
}

variable "console_domain" {
  description = "DNS name of the console (its managed TLS certificate); point an A record at output console_ip."
  type        = string
}

variable "console_members" {
  description = "IAM members Identity-Aware Proxy lets through to the console (e.g. group:payout-ops@example.com); what each may do there is console_roles."
  type        = list(string)
  default     = []
}

variable "console_roles" {
  description = "CONSOLE_ROLES: e-mail -> console roles (viewer, operator, approver). Anyone else IAP lets through gets 403."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for roles in values(var.console_roles) : length(roles) > 0 && alltrue([for r in roles : contains(["viewer", "operator", "approver"], r)])])
    error_message = "console_roles maps e-mails to a non-empty list of viewer, operator, approver."
  }
}

variable "reconciled_rails" {
  description = "RECONCILED_RAILS: the rails the daily reconciliation reads, comma-separated, of sandbox, adyen, stripe, sepa_file."
  type        = string
  default     = "sandbox"
}

variable "reconciliation_schedule" {
  description = "When the daily reconciliation of yesterday runs (cron, UTC)."
  type        = string
  default     = "30 4 * * *"
}

variable "finance_emails" {
  description = "People (Google accounts) who may call reconciliation-api besides ops: the checkers of reconciliation corrections."
  type        = list(string)
  default     = []
}
