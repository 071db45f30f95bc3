# Firestore: the database, the composite indexes the queries need, and the TTL of idempotency
# keys. The emulator never asks for an index; production refuses a query without one, so
# tests/infra/test_firestore.py checks this list against the queries in the code.
#
# Single-field queries (outbox.published, journal.seller_id, payout_runs.status) use the automatic
# single-field indexes. A run's progress is read from its counter documents, never counted.

locals {
  # Each index: collection (collection-group id), fields in order as [field, ASCENDING|DESCENDING].
  firestore_indexes = {
    # Queries of shared/adapters/firestore/store.py.
    # FirestoreStore.due_order_lines: release_state == HOLDING, release_at <= now, order by release_at.
    "order_lines-release" = {
      collection = "order_lines"
      fields     = [["release_state", "ASCENDING"], ["release_at", "ASCENDING"]]
    }
    # _SellerQueries.in_buckets: lo <= run_bucket < hi, order by run_bucket, seller_id.
    "sellers-run_bucket" = {
      collection = "sellers"
      fields     = [["run_bucket", "ASCENDING"], ["seller_id", "ASCENDING"]]
    }
    # _PayoutQueries.open_before (sweeper): status in [...], updated_at < cutoff, order by updated_at.
    "payouts-status-updated_at" = {
      collection = "payouts"
      fields     = [["status", "ASCENDING"], ["updated_at", "ASCENDING"]]
    }
    # _PayoutQueries.paid_due_for_return_check (sweeper's return watch): status ==, return_check_from <, ordered by it.
    "payouts-status-return_check_from" = {
      collection = "payouts"
      fields     = [["status", "ASCENDING"], ["return_check_from", "ASCENDING"]]
    }
    # _PayoutQueries.unsent_of_run (a run's funding check): run_id ==, status == pending, by payout_id.
    "payouts-run_id-status-payout_id" = {
      collection = "payouts"
      fields     = [["run_id", "ASCENDING"], ["status", "ASCENDING"], ["payout_id", "ASCENDING"]]
    }
    # _RunStore.queued_pages_due_before (sweeper): a run's pages still queued past their due time.
    "pages-status-due_at" = {
      collection = "pages"
      fields     = [["status", "ASCENDING"], ["due_at", "ASCENDING"]]
    }
    # _RunStore.items (GET /runs/{id}/items?skip_reason=): by seller id, paginated.
    "items-skip_reason-seller_id" = {
      collection = "items"
      fields     = [["skip_reason", "ASCENDING"], ["seller_id", "ASCENDING"]]
    }
    # FirestoreStore.list_payouts (GET /payouts): any of seller_id, status, run_id equal, newest
    # first, paginated on (created_at, payout_id). One index per combination of filters.
    # _PayoutQueries.sent_over_rail (reconciliation's ledger side): provider ==, transfer_started_at
    # in [start, end), ordered by it and payout_id (the cursor).
    "payouts-provider-transfer_started_at" = {
      collection = "payouts"
      fields     = [["provider", "ASCENDING"], ["transfer_started_at", "ASCENDING"], ["payout_id", "ASCENDING"]]
    }
    # _ReconciliationStore.reports: rail == (optional), newest window first.
    "reconciliation_reports-rail-window_start" = {
      collection = "reconciliation_reports"
      fields     = [["rail", "ASCENDING"], ["window_start", "DESCENDING"]]
    }
    # _ReconciliationStore.breaks: any of rail, state, cls equal, newest detected first, paginated
    # on (detected_at, break_id). One index per combination of filters.
    "reconciliation_breaks-list" = {
      collection = "reconciliation_breaks"
      fields     = [["detected_at", "DESCENDING"], ["break_id", "DESCENDING"]]
    }
    "reconciliation_breaks-list-rail" = {
      collection = "reconciliation_breaks"
      fields     = [["rail", "ASCENDING"], ["detected_at", "DESCENDING"], ["break_id", "DESCENDING"]]
    }
    "reconciliation_breaks-list-state" = {
      collection = "reconciliation_breaks"
      fields     = [["state", "ASCENDING"], ["detected_at", "DESCENDING"], ["break_id", "DESCENDING"]]
    }
    "reconciliation_breaks-list-cls" = {
      collection = "reconciliation_breaks"
      fields     = [["cls", "ASCENDING"], ["detected_at", "DESCENDING"], ["break_id", "DESCENDING"]]
    }
    "reconciliation_breaks-list-rail-state" = {
      collection = "reconciliation_breaks"
      fields     = [["rail", "ASCENDING"], ["state", "ASCENDING"], ["detected_at", "DESCENDING"], ["break_id", "DESCENDING"]]
    }
    "reconciliation_breaks-list-rail-cls" = {
      collection = "reconciliation_breaks"
      fields     = [["rail", "ASCENDING"], ["cls", "ASCENDING"], ["detected_at", "DESCENDING"], ["break_id", "DESCENDING"]]
    }
    "reconciliation_breaks-list-state-cls" = {
      collection = "reconciliation_breaks"
      fields     = [["state", "ASCENDING"], ["cls", "ASCENDING"], ["detected_at", "DESCENDING"], ["break_id", "DESCENDING"]]
    }
    "reconciliation_breaks-list-rail-state-cls" = {
      collection = "reconciliation_breaks"
      fields     = [["rail", "ASCENDING"], ["state", "ASCENDING"], ["cls", "ASCENDING"], ["detected_at", "DESCENDING"], ["break_id", "DESCENDING"]]
    }
    "payouts-list" = {
      collection = "payouts"
      fields     = [["created_at", "DESCENDING"], ["payout_id", "DESCENDING"]]
    }
    "payouts-list-seller_id" = {
      collection = "payouts"
      fields     = [["seller_id", "ASCENDING"], ["created_at", "DESCENDING"], ["payout_id", "DESCENDING"]]
    }
    "payouts-list-status" = {
      collection = "payouts"
      fields     = [["status", "ASCENDING"], ["created_at", "DESCENDING"], ["payout_id", "DESCENDING"]]
    }
    "payouts-list-run_id" = {
      collection = "payouts"
      fields     = [["run_id", "ASCENDING"], ["created_at", "DESCENDING"], ["payout_id", "DESCENDING"]]
    }
    "payouts-list-seller_id-status" = {
      collection = "payouts"
      fields     = [["seller_id", "ASCENDING"], ["status", "ASCENDING"], ["created_at", "DESCENDING"], ["payout_id", "DESCENDING"]]
    }
    "payouts-list-seller_id-run_id" = {
      collection = "payouts"
      fields     = [["seller_id", "ASCENDING"], ["run_id", "ASCENDING"], ["created_at", "DESCENDING"], ["payout_id", "DESCENDING"]]
    }
    "payouts-list-status-run_id" = {
      collection = "payouts"
      fields     = [["status", "ASCENDING"], ["run_id", "ASCENDING"], ["created_at", "DESCENDING"], ["payout_id", "DESCENDING"]]
    }
    # What payouts pay for (issue 18): a seller's journal entries since a time, in journal order
    # (_Settlements.entries_since in the payout's transaction; _ContentsQueries.seller_entries).
    "journal-seller_id-created_at" = {
      collection = "journal"
      fields     = [["seller_id", "ASCENDING"], ["created_at", "ASCENDING"]]
    }
    # The console: a seller's newest journal entries, for the balance chart (issue 19).
    "journal-seller_id-created_at-desc" = {
      collection = "journal"
      fields     = [["seller_id", "ASCENDING"], ["created_at", "DESCENDING"]]
    }
    "payouts-list-seller_id-status-run_id" = {
      collection = "payouts"
      fields     = [["seller_id", "ASCENDING"], ["status", "ASCENDING"], ["run_id", "ASCENDING"], ["created_at", "DESCENDING"], ["payout_id", "DESCENDING"]]
    }
  }
}

resource "google_firestore_database" "default" {
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.apis]
}

resource "google_firestore_index" "index" {
  for_each    = local.firestore_indexes
  database    = google_firestore_database.default.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}

# Idempotency keys of on-demand payouts carry expires_at (created + 90 days): Firestore deletes
# them after that. The field is never queried, so it is not indexed either (a monotonically
# increasing timestamp index would only add write hotspots).
resource "google_firestore_field" "idempotency_keys_ttl" {
  database   = google_firestore_database.default.name
  collection = "idempotency_keys"
  field      = "expires_at"

  ttl_config {}

  index_config {}
}
