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

# DAC7 (issue 18): the yearly DPI file of sellers' activity, dac7/<year>/DPIDAC7_….xml, written
# once by reconciliation-api (POST /dac7-reports) and downloaded by finance to file it. It holds
# TINs and IBANs in full, so only the writer and finance may read it, never the marketplace.

variable "dac7_platform_operator" {
  description = "The platform operator filing DAC7, as JSON (shared/domain/dac7.py:PlatformOperatorIn): name, business_name, residence_country, tin, address, vat_number, timezone. Empty: DAC7 requests are refused (dac7_not_configured)."
  type        = string
  default     = ""
}

variable "tax_report_retention_days" {
  description = "Days a DAC7 file cannot be deleted or replaced: the directive keeps records at least five years (Art. 8ac(2)(j) of Directive 2011/16/EU as amended)."
  type        = number
  default     = 1827
}

locals {
  tax_reports_bucket = "${var.project}-tax-reports"
}

resource "google_storage_bucket" "tax_reports" {
  #checkov:skip=CKV_GCP_62:Only reconciliation-api and finance read these files; Cloud Audit Logs (data access) record each read, no separate access-log bucket.
  #checkov:skip=CKV_GCP_78:Cloud Storage forbids Object Versioning on a bucket with a retention policy; the retention policy already keeps every object from deletion or replacement.
  name                        = local.tax_reports_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  retention_policy {
    retention_period = var.tax_report_retention_days * 86400
    is_locked        = false
  }

  labels = {
    purpose = "tax-reports"
  }

  depends_on = [google_project_service.apis]
}

# reconciliation-api writes a file once and reads it back (a repeated request keeps the first).
resource "google_storage_bucket_iam_member" "reconciliation_api_writes_tax_reports" {
  for_each = toset(["roles/storage.objectCreator", "roles/storage.objectViewer"])
  bucket   = google_storage_bucket.tax_reports.name
  role     = each.value
  member   = "serviceAccount:${google_service_account.function["reconciliation-api"].email}"
}

# Finance downloads the file to file it with the tax authority.
resource "google_storage_bucket_iam_member" "finance_reads_tax_reports" {
  for_each = toset(var.finance_emails)
  bucket   = google_storage_bucket.tax_reports.name
  role     = "roles/storage.objectViewer"
  member   = "user:${each.value}"
}
