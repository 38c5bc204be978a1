"""Landmark files: JSON and .npy, atomic and never overwriting by accident."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from makeittalk.animation import export
from makeittalk.errors import OutputFileError
from makeittalk.animation.export import ExportError, LandmarkSequence, load_landmarks, save_landmarks


def make_sequence(frames: int = 7) -> LandmarkSequence:
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0, 256, size=(frames, 68, 3))
    landmarks[..., 2] = rng.normal(scale=0.05, size=(frames, 68))
    return LandmarkSequence(landmarks=landmarks, fps=25.0, audio_seconds=frames / 25 - 0.01,
                            image_size=(256, 240), weights="original", seed=3)


def test_json_fields_and_round_trip(tmp_path):
    seq = make_sequence()
    path = save_landmarks(seq, tmp_path / "out.json")
    data = json.loads(path.read_text())
    for key in ("fps", "num_frames", "image_size", "landmarks", "audio_seconds", "weights", "version"):
        assert key in data
    assert data["fps"] == 25.0 and data["num_frames"] == 7 and data["image_size"] == [256, 240]
    assert data["weights"] == "original" and data["version"] == seq.version and data["seed"] == 3
    assert np.asarray(data["landmarks"]).shape == (7, 68, 3)
    back = load_landmarks(path)
    np.testing.assert_allclose(back.landmarks, seq.landmarks, atol=5e-7, rtol=0)
    assert (back.fps, back.num_frames, back.image_size, back.weights) == (25.0, 7, (256, 240), "original")
    assert back.audio_seconds == seq.audio_seconds
    np.testing.assert_allclose(back.times, np.arange(7) / 25.0)


def test_npy_round_trip(tmp_path):
    seq = make_sequence()
    path = seq.save(tmp_path / "out.npy")
    array = np.load(path)
    assert array.shape == (7, 68, 3) and array.dtype == np.float64
    np.testing.assert_array_equal(array, seq.landmarks)
    assert load_landmarks(path, fps=25.0).num_frames == 7
    with pytest.raises(ExportError, match="fps"):
        load_landmarks(path)


def test_refuses_to_overwrite(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("precious")
    with pytest.raises(OutputFileError, match="--overwrite"):
        save_landmarks(make_sequence(), target)
    assert target.read_text() == "precious"
    save_landmarks(make_sequence(), target, overwrite=True)
    assert load_landmarks(target).num_frames == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def fail(_seq):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_json_text", fail)
    with pytest.raises(KeyboardInterrupt):
        save_landmarks(make_sequence(), tmp_path / "out.json")
    assert list(tmp_path.iterdir()) == []


def test_file_permissions_follow_umask(tmp_path):
    path = save_landmarks(make_sequence(), tmp_path / "out.json")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("name", ["out.txt", "out"])
def test_rejects_unknown_suffix(tmp_path, name):
    with pytest.raises(OutputFileError, match=".json or .npy"):
        save_landmarks(make_sequence(), tmp_path / name)


def test_rejects_missing_folder(tmp_path):
    with pytest.raises(OutputFileError, match="does not exist"):
        save_landmarks(make_sequence(), tmp_path / "nope" / "out.json")


def test_sequence_validation():
    with pytest.raises(ExportError):
        LandmarkSequence(landmarks=np.zeros((3, 67, 3)), fps=25, audio_seconds=1)
    with pytest.raises(ExportError):
        LandmarkSequence(landmarks=np.full((3, 68, 3), np.nan), fps=25, audio_seconds=1)
    with pytest.raises(ExportError):
        LandmarkSequence(landmarks=np.zeros((3, 68, 3)), fps=0, audio_seconds=1)


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ExportError, match="not a readable"):
        load_landmarks(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"fps": 25, "num_frames": 2, "landmarks": np.zeros((3, 68, 3)).tolist()}))
    with pytest.raises(ExportError, match="num_frames"):
        load_landmarks(wrong)
