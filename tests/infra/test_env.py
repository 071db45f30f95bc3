"""Every setting the code reads is set, where it is needed, and nothing else is; secrets come
from Secret Manager, readable only by the functions that read them."""

from __future__ import annotations

import pytest

from shared import topology
from shared.settings import Settings
from tests.infra import codefacts, tfmodel
from tests.infra.codefacts import CAPABILITIES

infra = tfmodel.load()
SPECS = {spec.name: spec for spec in topology.FUNCTIONS}

# Every environment variable shared/settings.py reads, by who needs it in production.
EVERY_FUNCTION = {
    "GOOGLE_CLOUD_PROJECT",
    "FUNCTION_REGION",
    "PAYOUTS_ENV",
    "LOG_LEVEL",
    "BALANCE_SHARDS",
    "TRACE_EXPORTER",  # gcp: spans to Cloud Trace (shared/tracing.py)
    "TRACE_SAMPLE_RATIO",
}
OIDC = {
    "OIDC_AUDIENCE",
    "OIDC_ALLOWED_EMAILS",
    "OIDC_SIGNATURE_CHECKED_BY_PLATFORM",
}  # functions that check ID tokens
TASKS = {"TASKS_LOCATION", "TASKS_INVOKER_EMAIL", "TASK_DISPATCH_DEADLINE_SECONDS"}  # functions that enqueue
PROVIDER_API = {  # functions that call the provider
    "SANDBOX_URL",
    "PROVIDER_TIMEOUT_SECONDS",
    "ADYEN_BALANCE_ACCOUNT_ID",
    "ADYEN_ENVIRONMENT",
}
SECRETS = {  # Secret Manager only
    "ORDER_WEBHOOK_SECRETS",
    "SANDBOX_API_KEY",
    "SANDBOX_WEBHOOK_SECRETS",
    "ADYEN_API_KEY",
    "ADYEN_HMAC_KEYS",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRETS",
    "CONSOLE_CSRF_SECRET",
}
# The console's (shared/entrypoints/console/access.py): who IAP's assertions are for, and roles.
CONSOLE = {"CONSOLE_IAP_AUDIENCE", "CONSOLE_ROLES"}
TUNING = {
    "RUN_BUCKETS",
    "RUN_PAGE_SIZE",
    "STUCK_AFTER_SECONDS",
    "SENDER_CLAIM_SECONDS",
    "RETURN_CHECK_AFTER_SECONDS",
    "RETURN_WATCH_DAYS",
    "BANK_ANSWER_BUSINESS_DAYS",
    "RELEASE_BATCH_SIZE",
    "RUN_DEADLINE_SECONDS",
    "RECONCILED_RAILS",
    # The remittance worker's bucket and the name printed on the advice (issue 18).
    "DOCUMENTS_BUCKET",
    "MARKETPLACE_NAME",
    # The DAC7 report's platform operator and the finance-only bucket of its files (issue 18).
    "DAC7_PLATFORM_OPERATOR",
    "TAX_REPORTS_BUCKET",
}  # per CAPABILITIES
# The code's default is the production value (Google's OIDC issuer and keys, packaged country
# rules, limits): left unset. OIDC_SELLER_SCOPES (read by shared/entrypoints/auth.py) unset means no caller
# is seller-scoped, which holds until a seller portal calls the APIs in production.
DEFAULT_IS_PRODUCTION = {
    "OIDC_ISSUER",
    "OIDC_JWKS_URL",
    "WEBHOOK_TOLERANCE_SECONDS",
    "MAX_BODY_BYTES",
    "COUNTRY_RULES_PATH",
    "OIDC_SELLER_SCOPES",
    # Remittance advice after each payout.paid (issue 18): on unless set to false.
    "REMITTANCE_ADVICE",
    # Operation counters for the benchmark (shared/metrics.py): off unless set; FUNCTION_NAME
    # only labels those counters.
    "PAYOUTS_METRICS_FILE",
    "FUNCTION_NAME",
    # The rails' own URLs (the vendors' libraries know them); set locally to the stand-ins.
    "ADYEN_TRANSFERS_URL",
    "ADYEN_BALANCE_PLATFORM_URL",
    "STRIPE_API_URL",
    # Cloud Run sets K_SERVICE itself (the service name of a function's spans); IAP's issuer
    # and key set are Google's.
    "K_SERVICE",
    "K_REVISION",  # names a rail-health instance (shared/entrypoints/deps.py)
    "CONSOLE_IAP_ISSUER",
    "CONSOLE_IAP_JWKS_URL",
    # Exchange rates: the ECB's daily reference rates, refused after 96 hours (set locally to
    # the packaged fixed table).
    "FX_RATE_SOURCE",
    "FX_RATE_MAX_AGE_HOURS",
}
# Local stack only: must never reach a deployed function.
LOCAL_ONLY = {
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "CLOUD_TASKS_EMULATOR_HOST",
    "OIDC_JWKS_FILE",
    "STORAGE_EMULATOR_HOST",
    "TRACE_FILE_DIR",  # TRACE_EXPORTER=file writes spans here
    "CONSOLE_IAP_JWKS_FILE",  # the local IAP stand-in's key set
}
# The SEPA bank-file rail (shared/usecases/bank_transfers.py): set on the functions that queue
# payouts for files, write them and read the bank's answers (Capabilities.bank_files): the buckets
# from infra/bank_files.tf, the platform's account from variables. SEPA_MAX_TRANSACTIONS_PER_FILE
# is left unset: its default (5,000) is production's.
BANK_FILES = {
    "BANK_OUTBOUND_BUCKET",
    "BANK_INBOUND_BUCKET",
    "SEPA_DEBTOR_NAME",
    "SEPA_DEBTOR_IBAN",
    "SEPA_DEBTOR_BIC",
    "SEPA_MAX_TRANSACTIONS_PER_FILE",
}
CLASSES = (
    EVERY_FUNCTION,
    OIDC,
    TASKS,
    PROVIDER_API,
    SECRETS,
    CONSOLE,
    TUNING,
    DEFAULT_IS_PRODUCTION,
    LOCAL_ONLY,
    BANK_FILES,
)
# Read by functions-framework, not by the settings.
RUNTIME = {"THREADS"}


