# Documents for sellers (issue 18): the remittance advice PDF of every paid payout,
# remittance/<seller_id>/<payout_id>.pdf, written once by the remittance-worker function
# (create-if-absent) and announced by a payout.remittance_ready event carrying its gs:// URI.
# The marketplace reads it with its own service account (objectViewer below) to email or show it.

variable "marketplace_name" {
  description = "The marketplace's name as printed on remittance advice."
  type        = string
  default     = "Seller Payouts Marketplace"
}

variable "document_retention_days" {
  description = "Days a remittance advice cannot be deleted or replaced (the bucket's retention policy)."
  type        = number
  default     = 400
}

locals {
  documents_bucket = "${var.project}-documents"
}

resource "google_storage_bucket" "documents" {
  #checkov:skip=CKV_GCP_62:Documents are read only by the platform's and the marketplace's identities; Cloud Audit Logs (data access) record each read, no separate access-log bucket.
  #checkov:skip=CKV_GCP_78:Cloud Storage forbids Object Versioning on a bucket with a retention policy; the retention policy already keeps every object from deletion or replacement.
  name                        = local.documents_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  retention_policy {
    retention_period = var.document_retention_days * 86400
    is_locked        = false
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
    purpose = "seller-documents"
  }

  depends_on = [google_project_service.apis]
}

# The remittance worker creates objects and reads them back (a retry checks what exists).
resource "google_storage_bucket_iam_member" "remittance_worker_writes_documents" {
  for_each = toset(["roles/storage.objectCreator", "roles/storage.objectViewer"])
  bucket   = google_storage_bucket.documents.name
  role     = each.value
  member   = "serviceAccount:${google_service_account.function["remittance-worker"].email}"
}

# The marketplace fetches the advice named by the payout.remittance_ready event.
resource "google_storage_bucket_iam_member" "marketplace_reads_documents" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${var.marketplace_service_account}"
}
