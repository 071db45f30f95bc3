"""One typed settings model, read from the environment once per cold start."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

GOOGLE_OIDC_ISSUER = "https://accounts.google.com"
GOOGLE_OIDC_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_JWKS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    project: str = Field(default="payouts-local", validation_alias="GOOGLE_CLOUD_PROJECT")
    region: str = Field(default="europe-west1", validation_alias="FUNCTION_REGION")
    environment: str = Field(default="local", validation_alias="PAYOUTS_ENV")

    firestore_emulator_host: str | None = Field(default=None, validation_alias="FIRESTORE_EMULATOR_HOST")
    pubsub_emulator_host: str | None = Field(default=None, validation_alias="PUBSUB_EMULATOR_HOST")
    cloud_tasks_emulator_host: str | None = Field(default=None, validation_alias="CLOUD_TASKS_EMULATOR_HOST")

    # HMAC secrets of the order-event webhook. Two may be active during a rotation.
    order_webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), validation_alias="ORDER_WEBHOOK_SECRETS"
    )
    webhook_tolerance_seconds: int = Field(default=300, validation_alias="WEBHOOK_TOLERANCE_SECONDS")

    # OIDC verification of callers. Production uses Google's issuer and keys; the local
    # stack creates its own issuer and key set at start, verified by the same code.
    oidc_issuer: str = Field(default=GOOGLE_OIDC_ISSUER, validation_alias="OIDC_ISSUER")
    oidc_jwks_url: str = Field(default=GOOGLE_OIDC_JWKS_URL, validation_alias="OIDC_JWKS_URL")
    oidc_jwks_file: str | None = Field(default=None, validation_alias="OIDC_JWKS_FILE")
    # Expected audience: the function's own URL.
    oidc_audience: str | None = Field(default=None, validation_alias="OIDC_AUDIENCE")
    # Production runs the functions behind Cloud Run IAM, which verifies the token and replaces
    # its signature with SIGNATURE_REMOVED_BY_GOOGLE before the function sees it. Set true there:
    # the function then checks every claim but the (already checked) signature. A token that still
    # carries a signature is verified in full either way.
    oidc_signature_checked_by_platform: bool = Field(
        default=False, validation_alias="OIDC_SIGNATURE_CHECKED_BY_PLATFORM"
    )
    oidc_allowed_emails: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="OIDC_ALLOWED_EMAILS"
    )

    # Payment providers. The sandbox stands in for a real PSP locally.
    sandbox_url: str = Field(default="http://127.0.0.1:8300", validation_alias="SANDBOX_URL")
    sandbox_api_key: SecretStr = Field(default=SecretStr(""), validation_alias="SANDBOX_API_KEY")
    sandbox_webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), validation_alias="SANDBOX_WEBHOOK_SECRETS"
    )
    provider_timeout_seconds: float = Field(default=10.0, validation_alias="PROVIDER_TIMEOUT_SECONDS")

    # Adyen Balance Platform (shared/adapters/providers/adyen.py). ADYEN_TRANSFERS_URL is unset in
    # production (Adyen's own URL for ADYEN_ENVIRONMENT); locally it points at Prism in front of
    # the Adyen stand-in. HMAC keys (hex) of the transfer webhooks: two may be active (rotation).
    adyen_api_key: SecretStr = Field(default=SecretStr(""), validation_alias="ADYEN_API_KEY")
    adyen_hmac_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), validation_alias="ADYEN_HMAC_KEYS"
    )
    adyen_balance_account_id: str = Field(default="", validation_alias="ADYEN_BALANCE_ACCOUNT_ID")
    adyen_environment: Literal["test", "live"] = Field(default="test", validation_alias="ADYEN_ENVIRONMENT")
    adyen_transfers_url: str = Field(default="", validation_alias="ADYEN_TRANSFERS_URL")
    # Configuration API v2 (the platform's balance account, read by a run's funding check):
    # unset in production (Adyen's own); locally the stand-in.
    adyen_balance_platform_url: str = Field(default="", validation_alias="ADYEN_BALANCE_PLATFORM_URL")

    # Stripe Connect (shared/adapters/providers/stripe_connect.py). STRIPE_API_URL is unset in
    # production (api.stripe.com); locally the Stripe stand-in. Two webhook secrets may be active.
    stripe_secret_key: SecretStr = Field(default=SecretStr(""), validation_alias="STRIPE_SECRET_KEY")
    stripe_webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), validation_alias="STRIPE_WEBHOOK_SECRETS"
    )
    stripe_api_url: str = Field(default="", validation_alias="STRIPE_API_URL")

    # Cloud Tasks: queues live in this location; tasks carry an OIDC token for this account.
    tasks_location: str = Field(default="europe-west1", validation_alias="TASKS_LOCATION")
    tasks_invoker_email: str = Field(
        default="tasks-invoker@payouts-local.iam.gserviceaccount.com", validation_alias="TASKS_INVOKER_EMAIL"
    )
    task_dispatch_deadline_seconds: int = Field(
        default=120, validation_alias="TASK_DISPATCH_DEADLINE_SECONDS"
    )
    run_buckets: int = Field(default=16, ge=1, le=1024, validation_alias="RUN_BUCKETS")
    run_page_size: int = Field(default=100, ge=1, le=300, validation_alias="RUN_PAGE_SIZE")
    stuck_after_seconds: int = Field(default=900, validation_alias="STUCK_AFTER_SECONDS")
    # The transfer worker's claim on a payout (shared/usecases/rail_selection.py): longer than one
    # execution can take, shorter than STUCK_AFTER_SECONDS; a worker that dies mid-send leaves its
    # payout to the next delivery after this long.
    sender_claim_seconds: int = Field(default=600, ge=1, validation_alias="SENDER_CLAIM_SECONDS")
    # Return watch (shared/domain/payouts.py next_return_check): first check a day after a
    # payout is paid, then 3 and 7 days after (doubling intervals), for 14 days: 3 provider
    # calls and 3 writes per paid payout, in case its transfer.returned webhook is lost.
    return_check_after_seconds: int = Field(
        default=86400, ge=1, validation_alias="RETURN_CHECK_AFTER_SECONDS"
    )
    return_watch_days: int = Field(default=14, ge=0, validation_alias="RETURN_WATCH_DAYS")
    # A payout in a bank file with no status report nor booking after this many TARGET2 business
    # days is flagged stuck by the sweeper (shared/domain/bank_files.py bank_silent_too_long).
    bank_answer_business_days: int = Field(default=2, ge=1, validation_alias="BANK_ANSWER_BUSINESS_DAYS")

    # The SEPA bank-file rail (shared/adapters/bank_files/): the buckets bank files go out to and
    # come back in, and the platform's account every credit transfer is paid from.
    bank_outbound_bucket: str = Field(
        default="payouts-local-bank-outbound", validation_alias="BANK_OUTBOUND_BUCKET"
    )
    bank_inbound_bucket: str = Field(
        default="payouts-local-bank-inbound", validation_alias="BANK_INBOUND_BUCKET"
    )
    sepa_debtor_name: str = Field(default="Seller Payouts Platform", validation_alias="SEPA_DEBTOR_NAME")
    sepa_debtor_iban: str = Field(default="DE89370400440532013000", validation_alias="SEPA_DEBTOR_IBAN")
    sepa_debtor_bic: str = Field(default="COBADEFFXXX", validation_alias="SEPA_DEBTOR_BIC")
    sepa_max_transactions_per_file: int = Field(
        default=5000, ge=1, le=100_000, validation_alias="SEPA_MAX_TRANSACTIONS_PER_FILE"
    )
    # Reconciliation (shared/usecases/reconciliation.py): the rails the daily job reconciles,
    # comma-separated (shared/adapters/rail_records/sources.py names those it can read).
    reconciled_rails: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("sandbox",), validation_alias="RECONCILED_RAILS"
    )
    # Local only: the Cloud Storage emulator (local_stack/storage_emulator.py), e.g. http://127.0.0.1:8295.
    storage_emulator_host: str | None = Field(default=None, validation_alias="STORAGE_EMULATOR_HOST")

    # Remittance advice (issue 18): a PDF per paid payout in the documents bucket.
    remittance_advice: bool = Field(default=True, validation_alias="REMITTANCE_ADVICE")
    documents_bucket: str = Field(default="payouts-local-documents", validation_alias="DOCUMENTS_BUCKET")
    marketplace_name: str = Field(default="Seller Payouts Marketplace", validation_alias="MARKETPLACE_NAME")
    # DAC7 (issue 18): the platform operator that files the yearly report (a JSON object,
    # shared/domain/dac7.py:PlatformOperatorIn), and the finance-only bucket its files go to.
    dac7_platform_operator: str | None = Field(default=None, validation_alias="DAC7_PLATFORM_OPERATOR")
    tax_reports_bucket: str = Field(
        default="payouts-local-tax-reports", validation_alias="TAX_REPORTS_BUCKET"
    )
    # Exchange rates (shared/adapters/fx_rates/): the ECB's reference rates in production, a fixed
    # table locally; a rate older than this is refused.
    fx_rate_source: Literal["ecb", "fixed_table"] = Field(default="ecb", validation_alias="FX_RATE_SOURCE")
    fx_rate_max_age_hours: int = Field(default=96, ge=1, validation_alias="FX_RATE_MAX_AGE_HOURS")

    balance_shards: int = Field(default=4, ge=1, le=64, validation_alias="BALANCE_SHARDS")
    release_batch_size: int = Field(default=200, ge=1, le=500, validation_alias="RELEASE_BATCH_SIZE")
    max_body_bytes: int = Field(default=64 * 1024, validation_alias="MAX_BODY_BYTES")
    country_rules_path: str | None = Field(default=None, validation_alias="COUNTRY_RULES_PATH")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")

    # Tracing (shared/tracing.py): "gcp" exports to Cloud Trace (production, set by infra/),
    # "file" writes JSON lines under TRACE_FILE_DIR (the local stack), "none" traces nothing.
    trace_exporter: Literal["none", "file", "gcp"] = Field(default="none", validation_alias="TRACE_EXPORTER")
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1, validation_alias="TRACE_SAMPLE_RATIO")
    trace_file_dir: str | None = Field(default=None, validation_alias="TRACE_FILE_DIR")
    # A payout run should be complete this long after it started (the sweeper reports overdue
    # runs; an alert in infra/monitoring.tf pages on them).
    run_deadline_seconds: int = Field(default=4 * 3600, ge=60, validation_alias="RUN_DEADLINE_SECONDS")

    # The console (functions/console.py), behind Identity-Aware Proxy in production. IAP signs
    # an assertion (ES256) for the expected audience, /projects/NUMBER/global/backendServices/ID;
    # locally the stack's IAP stand-in (local_stack/iap_proxy.py) signs it with its own key.
    console_iap_audience: str | None = Field(default=None, validation_alias="CONSOLE_IAP_AUDIENCE")
    console_iap_issuer: str = Field(default=IAP_ISSUER, validation_alias="CONSOLE_IAP_ISSUER")
    console_iap_jwks_url: str = Field(default=IAP_JWKS_URL, validation_alias="CONSOLE_IAP_JWKS_URL")
    console_iap_jwks_file: str | None = Field(default=None, validation_alias="CONSOLE_IAP_JWKS_FILE")
    # Who may do what: JSON {"email": ["viewer" | "operator" | "approver", ...]}.
    console_roles: str = Field(default="", validation_alias="CONSOLE_ROLES")
    # Signs the console's CSRF tokens (Secret Manager in production).
    console_csrf_secret: SecretStr = Field(default=SecretStr(""), validation_alias="CONSOLE_CSRF_SECRET")

    @field_validator(
        "order_webhook_secrets",
        "oidc_allowed_emails",
        "sandbox_webhook_secrets",
        "adyen_hmac_keys",
        "stripe_webhook_secrets",
        "reconciled_rails",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def function_url(self, name: str) -> str:
        """URL of one of our functions (tasks target them). Set as FUNCTION_URL_<NAME>."""
        env = "FUNCTION_URL_" + name.upper().replace("-", "_")
        value = os.environ.get(env)
        if value:
            return value
        return f"https://{self.region}-{self.project}.cloudfunctions.net/{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
