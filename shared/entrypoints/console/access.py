"""Who is using the console, and what they may do.

**Identity.** In production the console sits behind Identity-Aware Proxy (an HTTPS load
balancer with IAP on its backend service, ``infra/console.tf``): IAP signs every request it lets
through with ``x-goog-iap-jwt-assertion``, an ES256 JWT whose issuer is
``https://cloud.google.com/iap`` and audience ``/projects/NUMBER/global/backendServices/ID``.
The console checks the signature against IAP's keys, the issuer, the audience, expiry and
issue time, and takes the e-mail from it; anything else is 401. The function's ingress admits
only the load balancer, so the header cannot be sent around IAP. Locally the stack's IAP stand-in
(``local_stack/iap_proxy.py``) has a login page and signs the same header with its own key
(``CONSOLE_IAP_JWKS_FILE``): the console runs the same checks in both.

**Roles**, from ``CONSOLE_ROLES`` (JSON ``{"email": ["viewer", "operator", "approver"]}``):
a viewer reads; an operator also cancels payouts, drains providers, acknowledges reconciliation
breaks and proposes corrections; an approver also acknowledges and proposes, and approves or
rejects corrections (never their own: the reconciliation use case's maker-checker). A signed-in
user with no role gets 403.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt

from shared.settings import Settings

logger = logging.getLogger(__name__)

ASSERTION_HEADER = "X-Goog-IAP-JWT-Assertion"
_CLOCK_SKEW_SECONDS = 30


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"


class Permission(StrEnum):
    VIEW = "view"
    CANCEL_PAYOUT = "cancel_payout"
    DRAIN_PROVIDER = "drain_provider"
    RESOLVE_BREAK = "resolve_break"  # acknowledge a reconciliation break, propose a correction
    APPROVE_CORRECTION = "approve_correction"  # approve or reject a proposed correction


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.OPERATOR: frozenset(
        {Permission.VIEW, Permission.CANCEL_PAYOUT, Permission.DRAIN_PROVIDER, Permission.RESOLVE_BREAK}
    ),
    # An approver may also propose; the use case still refuses the proposer's own approval.
    Role.APPROVER: frozenset({Permission.VIEW, Permission.RESOLVE_BREAK, Permission.APPROVE_CORRECTION}),
}


@dataclass(frozen=True)
class ConsoleUser:
    email: str
    roles: frozenset[Role]

    def may(self, permission: Permission) -> bool:
        return any(permission in GRANTS[role] for role in self.roles)

    @property
    def role_names(self) -> str:
        return ", ".join(sorted(r.value for r in self.roles)) or "none"


class AccessDenied(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status  # 401: not signed in (or not through IAP); 403: not allowed
        self.reason = reason


@lru_cache(maxsize=4)
def parse_roles(raw: str) -> dict[str, frozenset[Role]]:
    """``CONSOLE_ROLES``, read once. Fail closed: a broken value grants nobody anything."""
    try:
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise ValueError("not an object")
        roles: dict[str, frozenset[Role]] = {}
        for email, granted in data.items():
            names = [granted] if isinstance(granted, str) else granted
            if not isinstance(names, list) or not names:
                raise ValueError(f"{email}: not a role or a list of roles")
            roles[str(email).lower()] = frozenset(Role(name) for name in names)
        return roles
    except ValueError as exc:
        logger.error("CONSOLE_ROLES is not valid, nobody may use the console: %s", exc)
        return {}


class _Keys:
    """IAP's public keys (a JWK set of EC keys), from its URL or, locally, a file."""

    def __init__(self, url: str, file: str | None) -> None:
        self._file = file
        self._client = None if file else jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)
        self._file_keys: jwt.PyJWKSet | None = None
        self._lock = threading.Lock()

    def key_for(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        kid = jwt.get_unverified_header(token).get("kid")
        with self._lock:
            if self._file_keys is None:
                assert self._file is not None
                self._file_keys = jwt.PyJWKSet.from_dict(json.loads(Path(self._file).read_text()))
        for key in self._file_keys.keys:
            if key.key_id == kid:
                return key.key
        raise jwt.InvalidTokenError("unknown key id")


_key_sets: dict[tuple[str, str | None], _Keys] = {}
_key_sets_lock = threading.Lock()


def _keys(settings: Settings) -> _Keys:
    source = (settings.console_iap_jwks_url, settings.console_iap_jwks_file)
    with _key_sets_lock:
        if source not in _key_sets:
            _key_sets[source] = _Keys(*source)
        return _key_sets[source]


def verify_assertion(assertion: str | None, settings: Settings) -> str:
    """The e-mail of the user IAP let through, or AccessDenied(401)."""
    if not assertion:
        raise AccessDenied(401, "no identity-aware proxy assertion: sign in through the console's address")
    if not settings.console_iap_audience:
        raise AccessDenied(401, "the console has no IAP audience configured")  # fail closed
    try:
        claims = jwt.decode(
            assertion,
            _keys(settings).key_for(assertion),
            algorithms=["ES256"],
            audience=settings.console_iap_audience,
            issuer=settings.console_iap_issuer,
            leeway=_CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "email"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AccessDenied(401, "sign-in expired") from exc
    except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
        raise AccessDenied(401, "the identity assertion is not valid") from exc
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise AccessDenied(401, "the identity assertion names no e-mail")
    return email.lower()


def identify(assertion: str | None, settings: Settings) -> ConsoleUser:
    """The user IAP's assertion (header ``ASSERTION_HEADER``) names, with their roles;
    AccessDenied(401) or (403) otherwise."""
    email = verify_assertion(assertion, settings)
    roles = parse_roles(settings.console_roles).get(email, frozenset())
    if not roles:
        raise AccessDenied(403, f"{email} has no role in the console")
    return ConsoleUser(email, roles)
