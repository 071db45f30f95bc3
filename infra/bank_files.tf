# The SEPA bank-file rail: the buckets bank files go out to and come back in, and the identities
# around them (shared/adapters/bank_files/, docs/bank-files.md).
#
#   outbound  pain.001 credit-transfer files the platform writes (pain.001/<date>/<MsgId>.xml),
#             picked up by the bank connector (EBICS/SFTP gateway) and sent to the bank
#   inbound   the bank's answers the connector drops there: pain.002, camt.054, camt.053; each
#             finalized object goes to the bank-files-inbound function through Eventarc
#
# Files are written once (create-if-absent, ifGenerationMatch=0) and never changed: the
# retention policy makes that a rule of the bucket too (no delete or overwrite before it ends).
#
# Wired (issue 16 §2): the bank-files-inbound function (shared/topology.py, local.functions), its
# google_eventarc_trigger on the inbound bucket (below; roles/run.invoker for eventarc_trigger
# comes from the function's callers), and the bucket grants: the payout-sweeper writes the
# pain.001 files (objectCreator + objectViewer on outbound: create-if-absent reads back an object
# that exists), bank-files-inbound and reconciliation read the bank's files (objectViewer on inbound).

variable "bank_file_retention_days" {
  description = "Days a bank file cannot be deleted or replaced (the retention policy of both buckets)."
  type        = number
  default     = 400
}

locals {
  bank_file_buckets = {
    outbound = "${var.project}-bank-outbound"
    inbound  = "${var.project}-bank-inbound"
  }
}

resource "google_project_service" "eventarc" {
  service            = "eventarc.googleapis.com"
  disable_on_destroy = false
}

resource "google_storage_bucket" "bank_files" {
  #checkov:skip=CKV_GCP_62:Bank files are read only by the platform's own identities; Cloud Audit Logs (data access) record who read or wrote each object, no separate access-log bucket.
  #checkov:skip=CKV_GCP_78:Cloud Storage forbids Object Versioning on a bucket with a retention policy; the retention policy already keeps every object from deletion or replacement.
  for_each                    = local.bank_file_buckets
  name                        = each.value
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  retention_policy {
    retention_period = var.bank_file_retention_days * 86400
    is_locked        = false # lock it once the period is agreed with the bank and the auditors
  }

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  labels = {
    purpose   = "bank-files"
    direction = each.key
  }

  depends_on = [google_project_service.apis]
}

# --- identities ------------------------------------------------------------------------------------

# Eventarc delivers the inbound bucket's finalize events as this account (ID token audience: the
# function's URL); the function allows it by e-mail, as local_stack/eventarc.py TRIGGER_IDENTITY.
resource "google_service_account" "eventarc_trigger" {
  account_id   = "eventarc-trigger"
  display_name = "Eventarc trigger of the bank-file buckets"
  description  = "Delivers google.cloud.storage.object.v1.finalized events of the inbound bank-file bucket."
}

resource "google_project_iam_member" "eventarc_trigger_receiver" {
  project = var.project
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.eventarc_trigger.email}"
}

# Cloud Storage triggers publish through Pub/Sub as the project's Cloud Storage service agent.
data "google_storage_project_service_account" "gcs" {
  project = var.project
}

resource "google_project_iam_member" "gcs_agent_publishes_events" {
  project = var.project
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# The bank connector (EBICS or SFTP gateway, run by the bank or by ops): reads what the platform
# wrote, and adds the bank's answers. It can neither change nor delete a file.
resource "google_service_account" "bank_connector" {
  account_id   = "bank-connector"
  display_name = "Bank file connector"
  description  = "Carries pain.001 files to the bank and the bank's pain.002/camt files back."
}

resource "google_storage_bucket_iam_member" "bank_connector_reads_outbound" {
  bucket = google_storage_bucket.bank_files["outbound"].name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.bank_connector.email}"
}

resource "google_storage_bucket_iam_member" "bank_connector_writes_inbound" {
  bucket = google_storage_bucket.bank_files["inbound"].name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.bank_connector.email}"
}

# --- the platform's account the files are paid from ---------------------------------------------------

variable "sepa_debtor_name" {
  description = "Name of the platform's account holder in every pain.001 (SEPA_DEBTOR_NAME)."
  type        = string
  default     = "Seller Payouts Platform"
}

variable "sepa_debtor_iban" {
  description = "IBAN of the platform's account every SEPA credit transfer is paid from (SEPA_DEBTOR_IBAN)."
  type        = string
  default     = "DE89370400440532013000"
}

variable "sepa_debtor_bic" {
  description = "BIC of the platform's bank (SEPA_DEBTOR_BIC); empty when the bank does not want one."
  type        = string
  default     = "COBADEFFXXX"
}

# --- the bank's answers into bank-files-inbound ------------------------------------------------------

# Each finalized object of the inbound bucket becomes a CloudEvent pushed to the function's Cloud
# Run service, with an ID token of eventarc_trigger (audience: the service URL).
resource "google_eventarc_trigger" "bank_files_inbound" {
  name            = "bank-files-inbound"
  location        = var.region
  service_account = google_service_account.eventarc_trigger.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.storage.object.v1.finalized"
  }
  matching_criteria {
    attribute = "bucket"
    value     = google_storage_bucket.bank_files["inbound"].name
  }

  destination {
    cloud_run_service {
      service = google_cloudfunctions2_function.function["bank-files-inbound"].name
      region  = var.region
    }
  }

  depends_on = [
    google_project_service.eventarc,
    google_project_iam_member.eventarc_trigger_receiver,
    google_project_iam_member.gcs_agent_publishes_events,
  ]
}

# The sweeper's tick writes the pain.001 files (shared/usecases/bank_transfers.py:BankFileWriter).
resource "google_storage_bucket_iam_member" "sweeper_writes_outbound" {
  for_each = toset(["roles/storage.objectCreator", "roles/storage.objectViewer"])
  bucket   = google_storage_bucket.bank_files["outbound"].name
  role     = each.value
  member   = "serviceAccount:${google_service_account.function["payout-sweeper"].email}"
}

# bank-files-inbound reads the bank's answers; reconciliation reads its camt.053 statements
# (shared/adapters/rail_records/sources.py BankStatementRecords) when RECONCILED_RAILS has sepa_file.
resource "google_storage_bucket_iam_member" "inbound_reader" {
  # run-shard-worker and payout-sweeper: a run's funding check reads the bank's last statement.
  for_each = toset(["bank-files-inbound", "reconciliation", "reconciliation-api", "run-shard-worker", "payout-sweeper"])
  bucket   = google_storage_bucket.bank_files["inbound"].name
  role     = "roles/storage.objectViewer"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}
