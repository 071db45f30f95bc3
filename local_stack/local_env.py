"""Local secrets and a local OIDC issuer, created when the stack starts.

Production gets its secrets from Secret Manager and its tokens from Google. Locally the
stack writes an RSA key set and webhook secrets under ``.local/`` and hands them to every
function through the environment; callers (tests, the demo, the ops CLI) mint tokens here.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

if TYPE_CHECKING:
    from shared.topology import FunctionSpec

LOCAL_ISSUER = "http://127.0.0.1/local-oidc"
KEY_ID = "local-1"


def identity(name: str, project: str = "payouts-local") -> str:
    """Service-account style email of a local caller: ops, marketplace, tasks-invoker, …"""
    return f"{name}@{project}.iam.gserviceaccount.com"


# The service account of the Pub/Sub push subscriptions (Eventarc triggers in production).
PUSH_IDENTITY = "pubsub-push"

# Who may call each function locally. Production sets the same through infra/.
ALLOWED_CALLERS: dict[str, tuple[str, ...]] = {
    "sellers-api": ("ops", "marketplace"),
    "payouts-api": ("ops", "marketplace"),
    "run-shard-worker": ("tasks-invoker",),
    "transfer-worker": ("tasks-invoker",),
    "remittance-worker": ("tasks-invoker",),  # issue 18
    "order-events": (PUSH_IDENTITY,),
    "release-funds": (PUSH_IDENTITY,),
    "payout-runs": (PUSH_IDENTITY,),
    "payout-sweeper": (PUSH_IDENTITY,),
    "reconciliation-api": ("ops", "finance"),  # finance: the checkers of ops' corrections
    "reconciliation": (PUSH_IDENTITY,),
    "bank-files-inbound": ("eventarc-trigger",),  # local_stack/eventarc.py TRIGGER_IDENTITY
}

# Seller-scoped callers (OIDC_SELLER_SCOPES): they may only read these sellers' data, on these
# functions. Locally one seller portal, for two fixed sellers the tests onboard.
SELLER_PORTAL_SELLERS = ("portal-seller-1", "portal-seller-2")
SELLER_SCOPED_CALLERS: dict[str, dict[str, tuple[str, ...]]] = {
    "sellers-api": {"seller-portal": SELLER_PORTAL_SELLERS},
    "payouts-api": {"seller-portal": SELLER_PORTAL_SELLERS},
}


# The console's IAP stand-in (local_stack/iap_proxy.py) signs its assertions as IAP does
# (ES256, issuer https://cloud.google.com/iap) with a key of the stack's own, for this audience.
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_AUDIENCE = "/projects/0/global/backendServices/local-console"
IAP_KEY_ID = "local-iap-1"
# Who may use the console locally, and as what (CONSOLE_ROLES); the login page lists them.
CONSOLE_USERS: dict[str, tuple[str, ...]] = {
    "operator@example.com": ("operator",),
    "viewer@example.com": ("viewer",),
    "approver@example.com": ("approver",),
}


def _iap_paths(stack_dir: Path) -> tuple[Path, Path]:
    return stack_dir / "oidc" / "iap-private.pem", stack_dir / "oidc" / "iap-jwks.json"


def _paths(stack_dir: Path) -> tuple[Path, Path, Path]:
    oidc = stack_dir / "oidc"
    return oidc / "private.pem", oidc / "jwks.json", stack_dir / "secrets.json"


def ensure_material(stack_dir: Path) -> None:
    """Create the key set and secrets once per stack directory."""
    private_path, jwks_path, secrets_path = _paths(stack_dir)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private_path.chmod(0o600)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": KEY_ID, "alg": "RS256", "use": "sig"})
        jwks_path.write_text(json.dumps({"keys": [jwk]}))
    iap_private, iap_jwks = _iap_paths(stack_dir)
    if not iap_private.exists():
        ec_key = ec.generate_private_key(ec.SECP256R1())
        iap_private.write_bytes(
            ec_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        iap_private.chmod(0o600)
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
        ec_jwk.update({"kid": IAP_KEY_ID, "alg": "ES256", "use": "sig"})
        iap_jwks.write_text(json.dumps({"keys": [ec_jwk]}))
    if secrets_path.exists():
        held = json.loads(secrets_path.read_text())
        if "console_csrf_secret" not in held:  # a state directory from before the console
            held["console_csrf_secret"] = secrets.token_hex(32)
            secrets_path.write_text(json.dumps(held))
    if not secrets_path.exists():
        secrets_path.write_text(
            json.dumps(
                {
                    "order_webhook_secrets": [
                        secrets.token_hex(32),
                        secrets.token_hex(32),
                    ],  # current, previous
                    "provider_webhook_secret": secrets.token_hex(32),
                    "provider_api_key": secrets.token_hex(24),
                    "console_csrf_secret": secrets.token_hex(32),
                }
            )
        )
        secrets_path.chmod(0o600)
    _add_rail_secrets(secrets_path)


def _add_rail_secrets(secrets_path: Path) -> None:
    """The real rails' local keys (stand_ins/adyen.py, stand_ins/stripe_connect.py), added to a
    secrets file written before they existed. Two webhook keys each: the stand-ins sign with the
    first, the functions accept both (rotation)."""
    data = json.loads(secrets_path.read_text())

    def hex_key() -> str:
        return secrets.token_hex(32).upper()

    def whsec() -> str:
        return "whsec_" + secrets.token_hex(24)

    wanted: dict[str, Callable[[], object]] = {
        "adyen_api_key": lambda: "AQE" + secrets.token_hex(24),
        "adyen_hmac_keys": lambda: [hex_key(), hex_key()],
        "stripe_secret_key": lambda: "sk_test_" + secrets.token_hex(24),
        "stripe_webhook_secrets": lambda: [whsec(), whsec()],
    }
    missing = {key: make() for key, make in wanted.items() if key not in data}
    if missing:
        secrets_path.write_text(json.dumps(data | missing))
        secrets_path.chmod(0o600)


def local_secrets(stack_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(_paths(stack_dir)[2].read_text())
    return data


def function_env(stack_dir: Path, spec: FunctionSpec, url: str, project: str) -> dict[str, str]:
    """Environment of one function process in the local stack."""
    ensure_material(stack_dir)
    _, jwks_path, _ = _paths(stack_dir)
    sec = local_secrets(stack_dir)
    allowed = ",".join(identity(n, project) for n in ALLOWED_CALLERS.get(spec.name, ()))
    scopes = {identity(n, project): list(ids) for n, ids in SELLER_SCOPED_CALLERS.get(spec.name, {}).items()}
    order_secrets = sec["order_webhook_secrets"]
    assert isinstance(order_secrets, list)
    console = {}
    if spec.iap:  # the console, behind the IAP stand-in
        console = {
            "CONSOLE_IAP_AUDIENCE": IAP_AUDIENCE,
            "CONSOLE_IAP_JWKS_FILE": str(_iap_paths(stack_dir)[1]),
            "CONSOLE_ROLES": json.dumps({email: list(roles) for email, roles in CONSOLE_USERS.items()}),
            "CONSOLE_CSRF_SECRET": str(sec["console_csrf_secret"]),
        }
    return console | {
        "TASKS_INVOKER_EMAIL": identity("tasks-invoker", project),
        # Short, so the provider-timeout tests don't wait long; production uses 10 s.
        "PROVIDER_TIMEOUT_SECONDS": "3",
        # Locally a payout is "stuck" after a minute; production waits 15 minutes.
        "STUCK_AFTER_SECONDS": "60",
        # A transfer worker killed mid-send (the fault run does it) frees its payout after 30 s
        # here; production waits 10 minutes.
        "SENDER_CLAIM_SECONDS": "30",
        "RETURN_CHECK_AFTER_SECONDS": "60",
        "SANDBOX_API_KEY": str(sec["provider_api_key"]),
        "SANDBOX_WEBHOOK_SECRETS": str(sec["provider_webhook_secret"]),
        "OIDC_ISSUER": LOCAL_ISSUER,
        "OIDC_JWKS_FILE": str(jwks_path),
        "OIDC_AUDIENCE": url,
        "OIDC_ALLOWED_EMAILS": allowed,
        "OIDC_SELLER_SCOPES": json.dumps(scopes),
        "ORDER_WEBHOOK_SECRETS": ",".join(order_secrets),
        # Spans as JSON lines, one file per process (shared/tracing.py); the tests read them.
        "TRACE_EXPORTER": "file",
        "TRACE_FILE_DIR": str(stack_dir / "traces"),
        **rail_env(sec),
        # Reconciliation (functions/reconciliation.py): the rails the local stack reconciles.
        "RECONCILED_RAILS": "sandbox,adyen,sepa_file,stripe",
        # DAC7 (issue 18): a sample French platform operator files the local stack's reports.
        "DAC7_PLATFORM_OPERATOR": json.dumps(LOCAL_PLATFORM_OPERATOR),
        # Rates from the packaged fixed table (ECB rates of one day), trusted for as long as it is
        # used locally; production reads the ECB's daily rates and refuses them after 96 hours.
        "FX_RATE_SOURCE": "fixed_table",
        "FX_RATE_MAX_AGE_HOURS": str(24 * 3650),
    }


# The platform operator of the local stack's DAC7 reports (a valid SIREN, a made-up company).
LOCAL_PLATFORM_OPERATOR = {
    "name": "Seller Payouts Marketplace SAS",
    "business_name": "Seller Payouts Marketplace",
    "residence_country": "FR",
    "tin": "732829320",
    "address": {"country": "FR", "city": "Paris", "street": "10 rue de la Paix", "post_code": "75002"},
    "vat_number": "FR44732829320",
    "timezone": "Europe/Paris",
}


# The platform's Adyen balance account in the stand-in.
ADYEN_BALANCE_ACCOUNT = "BA00000000000000000000001"


def rail_env(sec: dict[str, object]) -> dict[str, str]:
    """The real rails' keys as the functions read them (base URLs come from the stack)."""
    hmac_keys, webhook_secrets = sec["adyen_hmac_keys"], sec["stripe_webhook_secrets"]
    assert isinstance(hmac_keys, list) and isinstance(webhook_secrets, list)
    return {
        "ADYEN_API_KEY": str(sec["adyen_api_key"]),
        "ADYEN_HMAC_KEYS": ",".join(hmac_keys),
        "ADYEN_BALANCE_ACCOUNT_ID": ADYEN_BALANCE_ACCOUNT,
        "STRIPE_SECRET_KEY": str(sec["stripe_secret_key"]),
        "STRIPE_WEBHOOK_SECRETS": ",".join(webhook_secrets),
    }


