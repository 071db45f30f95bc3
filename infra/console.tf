# The console behind Identity-Aware Proxy: a global HTTPS load balancer whose backend service
# (a serverless NEG on the console function's Cloud Run service) has IAP turned on.
#
#   browser ─HTTPS─▶ forwarding rule ─▶ proxy (managed certificate, TLS 1.2+) ─▶ URL map
#           ─▶ backend service with IAP (Google sign-in, roles/iap.httpsResourceAccessor)
#           ─▶ serverless NEG ─▶ console function (ingress: internal and load balancer only)
#
# IAP signs every request it lets through (x-goog-iap-jwt-assertion, ES256); the console
# verifies it against IAP's keys for the audience below and maps the e-mail to its roles
# (CONSOLE_ROLES, var.console_roles). Cloud Run's IAM lets only IAP's service agent invoke the
# function (local.functions["console"].callers), and its ingress refuses anything that did
# not come through the load balancer, so the header cannot be forged from outside.
#
# IAP uses a Google-managed OAuth client: only accounts of the organisation can sign in. The
# IAP service agent must exist before the invoker grant; on a new project, once:
#   gcloud beta services identity create --service=iap.googleapis.com --project=PROJECT

locals {
  console_function = "console"
  # The audience of IAP's assertions for a global backend service.
  console_iap_audience = "/projects/${data.google_project.this.number}/global/backendServices/${google_compute_backend_service.console.generated_id}"
  iap_service_agent    = "service-${data.google_project.this.number}@gcp-sa-iap.iam.gserviceaccount.com"
}

resource "google_compute_region_network_endpoint_group" "console" {
  name                  = "console-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  # The Cloud Run service of a 2nd gen function has the function's name. Named, not referenced:
  # the function's environment needs the backend service's id (no dependency cycle).
  cloud_run {
    service = local.console_function
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_backend_service" "console" {
  name                  = "console"
  description           = "The payouts console, behind Identity-Aware Proxy."
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"

  backend {
    group = google_compute_region_network_endpoint_group.console.id
  }

  iap {
    enabled = true # Google-managed OAuth client
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

# Who IAP lets through; what they may do in the console is var.console_roles.
resource "google_iap_web_backend_service_iam_member" "console" {
  for_each            = toset(var.console_members)
  web_backend_service = google_compute_backend_service.console.name
  role                = "roles/iap.httpsResourceAccessor"
  member              = each.key
}

resource "google_compute_url_map" "console" {
  name            = "console"
  default_service = google_compute_backend_service.console.id
}

resource "google_compute_managed_ssl_certificate" "console" {
  name = "console"

  managed {
    domains = [var.console_domain]
  }
}

resource "google_compute_ssl_policy" "console" {
  name            = "console-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "console" {
  name             = "console"
  url_map          = google_compute_url_map.console.id
  ssl_certificates = [google_compute_managed_ssl_certificate.console.id]
  ssl_policy       = google_compute_ssl_policy.console.id
}

resource "google_compute_global_address" "console" {
  name = "console"
}

resource "google_compute_global_forwarding_rule" "console" {
  name                  = "console"
  target                = google_compute_target_https_proxy.console.id
  ip_address            = google_compute_global_address.console.id
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
