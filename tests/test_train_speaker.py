"""`makeittalk train speaker`: real talking clips through a (tiny) trained AutoVC, real training
of the speaker-aware branch with and without its two discriminators, export and resume."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from makeittalk.cli.main import main
from training_data import one_torch_thread, prepare_talking_dataset

TRAIN_CLIP, VAL_CLIP = "pcavs_AudioSource_00373", "pcavs_Input_00010"
VAL_SPEAKER = "pcavs_00010"
AUTOVC_TINY = "{neck_dim: 2, encoder_channels: 16, decoder_hidden: 16, decoder_layers: 2, postnet_channels: 16, norm_groups: 4}"
GAN_COLUMNS = {"g_adv_t", "g_adv_l", "d_t", "d_l"}


def _tiny(config) -> str:
    """The fields where `config.tiny()` differs from the defaults, as a YAML (JSON) mapping."""
    default = type(config)()
    return json.dumps({f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                       if getattr(config, f.name) != getattr(default, f.name)})


@pytest.fixture(autouse=True)
def _one_thread():
    yield from one_torch_thread()


@pytest.fixture(scope="module")
def dataset(data_dir, tmp_path_factory) -> Path:
    return prepare_talking_dataset(data_dir, tmp_path_factory, (TRAIN_CLIP, VAL_CLIP), [VAL_SPEAKER])


@pytest.fixture(scope="module")
def autovc(dataset, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("autovc") / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the function-scoped _one_thread
    try:
        assert main(["train", "autovc", "--data", str(dataset), "--out", str(run), "--device", "cpu",
                     "--set", "epochs=1", "--set", "steps_per_epoch=2", "--set", "batch_size=2",
                     "--set", "crop_frames=32", "--set", f"model={AUTOVC_TINY}"]) == 0
    finally:
        torch.set_num_threads(before)
    return run / "weights" / "autovc"


def _command(dataset: Path, autovc: Path, run: Path, *extra: str) -> list[str]:
    from makeittalk.models import FrameDiscriminatorConfig, SpeakerBranchConfig, TemporalDiscriminatorConfig

    return [
        "train", "speaker", "--data", str(dataset), "--out", str(run), "--device", "cpu",
        "--set", f"autovc_weights={autovc}",
        "--set", f"model={_tiny(SpeakerBranchConfig.tiny())}",
        "--set", f"temporal_discriminator={_tiny(TemporalDiscriminatorConfig.tiny())}",
        "--set", f"frame_discriminator={_tiny(FrameDiscriminatorConfig.tiny())}",
        "--set", "segment_windows=32", "--set", "epochs=2", "--set", "steps_per_epoch=3",
        "--set", "batch_size=2", "--set", "log_every=1", "--set", "lr=0.001", "--set", "val_segments=3",
        *extra,
    ]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_train_with_gan_export_and_resume(dataset, autovc, tmp_path, capsys):
    from makeittalk.models import SpeakerBranch

    run = tmp_path / "run"
    command = _command(dataset, autovc, run, "--set", "gan=true")
    assert main(command) == 0
    err = capsys.readouterr().err
    assert "adversarial training on" in err and "speaker-branch features: AutoVC" in err

    train, val = _rows(run / "train_log.csv"), _rows(run / "val_log.csv")
    assert len(train) == 6 and [r["epoch"] for r in val] == ["1", "2"]
    assert set(train[0]) == {"epoch", "step", "seconds", "loss", "l1", "laplacian", *GAN_COLUMNS}
    assert set(val[0]) == {"epoch", "step", "val_loss", "val_l1", "val_laplacian", "val_pose_r"}
    for row in train + val:
        assert all(math.isfinite(float(row[k])) for k in row)
    for row in train:  # the logged loss is the full generator loss (λ = 0.1 by default)
        expect = float(row["l1"]) + float(row["laplacian"]) + 0.1 * (float(row["g_adv_t"]) + float(row["g_adv_l"]))
        assert float(row["loss"]) == pytest.approx(expect, rel=1e-3, abs=1e-5)
    for row in val:  # no GAN term in val_loss
        assert float(row["val_loss"]) == pytest.approx(float(row["val_l1"]) + float(row["val_laplacian"]), rel=1e-4)
        assert -1.0 <= float(row["val_pose_r"]) <= 1.0

    meta = json.loads((run / "weights/speaker_branch/config.json").read_text())
    training = meta["training"]
    assert training["trainer"] == "speaker" and training["epochs"] == 2 and training["steps"] == 6
    assert training["config"]["gan"] is True and training["config"]["segment_windows"] == 32
    assert training["data"]["segments"]["windows"] == 32 and training["data"]["segments"]["val"] == 3
    assert training["data"]["segments"]["val_clips_from"] == "val"
    assert training["data"]["val_speakers"] == [VAL_SPEAKER] and training["data"]["splits"]["train"]["clips"] == 1
    assert training["data"]["discriminators"]["temporal"]["speaker_code"] == 8
    assert set(training["val"]) == {"val_loss", "val_l1", "val_laplacian", "val_pose_r"}

    net = SpeakerBranch.from_directory(run / "weights/speaker_branch", device="cpu")
    assert net.config.speaker_code == 8 and not net.training
    with torch.no_grad():
        delta, code = net(torch.randn(2, 32, 18, 80), torch.randn(2, 256))
    assert delta.shape == (2, 32, 204) and code.shape == (2, 32, 8) and torch.isfinite(delta).all()

    payload = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert set(payload["modules"]) == {"speaker_branch", "temporal_discriminator", "frame_discriminator"}
    assert set(payload["optimizers"]) == set(payload["modules"])
    assert any(k.startswith("transformer.") for k in payload["modules"]["temporal_discriminator"])
    assert not (run / "weights" / "temporal_discriminator").exists()  # only the branch is exported

    # Same command with more epochs: resumes after epoch 2 and trains exactly one more.
    assert main(command + ["--set", "epochs=3"]) == 0
    assert "resuming" in capsys.readouterr().err
    val = _rows(run / "val_log.csv")
    assert [r["epoch"] for r in val] == ["1", "2", "3"] and [r["step"] for r in val] == ["3", "6", "9"]
    assert len(_rows(run / "train_log.csv")) == 9
    assert json.loads((run / "weights/speaker_branch/config.json").read_text())["training"]["epochs"] == 3


def test_train_without_gan(dataset, autovc, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_command(dataset, autovc, run, "--set", "gan=false", "--set", "epochs=1")) == 0
    assert "adversarial training off" in capsys.readouterr().err
    train = _rows(run / "train_log.csv")
    assert len(train) == 3 and not GAN_COLUMNS & set(train[0])
    for row in train:
        assert float(row["loss"]) == pytest.approx(float(row["l1"]) + float(row["laplacian"]), rel=1e-3, abs=1e-5)
    payload = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert set(payload["modules"]) == {"speaker_branch"}


def test_one_second_clips_are_skipped_with_a_note(dataset, autovc, data_dir, tmp_path, capsys):
    """talking_ar's word clips (~1.2 s, 75 windows) are shorter than a 128-window block: the
    branch trains on the longer clips and says how many it left out."""
    import shutil

    from makeittalk.datasets import prepare_dataset

    raw = tmp_path / "ar"
    raw.mkdir()
    for suffix in (".mp4", ".landmarks.npz"):
        shutil.copy(data_dir / "talking_ar" / f"ar_00156{suffix}", raw)
    words = tmp_path / "ar_set"
    prepare_dataset(raw, words, val_fraction=0.0)
    command = _command(dataset, autovc, tmp_path / "run", "--set", "segment_windows=128", "--set", "epochs=1")
    command[command.index("--data") + 1 : command.index("--data") + 2] = [str(dataset), str(words)]
    assert main(command) == 0
    err = capsys.readouterr().err
    assert "1 talking clip(s) have no 128-frame run with landmarks: not used" in err


def test_config_errors_are_clear(dataset, autovc, tmp_path, capsys):
    assert main(_command(dataset, autovc, tmp_path / "a", "--set", "segment_windows=600")) == 2
    assert "positional-encoding capacity max_len 512" in capsys.readouterr().err
    assert main(_command(dataset, autovc, tmp_path / "b", "--set", "temporal_discriminator.windw=4")) == 2
    assert "unknown setting(s) windw for TemporalDiscriminatorConfig" in capsys.readouterr().err
    assert main(_command(dataset, autovc, tmp_path / "c", "--set", "temporal_discriminator.speaker_code=16")) == 2
    assert "must equal the speaker branch's speaker_code 8" in capsys.readouterr().err


def test_segment_helpers():
    from makeittalk.training.tasks.speaker import longest_run, tile_segments, valid_starts

    mask = np.array([1, 1, 1, 0, 1, 1, 1, 1, 1, 0], dtype=bool)
    assert valid_starts(mask, 3).tolist() == [0, 4, 5, 6]
    assert valid_starts(mask, 6).tolist() == [] and valid_starts(mask, 20).tolist() == []
    assert longest_run(mask) == 5 and longest_run(np.zeros(4, bool)) == 0
    assert tile_segments(mask, 2) == [0, 4, 6]
    assert tile_segments(np.ones(100, bool), 10, limit=3) == [0, 40, 90]