def env_read_by_code() -> set[str]:
    """The settings' environment variables, and any read with os.environ elsewhere. FUNCTION_URL_*
    (Settings.function_url) is checked against the task targets below."""
    aliases = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        assert isinstance(alias, str), f"Settings.{name} has no environment variable"
        aliases.add(alias)
    direct = codefacts.direct_env_reads() - {"FUNCTION_URL_*"}
    assert all("?" not in name and "*" not in name for name in direct), f"unnamed environment reads: {direct}"
    return aliases | direct


def url_env(function: str) -> str:
    return "FUNCTION_URL_" + function.upper().replace("-", "_")


def expected_env(name: str) -> set[str]:
    caps = CAPABILITIES[name]
    spec = SPECS[name]
    env = EVERY_FUNCTION | RUNTIME | caps.settings
    if codefacts.verifies_oidc(spec):
        env |= OIDC
    if caps.enqueues:
        env |= TASKS | {url_env(t) for t in caps.enqueues}
    if caps.provider_api:
        env |= PROVIDER_API
    if spec.iap:
        env |= CONSOLE
    if caps.bank_files:
        env |= BANK_FILES - {"SEPA_MAX_TRANSACTIONS_PER_FILE"}
    return env


def test_every_setting_is_classified_once():
    aliases = env_read_by_code()
    classified = [alias for group in CLASSES for alias in group]
    assert len(classified) == len(set(classified)), "a setting is in two classes"
    assert not aliases - set(classified), (
        f"settings not classified here: {sorted(aliases - set(classified))}; say who needs them in production"
    )
    assert not set(classified) - aliases, (
        f"classified but no longer read: {sorted(set(classified) - aliases)}"
    )
    assert {s for caps in CAPABILITIES.values() for s in caps.settings} == TUNING
    assert {s for caps in CAPABILITIES.values() for s in caps.secrets} == SECRETS


