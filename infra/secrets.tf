# Secret Manager: the secrets the code reads, each readable only by the functions that need it
# (they reach the function as environment variables, see functions.tf).
#
# Terraform creates the secrets, never their values (which would land in the state). Add a
# value with, for example:
#   printf '%s' "$NEW,$OLD" | gcloud secrets versions add order-webhook-secrets --data-file=-
# then redeploy (README.md, "Rotating a secret").

locals {
  secrets = {
    # HMAC secrets of the order-event webhook, comma-separated: current first, then the previous
    # one during a rotation.
    "order-webhook-secrets" = {
      env         = "ORDER_WEBHOOK_SECRETS"
      description = "HMAC secrets of the order-events webhook (comma-separated, current first)."
    }
    # The payment provider's API key (transfers, and the sweeper asking about them).
    "sandbox-api-key" = {
      env         = "SANDBOX_API_KEY"
      description = "API key of the payment provider."
    }
    # The provider's webhook signing secrets (comma-separated during a rotation).
    "sandbox-webhook-secrets" = {
      env         = "SANDBOX_WEBHOOK_SECRETS"
      description = "Webhook signing secrets of the payment provider (comma-separated)."
    }
    # The real rails (shared/adapters/providers/adyen.py, stripe_connect.py). API keys for the
    # functions that call a rail (transfers, the sweeper's lookups); webhook keys for the
    # provider webhook only. Webhook keys are comma-separated: current first, then the previous
    # one while a rotation is under way (both verify).
    "adyen-api-key" = {
      env         = "ADYEN_API_KEY"
      description = "Adyen API key (Balance Platform Transfers API)."
    }
    "adyen-hmac-keys" = {
      env         = "ADYEN_HMAC_KEYS"
      description = "HMAC keys (hex) of Adyen's transfer webhooks (comma-separated, current first)."
    }
    "stripe-secret-key" = {
      env         = "STRIPE_SECRET_KEY"
      description = "Stripe secret key of the platform account (Connect)."
    }
    "stripe-webhook-secrets" = {
      env         = "STRIPE_WEBHOOK_SECRETS"
      description = "Stripe webhook signing secrets (comma-separated, current first)."
    }
    # Signs the console's CSRF tokens (any random value of 32 bytes or more).
    "console-csrf-secret" = {
      env         = "CONSOLE_CSRF_SECRET"
      description = "Key that signs the console's CSRF tokens."
    }
  }

  secret_grants = {
    for g in flatten([
      for name, f in local.functions : [
        for s in f.secrets : { key = "${name}/${s}", function = name, secret = s }
      ]
    ]) : g.key => g
  }
}

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  secret_id = each.key

  annotations = {
    description = each.value.description
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local.secret_grants
  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}
