"""`makeittalk eval` end to end on a real talking-face clip, with rule-filled original weights.

Rule-filled weights are deterministic fills, not trained networks: these tests check the
command's plumbing and that its numbers are the metric code's numbers, not model quality.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from makeittalk.cli.main import main as cli_main
from makeittalk.evaluation import baselines
from makeittalk.evaluation import metrics as m
from original_checkpoints import weights_home_with_rule_filled_set

SET_NAME = "ruleset"
MODEL = f"model:{SET_NAME}"
CLIP = "pcavs_AudioSource_00373"  # the shortest clip of shared/data/talking (5.12 s, 25 fps, 128 frames)
METHODS = ["static", "rms", MODEL]


@pytest.fixture(scope="module")
def weights_home(reference_dir, tmp_path_factory) -> Path:
    return weights_home_with_rule_filled_set(reference_dir, tmp_path_factory, SET_NAME)


@pytest.fixture
def with_weights(weights_home, monkeypatch) -> Path:
    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))
    return weights_home


def _link_clip(folder: Path, data_dir: Path, name: str = CLIP, parts=("mp4", "wav", "landmarks.npz")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part in parts:
        (folder / f"{name}.{part}").symlink_to(data_dir / "talking" / f"{CLIP}.{part}")
    return folder


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["eval", *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def full_run(data_dir, weights_home, tmp_path_factory):
    """One evaluation of the whole clip, --json over an existing file with --overwrite."""
    root = tmp_path_factory.mktemp("eval_full")
    clips = _link_clip(root / "clips", data_dir)
    report_path = root / "report.json"
    report_path.write_text("stale\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAKEITTALK_HOME", str(weights_home))
        code, out, err = _run(str(clips), "--weights", SET_NAME, "--device", "cpu",
                              "--json", str(report_path), "--overwrite")
    report = json.loads(report_path.read_text()) if code == 0 else None
    return code, out, err, report


def test_eval_reports_every_method_on_the_clip(full_run):
    code, out, err, report = full_run
    assert code == 0, err
    assert report["weights"] == SET_NAME
    assert [c["clip"] for c in report["clips"]] == [CLIP]
    clip = report["clips"][0]
    assert (clip["frames"], clip["fps"], clip["frames_compared"]) == (128, 25.0, 128)
    assert clip["landmarks_source"] == "file"
    assert list(clip["methods"]) == METHODS and list(report["mean"]) == METHODS
    for name, metrics in clip["methods"].items():
        for key in m.METRIC_NAMES:
            assert metrics[key] is not None and math.isfinite(metrics[key]), (name, key)
        # one clip: the mean row is that clip
        for key in m.METRIC_NAMES:
            assert report["mean"][name][key] == pytest.approx(metrics[key], abs=1e-6)
    assert clip["methods"]["static"]["r_defined"] is False  # a still mouth has no correlation
    assert clip["methods"]["static"]["mouth_r"] == 0.0
    assert clip["methods"]["rms"]["r_defined"] is True
    assert clip["methods"][MODEL]["D-LL"] != clip["methods"]["static"]["D-LL"]
    assert set(report["definitions"]) >= {"D-LL", "D-VL", "D-A", "D-L", "D-V", "D-Rot", "D-Pos", "mouth_r"}
    assert f"[1/1] {CLIP}" in err  # the progress line


def test_eval_numbers_are_the_metric_codes_numbers(full_run, data_dir):
    """The static baseline, recomputed here from the landmark file, gives the reported metrics."""
    code, _, _, report = full_run
    assert code == 0
    with np.load(data_dir / "talking" / f"{CLIP}.landmarks.npz") as data:
        gt = data["landmarks"].astype(np.float64)
        detected = data["detected"].astype(bool)
        times = data["t"]
    np.testing.assert_allclose(times, np.arange(128) / 25.0, atol=1e-9)  # frame i <-> gt frame i
    assert detected.all()
    first = gt[np.flatnonzero(detected)[0]]
    static = baselines.static_baseline(first, len(gt))
    reported = report["clips"][0]["methods"]["static"]
    assert reported["D-LL"] == pytest.approx(m.d_ll(static, gt, detected), abs=1e-5)
    assert reported["D-L"] == pytest.approx(m.d_l(static, gt, detected), abs=1e-5)
    assert reported["D-Rot"] == pytest.approx(m.d_rot(static, gt, detected), abs=1e-5)
    assert reported["D-A"] == pytest.approx(m.d_a(static, gt, detected), abs=1e-5)
    # the static and RMS faces share the pose: pose metrics are equal, the mouth metrics differ
    rms = report["clips"][0]["methods"]["rms"]
    assert rms["D-Rot"] == pytest.approx(reported["D-Rot"]) and rms["D-Pos"] == pytest.approx(reported["D-Pos"])
    assert rms["D-A"] != pytest.approx(reported["D-A"])


def test_eval_prints_the_table(full_run):
    code, out, _, report = full_run
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["clip", "method", "D-LL", "D-VL", "D-A", "D-L", "D-V", "D-Rot", "D-Pos",
                                "mouth", "r", "lag", "ms", "r-lag0", "amp", "rot-sd", "rot-v", "pos-sd", "pos-v"]
    rows = {(line.split()[0], line.split()[1]): line.split()[2:] for line in lines
            if line.split() and line.split()[0] in (CLIP, "MEAN")}
    assert set(rows) == {(who, name) for who in (CLIP, "MEAN") for name in METHODS}
    model_row = rows[(CLIP, MODEL)]
    assert float(model_row[0]) == pytest.approx(report["clips"][0]["methods"][MODEL]["D-LL"], abs=0.006)
    assert rows[(CLIP, "static")][7] == "0.000*"  # undefined r is flagged


def test_existing_json_is_kept_without_overwrite(with_weights, data_dir, tmp_path):
    clips = _link_clip(tmp_path / "clips", data_dir)
    target = tmp_path / "report.json"
    target.write_text("keep me\n")
    code, out, err = _run(str(clips), "--weights", SET_NAME, "--json", str(target))
    assert code == 2
    assert "already exists" in err and "--overwrite" in err
    assert target.read_text() == "keep me\n"
    assert out == ""  # refused before any work


def test_no_videos_is_a_clear_error(with_weights, tmp_path):
    (tmp_path / "speech.wav").write_bytes(b"")
    code, out, err = _run(str(tmp_path), "--weights", SET_NAME)
    assert code == 2
    assert "no videos" in err and str(tmp_path) in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_clip_stem_is_named(with_weights, data_dir, tmp_path):
    clips = _link_clip(tmp_path / "clips", data_dir)
    code, _, err = _run(str(clips), "--weights", SET_NAME, "--clips", "no_such_clip")
    assert code == 2
    assert "no_such_clip" in err and CLIP in err


def test_split_from_selects_only_val_clips(with_weights, data_dir, tmp_path):
    clips = tmp_path / "clips"
    _link_clip(clips, data_dir, "held_out_speaker_clip")
    _link_clip(clips, data_dir, "training_speaker_clip")
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    entries = [
        {"id": "held_out_speaker_clip", "speaker": "alice", "source": str(clips / "held_out_speaker_clip.mp4"),
         "kind": "talking", "split": "val"},
        {"id": "training_speaker_clip", "speaker": "bob", "source": str(clips / "training_speaker_clip.mp4"),
         "kind": "talking", "split": "train"},
    ]
    (dataset / "clips.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    report_path = tmp_path / "val.json"
    code, out, err = _run(str(clips), "--weights", SET_NAME, "--split-from", str(dataset),
                          "--max-seconds", "1.5", "--json", str(report_path))
    assert code == 0, err
    report = json.loads(report_path.read_text())
    assert [(c["clip"], c["speaker"]) for c in report["clips"]] == [("held_out_speaker_clip", "alice")]
    assert report["clips"][0]["frames"] == 38  # ceil(1.5 s * 25 fps)
    assert "training_speaker_clip" not in out
    # a dataset whose val split holds none of the videos
    (dataset / "clips.jsonl").write_text(json.dumps({**entries[1], "split": "train"}) + "\n")
    code, _, err = _run(str(clips), "--weights", SET_NAME, "--split-from", str(dataset))
    assert code == 2 and "val split" in err


def test_clip_without_a_face_is_named(with_weights, data_dir, tmp_path):
    clips = _link_clip(tmp_path / "clips", data_dir, parts=("mp4", "wav"))
    with np.load(data_dir / "talking" / f"{CLIP}.landmarks.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["landmarks"] = np.full_like(arrays["landmarks"], np.nan)
    arrays["detected"] = np.zeros_like(arrays["detected"])
    np.savez(clips / f"{CLIP}.landmarks.npz", **arrays)
    code, _, err = _run(str(clips), "--weights", SET_NAME)
    assert code == 2
    assert f"clip {CLIP}: no face" in err


def test_video_without_audio_is_named(with_weights, tmp_path):
    import imageio_ffmpeg

    clips = tmp_path / "clips"
    clips.mkdir()
    writer = imageio_ffmpeg.write_frames(str(clips / "mute.mp4"), (64, 64), fps=25, macro_block_size=1)
    writer.send(None)
    for _ in range(5):
        writer.send(np.zeros((64, 64, 3), dtype=np.uint8).tobytes())
    writer.close()
    code, _, err = _run(str(clips), "--weights", SET_NAME)
    assert code == 2
    assert "clip mute: no audio" in err and "mute.wav" in err


def test_ground_truth_is_detected_without_a_landmarks_file(with_weights, data_dir, tmp_path):
    """No <clip>.landmarks.npz: every frame goes through the face detector."""
    clips = _link_clip(tmp_path / "clips", data_dir, parts=("mp4", "wav"))
    report_path = tmp_path / "detected.json"
    code, _, err = _run(str(clips), "--weights", SET_NAME, "--max-seconds", "1", "--json", str(report_path))
    assert code == 0, err
    clip = json.loads(report_path.read_text())["clips"][0]
    assert clip["landmarks_source"].startswith("detected:")
    assert clip["frames"] == 25 and clip["frames_compared"] == 25
    assert all(math.isfinite(clip["methods"][MODEL][key]) for key in m.METRIC_NAMES)
