"""cloudbuild.yaml: the steps in order, the README's test command, deploys gated by _APPLY."""

from __future__ import annotations

from typing import Any

import yaml

from tests.infra import tfmodel

CLOUDBUILD = tfmodel.ROOT / "cloudbuild.yaml"
ORDER = [
    "build-image",
    "install",
    "lint",
    "unit-tests",
    "integration-tests",
    "checkov",
    "terraform-init",
    "terraform-plan",
    "terraform-apply",
    "smoke-test",
]


def config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CLOUDBUILD.read_text())
    return data


def steps() -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in config()["steps"]}


def script(step: dict[str, Any]) -> str:
    return " ".join(str(arg) for arg in step.get("args", []))


def test_steps_run_in_order():
    assert [step["id"] for step in config()["steps"]] == ORDER
    for step in config()["steps"]:
        assert "waitFor" not in step, "steps run one after the other"


def test_the_test_step_runs_the_readme_command():
    readme = (tfmodel.ROOT / "README.md").read_text()
    assert "./scripts/test" in readme
    assert script(steps()["integration-tests"]).endswith("./scripts/test")
    assert "./scripts/test" in (tfmodel.ROOT / ".ci" / "run").read_text(), "CI and Cloud Build run the same"


def test_early_steps():
    s = steps()
    assert "scripts/bootstrap.sh" in script(s["install"])
    assert "ruff check" in script(s["lint"]) and "mypy" in script(s["lint"])
    assert "pytest tests/unit" in script(s["unit-tests"])
    assert "infra/checkov.sh" in script(s["checkov"])
    image = s["build-image"]
    assert "infra/ci/Dockerfile" in script(image)
    dockerfile = (tfmodel.INFRA / "ci" / "Dockerfile").read_text()
    assert "gcr.io/google.com/cloudsdktool/google-cloud-cli" in dockerfile
    for tool in ("python3-venv", "openjdk-17-jre-headless"):
        assert tool in dockerfile
    for step_id in ("install", "lint", "unit-tests", "integration-tests", "checkov", "smoke-test"):
        assert s[step_id]["name"] == "payouts-ci", f"{step_id} runs in the image built first"


def test_terraform_steps():
    s = steps()
    init = script(s["terraform-init"])
    assert "backend.tf.example" in init and "$_TF_STATE_BUCKET" in init
    assert "terraform -chdir=infra validate" in init
    plan = script(s["terraform-plan"])
    assert "terraform -chdir=infra plan" in plan and "-out=tfplan" in plan
    assert "environments/$_ENV.tfvars" in plan


def test_apply_and_smoke_test_only_with_apply_true():
    assert config()["substitutions"]["_APPLY"] == "false", "plan only unless asked"
    s = steps()
    apply = script(s["terraform-apply"])
    gate = 'if [ "$_APPLY" != "true" ]'
    assert gate in apply
    assert apply.index(gate) < apply.index("terraform -chdir=infra apply")
    assert "tfplan" in apply, "apply exactly the plan that was shown"
    smoke = script(s["smoke-test"])
    assert gate in smoke and smoke.index(gate) < smoke.index("infra/smoke_test.py")


def test_shell_variables_are_escaped_from_substitution():
    """Cloud Build substitutes $NAME itself: shell variables must be written $$NAME."""
    allowed = {"PROJECT_ID", "BUILD_ID", "COMMIT_SHA", "SHORT_SHA", "BRANCH_NAME", "LOCATION"}
    substitutions = set(config()["substitutions"])
    import re

    for step in config()["steps"]:
        text = script(step) + " " + str(step.get("name", ""))
        for match in re.finditer(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", text):
            name = match.group(1)
            assert name in substitutions or name in allowed, f"{step['id']}: ${name} is not a substitution"