def mint_iap_assertion(
    stack_dir: Path, *, email: str, audience: str = IAP_AUDIENCE, ttl: int = 600, issued_at: int | None = None
) -> str:
    """The ``x-goog-iap-jwt-assertion`` IAP would add for ``email``, signed by the stack's IAP key."""
    now = int(time.time()) if issued_at is None else issued_at
    claims = {
        "iss": IAP_ISSUER,
        "aud": audience,
        "sub": f"accounts.google.com:{uuid.uuid5(uuid.NAMESPACE_DNS, email).int % 10**21}",
        "email": email,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(
        claims, _iap_key(_iap_paths(stack_dir)[0]), algorithm="ES256", headers={"kid": IAP_KEY_ID}
    )


_iap_keys: dict[Path, ec.EllipticCurvePrivateKey] = {}


def _iap_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The parsed signing key (parsing per request would cost the relay a few ms each)."""
    if path not in _iap_keys:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        _iap_keys[path] = key
    return _iap_keys[path]


def mint_token(
    stack_dir: Path,
    *,
    email: str,
    audience: str,
    ttl: int = 600,
    issued_at: int | None = None,
    issuer: str = LOCAL_ISSUER,
    key_id: str = KEY_ID,
) -> str:
    """An ID token shaped like Google's, signed by the local issuer."""
    private_path, _, _ = _paths(stack_dir)
    now = int(time.time()) if issued_at is None else issued_at
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": str(uuid.uuid5(uuid.NAMESPACE_DNS, email).int)[:21],
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, private_path.read_bytes(), algorithm="RS256", headers={"kid": key_id})
