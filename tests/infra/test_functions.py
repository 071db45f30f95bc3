"""Every function of shared/topology.py is deployed by infra/, as the code expects to run."""

from __future__ import annotations

import re

import pytest

from local_stack.local_env import ALLOWED_CALLERS
from shared import topology
from tests.infra import codefacts, tfmodel

infra = tfmodel.load()
SPECS = {spec.name: spec for spec in topology.FUNCTIONS}
FUNCTION = "google_cloudfunctions2_function"


def test_every_function_of_the_topology_is_deployed_and_nothing_else():
    declared, wanted = set(infra.functions), set(SPECS)
    assert not wanted - declared, (
        f"functions in shared/topology.py with no infra: {sorted(wanted - declared)}"
    )
    assert not declared - wanted, (
        f"functions in infra/ unknown to shared/topology.py: {sorted(declared - wanted)}"
    )


def test_the_function_resource_deploys_every_entry_of_the_map():
    fn = infra.resource(FUNCTION, "function")
    assert fn["for_each"] == "${local.functions}"
    assert fn["name"] == "${each.key}"
    build = fn["build_config"][0]
    assert build["runtime"] == "python311"
    assert build["entry_point"] == "${each.value.entry_point}"
    service = fn["service_config"][0]
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    assert service["environment_variables"] == "${local.function_env[each.key]}"
    assert service["max_instance_request_concurrency"] == "${each.value.concurrency}"
    assert service["timeout_seconds"] == "${each.value.timeout}"
    assert service["ingress_settings"] == "${each.value.ingress}"
    assert "event_trigger" not in fn, "Pub/Sub functions are fed by the push subscriptions of pubsub.tf"
    accounts = infra.resource("google_service_account", "function")
    assert accounts["for_each"] == "${local.functions}", "one service account per function"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_entry_point_trigger_and_topic_match_the_topology(name):
    spec, f = SPECS[name], infra.functions[name]
    assert f["entry_point"] == spec.entry_point
    assert f["trigger"] == spec.trigger
    assert f["topic"] == spec.topic
    assert f["public"] == spec.public


@pytest.mark.parametrize("name", sorted(SPECS))
def test_entry_point_exists_in_main_py(name):
    spec = SPECS[name]
    assert callable(codefacts.entry_point(spec)), f"main.py has no entry point {spec.entry_point}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_entry_point_is_served_with_the_signature_its_trigger_needs(name):
    """functions-framework finds the decorator by the entry point's *name*. A Pub/Sub function is
    deployed without an event trigger (its push subscription is ours), so the platform says
    "http": only the @cloud_event registration, found under the entry point's name, makes the
    framework turn the push body into a CloudEvent. An alias (``import f as other_name``) hides it."""
    spec = SPECS[name]
    wanted = "cloudevent" if spec.trigger in ("pubsub", "eventarc") else "http"
    found = codefacts.signature_type(spec)
    assert found == wanted, (
        f"{spec.entry_point}: functions-framework would serve it as {found or 'http (platform default)'}, "
        f"not {wanted}; export it from main.py under the name it was defined with"
    )


@pytest.mark.parametrize("name", sorted(SPECS))
def test_concurrency_threads_and_cpu_agree(name):
    f = infra.functions[name]
    assert 1 <= f["concurrency"] <= 1000
    if f["concurrency"] > 1:
        assert float(f["cpu"]) >= 1, "concurrency above 1 needs at least one vCPU"
    assert re.fullmatch(r"\d+(Mi|Gi)", f["memory"])
    assert infra.function_env_keys(name)["THREADS"] == f"${{tostring({f['concurrency']})}}"
    assert "THREADS = tostring(f.concurrency)" in infra.files["functions.tf"]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_instances(name):
    f = infra.functions[name]
    assert 1 <= f["max_instances"] <= 100
    for tfvars in sorted((tfmodel.INFRA / "environments").glob("*.tfvars")):
        values = tfmodel.load_tfvars(tfvars)
        low = values.get("min_instances", {}).get(name, 0)
        high = values.get("max_instances", {}).get(name, f["max_instances"])
        assert 0 <= low <= high, f"{tfvars.name}: {name} min {low} > max {high}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_ingress(name):
    spec, f = SPECS[name], infra.functions[name]
    # Pub/Sub push and Cloud Tasks count as internal traffic of the project; the console is
    # reached only through its load balancer, where Identity-Aware Proxy signs people in.
    if spec.iap:
        wanted = "ALLOW_INTERNAL_AND_GCLB"
    else:
        wanted = "ALLOW_ALL" if spec.trigger == "http" else "ALLOW_INTERNAL_ONLY"
    assert f["ingress"] == wanted


