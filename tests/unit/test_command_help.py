"""Every command answers ``--help`` with its usage and exit 0 (issue 13, item 12): each
``python -m`` module with a command line, the console script, and the shell commands (those that
install first are covered by the module they exec)."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.commands import ROOT, VENV_BIN, run_command

PYTHON = sys.executable
MODULES = [
    "local_stack.stack",
    "local_stack.push_relay",
    "local_stack.iap_proxy",
    "local_stack.storage_emulator",
    "stand_ins.sandbox_provider",
    "stand_ins.adyen",
    "stand_ins.stripe_connect",
    "stand_ins.bank",
    "verification.faults",
    "verification.bench",
    "verification.auditor",
    "verification.tracing_overhead",
    "tools.ops",
    "tools.demo",
    "tools.openapi",
    "tools.country_gate",
    "tools.sample_documents",
]
COMMANDS = {
    **{f"python -m {m}": [PYTHON, "-m", m, "--help"] for m in MODULES},
    # The stack runs the tasks emulator with its own interpreter (its pins clash with the app's).
    "tasks emulator": [
        str(ROOT / ".venv-tasks" / "bin" / "python"),
        "local_stack/tasks_emulator.py",
        "--help",
    ],
    "payouts-ops": [str(VENV_BIN / "payouts-ops"), "--help"],
    "scripts/bootstrap.sh": ["bash", "scripts/bootstrap.sh", "--help"],
    "pytest (what scripts/test execs)": [str(VENV_BIN / "pytest"), "--help"],
}


def help_of(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """The answer, or why there is none: each command's own test reports it."""
    try:
        return run_command(argv, env={"COLUMNS": "100"}, timeout=300)
    except OSError as exc:  # not installed
        return subprocess.CompletedProcess(argv, 127, "", str(exc))
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(argv, -1, "", f"no answer in {exc.timeout} s")


@pytest.fixture(scope="module")
def answers():
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(COMMANDS, pool.map(help_of, COMMANDS.values()), strict=True))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_prints_the_usage_and_exits_0(answers, name):
    result = answers[name]
    assert result.returncode == 0, f"{name}: exit {result.returncode}\n{result.stderr[-2000:]}"
    assert re.search(r"^\s*usage:", result.stdout, re.IGNORECASE | re.MULTILINE), result.stdout[:500]
    assert "Traceback" not in result.stderr


def test_every_command_line_module_is_covered():
    """A module with a command line (``__main__``) is in the list above, so its help is tested."""
    found = set()
    for folder in ("local_stack", "stand_ins", "verification", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if path.name == "__main__.py":
                found.add(module.removesuffix(".__main__"))
            elif 'if __name__ == "__main__":' in path.read_text():
                found.add(module)
    assert found - {"local_stack.tasks_emulator"} == set(MODULES)


def test_every_shell_command_execs_a_covered_module():
    """scripts/ holds shell commands; those that install first exec a module covered above."""
    for script in sorted((ROOT / "scripts").iterdir()):
        if script.name == "bootstrap.sh":
            continue
        text = script.read_text()
        execs = re.findall(r"(?:^|;\s*)exec \.venv/bin/(?:python -m (\S+)|(\S+))", text, re.MULTILINE)
        assert len(execs) == 1, f"{script.name} execs {execs}"
        module, binary = execs[0]
        assert module in MODULES or binary == "pytest", f"{script.name} execs {module or binary}"
