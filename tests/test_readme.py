"""The README's quick start is exactly two commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re

from conftest import REPO_ROOT


def _quick_start_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quick_start_has_exactly_two_single_line_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    assert "makeittalk demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci_script = (REPO_ROOT / ".ci" / "run").read_text()
    assert _quick_start_commands()[1] in ci_script.splitlines()


def test_installs_pin_the_cpu_torch_through_constraints():
    for command in _quick_start_commands():
        assert "-c constraints.txt" in command
    constraints = (REPO_ROOT / "constraints.txt").read_text()
    assert "torch==2.13.0" in constraints
