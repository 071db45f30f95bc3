"""A small client of the running local stack, used by the demo, the ops CLI and the tests.

It calls HTTP functions with a freshly minted OIDC token (as a Google-signed caller would),
signs order-event webhooks, and publishes to the Pub/Sub emulator.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import requests

from local_stack import local_env
from shared.entrypoints import signing


def _session() -> requests.Session:
    """A session that resends an idempotent request (GET, PUT, DELETE…) when the server closed
    a pooled keep-alive connection just as it was reused (gunicorn's keep-alive is 2 s); POSTs
    are never resent by the client."""
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    retry = Retry(total=2, connect=2, read=2, status=0, other=0, backoff_factor=0.1, raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


class StackClient:
    def __init__(
        self,
        urls: dict[str, str],
        project: str,
        state_dir: Path,
        pubsub_host: str,
        identity: str = "ops",
        sandbox_url: str = "",
    ) -> None:
        self.urls = urls
        self.sandbox_url = sandbox_url
        self.project = project
        self.state_dir = state_dir
        self.pubsub_host = pubsub_host
        self.identity = identity
        self.http = _session()
        self._publisher: Any = None

    @classmethod
    def from_stack(cls, stack: Any, identity: str = "ops") -> StackClient:
        return cls(
            dict(stack.urls),
            stack.project,
            Path(stack.state_dir),
            stack.env["PUBSUB_EMULATOR_HOST"],
            identity,
            stack.env["SANDBOX_URL"],
        )

    def as_identity(self, identity: str) -> StackClient:
        return StackClient(
            self.urls, self.project, self.state_dir, self.pubsub_host, identity, self.sandbox_url
        )

    # --- HTTP functions with OIDC ----------------------------------------------------------

    def token(self, function: str, **kw: Any) -> str:
        return local_env.mint_token(
            self.state_dir,
            email=local_env.identity(self.identity, self.project),
            audience=self.urls[function],
            **kw,
        )

    def call(
        self,
        method: str,
        function: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> requests.Response:
        hdrs = {"Authorization": f"Bearer {self.token(function)}"}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        return self.http.request(method, self.urls[function] + path, data=data, headers=hdrs, timeout=timeout)

    # --- order events ----------------------------------------------------------------------

    def webhook_secret(self) -> str:
        secrets = local_env.local_secrets(self.state_dir)["order_webhook_secrets"]
        assert isinstance(secrets, list)
        return str(secrets[0])

    def post_order_event(
        self,
        event: dict[str, Any] | bytes,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> requests.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        ts = int(time.time()) if timestamp is None else timestamp
        header = (
            signature if signature is not None else signing.sign(secret or self.webhook_secret(), ts, body)
        )
        return self.http.post(
            self.urls["order-events-webhook"],
            data=body,
            headers={"Content-Type": "application/json", signing.HEADER: header},
            timeout=30,
        )

    # --- the sandbox provider ----------------------------------------------------------------

    def sandbox(self, method: str, path: str, body: Any = None) -> requests.Response:
        key = local_env.local_secrets(self.state_dir)["provider_api_key"]
        return self.http.request(
            method, self.sandbox_url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def sandbox_transfers(self) -> list[dict[str, Any]]:
        """Every transfer the provider holds, following its cursor."""
        out: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.sandbox("GET", f"/v1/transfers?limit=100{after}").json()
            out += page["data"]
            if not page.get("has_more") or not page["data"]:
                return out
            after = f"&starting_after={page['data'][-1]['id']}"

    def publisher(self) -> Any:
        if self._publisher is None:
            os.environ["PUBSUB_EMULATOR_HOST"] = self.pubsub_host
            from google.cloud.pubsub_v1 import PublisherClient

            self._publisher = PublisherClient()
        return self._publisher

    def publish(self, topic: str, data: dict[str, Any] | bytes, **attributes: str) -> str:
        payload = data if isinstance(data, bytes) else json.dumps(data).encode()
        path = self.publisher().topic_path(self.project, topic)
        return str(self.publisher().publish(path, payload, **attributes).result(timeout=30))