def test_capabilities_cover_every_function():
    assert set(CAPABILITIES) == set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_environment_is_exactly_what_the_function_reads(name):
    env = set(infra.function_env_keys(name))
    wanted = expected_env(name)
    assert not wanted - env, f"{name} reads {sorted(wanted - env)} but infra/ does not set them"
    assert not env - wanted, (
        f"{name} gets {sorted(env - wanted)}, which it does not read (or add it to CAPABILITIES)"
    )
    assert not env & (LOCAL_ONLY | SECRETS), "emulator settings or secrets in plain environment variables"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_secrets_are_exactly_the_ones_the_function_reads(name):
    assert infra.secret_env_keys(name) == set(CAPABILITIES[name].secrets)
    if CAPABILITIES[name].provider_api:
        assert "SANDBOX_API_KEY" in infra.secret_env_keys(name)


def test_function_env_is_assembled_as_the_checks_assume():
    expression = infra.locals["function_env"]
    for piece in (
        "for g in f.env_groups : local.env_groups[g]",
        "THREADS = tostring(f.concurrency)",
        "OIDC_AUDIENCE = local.function_urls[name]",
        "if f.verifies_oidc",
        '"FUNCTION_URL_${upper(replace(t, "-", "_"))}" => local.function_urls[t]',
        "f.settings",
    ):
        assert piece in expression, f"local.function_env changed ({piece!r}); update tests/infra/tfmodel.py"
    assert "local.caller_emails[c]" in expression, "OIDC_ALLOWED_EMAILS are the function's invokers"


def test_task_settings_point_at_the_invoker_and_the_queues_region():
    tasks = infra.locals["env_groups"]["tasks"]
    assert tasks["TASKS_INVOKER_EMAIL"] == "${google_service_account.tasks_invoker.email}"
    assert tasks["TASKS_LOCATION"] == "${var.region}"
    assert infra.resource("google_cloud_tasks_queue", "queue")["location"] == "${var.region}"
    # Named like the local stack's identity("tasks-invoker").
    assert infra.resource("google_service_account", "tasks_invoker")["account_id"] == "tasks-invoker"


def test_secrets_exist_and_are_granted_only_where_read():
    secrets = infra.locals["secrets"]
    assert {s["env"] for s in secrets.values()} == SECRETS
    resource = infra.resource("google_secret_manager_secret", "secret")
    assert resource["for_each"] == "${local.secrets}"
    grant = infra.resource("google_secret_manager_secret_iam_member", "accessor")
    assert grant["for_each"] == "${local.secret_grants}"
    assert grant["role"] == "roles/secretmanager.secretAccessor"
    assert "for s in f.secrets" in infra.locals["secret_grants"]
    block = infra.resource("google_cloudfunctions2_function", "function")["service_config"][0]["dynamic"][0]
    assert block["secret_environment_variables"]["for_each"] == "${toset(each.value.secrets)}"
    for name in SPECS:
        for key in infra.functions[name]["secrets"]:
            assert key in secrets, f"{name} reads secret {key}, which infra/ does not create"


def test_balance_shards_are_the_same_everywhere():
    # A reader sums shards 0..BALANCE_SHARDS-1: every function must agree.
    assert "BALANCE_SHARDS" in infra.locals["env_groups"]["base"]
    for name in SPECS:
        assert "base" in infra.functions[name]["env_groups"]
        assert "BALANCE_SHARDS" not in infra.functions[name]["settings"]


@pytest.mark.parametrize(
    "tfvars", sorted((tfmodel.INFRA / "environments").glob("*.tfvars")), ids=lambda p: p.stem
)
def test_example_tfvars_set_every_required_variable(tfvars):
    values = tfmodel.load_tfvars(tfvars)
    required = {name for name, body in infra.variables.items() if "default" not in body}
    assert not required - set(values), f"{tfvars.name} misses {sorted(required - set(values))}"
    assert not set(values) - set(infra.variables), (
        f"{tfvars.name} sets unknown {sorted(set(values) - set(infra.variables))}"
    )
    assert values["environment"] == tfvars.stem
    for name in [*values.get("min_instances", {}), *values.get("max_instances", {})]:
        assert name in SPECS, f"{tfvars.name}: no function {name}"
    for secret in values.get("secret_versions", {}):
        assert secret in infra.locals["secrets"], f"{tfvars.name}: no secret {secret}"
