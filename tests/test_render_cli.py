"""`makeittalk render`: one command per video, end to end (photo and cartoon puppet), and a
one-line error with a hint and exit code 2 for every kind of bad input."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from makeittalk.cli.main import main as cli_main
from makeittalk.pipelines.video import probe_video
from original_checkpoints import weights_home_with_rule_filled_set

SET_NAME = "rulefilled-cli"
SECONDS = 1.2


@pytest.fixture(scope="module")
def weights_home(reference_dir, tmp_path_factory) -> Path:
    return weights_home_with_rule_filled_set(reference_dir, tmp_path_factory, SET_NAME)


@pytest.fixture
def with_weights(weights_home, monkeypatch) -> Path:
    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))
    return weights_home


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """astronaut.png (scikit-image's photo), speech.wav (1.2 s), toon.png + toon.txt (a cartoon
    drawn with known landmarks), blank.png (no face)."""
    import soundfile as sf
    from PIL import Image
    from renderer.synthetic import draw_cartoon_face
    from skimage import data

    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path

    folder = tmp_path_factory.mktemp("render_inputs")
    Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
    samples = load_audio(demo_speech_path()).samples[: int(SECONDS * 16000)]
    sf.write(str(folder / "speech.wav"), samples, 16000, subtype="PCM_16")
    toon = draw_cartoon_face(320, transparent=True)
    Image.fromarray(toon.image).save(folder / "toon.png")
    np.savetxt(folder / "toon.txt", toon.landmarks[:, :2], fmt="%.3f")
    Image.fromarray(np.full((240, 240, 3), 128, np.uint8)).save(folder / "blank.png")
    return folder


def check_video(path: Path, *, fps: float, size: tuple[int, int], seconds: float = SECONDS) -> None:
    info = probe_video(path)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height) == size and info.width % 2 == 0 and info.height % 2 == 0
    assert info.num_frames == math.ceil(seconds * fps - 1e-9)
    assert abs(info.video_seconds - seconds) <= 1.0 / fps + 1e-6
    assert abs(info.audio_seconds - seconds) < 0.05


# ------------------------------------------------------------------------------ end to end


def test_astronaut_photo_in_one_command(with_weights, inputs, tmp_path, capsys):
    out = tmp_path / "astronaut.mp4"
    code = cli_main(["render", str(inputs / "astronaut.png"), str(inputs / "speech.wav"), "-o", str(out),
                     "--weights", SET_NAME, "--save-landmarks", str(tmp_path / "astronaut.json")])
    assert code == 0
    err = capsys.readouterr().err
    assert "warp renderer (auto: the weight set 'rulefilled-cli' has no translator)" in err
    assert "rendering" in err and f"wrote {out}" in err
    check_video(out, fps=25, size=(512, 512))
    data = json.loads((tmp_path / "astronaut.json").read_text())
    assert data["num_frames"] == math.ceil(SECONDS * 25) and data["image_size"] == [512, 512]


def test_cartoon_puppet_in_one_command(with_weights, inputs, tmp_path, capsys):
    puppet = tmp_path / "toon"
    assert cli_main(["puppet", "create", str(inputs / "toon.png"), "--landmarks", str(inputs / "toon.txt"),
                     "-o", str(puppet)]) == 0
    out = tmp_path / "toon.mp4"
    code = cli_main(["render", str(puppet), str(inputs / "speech.wav"), "-o", str(out), "--weights", SET_NAME,
                     "--fps", "30", "--background", "#336699", "--json-progress"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert lines and lines[-1]["stage"] == "done"
    assert any("cartoon" in line.get("message", "") for line in lines if line["stage"] == "rendering")
    check_video(out, fps=30, size=(320, 320))


def test_cli_from_a_fresh_process(with_weights, inputs, tmp_path):
    """The installed entry point, as a user runs it, quiet: nothing on stderr on success."""
    out = tmp_path / "toon.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "makeittalk", "render", str(inputs / "toon.png"), str(inputs / "speech.wav"),
         "-o", str(out), "--weights", SET_NAME, "--face-landmarks", str(inputs / "toon.txt"), "--quiet",
         "--size", "160", "--fps", "12.5", "--still", "--no-blink", "--pose-scale", "0.5", "--lip-scale", "1.5",
         "--seed", "7", "--renderer", "warp", "--device", "cpu"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
    check_video(out, fps=12.5, size=(160, 160))


# ------------------------------------------------------------------------------ bad input


def fails(capsys, args: list[str], *needles: str) -> str:
    """Run the CLI quietly; it must exit 2 with exactly one stderr line holding every needle."""
    code = cli_main(["render", *args, "--quiet"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("makeittalk render: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def render_args(inputs: Path, out: Path, portrait: str = "astronaut.png", audio: str = "speech.wav") -> list[str]:
    return [str(inputs / portrait) if not os.path.isabs(portrait) else portrait,
            str(inputs / audio) if not os.path.isabs(audio) else audio, "-o", str(out), "--weights", SET_NAME]


def test_no_face(with_weights, inputs, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    fails(capsys, render_args(inputs, out, portrait="blank.png"), "no face found", "--face-landmarks")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unreadable_image(with_weights, inputs, tmp_path, capsys):
    bad = tmp_path / "face.png"
    bad.write_bytes(b"\x89PNG but not really an image")
    out = tmp_path / "out.mp4"
    fails(capsys, render_args(inputs, out, portrait=str(bad)), "face.png", "PNG or JPEG")
    fails(capsys, render_args(inputs, out, portrait=str(tmp_path / "missing.png")), "not found", "check the path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png"]


@pytest.mark.parametrize("kind", ["garbage", "empty-file", "no-samples", "missing"])
def test_unreadable_or_empty_audio(with_weights, inputs, tmp_path, capsys, kind):
    import soundfile as sf

    audio = tmp_path / "speech.wav"
    if kind == "garbage":
        audio.write_bytes(b"RIFF....WAVEfmt garbage garbage garbage")
        needles = ("speech.wav",)
    elif kind == "empty-file":
        audio.write_bytes(b"")
        needles = ("speech.wav", "empty")
    elif kind == "no-samples":
        sf.write(str(audio), np.zeros(0, np.int16), 16000, subtype="PCM_16")
        needles = ("speech.wav", "no audio samples")
    else:
        needles = ("speech.wav", "does not exist")
    out = tmp_path / "out.mp4"
    fails(capsys, render_args(inputs, out, audio=str(audio)), *needles)
    assert not out.exists()


def test_missing_weights_name_the_fix(inputs, no_shipped_weights, tmp_path, capsys):
    # The conftest gives this test an empty MAKEITTALK_HOME and no shipped weights: no weights at all.
    out = tmp_path / "out.mp4"
    args = render_args(inputs, out)[:-2]  # the default weights
    fails(capsys, args, "import-original")
    assert not out.exists()


def test_translator_missing_from_the_set(with_weights, inputs, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    fails(capsys, render_args(inputs, out) + ["--renderer", "translator"], "has no translator", "--weights")


def test_corrupt_weights_file(weights_home, inputs, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    shutil.copytree(weights_home, home)
    monkeypatch.setenv("MAKEITTALK_HOME", str(home))
    target = home / "weights" / SET_NAME / "content_branch" / "model.safetensors"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    fails(capsys, render_args(inputs, out), "sha256 differs", "content_branch", "re-create")
    assert not out.exists()


def test_output_folder_not_writable(with_weights, inputs, tmp_path, capsys):
    if os.geteuid() == 0:
        folder = Path("/sys")  # not writable even for root
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
    fails(capsys, render_args(inputs, folder / "out.mp4"), "cannot write", "choose an output folder")
    fails(capsys, render_args(inputs, tmp_path / "no" / "such" / "out.mp4"), "does not exist", "create it first")


def test_output_equal_to_an_input(with_weights, inputs, tmp_path, capsys):
    audio = tmp_path / "speech.mp4"
    shutil.copy(inputs / "speech.wav", audio)  # any container ffmpeg reads works as audio
    before = audio.read_bytes()
    fails(capsys, render_args(inputs, audio, audio=str(audio)) + ["--overwrite"], "is the audio",
          "never overwritten")
    assert audio.read_bytes() == before


def test_bad_options(with_weights, inputs, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    fails(capsys, render_args(inputs, out) + ["--size", "huge"], "WIDTHxHEIGHT")
    fails(capsys, render_args(inputs, out) + ["--background", "not-a-colour"], "background", "#rrggbb")
    fails(capsys, render_args(inputs, tmp_path / "out.avi"), "must end in .mp4")
    fails(capsys, [str(inputs / "astronaut.png"), "-o", str(out)], "missing AUDIO")
    fails(capsys, render_args(inputs, out) + ["--shard", "1/2"], "--shard only applies to --batch")
    fails(capsys, render_args(inputs, out) + ["--seed", "-1"], "seed must be a whole number from 0")
    assert list(tmp_path.iterdir()) == []


def test_existing_output(with_weights, inputs, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"mine")
    fails(capsys, render_args(inputs, out), "already exists", "--overwrite")
    assert out.read_bytes() == b"mine"


def test_ctrl_c_leaves_no_partial_video(with_weights, inputs, tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while frames are being
    encoded: exit code 130 and no OUT.mp4, no temporary file left in the output folder."""
    import signal
    import time

    import soundfile as sf

    long_audio = tmp_path / "long.wav"
    speech, rate = sf.read(str(inputs / "speech.wav"), dtype="int16")
    sf.write(str(long_audio), np.tile(speech, 5), rate, subtype="PCM_16")  # 6 s: 150 frames
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "makeittalk", "render", str(inputs / "toon.png"), str(long_audio), "-o",
         str(out_dir / "toon.mp4"), "--weights", SET_NAME, "--face-landmarks", str(inputs / "toon.txt"),
         "--json-progress", "--size", "1600"],  # large frames: seconds of encoding to interrupt
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    try:
        for line in process.stderr:  # wait until frames are being written
            if '"stage": "rendering"' in line and '"done": ' in line and '"done": 0' not in line:
                break
        assert any(out_dir.iterdir()), "the partial file should exist while encoding"
        os.killpg(process.pid, signal.SIGINT)
        rest = process.stderr.read()
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130, rest
    assert "interrupted" in rest
    time.sleep(0.2)
    assert list(out_dir.iterdir()) == []
