# Example inputs for production. terraform -chdir=infra plan -var-file=environments/production.tfvars
project                     = "acme-payouts-prod"
region                      = "europe-west1"
environment                 = "production"
firestore_location          = "eur3"
ops_group                   = "group:payout-ops@example.com"
marketplace_service_account = "marketplace-api@acme-marketplace-prod.iam.gserviceaccount.com"
order_service_account       = "order-service@acme-orders-prod.iam.gserviceaccount.com"
provider_api_url            = "https://api.psp.example.com"
log_level                   = "INFO"

# Keep the synchronous HTTP functions warm; the rest scale from zero.
min_instances = {
  "sellers-api"          = 1
  "payouts-api"          = 1
  "order-events-webhook" = 1
  "provider-webhook"     = 1
}

payout_run_schedule            = "0 5 * * *"
transfer_dispatches_per_second = 10
transfer_max_concurrent        = 20
# The Adyen rail: the platform's balance account (example id) and Adyen environment.
adyen_balance_account_id = "BA00000000000000000000PRD"
adyen_environment        = "live"

# The console (console.tf): its address, who IAP lets through, and what each may do.
console_domain  = "payouts-console.production.example.com"
console_members = ["group:payout-ops@example.com"]
console_roles = {
  "oncall@example.com"  = ["operator"]
  "finance@example.com" = ["viewer", "approver"]
}
# Alerts (monitoring.tf) notify these channels.
notification_channels = ["projects/acme-payouts-prod/notificationChannels/1234567890"]
