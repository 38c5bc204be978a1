"""Waveform augmentation of training copies (makeittalk.datasets.augment, data prepare --augment)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from makeittalk.audio import load_audio
from makeittalk.cli.main import main
from makeittalk.datasets.augment import _aac_round_trip, _noise, augment_waveform, copy_seed

GRID_CLIP = "grid_s1_bbaf3s"


@pytest.fixture(scope="module")
def speech(data_dir):
    return load_audio(data_dir / "talking_grid_s1" / f"{GRID_CLIP}.mp4").samples


def test_chains_are_reproducible_and_valid(speech):
    first, again = augment_waveform(speech, 7), augment_waveform(speech, 7)
    assert first.steps == again.steps and np.array_equal(first.samples, again.samples)
    seen = set()
    for seed in range(24):
        out = augment_waveform(speech, seed)
        assert out.samples.dtype == np.int16 and out.samples.ndim == 1
        # A tempo change shortens or lengthens the audio by that factor (phase vocoder).
        assert len(out.samples) == pytest.approx(len(speech) / out.tempo, rel=0.01)
        seen |= {step.split()[0] for step in out.steps}
    assert seen == {"gain", "tempo", "pitch", "reverb", "white", "pink", "aac"}
    assert copy_seed("a", 1) != copy_seed("a", 2) != copy_seed("b", 1)


def test_noise_is_added_at_the_drawn_snr(speech):
    x = speech.astype(np.float64) / 32768.0
    noisy, step = _noise(x, np.random.default_rng(3))
    snr = float(step.split()[2])
    measured = 10 * np.log10(np.mean(x**2) / np.mean((noisy - x) ** 2))
    assert measured == pytest.approx(snr, abs=0.5)  # the step names the SNR rounded to 1 dB


def test_aac_round_trip_keeps_time_zero(speech):
    x = speech.astype(np.float64) / 32768.0
    y, step = _aac_round_trip(x, np.random.default_rng(0))
    assert step.startswith("aac") and len(y) == len(x)
    # Aligned to the sample: the best cross-correlation lag is 0 after the delay is cut.
    lags = range(-40, 41)
    corr = [np.dot(x[4000:20000], y[4000 + lag:20000 + lag]) for lag in lags]
    assert list(lags)[int(np.argmax(corr))] == 0


def test_prepare_writes_augmented_training_copies_only(data_dir, tmp_path):
    raw = tmp_path / "grid"
    raw.mkdir()
    shutil.copy(data_dir / "talking_grid_s1" / "index.tsv", raw)
    clips = [GRID_CLIP, "grid_s1_bbaf5a"]
    for clip in clips:
        for suffix in (".mp4", ".landmarks.npz"):
            shutil.copy(data_dir / "talking_grid_s1" / f"{clip}{suffix}", raw)
    out = tmp_path / "set"
    assert main(["data", "prepare", str(raw), "-o", str(out), "--val-last", "1", "--augment", "2"]) == 0
    entries = {e["id"]: e for e in map(json.loads, (out / "clips.jsonl").read_text().splitlines())}
    # The held-out clip (the last) gets no copies; the training clip gets two, in the train split.
    assert set(entries) == {GRID_CLIP, f"{GRID_CLIP}~aug1", f"{GRID_CLIP}~aug2", "grid_s1_bbaf5a"}
    for k in (1, 2):
        copy = entries[f"{GRID_CLIP}~aug{k}"]
        assert copy["split"] == "train" and copy["augmented_from"] == GRID_CLIP and copy["augmentation"]
        with np.load(out / copy["file"]) as data, np.load(out / entries[GRID_CLIP]["file"]) as clean:
            # The landmarks follow the audio's tempo: the same motion over a stretched time axis.
            tempo = next((float(s.split("x")[1]) for s in copy["augmentation"] if s.startswith("tempo")), 1.0)
            assert len(data["landmarks"]) == pytest.approx(len(clean["landmarks"]) / tempo, abs=2)
    from makeittalk.training.data import PreparedDataset

    dataset = PreparedDataset(out)
    assert {c.id for c in dataset.select(split="train")} == {GRID_CLIP}
    assert len(dataset.select(split="train", augmented=True)) == 3
