"""Where a local stack keeps its state (issue 13, item 13): a second stack beside the first needs
only a port offset, and every subcommand finds a stack by the same rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_stack.stack import main, port_offset_for, state_dir_for


@pytest.fixture(autouse=True)
def no_stack_env(monkeypatch):
    monkeypatch.delenv("STACK_STATE_DIR", raising=False)
    monkeypatch.delenv("STACK_PORT_OFFSET", raising=False)


def test_offset_0_keeps_its_state_in_dot_local_and_any_other_offset_beside_it(tmp_path):
    assert state_dir_for(tmp_path) == tmp_path / ".local"
    assert state_dir_for(tmp_path, port_offset=0) == tmp_path / ".local"
    assert state_dir_for(tmp_path, port_offset=300) == tmp_path / ".local" / "stack-300"


def test_the_offset_comes_from_the_flag_else_stack_port_offset_else_0(tmp_path, monkeypatch):
    assert port_offset_for() == 0
    monkeypatch.setenv("STACK_PORT_OFFSET", "700")
    assert port_offset_for() == 700
    assert port_offset_for(5) == 5
    assert port_offset_for(0) == 0  # an explicit 0 wins over the variable
    assert state_dir_for(tmp_path) == tmp_path / ".local" / "stack-700"
    assert state_dir_for(tmp_path, port_offset=0) == tmp_path / ".local"
    monkeypatch.setenv("STACK_PORT_OFFSET", "")
    assert port_offset_for() == 0


def test_a_state_dir_given_wins_over_stack_state_dir_which_wins_over_the_offset(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path / "from-env"))
    assert state_dir_for(tmp_path, port_offset=300) == tmp_path / "from-env"
    assert state_dir_for(tmp_path, tmp_path / "given", port_offset=300) == tmp_path / "given"


def test_a_relative_state_dir_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STACK_STATE_DIR", "stacks/b")
    assert state_dir_for(Path("/elsewhere")) == tmp_path / "stacks" / "b"


@pytest.mark.parametrize(
    ("argv", "env", "where"),
    [
        (["--port-offset", "5"], {}, ".local/stack-5"),
        ([], {"STACK_PORT_OFFSET": "6"}, ".local/stack-6"),
        ([], {"STACK_STATE_DIR": "{root}/named"}, "named"),
        (["--state-dir", "{root}/flag"], {"STACK_STATE_DIR": "{root}/named"}, "flag"),
        ([], {}, ".local"),
    ],
)
def test_status_and_stop_look_for_the_stack_where_the_rule_says(
    tmp_path, monkeypatch, capsys, argv, env, where
):
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(root=tmp_path))
    argv = [a.format(root=tmp_path) for a in argv]
    expected = f"no stack is running (no {tmp_path / where / 'stack.json'})"
    assert main(["status", "--root", str(tmp_path), *argv]) == 1
    assert expected in capsys.readouterr().out
    assert main(["stop", "--root", str(tmp_path), *argv]) == 0
    assert expected in capsys.readouterr().out
