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
# Part B adds, beside the function itself (shared/topology.py and local.functions): the
# google_eventarc_trigger on the inbound bucket (event type google.cloud.storage.object.v1.finalized,
# destination the bank-files-inbound Cloud Run service, service_account eventarc_trigger below),
# roles/run.invoker on that service for eventarc_trigger, and bucket grants for the functions:
# objectCreator + objectViewer on outbound for the function that writes files, objectViewer on
# inbound for bank-files-inbound (and for the reconciliation job that reads statements).

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
