"""`makeittalk landmarks`: the export command, end to end with rule-filled original weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from makeittalk.cli.main import main as cli_main
from original_checkpoints import write_original_checkpoint
from tolerances import NETWORK_PIXELS, assert_close

SET_NAME = "original-rulefilled"


@pytest.fixture(scope="module")
def weights_home(reference_dir, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home_cli")
    ckpts = tmp_path_factory.mktemp("ckpts_cli")
    for name in ("ckpt_autovc", "ckpt_content_branch", "ckpt_speaker_branch"):
        write_original_checkpoint(reference_dir / f"{name}.manifest.json", ckpts / f"{name}.pth")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAKEITTALK_HOME", str(home))
        assert cli_main(["weights", "import-original", str(ckpts), "--name", SET_NAME]) == 0
    return home


@pytest.fixture
def with_weights(weights_home, monkeypatch) -> Path:
    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))
    return weights_home


@pytest.fixture(scope="module")
def e2e(reference_dir):
    with np.load(reference_dir / "e2e.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture
def face_file(tmp_path, e2e) -> Path:
    """The reference detection as a 68-line `x y z` text file (bypasses the detector)."""
    path = tmp_path / "face.txt"
    path.write_text("".join(f"{x:g} {y:g} {float(z)!r}\n" for x, y, z in e2e["shape_in"]))
    return path


def landmarks_cli(reference_dir, out: Path, *extra: str) -> int:
    return cli_main([
        "landmarks", str(reference_dir / "speech_16k.wav"), "--image", str(reference_dir / "portrait.png"),
        "-o", str(out), "--weights", SET_NAME, *extra,
    ])


def test_compat_original_json_is_the_original_frames(with_weights, reference_dir, face_file, e2e, tmp_path):
    out = tmp_path / "orig.json"
    code = landmarks_cli(reference_dir, out, "--compat", "original", "--fps", "62.5", "--no-blink",
                         "--face-landmarks", str(face_file))
    assert code == 0
    data = json.loads(out.read_text())
    assert data["fps"] == 62.5 and data["num_frames"] == 269 and data["image_size"] == [256, 256]
    assert data["audio_seconds"] == pytest.approx(73284 / 16000)
    assert data["weights"] == SET_NAME and data["compat"] == "original"
    from makeittalk import __version__

    assert data["version"] == __version__
    landmarks = np.asarray(data["landmarks"])
    assert landmarks.shape == (269, 68, 3)
    # 6 decimals in the file, and the networks' float32 sums reordered by this CPU's kernels.
    assert_close(landmarks, e2e["pix_final_noblink"], NETWORK_PIXELS, "landmarks CLI, compat original")


def test_compat_original_with_seeded_blinks(with_weights, reference_dir, face_file, e2e, tmp_path):
    out = tmp_path / "orig.npy"
    assert landmarks_cli(reference_dir, out, "--compat", "original", "--fps", "62.5", "--seed", "0",
                         "--face-landmarks", str(face_file)) == 0
    assert_close(np.load(out), e2e["pix_final_blink_seeded"], NETWORK_PIXELS, "landmarks CLI, seeded blinks")


def test_default_mode_covers_the_audio_at_the_requested_rate(with_weights, reference_dir, face_file, tmp_path):
    out = tmp_path / "speech.npy"
    assert landmarks_cli(reference_dir, out, "--fps", "30", "--still", "--seed", "3", "--pose-scale", "0.5",
                         "--lip-scale", "1.5", "--face-landmarks", str(face_file), "--quiet") == 0
    array = np.load(out)
    assert array.shape == (138, 68, 3)  # ceil(4.58025 s x 30)
    assert np.all(np.isfinite(array)) and array[..., :2].min() > 0 and array[..., :2].max() < 256


def test_detection_path(with_weights, reference_dir, face_file, tmp_path, capsys):
    detected, given = tmp_path / "detected.json", tmp_path / "given.json"
    assert landmarks_cli(reference_dir, detected, "--detector", "dlib") == 0
    assert "dlib" in capsys.readouterr().err
    assert landmarks_cli(reference_dir, given, "--face-landmarks", str(face_file)) == 0
    a = np.asarray(json.loads(detected.read_text())["landmarks"])
    b = np.asarray(json.loads(given.read_text())["landmarks"])
    assert a.shape == (115, 68, 3)  # ceil(4.58025 s x 25)
    np.testing.assert_array_equal(a, b)


def test_never_overwrites_without_the_flag(with_weights, reference_dir, face_file, tmp_path, capsys):
    out = tmp_path / "taken.json"
    out.write_text("keep me")
    assert landmarks_cli(reference_dir, out, "--face-landmarks", str(face_file)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert landmarks_cli(reference_dir, out, "--face-landmarks", str(face_file), "--overwrite") == 0
    assert json.loads(out.read_text())["num_frames"] == 115
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.txt", "taken.json"]  # no temp files left


def test_missing_default_weights(no_shipped_weights, reference_dir, tmp_path, capsys):
    out = tmp_path / "out.json"
    code = cli_main(["landmarks", str(reference_dir / "speech_16k.wav"), "--image",
                     str(reference_dir / "portrait.png"), "-o", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "import-original" in err and "default" in err
    assert not out.exists()


def test_bad_output_suffix_fails_fast(reference_dir, tmp_path, capsys):
    code = cli_main(["landmarks", str(reference_dir / "speech_16k.wav"), "--image",
                     str(reference_dir / "portrait.png"), "-o", str(tmp_path / "out.csv")])
    assert code == 2
    assert ".json or .npy" in capsys.readouterr().err


def test_rejects_negative_scales(reference_dir, tmp_path):
    with pytest.raises(SystemExit):
        cli_main(["landmarks", "a.wav", "--image", "p.png", "-o", str(tmp_path / "o.json"), "--pose-scale", "-1"])


def test_json_progress_reports_fractions_within_each_stage(with_weights, reference_dir, face_file, tmp_path, capsys):
    out = tmp_path / "progress.json"
    assert landmarks_cli(reference_dir, out, "--face-landmarks", str(face_file), "--json-progress") == 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    stages = [e["stage"] for e in events]
    assert stages[0] == "face" and stages[-1] == "done"
    for stage in ("audio features", "landmarks"):
        fractions = [e["fraction"] for e in events if e["stage"] == stage]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0
        assert any(0.0 < f < 1.0 for f in fractions), (stage, fractions)
        assert fractions == sorted(fractions)
