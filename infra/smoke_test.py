"""Smoke test of a deployment: every function is up, and exposed exactly as intended.

    python3 infra/smoke_test.py tf-outputs.json [--as-ops] [--no-state-check]

tf-outputs.json is ``terraform -chdir=infra output -json``. Standard library only (it runs in the
build image after `terraform apply`). Checks:

- every function is ACTIVE (``gcloud functions describe``);
- a public function (provider-webhook) answers an unsigned webhook with 401 invalid_webhook: the
  new code is serving, and it refuses what it cannot verify;
- every other function refuses an anonymous request (IAM: 401/403; internal-only ingress: 403/404);
- with --as-ops, the APIs answer the ops account (impersonated: the build's account needs
  roles/iam.serviceAccountOpenIdTokenCreator on it): GET /payouts is 200, and an unknown seller
  is a 404 in the API's error shape.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

REFUSED_ANONYMOUS = {401, 403, 404}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> object:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def request(url: str, method: str = "GET", body: bytes | None = None, token: str | None = None) -> Answer:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"refusing a non-https URL: {url}")
    headers = {"Content-Type": "application/json", "User-Agent": "seller-payouts-smoke"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (scheme checked)
            return Answer(resp.status, resp.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())


def error_code(answer: Answer) -> str | None:
    data = answer.json()
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        code = data["error"].get("code")
        return str(code) if code is not None else None
    return None


def check_exposure(urls: dict[str, str], public: set[str]) -> list[str]:
    problems = []
    for name, url in sorted(urls.items()):
        if name in public:
            answer = request(f"{url}/sandbox", "POST", b"{}")
            if answer.status != 401 or error_code(answer) != "invalid_webhook":
                problems.append(f"{name}: an unsigned webhook got {answer.status} {answer.body[:200]!r}")
        else:
            answer = request(url, "POST", b"{}")
            if answer.status not in REFUSED_ANONYMOUS:
                problems.append(f"{name}: an anonymous request got {answer.status}, not refused")
    return problems


def identity_token(service_account: str, audience: str) -> str:
    out = subprocess.run(
        [
            "gcloud",
            "auth",
            "print-identity-token",
            f"--impersonate-service-account={service_account}",
            f"--audiences={audience}",
            "--include-email",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def check_as_ops(urls: dict[str, str], ops: str) -> list[str]:
    problems = []
    payouts = urls["payouts-api"]
    answer = request(f"{payouts}/payouts?limit=1", token=identity_token(ops, payouts))
    if answer.status != 200:
        problems.append(f"payouts-api: GET /payouts as ops got {answer.status} {answer.body[:200]!r}")
    sellers = urls["sellers-api"]
    answer = request(f"{sellers}/sellers/smoke-test-no-such-seller", token=identity_token(ops, sellers))
    if answer.status != 404 or error_code(answer) != "seller_not_found":
        problems.append(f"sellers-api: an unknown seller as ops got {answer.status} {answer.body[:200]!r}")
    return problems


def check_state(urls: dict[str, str], region: str) -> list[str]:
    problems = []
    for name in sorted(urls):
        out = subprocess.run(
            ["gcloud", "functions", "describe", name, f"--region={region}", "--format=value(state)"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        state = out.stdout.strip()
        if state != "ACTIVE":
            problems.append(f"{name}: state {state or out.stderr.strip()[:200]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("outputs", help="terraform output -json, saved to a file")
    parser.add_argument("--as-ops", action="store_true", help="also call the APIs as the ops account")
    parser.add_argument("--no-state-check", action="store_true", help="skip gcloud functions describe")
    args = parser.parse_args(argv)

    with open(args.outputs) as handle:
        outputs = {key: value["value"] for key, value in json.load(handle).items()}
    urls: dict[str, str] = outputs["function_urls"]
    public = set(outputs.get("public_functions", []))

    problems = [] if args.no_state_check else check_state(urls, outputs["region"])
    problems += check_exposure(urls, public)
    if args.as_ops:
        problems += check_as_ops(urls, outputs["ops_service_account"])
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    checked = len(urls)
    print(f"smoke test: {checked} functions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
