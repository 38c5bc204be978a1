"""The CLI skeleton: every subcommand exists, documents examples and fails cleanly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from makeittalk.cli.main import SUBCOMMANDS, main

EXPECTED = {"render", "landmarks", "puppet", "weights", "app", "data", "train", "eval", "demo"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "makeittalk", *args], capture_output=True, text=True, timeout=120
    )


def test_all_subcommands_are_registered():
    assert EXPECTED <= set(SUBCOMMANDS)


def test_top_level_help_lists_every_subcommand():
    result = run_cli("--help")
    assert result.returncode == 0
    for name in EXPECTED:
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_subcommand_help_has_examples(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert f"makeittalk {name}" in out


def test_unknown_subcommand_fails_with_usage():
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_console_script_is_installed():
    # The README's quick start depends on the `makeittalk` entry point being on PATH.
    import shutil

    assert shutil.which("makeittalk"), "pip install did not put the makeittalk script on PATH"