@pytest.mark.parametrize("name", sorted(SPECS))
def test_who_may_invoke(name):
    spec, f = SPECS[name], infra.functions[name]
    if spec.trigger == "pubsub":
        assert f["callers"] == ["pubsub-push"]
    elif spec.trigger == "task":
        assert f["callers"] == ["tasks-invoker"]
    elif spec.public:
        assert f["callers"] == [], "a public function needs no other invoker"
    elif spec.iap:
        assert f["callers"] == ["iap"], "only Identity-Aware Proxy's service agent invokes it"
    elif name in ALLOWED_CALLERS:
        assert sorted(f["callers"]) == sorted(ALLOWED_CALLERS[name]), (
            "same callers as local_stack/local_env.py"
        )
    else:
        assert f["callers"], f"{name} is neither public nor callable by anyone"
    assert set(f["callers"]) <= set(infra.locals["caller_members"]) == set(infra.locals["caller_emails"])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_oidc_checked_in_code_matches_infra(name):
    spec, f = SPECS[name], infra.functions[name]
    code_checks = codefacts.verifies_oidc(spec)
    assert f["verifies_oidc"] == code_checks
    if code_checks:
        # The function refuses any caller not in OIDC_ALLOWED_EMAILS: they must be the invokers,
        # and it must never be public (Cloud Run then verifies the token's signature first).
        assert f["callers"] and not f["public"]
        assert name in ALLOWED_CALLERS, "local_stack/local_env.py ALLOWED_CALLERS should list it too"


def test_only_topology_public_functions_are_public():
    public = infra.resource("google_cloud_run_service_iam_member", "public")
    assert public["member"] == "allUsers"
    assert public["for_each"] == "${{for name, f in local.functions : name => f if f.public}}"
    assert {n for n, f in infra.functions.items() if f["public"]} == {
        s.name for s in topology.FUNCTIONS if s.public
    }
    for rtype, resources in infra.resources.items():
        for rname, body in resources.items():
            if (rtype, rname) != ("google_cloud_run_service_iam_member", "public"):
                assert "allUsers" not in str(body) and "allAuthenticatedUsers" not in str(body), (
                    f"{rtype}.{rname}"
                )


def test_invoker_bindings_cover_every_caller():
    invoker = infra.resource("google_cloud_run_service_iam_member", "invoker")
    assert invoker["for_each"] == "${local.invoker_bindings}"
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["service"] == "${google_cloudfunctions2_function.function[each.value.function].name}"
    assert "for c in f.callers" in infra.locals["invoker_bindings"]


def test_function_urls_are_the_urls_the_code_computes(monkeypatch):
    from shared.settings import Settings

    for key in [k for k in __import__("os").environ if k.startswith("FUNCTION_URL_")]:
        monkeypatch.delenv(key)
    expression = infra.locals["function_urls"]
    template = re.search(r'=> "([^"]+)"', expression)
    assert template, expression
    url = (
        template.group(1)
        .replace("${var.region}", "R1")
        .replace("${var.project}", "p1")
        .replace("${name}", "fn")
    )
    assert url == Settings(GOOGLE_CLOUD_PROJECT="p1", FUNCTION_REGION="R1").function_url("fn")


def test_source_archive_leaves_out_what_gcloudignore_leaves_out():
    excludes = set(infra.locals["source_excludes"])
    for line in (tfmodel.ROOT / ".gcloudignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.rstrip("/")
        assert name in excludes or f"{name}/**" in excludes, (
            f".gcloudignore has {line!r}; the archive does not"
        )
    for local_dir in (".venv/**", ".venv-tasks/**", ".venv-checkov/**", ".local/**", "infra/**"):
        assert local_dir in excludes
    archive = infra.data["archive_file"]["source"]
    assert archive["source_dir"] == "${path.module}/.."
    assert archive["excludes"] == "${local.source_excludes}"
    obj = infra.resource("google_storage_bucket_object", "source")
    assert "output_md5" in obj["name"], "the object name changes with the code, so a change redeploys"
