# Example inputs for staging. terraform -chdir=infra plan -var-file=environments/staging.tfvars
project                     = "acme-payouts-staging"
region                      = "europe-west1"
environment                 = "staging"
firestore_location          = "europe-west1"
ops_group                   = "group:payout-ops@example.com"
marketplace_service_account = "marketplace-api@acme-marketplace-staging.iam.gserviceaccount.com"
order_service_account       = "order-service@acme-orders-staging.iam.gserviceaccount.com"
provider_api_url            = "https://sandbox.psp.example.com"
log_level                   = "DEBUG"

# Scale to zero everywhere; a cold start is fine in staging.
min_instances = {}

# Slower than production, so tests against the provider's sandbox stay under its lower limits.
transfer_dispatches_per_second = 2
transfer_max_concurrent        = 5
# The Adyen rail: the platform's balance account (example id) and Adyen environment.
adyen_balance_account_id = "BA00000000000000000000STG"
adyen_environment        = "test"

# The console (console.tf): its address, who IAP lets through, and what each may do.
console_domain  = "payouts-console.staging.example.com"
console_members = ["group:payout-ops@example.com"]
console_roles = {
  "oncall@example.com"  = ["operator"]
  "finance@example.com" = ["viewer", "approver"]
}
# Alerts (monitoring.tf) notify these channels.
notification_channels = ["projects/acme-payouts-staging/notificationChannels/1234567890"]
