"""`makeittalk data prepare`: real speech, talking-face and mouth-keypoint inputs -> a dataset."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from makeittalk.cli.main import main
from makeittalk.datasets import interpolate_landmarks, split_for_speaker

SPEECH = ["1447-130550-0000", "19-198-0000", "3331-159605-0004"]  # speaker 1447 hashes to val
TALKING = ["pcavs_Input_00010", "pcavs_Input_00002"]  # 00002: 30 frames without a face
LIPS = ["00002-000", "00002-001"]


def _inputs(data_dir: Path, root: Path, *, speech=SPEECH, talking=TALKING, lips=LIPS, corrupt=True) -> Path:
    (root / "libri" / "wav").mkdir(parents=True)
    shutil.copy(data_dir / "speech/librispeech/utterances.tsv", root / "libri")
    for name in speech:
        shutil.copy(data_dir / f"speech/librispeech/wav/{name}.wav", root / "libri/wav")
    if talking:
        (root / "talking").mkdir()
        shutil.copy(data_dir / "talking/index.tsv", root / "talking")
        for clip in talking:
            for suffix in (".mp4", ".wav", ".landmarks.npz"):
                shutil.copy(data_dir / f"talking/{clip}{suffix}", root / "talking")
    if lips:
        (root / "obama").mkdir()
        for segment in lips:
            for suffix in (".wav", ".npz"):
                shutil.copy(data_dir / f"lips/obama/{segment}{suffix}", root / "obama")
    if corrupt:
        data = (data_dir / f"speech/librispeech/wav/{SPEECH[1]}.wav").read_bytes()
        (root / "libri/wav/broken.wav").write_bytes(b"not a riff header" + data[200:300])
    return root


@pytest.fixture(scope="module")
def prepared(data_dir, tmp_path_factory):
    root = _inputs(data_dir, tmp_path_factory.mktemp("raw"))
    out = tmp_path_factory.mktemp("dataset") / "set"
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    rc = main(["data", "prepare", str(root), "-o", str(out)])
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written to the input
    entries = {e["id"]: e for e in map(json.loads, (out / "clips.jsonl").read_text().splitlines())}
    return root, out, rc, entries


def _clip(out: Path, entry: dict) -> dict:
    with np.load(out / entry["file"]) as data:
        return {key: data[key] for key in data}


def test_layout_counts_and_corrupt_input_reported(prepared, capsys):
    root, out, rc, entries = prepared
    assert rc == 0
    document = json.loads((out / "dataset.json").read_text())
    assert document["format"] == "makeittalk-dataset" and document["version"] == 1
    assert document["frame_rate"] == 62.5 and document["num_clips"] == 7 == len(entries)
    assert {kind: sum(c.values()) for kind, c in document["counts"].items()} == {"speech": 3, "talking": 2, "lips": 2}
    [failure] = document["last_run"]["failed"]
    assert failure["source"].endswith("broken.wav") and "corrupt" in failure["reason"]
    assert not list(out.rglob(".*partial*"))


def test_speech_clips(prepared, data_dir):
    _, out, _, entries = prepared
    entry = entries["libri--wav--19-198-0000"]
    assert entry["kind"] == "speech" and entry["speaker"] == "19"  # from utterances.tsv
    clip = _clip(out, entry)
    samples = 1.965 * 16000
    assert clip["mel"].shape == (int(samples) // 256 + 1, 80) == (entry["num_frames"], 80)
    assert clip["mel"].dtype == np.float32 and clip["f0_bins"].dtype == np.int16
    assert clip["f0_bins"].shape == (entry["num_frames"],)
    assert 0 <= clip["f0_bins"].min() <= clip["f0_bins"].max() <= 256
    assert (clip["f0_bins"] > 0).any()
    for key in ("speaker_embedding", "autovc_source_embedding"):
        assert clip[key].shape == (256,) and np.isfinite(clip[key]).all()
    assert "landmarks" not in clip
    assert json.loads(str(clip["meta"])) == entry


def test_talking_landmarks_are_resampled_to_the_mel_rate(prepared, data_dir):
    _, out, _, entries = prepared
    entry = entries["talking--pcavs_Input_00010"]
    assert entry["speaker"] == "pcavs_00010" and entry["landmark_source"] == "file"
    clip = _clip(out, entry)
    assert clip["landmarks"].shape == (entry["num_frames"], 68, 2) == (len(clip["mel"]), 68, 2)
    assert str(clip["landmark_space"]) == "pixels" and clip["point_mask"].all()
    assert tuple(clip["image_size"]) == (224, 224)
    with np.load(data_dir / "talking/pcavs_Input_00010.landmarks.npz") as source:
        points, times = source["landmarks"].astype(np.float64), source["t"]
    m = 3  # mel frame 3 is at 0.048 s: between video frames 1 (0.04 s) and 2 (0.08 s)
    t = m * 256 / 16000
    k = int(np.searchsorted(times, t, side="right") - 1)
    w = (t - times[k]) / (times[k + 1] - times[k])
    assert (k, round(w, 6)) == (1, 0.2)
    np.testing.assert_allclose(clip["landmarks"][m], (1 - w) * points[k] + w * points[k + 1], atol=1e-4)
    np.testing.assert_allclose(clip["landmarks"][5], points[2], atol=1e-4)  # 0.08 s: exactly frame 2
    assert clip["landmark_mask"].all()


def test_missing_faces_are_masked_not_interpolated(prepared, data_dir):
    _, out, _, entries = prepared
    entry = entries["talking--pcavs_Input_00002"]
    assert entry["speaker"] == "pcavs_B"
    clip = _clip(out, entry)
    mask, landmarks = clip["landmark_mask"], clip["landmarks"]
    assert 0.5 < mask.mean() < 0.95
    assert np.isnan(landmarks[~mask]).all() and np.isfinite(landmarks[mask]).all()
    with np.load(data_dir / "talking/pcavs_Input_00002.landmarks.npz") as source:
        detected, times = source["detected"], source["t"]
    assert (~detected).sum() == 30
    run = np.zeros(len(detected), dtype=int)  # length of the missing run each frame is in
    start = 0
    for i in range(1, len(detected) + 1):
        if i == len(detected) or detected[i] != detected[start]:
            if not detected[start]:
                run[start:i] = i - start
            start = i
    k = np.searchsorted(times, np.arange(len(mask)) * 256 / 16000, side="right") - 1
    inside = k + 1 < len(times)
    both_seen = inside & detected[k] & detected[np.minimum(k + 1, len(times) - 1)]
    in_long_gap = inside & (run[k] > 3) & (run[np.minimum(k + 1, len(times) - 1)] > 3)
    assert both_seen.any() and in_long_gap.any()
    assert mask[both_seen].all() and not mask[in_long_gap].any()


def test_interpolation_bridges_short_gaps_only():
    times = np.arange(12) / 10.0
    points = np.repeat(np.arange(12.0)[:, None, None], 2, axis=2)
    points[3:5] = np.nan  # 2 missing frames: bridged
    points[7:11] = np.nan  # 4 missing frames: not bridged
    out, mask = interpolate_landmarks(points, times, np.array([0.35, 0.85, 1.25, 1.6]), frame_period=0.1)
    assert mask.tolist() == [True, False, True, False]
    np.testing.assert_allclose(out[0], [[3.5, 3.5]])
    np.testing.assert_allclose(out[2], [[11.0, 11.0]])  # held just past the end


def test_obama_lips_keep_only_the_mouth_points(prepared, data_dir):
    _, out, _, entries = prepared
    entry = entries["obama--00002-000"]
    assert entry["kind"] == "lips" and entry["speaker"] == "obama" and entry["landmark_space"] == "normalized-mouth"
    clip = _clip(out, entry)
    assert np.flatnonzero(clip["point_mask"]).tolist() == list(range(48, 68))
    assert clip["landmarks"].shape == (len(clip["mel"]), 68, 2)
    assert np.isnan(clip["landmarks"][:, :48]).all() and np.isfinite(clip["landmarks"][:, 48:]).all()
    with np.load(data_dir / "lips/obama/00002-000.npz") as source:
        keypoints, fps = source["keypoints"], float(source["fps"])
    t = 10 * 256 / 16000  # resampled from the segment's own fps
    k = int(t * fps)
    w = t * fps - k
    np.testing.assert_allclose(clip["landmarks"][10, 48:], (1 - w) * keypoints[k] + w * keypoints[k + 1], atol=1e-5)


def test_split_is_deterministic_and_speaker_disjoint(prepared, data_dir):
    _, _, _, entries = prepared
    by_speaker: dict[str, set[str]] = {}
    for entry in entries.values():
        by_speaker.setdefault(entry["speaker"], set()).add(entry["split"])
        assert entry["split"] == split_for_speaker(entry["speaker"])
    assert all(len(splits) == 1 for splits in by_speaker.values())
    assert entries["libri--wav--1447-130550-0000"]["split"] == "val"
    with open(data_dir / "speech/librispeech/speakers.tsv", newline="") as stream:
        speakers = [row["id"] for row in csv.DictReader(stream, delimiter="\t")]
    val = [s for s in speakers if split_for_speaker(s) == "val"]
    assert 0.04 < len(val) / len(speakers) < 0.18
    assert val == [s for s in speakers if split_for_speaker(s) == "val"]


def test_resume_skips_prepared_clips(prepared, tmp_path, capsys):
    root, out, _, entries = prepared
    copy = tmp_path / "set"
    shutil.copytree(out, copy)
    (copy / entries["obama--00002-001"]["file"]).unlink()  # as if interrupted before this clip
    stamps = {p: p.stat().st_mtime_ns for p in (copy / "clips").iterdir()}
    assert main(["data", "prepare", str(root), "-o", str(copy)]) == 0
    assert "6 already prepared, 2 to prepare" in capsys.readouterr().err  # the broken file is retried
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert (copy / entries["obama--00002-001"]["file"]).is_file()
    assert (copy / "clips.jsonl").read_text() == (out / "clips.jsonl").read_text()


def test_two_workers_give_identical_output(prepared, data_dir, tmp_path):
    _, out, _, entries = prepared
    root = _inputs(data_dir, tmp_path / "raw", speech=SPEECH[1:2], talking=[], lips=LIPS[:1], corrupt=False)
    assert main(["data", "prepare", str(root), "-o", str(tmp_path / "set"), "--workers", "2"]) == 0
    lines = (tmp_path / "set/clips.jsonl").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        entry = json.loads(line)
        mine, theirs = _clip(tmp_path / "set", entry), _clip(out, entries[entry["id"]])
        assert mine.keys() == theirs.keys()
        for key in mine:
            if key == "meta":
                continue
            np.testing.assert_array_equal(mine[key], theirs[key], err_msg=f"{entry['id']}: {key}")


def test_nothing_prepared_is_an_error_and_inputs_are_never_written(data_dir, tmp_path, capsys):
    root = tmp_path / "raw"
    root.mkdir()
    (root / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    assert main(["data", "prepare", str(root), "-o", str(tmp_path / "set")]) == 1
    assert "failed 1" in capsys.readouterr().err
    assert main(["data", "prepare", str(root), "-o", str(root / "inside")]) == 2
    assert "inside the input folder" in capsys.readouterr().err and not (root / "inside").exists()


def _new_folders(data_dir: Path, root: Path, ar_clips: list[str], grid_clips: list[str]) -> Path:
    """A copy of a few clips of the new folders as they are: mp4 with its own audio track (no
    WAV), the landmarks beside it, the index.tsv with the speaker column."""
    for folder, clips in (("talking_ar", ar_clips), ("talking_grid_s1", grid_clips)):
        (root / folder).mkdir(parents=True)
        shutil.copy(data_dir / folder / "index.tsv", root / folder)
        for clip in clips:
            for suffix in (".mp4", ".landmarks.npz"):
                shutil.copy(data_dir / folder / f"{clip}{suffix}", root / folder)
    return root


def test_new_folders_prepare_as_they_are_with_merges_and_last_clips_held_out(data_dir, tmp_path):
    ar = ["ar_00156", "ar_00172", "ar_09376"]  # ar_spk002 twice, then ar_spk035 (the same person)
    grid = ["grid_s1_bbaf3s", "grid_s1_bbaf5a", "grid_s1_bbal7s"]
    root = _new_folders(data_dir, tmp_path / "raw", ar, grid)
    out_ar, out_grid = tmp_path / "ar", tmp_path / "grid"
    assert main(["data", "prepare", str(root / "talking_ar"), "-o", str(out_ar), "--val-speakers", "ar_spk035"]) == 0
    entries = {e["id"]: e for e in map(json.loads, (out_ar / "clips.jsonl").read_text().splitlines())}
    assert set(entries) == set(ar)
    assert entries["ar_09376"]["speaker"] == "ar_spk035" and entries["ar_09376"]["split"] == "val"
    for entry in entries.values():
        assert entry["kind"] == "talking" and entry["landmark_source"] == "file"
        assert entry["audio"].endswith(".mp4")  # the video's own audio track
        clip = _clip(out_ar, entry)
        # A one-second clip: shorter than one 128-window speaker-branch block, still prepared.
        assert 0.9 < float(clip["seconds"]) < 1.4 and clip["landmark_mask"].mean() > 0.95
    # Merging relabels the kept clips and moves them to the side of the speaker they join.
    assert main(["data", "prepare", str(root / "talking_ar"), "-o", str(out_ar),
                 "--merge-speakers", "ar_spk035=ar_spk002", "--val-speakers", "ar_spk002"]) == 0
    entries = {e["id"]: e for e in map(json.loads, (out_ar / "clips.jsonl").read_text().splitlines())}
    assert {e["speaker"] for e in entries.values()} == {"ar_spk002"}
    assert {e["split"] for e in entries.values()} == {"val"}
    assert json.loads((out_ar / "dataset.json").read_text())["merged_speakers"] == {"ar_spk035": "ar_spk002"}

    assert main(["data", "prepare", str(root / "talking_grid_s1"), "-o", str(out_grid), "--val-last", "1"]) == 0
    entries = {e["id"]: e for e in map(json.loads, (out_grid / "clips.jsonl").read_text().splitlines())}
    assert {k: e["split"] for k, e in entries.items()} == {grid[0]: "train", grid[1]: "train", grid[2]: "val"}
    split = json.loads((out_grid / "dataset.json").read_text())["split"]
    assert split["val_last"] == 1 and split["val_clips"] == [grid[2]]
    assert 2.8 < float(_clip(out_grid, entries[grid[0]])["seconds"]) < 3.2


def test_bad_merge_is_a_one_line_error(data_dir, tmp_path, capsys):
    assert main(["data", "prepare", str(tmp_path), "-o", str(tmp_path / "out"), "--merge-speakers", "a"]) == 2
    assert "OLD=NEW" in capsys.readouterr().err
