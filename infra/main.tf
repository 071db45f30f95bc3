# The project: APIs, and the grants that are not about one resource of another file.

data "google_project" "this" {
  project_id = var.project
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "cloudtrace.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iap.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
  service            = each.key
  disable_on_destroy = false
}

# Every function reads and writes Firestore (Firestore grants are project-wide).
resource "google_project_iam_member" "function_datastore_user" {
  for_each = local.functions
  project  = var.project
  role     = "roles/datastore.user"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Every function writes its spans to Cloud Trace (shared/tracing.py).
resource "google_project_iam_member" "function_trace_agent" {
  for_each = local.functions
  project  = var.project
  role     = "roles/cloudtrace.agent"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}

# --- building the functions ----------------------------------------------------------------------

# Cloud Build runs the function builds as this account (not the default compute account).
resource "google_service_account" "build" {
  account_id   = "functions-build"
  display_name = "Cloud Functions builds"
  description  = "Builds the function images from the source archive."
}

resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
  ])
  project = var.project
  role    = each.key
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# --- ops -------------------------------------------------------------------------------------------

# People call the APIs as this account: the functions allow callers by e-mail, and the ops group
# may mint its ID tokens, e.g.
#   gcloud auth print-identity-token --impersonate-service-account=ops@PROJECT.iam.gserviceaccount.com \
#     --audiences=https://REGION-PROJECT.cloudfunctions.net/payouts-api --include-email
resource "google_service_account" "ops" {
  account_id   = "ops"
  display_name = "Payout operations"
  description  = "Identity of ops calling sellers-api and payouts-api; impersonated by the ops group."
}

resource "google_service_account_iam_member" "ops_group_token_creator" {
  service_account_id = google_service_account.ops.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = var.ops_group
}
