"""checkov passes on infra/, and every check it skips is skipped on purpose, with a reason."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from typing import Any

import pytest

from tests.infra import tfmodel

SCRIPT = tfmodel.INFRA / "checkov.sh"
SKIP = re.compile(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(.*)")


@cache
def checkov_results() -> dict[str, Any]:
    install = subprocess.run(
        ["bash", str(SCRIPT), "--install"], capture_output=True, text=True, timeout=600, check=False
    )
    if install.returncode != 0:
        pytest.skip(f"checkov could not be installed into .venv-checkov: {install.stderr[-2000:]}")
    run = subprocess.run(
        ["bash", str(SCRIPT), "--output", "json"], capture_output=True, text=True, timeout=600, check=False
    )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov printed no report (exit {run.returncode}): {run.stdout[-2000:]} {run.stderr[-2000:]}"
        )
    reports = report if isinstance(report, list) else [report]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    assert terraform, f"checkov found nothing to check: {run.stdout[-1000:]}"
    results: dict[str, Any] = terraform[0]["results"]
    return results


def test_checkov_passes():
    failed = checkov_results()["failed_checks"]
    assert not failed, "\n".join(
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})" for c in failed
    )
    assert checkov_results()["passed_checks"], "checkov checked nothing"


def inline_skips() -> list[tuple[str, str, str]]:
    skips = []
    for path in sorted(tfmodel.INFRA.glob("*.tf")):
        for line in path.read_text().splitlines():
            match = SKIP.search(line)
            if match:
                skips.append((path.name, match.group(1), match.group(2).strip()))
    return skips


def test_every_skip_says_why():
    for filename, check, reason in inline_skips():
        assert len(reason) >= 30, f"{filename}: {check} is skipped without a real reason: {reason!r}"


def test_every_skip_is_used():
    """A skip comment on a resource the check does not cover hides nothing and misleads."""
    skipped = {c["check_id"] for c in checkov_results()["skipped_checks"]}
    for filename, check, _ in inline_skips():
        assert check in skipped, f"{filename}: skip of {check} matches no resource checkov checks"
