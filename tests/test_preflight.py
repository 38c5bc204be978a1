"""Bad inputs are reported at once, all of them, before torch or any network is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from makeittalk.errors import MakeItTalkError
from makeittalk.pipelines.preflight import check_inputs

# Runs the CLI in a fresh interpreter and reports its exit code, stderr and whether torch,
# librosa or resemblyzer were imported: a bad input must be found before any of them loads.
_PROBE = r"""
import contextlib, io, json, sys
from makeittalk.cli.main import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "librosa", "resemblyzer", "scipy.signal") if m in sys.modules)
print(json.dumps({"code": code, "stderr": err.getvalue(), "heavy": heavy}))
"""


def cli_probe(*args: str, cwd) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_render_names_every_missing_input_before_loading_anything(tmp_path):
    result = cli_probe("render", "nope.png", "nope.wav", "-o", "out.mp4", "--face-landmarks", "pts.txt", cwd=tmp_path)
    assert result["code"] == 2 and result["heavy"] == []
    message = result["stderr"]
    assert message.count("\n") == 1, message  # one line
    assert "3 inputs need fixing" in message
    assert "portrait nope.png" in message and "nope.wav does not exist" in message and "pts.txt" in message
    assert not (tmp_path / "out.mp4").exists()


def test_empty_audio_and_unknown_weights_are_named_together(tmp_path, reference_dir):
    (tmp_path / "empty.wav").write_bytes(b"")
    result = cli_probe("landmarks", "empty.wav", "--image", str(reference_dir / "portrait.png"), "-o", "x.json",
                       "--weights", "no-such-set", cwd=tmp_path)
    assert result["code"] == 2 and result["heavy"] == []
    assert "empty (0 bytes)" in result["stderr"] and "no weight set named 'no-such-set'" in result["stderr"]


def test_demo_with_a_set_that_is_not_installed_fails_at_once(tmp_path):
    result = cli_probe("demo", "--weights", "original", "-o", "demo.mp4", cwd=tmp_path)
    assert result["code"] == 2 and result["heavy"] == []
    assert "no weight set named 'original'" in result["stderr"] and "import-original" in result["stderr"]


def test_a_folder_that_is_not_a_puppet_is_named(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(MakeItTalkError, match="not a puppet folder"):
        check_inputs(portrait=tmp_path / "folder")
    check_inputs(portrait=None, audio=(b"", 16000), background="#204060")  # non-paths are left to the loaders
