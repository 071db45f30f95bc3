# Pub/Sub: the topics of shared/topology.py, and one push subscription per Pub/Sub-triggered
# function, named as shared.topology.subscription_for names it ("{topic}--{function}").
#
# Why push subscriptions of our own instead of a function event_trigger (Eventarc): Eventarc
# creates and names its subscription itself, with no dead-letter topic and no say on the retry
# backoff. Ours push the same envelope to the function (functions-framework turns it into the
# CloudEvent the code expects, as in the local stack), retry a failed delivery with exponential
# backoff (the RETRY_POLICY_RETRY behaviour: the code acknowledges poison and raises only on
# transient errors) and, after max_delivery_attempts, park the message on a dead-letter topic
# that ops can inspect and replay.

locals {
  # Every topic the code names: those consumed by a function, and payout-events, published for
  # other systems (status events of payouts and runs, CloudEvents in binary mode).
  topics = ["order-events", "release-funds-tick", "payout-runs", "payout-sweeper-tick", "payout-events", "reconciliation-tick"]

  # ack_deadline_seconds: how long Pub/Sub waits for the push to answer; longer than the
  # function's timeout. message_retention: how long an undelivered message is kept.
  subscriptions = {
    "order-events--order-events" = {
      topic                 = "order-events"
      function              = "order-events"
      ack_deadline_seconds  = 90
      max_delivery_attempts = 10
      message_retention     = "604800s"
      dead_letter_topic     = "order-events--order-events-dead-letter"
    }
    "release-funds-tick--release-funds" = {
      topic                 = "release-funds-tick"
      function              = "release-funds"
      ack_deadline_seconds  = 600
      max_delivery_attempts = 5
      message_retention     = "3600s" # an hourly tick: an older one is superseded by the next
      dead_letter_topic     = "release-funds-tick--release-funds-dead-letter"
    }
    "payout-runs--payout-runs" = {
      topic                 = "payout-runs"
      function              = "payout-runs"
      ack_deadline_seconds  = 360
      max_delivery_attempts = 10
      message_retention     = "86400s"
      dead_letter_topic     = "payout-runs--payout-runs-dead-letter"
    }
    "payout-sweeper-tick--payout-sweeper" = {
      topic                 = "payout-sweeper-tick"
      function              = "payout-sweeper"
      ack_deadline_seconds  = 300
      max_delivery_attempts = 5
      message_retention     = "1800s"
      dead_letter_topic     = "payout-sweeper-tick--payout-sweeper-dead-letter"
    }
    "reconciliation-tick--reconciliation" = {
      topic                 = "reconciliation-tick"
      function              = "reconciliation"
      ack_deadline_seconds  = 600
      max_delivery_attempts = 5 # a rail down all morning: the day is run again on demand
      message_retention     = "86400s"
      dead_letter_topic     = "reconciliation-tick--reconciliation-dead-letter"
    }
  }

  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption at rest; messages carry ids, amounts and statuses, never bank details (shared.usecases.payouts.payout_event_data).
  for_each                   = toset(local.topics)
  name                       = each.key
  message_retention_duration = "86400s"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption at rest; same payloads as the source topics.
  for_each = local.subscriptions
  name     = each.value.dead_letter_topic

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "push" {
  for_each = local.subscriptions
  name     = each.key
  topic    = google_pubsub_topic.topic[each.value.topic].id

  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = each.value.message_retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # never expires, however quiet the topic
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = each.value.max_delivery_attempts
  }

  push_config {
    # The path names the topic: functions-framework fills the CloudEvent's source from it.
    push_endpoint = "${local.function_urls[each.value.function]}/projects/${var.project}/topics/${each.value.topic}"

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = local.function_urls[each.value.function]
    }
  }

  depends_on = [
    google_cloudfunctions2_function.function,
    google_cloud_run_service_iam_member.invoker,
  ]
}

# Dead letters wait here (7 days) for ops: pull to inspect, publish back to the topic to replay.
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = local.subscriptions
  name                       = "${each.value.dead_letter_topic}--hold"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

# --- identities and grants ------------------------------------------------------------------------

# The identity Pub/Sub presents (an ID token) when it pushes to a function.
resource "google_service_account" "pubsub_push" {
  account_id   = "pubsub-push"
  display_name = "Pub/Sub push to payout functions"
  description  = "Identity of the push subscriptions; may invoke the Pub/Sub-triggered functions only."
}

# Pub/Sub mints the push tokens as that account (needed for projects created before April 2021).
resource "google_service_account_iam_member" "pubsub_push_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# Dead-lettering: Pub/Sub forwards from the subscription to its dead-letter topic.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.subscriptions
  topic    = google_pubsub_topic.dead_letter[each.key].id
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.subscriptions
  subscription = google_pubsub_subscription.push[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Functions that publish payout events (through the outbox relay).
resource "google_pubsub_topic_iam_member" "payout_events_publisher" {
  for_each = { for name, f in local.functions : name => f if f.publishes }
  topic    = google_pubsub_topic.topic["payout-events"].id
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}

# The order service publishes order events.
resource "google_pubsub_topic_iam_member" "order_events_publisher" {
  topic  = google_pubsub_topic.topic["order-events"].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${var.order_service_account}"
}
