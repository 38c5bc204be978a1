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


def test_quick_exit_keeps_exit_codes_output_and_atexit_handlers(tmp_path):
    # console_main leaves through os._exit after flushing the streams and running atexit
    # handlers; a non-daemon thread still running keeps the normal (waiting) exit.
    marker = tmp_path / "atexit-ran"
    script = (
        "import atexit, sys, threading\n"
        "from makeittalk.cli import main as cli\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))\n"
        "sys.stdout.write('x' * 200000)\n"  # more than a pipe holds: it must all be flushed
        "if sys.argv[1] == 'thread':\n"
        "    started, never = threading.Event(), threading.Event()\n"
        "    threading.Thread(target=lambda: (started.set(), never.wait(1.0), print('thread finished'))).start()\n"
        "    started.wait()\n"
        "cli.exit_quickly(int(sys.argv[2]))\n"
    )
    for mode, code in (("plain", 0), ("plain", 3), ("thread", 0)):
        marker.unlink(missing_ok=True)
        result = subprocess.run([sys.executable, "-c", script, mode, str(code)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == code
        assert result.stdout.startswith("x" * 200000)
        assert marker.read_text() == "yes"
        assert ("thread finished" in result.stdout) == (mode == "thread")
    missing = run_cli("render", str(tmp_path / "none.png"), str(tmp_path / "none.wav"), "-o", str(tmp_path / "o.mp4"))
    assert missing.returncode == 2 and "file not found" in missing.stderr


def test_the_command_shortens_openmp_spinning_unless_the_user_chose(tmp_path):
    import os

    script = ("import os\nfrom makeittalk.cli import main as cli\n"
              "cli.main = lambda: print(os.environ['GOMP_SPINCOUNT']) or 0\ncli.console_main()\n")
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    ours = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert ours.returncode == 0 and ours.stdout.strip() == "10000"
    theirs = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**env, "GOMP_SPINCOUNT": "5"}, timeout=120)
    assert theirs.stdout.strip() == "5"
