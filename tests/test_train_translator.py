"""`makeittalk train translator`: real talking clips, real (tiny) training, resume, export, VGG19 loss."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from makeittalk.cli.main import main
from makeittalk.errors import MakeItTalkError
from training_data import one_torch_thread, prepare_talking_dataset

TRAIN_CLIP, VAL_CLIP = "pcavs_AudioSource_00373", "pcavs_Input_00010"
VAL_SPEAKER = "pcavs_00010"
TINY = [
    "--device", "cpu",
    "--set", "model.base_channels=4", "--set", "model.max_channels=8",
    "--set", "image_size=64", "--set", "epochs=2", "--set", "steps_per_epoch=3",
    "--set", "batch_size=2", "--set", "max_frames_per_clip=8", "--set", "log_every=1",
    "--set", "lr=0.001",
]


@pytest.fixture(autouse=True)
def _one_thread():
    yield from one_torch_thread()


@pytest.fixture(scope="module")
def dataset(data_dir, tmp_path_factory) -> Path:
    return prepare_talking_dataset(data_dir, tmp_path_factory, (TRAIN_CLIP, VAL_CLIP), [VAL_SPEAKER])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_train_export_and_resume(dataset, tmp_path, capsys):
    from makeittalk.models import ImageTranslator
    from makeittalk.training.data import PreparedDataset
    from makeittalk.training.tasks.translator import evenly_spaced, load_clip_frames, make_batch

    run = tmp_path / "run"
    command = ["train", "translator", "--data", str(dataset), "--out", str(run), *TINY]
    assert main(command) == 0
    err = capsys.readouterr().err
    assert "no vgg19_weights given" in err and "L1 + SSIM" in err  # the fallback is announced

    val = _rows(run / "val_log.csv")
    train = _rows(run / "train_log.csv")
    assert [r["epoch"] for r in val] == ["1", "2"] and len(train) == 6
    assert set(val[0]) == {"epoch", "step", "val_loss", "val_l1", "val_ssim"}
    assert set(train[0]) == {"epoch", "step", "seconds", "loss", "l1", "ssim"}
    for row in val + train:
        assert all(math.isfinite(float(row[k])) for k in row if k not in ("epoch", "step"))
    assert float(val[1]["val_loss"]) < float(val[0]["val_loss"])  # it learns
    assert 0.0 < float(val[1]["val_l1"]) < 1.0 and -1.0 < float(val[1]["val_ssim"]) < 1.0

    meta = json.loads((run / "weights/translator/config.json").read_text())
    training = meta["training"]
    assert training["trainer"] == "translator" and training["epochs"] == 2 and training["steps"] == 6
    assert training["data"]["loss_kind"] == "l1+ssim" and "SSIM" in training["data"]["loss"]
    assert "fallback" in training["data"]["loss"]
    assert training["data"]["splits"]["train"]["clips"] == 1 and training["data"]["val_speakers"] == [VAL_SPEAKER]
    assert training["data"]["frames"] == {"train": 8, "val": 8, "max_per_clip": 8, "image_size": 64,
                                          "crop": "clip", "val_clips_from": "val"}
    assert training["config"]["betas"] == [0.5, 0.999] and training["config"]["vgg19_weights"] is None

    # The exported network reproduces the logged val L1 on the same fixed val examples, built
    # with the inference pipeline's crop, drawing and input functions.
    net = ImageTranslator.from_directory(run / "weights/translator", device="cpu")
    assert net.config.base_channels == 4 and not net.training
    [val_clip] = PreparedDataset(dataset).select(split="val")
    frames = load_clip_frames(val_clip, 64, 8)
    assert frames.crops.shape == (8, 64, 64, 3) and frames.crops.dtype == np.uint8
    items = [(frames, int(t), 0) for t in evenly_spaced(np.arange(1, 8), 4)]
    x, y = make_batch(items, 64)
    assert x.shape == (4, 6, 64, 64) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    with torch.no_grad():
        out = torch.tanh(net(x))
        assert torch.tanh(net(x[:1])).shape == (1, 3, 64, 64)
    assert float((out - y).abs().mean()) == pytest.approx(float(val[1]["val_l1"]), rel=1e-4)

    # Same command with more epochs: resumes after epoch 2 and trains one more.
    assert main(command + ["--set", "epochs=3"]) == 0
    assert "resuming" in capsys.readouterr().err
    val = _rows(run / "val_log.csv")
    assert [r["epoch"] for r in val] == ["1", "2", "3"] and [r["step"] for r in val] == ["3", "6", "9"]
    assert len(_rows(run / "train_log.csv")) == 9
    assert json.loads((run / "weights/translator/config.json").read_text())["training"]["epochs"] == 3


def test_bad_image_size_is_a_clear_error(dataset, tmp_path, capsys):
    command = ["train", "translator", "--data", str(dataset), "--out", str(tmp_path / "run"), *TINY,
               "--set", "image_size=48"]
    assert main(command) == 2
    assert "image_size 48 must be a multiple of 2**num_downs = 64" in capsys.readouterr().err


def test_vgg19_loss_from_weights_file(tmp_path):
    from makeittalk.training.tasks.translator import ImageLoss, TranslatorTrainConfig
    from makeittalk.training.vgg import VGG19, VGGWeightsError, gram_matrix

    torch.manual_seed(0)
    state = VGG19().state_dict()
    assert len(state) == 32 and state["features.34.weight"].shape == (512, 512, 3, 3)  # torchvision layout
    state["classifier.0.weight"] = torch.zeros(2, 2)  # extra keys (the classifier) are ignored
    weights = tmp_path / "vgg19-test.pth"
    torch.save(state, weights)

    config = TranslatorTrainConfig(vgg19_weights=str(weights))
    loss = ImageLoss(config, torch.device("cpu"))
    assert loss.kind == "l1+vgg19" and "perceptual" in loss.description and "vgg19-test.pth" in loss.description
    assert torch.equal(loss.vgg.vgg.features[28].weight, state["features.28.weight"])
    assert not any(p.requires_grad for p in loss.vgg.parameters())

    g = torch.Generator().manual_seed(1)
    target = torch.rand(2, 3, 32, 32, generator=g)
    same = loss(target.clone(), target)
    assert float(same["perceptual"]) == 0.0 and float(same["style"]) == 0.0 and float(same["loss"]) == 0.0
    output = torch.rand(2, 3, 32, 32, generator=g).requires_grad_(True)
    terms = loss(output, target)
    values = {k: float(v.detach()) for k, v in terms.items()}
    assert all(math.isfinite(v) for v in values.values())
    assert values["perceptual"] > 0 and values["style"] > 0
    assert values["loss"] == pytest.approx(values["l1"] + values["perceptual"] + values["style"], rel=1e-6)
    terms["loss"].backward()
    assert output.grad is not None and float(output.grad.abs().sum()) > 0

    # The original's Gram matrix flattens batch x channels; per image it is the diagonal blocks.
    f = torch.rand(2, 4, 3, 3, generator=g)
    whole, per_image = gram_matrix(f), gram_matrix(f, per_image=True)
    assert whole.shape == (8, 8) and per_image.shape == (2, 4, 4)
    assert torch.allclose(whole[4:, 4:], per_image[1])

    state["features.10.weight"] = torch.zeros(256, 64, 3, 3)  # a wrong shape
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(MakeItTalkError, match=r"features\.10\.weight has shape \(256, 64, 3, 3\), VGG19 needs \(256, 128, 3, 3\)"):
        ImageLoss(TranslatorTrainConfig(vgg19_weights=str(bad)), torch.device("cpu"))
    with pytest.raises(VGGWeightsError, match="does not exist"):
        ImageLoss(TranslatorTrainConfig(vgg19_weights=str(tmp_path / "missing.pth")), torch.device("cpu"))
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
    with pytest.raises(VGGWeightsError, match="has no tensor 'features.0.bias'"):
        ImageLoss(TranslatorTrainConfig(vgg19_weights=str(bad)), torch.device("cpu"))


def test_train_with_vgg19_loss(dataset, tmp_path, capsys):
    from makeittalk.training.vgg import VGG19

    torch.manual_seed(0)
    weights = tmp_path / "vgg19.pth"
    torch.save(VGG19().state_dict(), weights)
    run = tmp_path / "run"
    command = ["train", "translator", "--data", str(dataset), "--out", str(run), *TINY,
               "--set", "epochs=1", "--set", "steps_per_epoch=2", "--set", f"vgg19_weights={weights}"]
    assert main(command) == 0
    assert "no vgg19_weights" not in capsys.readouterr().err
    [val] = _rows(run / "val_log.csv")
    assert set(val) == {"epoch", "step", "val_loss", "val_l1", "val_ssim", "val_perceptual", "val_style"}
    assert set(_rows(run / "train_log.csv")[0]) == {"epoch", "step", "seconds", "loss", "l1", "perceptual", "style"}
    assert all(math.isfinite(float(v)) for v in val.values())
    data = json.loads((run / "weights/translator/config.json").read_text())["training"]["data"]
    assert data["loss_kind"] == "l1+vgg19" and "VGG19 perceptual" in data["loss"]


def test_frame_landmarks_without_sidecar_come_from_the_prepared_track(dataset, tmp_path):
    """A video with no .landmarks.npz beside it: the prepared 62.5 fps landmarks, interpolated at
    the video frame times, match the per-frame file they were made from."""
    import dataclasses

    from makeittalk.training.data import PreparedDataset
    from makeittalk.training.tasks.translator import frame_landmarks, load_clip_frames

    [clip] = PreparedDataset(dataset).select(split="train")
    from_file, source = frame_landmarks(clip)
    assert source == "file" and from_file.shape == (128, 68, 2)
    video = tmp_path / "alone.mp4"
    video.symlink_to(Path(clip.meta["source"]).resolve())
    bare = dataclasses.replace(clip, meta={**clip.meta, "source": str(video), "landmarks_file": None})
    interpolated, source = frame_landmarks(bare)
    assert source.startswith("prepared") and interpolated.shape == (128, 68, 2)
    both = np.isfinite(interpolated).all(axis=(1, 2))
    assert both.sum() >= 125  # every frame but the ones after the audio's end
    error = np.abs(interpolated - from_file).max(axis=(1, 2))
    assert error[both][::2].max() < 1e-3  # even frames (every 0.08 s) sit on a 62.5 fps frame: exact
    assert error[both].max() < 2.0  # odd frames: linear interpolation of the resampled track (pixels)
    frames = load_clip_frames(bare, 64, 4, crop_mode="frame")
    assert len(frames) == 4 and frames.frame_numbers[0] == 0
