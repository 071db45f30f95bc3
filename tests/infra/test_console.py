"""The console is reached only through Identity-Aware Proxy (infra/console.tf), and the code
checks IAP's assertions for exactly the backend service that IAP guards."""

from __future__ import annotations

from shared import settings, topology
from tests.infra import tfmodel

infra = tfmodel.load()
CONSOLE = next(spec for spec in topology.FUNCTIONS if spec.iap)


def test_the_load_balancer_sends_to_the_console_function_only():
    assert infra.locals["console_function"] == CONSOLE.name
    neg = infra.resource("google_compute_region_network_endpoint_group", "console")
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert neg["cloud_run"][0]["service"] == "${local.console_function}"
    assert neg["region"] == "${var.region}"
    backend = infra.resource("google_compute_backend_service", "console")
    assert backend["backend"][0]["group"] == "${google_compute_region_network_endpoint_group.console.id}"
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert infra.resource("google_compute_url_map", "console")["default_service"] == (
        "${google_compute_backend_service.console.id}"
    )


def test_iap_guards_the_backend_and_admits_the_configured_members():
    backend = infra.resource("google_compute_backend_service", "console")
    assert backend["iap"][0]["enabled"] is True
    access = infra.resource("google_iap_web_backend_service_iam_member", "console")
    assert access["role"] == "roles/iap.httpsResourceAccessor"
    assert access["for_each"] == "${toset(var.console_members)}"
    assert access["web_backend_service"] == "${google_compute_backend_service.console.name}"


def test_https_only_with_a_modern_tls_policy():
    rule = infra.resource("google_compute_global_forwarding_rule", "console")
    assert rule["port_range"] == "443" and rule["target"] == "${google_compute_target_https_proxy.console.id}"
    proxy = infra.resource("google_compute_target_https_proxy", "console")
    assert proxy["ssl_policy"] == "${google_compute_ssl_policy.console.id}"
    policy = infra.resource("google_compute_ssl_policy", "console")
    assert policy["min_tls_version"] == "TLS_1_2"
    assert not infra.of_type("google_compute_target_http_proxy"), "no plain-HTTP entrance"


def test_nothing_reaches_the_function_around_iap():
    f = infra.functions[CONSOLE.name]
    assert f["ingress"] == "ALLOW_INTERNAL_AND_GCLB" and not f["public"]
    assert f["callers"] == ["iap"]
    agent = "service-${data.google_project.this.number}@gcp-sa-iap.iam.gserviceaccount.com"
    assert infra.locals["iap_service_agent"] == agent
    assert infra.locals["caller_members"]["iap"] == ["serviceAccount:${local.iap_service_agent}"]


def test_the_code_checks_assertions_for_this_backend_service():
    audience = infra.locals["console_iap_audience"]
    assert audience == (
        "/projects/${data.google_project.this.number}/global/backendServices/"
        "${google_compute_backend_service.console.generated_id}"
    )
    console_env = infra.locals["env_groups"]["console"]
    assert console_env["CONSOLE_IAP_AUDIENCE"] == "${local.console_iap_audience}"
    assert console_env["CONSOLE_ROLES"] == "${jsonencode(var.console_roles)}"
    # The code's defaults are IAP's own issuer and keys.
    assert settings.IAP_ISSUER == "https://cloud.google.com/iap"
    assert settings.IAP_JWKS_URL == "https://www.gstatic.com/iap/verify/public_key-jwk"


def test_roles_and_members_are_set_in_every_environment():
    for tfvars in sorted((tfmodel.INFRA / "environments").glob("*.tfvars")):
        values = tfmodel.load_tfvars(tfvars)
        assert values["console_domain"], tfvars.name
        assert values["console_members"], tfvars.name
        for email, roles in values["console_roles"].items():
            assert roles and set(roles) <= {"viewer", "operator", "approver"}, (tfvars.name, email)


def test_the_console_url_is_an_output():
    assert infra.outputs["console_url"]["value"] == "https://${var.console_domain}"
