"""The shared training loop, configs and the AutoVC and content trainers, on tiny real data.

Every run here trains real (tiny) networks on clips prepared from ../shared/data: a few seconds
each, so the suite checks the whole path: config -> data -> steps -> validation -> weights in the
project format -> resume -> DDP.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from makeittalk.cli.main import main
from makeittalk.training import ConfigError, load_config
from makeittalk.training.tasks.content import ContentTrainConfig

TALKING = ("pcavs_AudioSource_00373", "pcavs_Input_00010")
VAL_SPEAKER = "pcavs_00010"
SPEECH = ("1688-142285-0000", "2414-128291-0000", "3331-159605-0000", "367-130732-0000")
TINY_AUTOVC = "model={neck_dim: 2, encoder_channels: 16, decoder_hidden: 16, decoder_layers: 2, postnet_channels: 16, norm_groups: 4}"
TINY_CONTENT = "model={prior_hidden: 8, lstm_input: 8, lstm_hidden: 16, lstm_layers: 2, head_hidden: [16, 8]}"


@pytest.fixture(scope="module")
def dataset(data_dir, tmp_path_factory) -> Path:
    """Two talking clips (one held-out speaker) and four speech utterances, prepared for real."""
    from makeittalk.datasets import prepare_dataset

    raw = tmp_path_factory.mktemp("raw")
    for clip in TALKING:
        for suffix in (".mp4", ".wav", ".landmarks.npz"):
            (raw / f"{clip}{suffix}").symlink_to(data_dir / "talking" / f"{clip}{suffix}")
    (raw / "index.tsv").symlink_to(data_dir / "talking" / "index.tsv")
    speech = raw / "speech"
    speech.mkdir()
    (speech / "utterances.tsv").symlink_to(data_dir / "speech" / "librispeech" / "utterances.tsv")
    for utt in SPEECH:
        (speech / f"{utt}.wav").symlink_to(data_dir / "speech" / "librispeech" / "wav" / f"{utt}.wav")
    out = tmp_path_factory.mktemp("dataset") / "ds"
    report = prepare_dataset(raw, out, val_speakers=[VAL_SPEAKER, "3331"])
    assert not report.failed, report.failed
    return out


def train(*args: str) -> int:
    return main(["train", *args])


def tiny_autovc(dataset: Path, out: Path, *extra: str) -> int:
    return train(
        "autovc", "--data", str(dataset), "--out", str(out), "--set", "epochs=2", "--set", "steps_per_epoch=3",
        "--set", "batch_size=2", "--set", "crop_frames=32", "--set", TINY_AUTOVC, "--set", "log_every=1", *extra,
    )


@pytest.fixture(scope="module")
def autovc_run(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "autovc"
    assert tiny_autovc(dataset, out) == 0
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# ---- configs -------------------------------------------------------------------------------


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: content\nepochs: 3\nlr: 1\nbetas: [0.5, 0.9]\nmodel: {lstm_hidden: 64}\n")
    config = load_config(ContentTrainConfig, path, ["epochs=5", "model.lstm_layers=2", "kinds=[talking]"], task="content")
    assert config.epochs == 5
    assert config.lr == 1.0 and isinstance(config.lr, float)
    assert config.betas == (0.5, 0.9)
    assert config.model == {"lstm_hidden": 64, "lstm_layers": 2}
    assert config.kinds == ("talking",)


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochz: 3\n", "unknown setting(s) epochz"),
        ("epochs: three\n", "epochs must be an integer"),
        ("task: speaker\n", "is a config for 'speaker', not 'content'"),
        ("- 1\n- 2\n", "must hold a mapping"),
        ("epochs: [\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_config(ContentTrainConfig, path, task="content")


def test_shipped_configs_load():
    """Every recipe in configs/, not only the ones named after their trainer (content_v2*.yaml ...)."""
    import yaml

    from makeittalk.training.tasks import get_task

    configs = sorted((Path(__file__).resolve().parents[1] / "makeittalk" / "training" / "configs").glob("*.yaml"))
    assert len(configs) >= 10
    for path in configs:
        trainer = yaml.safe_load(path.read_text())["task"]
        config = load_config(get_task(trainer).config_class, path, task=trainer)  # raises on a bad setting
        assert config.epochs >= 1


# ---- AutoVC run: outputs, embedded description, resume -----------------------------------


def test_autovc_run_writes_weights_logs_and_description(autovc_run, dataset):
    from makeittalk.models import AutoVC

    for name in ("config.yaml", "checkpoint.pt", "train_log.csv", "val_log.csv", "summary.json"):
        assert (autovc_run / name).is_file(), name
    val = read_csv(autovc_run / "val_log.csv")
    assert [r["epoch"] for r in val] == ["1", "2"]
    assert all(float(r["val_loss"]) > 0 for r in val)
    train_rows = read_csv(autovc_run / "train_log.csv")
    assert len(train_rows) == 6 and {"loss", "recon", "recon_postnet", "code"} <= set(train_rows[0])
    meta = json.loads((autovc_run / "weights" / "autovc" / "config.json").read_text())
    training = meta["training"]
    assert training["trainer"] == "autovc" and training["steps"] == 6 and training["epochs"] == 2
    assert training["config"]["crop_frames"] == 32
    # held-out speakers are described, and no val speaker is among the training clips
    assert training["data"]["splits"]["val"]["clips"] >= 1
    assert "3331" in training["data"]["val_speakers"]
    model = AutoVC.from_directory(autovc_run / "best" / "autovc")
    mel = torch.rand(1, 32, 80)
    emb = torch.rand(1, 256)
    out = model.convert(mel, emb, emb, torch.zeros(1, 32, 257))
    assert out.shape == (1, 32, 80) and torch.isfinite(out).all()


def test_resume_matches_an_uninterrupted_run(dataset, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert tiny_autovc(dataset, straight) == 0
    assert tiny_autovc(dataset, resumed, "--set", "epochs=1") == 0
    assert len(read_csv(resumed / "val_log.csv")) == 1
    assert tiny_autovc(dataset, resumed) == 0  # same command with epochs=2: continues at epoch 2
    assert [r["epoch"] for r in read_csv(resumed / "val_log.csv")] == ["1", "2"]
    a = (straight / "weights" / "autovc" / "model.safetensors").read_bytes()
    b = (resumed / "weights" / "autovc" / "model.safetensors").read_bytes()
    assert a == b, "a resumed run must train exactly as an uninterrupted one"


def test_finished_run_is_not_trained_again(autovc_run, dataset, capsys):
    before = (autovc_run / "checkpoint.pt").stat().st_mtime_ns
    assert tiny_autovc(dataset, autovc_run) == 0
    assert "already finished" in capsys.readouterr().err
    assert (autovc_run / "checkpoint.pt").stat().st_mtime_ns == before


def test_run_folder_with_other_config_or_other_files_is_refused(autovc_run, dataset, tmp_path, capsys):
    assert tiny_autovc(dataset, autovc_run, "--set", "lr=0.5") == 2
    assert "different config (lr changed)" in capsys.readouterr().err
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "mine.txt").write_text("keep me")
    assert tiny_autovc(dataset, stranger) == 2
    assert "not empty" in capsys.readouterr().err
    assert (stranger / "mine.txt").read_text() == "keep me"


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert train("autovc", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run")) == 2
    assert "is not a prepared dataset" in capsys.readouterr().err


# ---- content branch ------------------------------------------------------------------------


def test_content_run_learns_on_real_landmarks(autovc_run, dataset, tmp_path):
    from makeittalk.models import ContentBranch

    out = tmp_path / "content"
    code = train(
        "content", "--data", str(dataset), "--out", str(out),
        "--set", f"autovc_weights={autovc_run / 'best' / 'autovc'}", "--set", TINY_CONTENT,
        "--set", "epochs=3", "--set", "steps_per_epoch=10", "--set", "batch_size=64", "--set", "lr=3e-3",
        "--set", "log_every=10",
    )
    assert code == 0
    val = read_csv(out / "val_log.csv")
    assert len(val) == 3 and all(0 < float(r["val_loss"]) < 10 for r in val)
    losses = [float(r["loss"]) for r in read_csv(out / "train_log.csv")]
    assert len(losses) == 3 and losses[-1] < losses[0], f"training loss did not fall: {losses}"
    assert "val_mouth_r" in val[0]
    meta = json.loads((out / "best" / "content_branch" / "config.json").read_text())
    assert meta["training"]["data"]["autovc"]["source"].endswith("autovc")
    assert meta["training"]["data"]["val_speakers"] == [VAL_SPEAKER]
    net = ContentBranch.from_directory(out / "best" / "content_branch")
    delta = net(torch.rand(4, 18, 80), torch.rand(1, 204))
    assert delta.shape == (4, 204)
    # The converted features were cached once per AutoVC
    assert len(list((out / "cache").glob("autovc-*/*.npy"))) == 2


def test_content_v2_run_with_window_delay_and_motion_terms(autovc_run, dataset, tmp_path):
    """The v2 recipe's settings (runs of frames, past audio in the window, motion terms) train
    and log every term; the cache is shared through feature_cache."""
    out, cache = tmp_path / "content_v2", tmp_path / "shared_cache"
    code = train(
        "content", "--data", str(dataset), "--out", str(out),
        "--set", f"autovc_weights={autovc_run / 'best' / 'autovc'}", "--set", TINY_CONTENT,
        "--set", "steps_per_epoch=5", "--set", "batch_size=64", "--set", "lr=3e-3",
        "--set", "run_frames=16", "--set", "window_delay_frames=8", "--set", "lambda_velocity=1",
        "--set", "lambda_opening=1", "--set", "lambda_correlation=0.05", "--set", f"feature_cache={cache}",
        "--set", "log_every=5", "--set", "epochs=3", "--set", "best_metric=-val_mouth_r",
    )
    assert code == 0
    # best/ is the epoch with the highest val_mouth_r (best_metric "-val_mouth_r").
    rs = [float(row["val_mouth_r"]) for row in read_csv(out / "val_log.csv")]
    assert json.loads((out / "summary.json").read_text())["best_epoch"] == 1 + int(np.argmax(rs))
    logged = read_csv(out / "train_log.csv")
    for term in ("velocity", "opening", "correlation"):
        assert all(float(row[term]) >= 0 for row in logged), term
    val = read_csv(out / "val_log.csv")
    assert {"val_opening", "val_amp", "val_mouth_r"} <= set(val[0])
    assert len(list(cache.glob("autovc-*/*.npy"))) == 2 and not (out / "cache").exists()


def test_content_on_the_source_mel(autovc_run, dataset, tmp_path):
    """content_features: source trains on the clips' own normalised mel, cached apart from the
    converted one."""
    from makeittalk.animation.engine import normalize_mel, pad_for_windows
    from makeittalk.training.data import PreparedDataset

    out = tmp_path / "source"
    assert train(
        "content", "--data", str(dataset), "--out", str(out),
        "--set", f"autovc_weights={autovc_run / 'best' / 'autovc'}", "--set", TINY_CONTENT,
        "--set", "epochs=1", "--set", "steps_per_epoch=2", "--set", "batch_size=32",
        "--set", "content_features=source",
    ) == 0
    cached = sorted((out / "cache" / "source-mel").glob("*.npy"))
    assert len(cached) == 2 and not list((out / "cache").glob("autovc-*/*.npy"))
    clip = next(c for c in PreparedDataset(dataset).select() if c.id == cached[0].stem)
    expected = pad_for_windows(normalize_mel(clip.arrays()["mel"])).astype(np.float32)
    assert np.array_equal(np.load(cached[0]), expected)


@pytest.mark.parametrize("setting, message", [
    (["batch_size=60", "run_frames=16"], "must divide batch_size"),
    (["window_delay_frames=18"], "window_delay_frames"),
    (["lambda_velocity=1"], "need run_frames > 1"),
])
def test_content_v2_settings_are_checked(setting, message, dataset, tmp_path, capsys):
    args = ["content", "--data", str(dataset), "--out", str(tmp_path / "c"), "--set", "autovc_weights=x"]
    for item in setting:
        args += ["--set", item]
    assert train(*args) == 2
    assert message in capsys.readouterr().err


def test_a_run_that_failed_before_its_first_checkpoint_starts_again_in_its_folder(dataset, tmp_path, capsys):
    out = tmp_path / "early"
    # fails in the trainer's setup, after the run folder and its config copy were written
    assert train("content", "--data", str(dataset), "--out", str(out), "--set", "autovc_weights=x") == 2
    assert (out / "config.yaml").is_file() and not (out / "checkpoint.pt").exists()
    capsys.readouterr()
    assert tiny_autovc(dataset, out) == 0
    assert (out / "checkpoint.pt").is_file() and "task: autovc" in (out / "config.yaml").read_text()


def test_content_without_autovc_weights_says_what_to_set(dataset, tmp_path, capsys):
    assert train("content", "--data", str(dataset), "--out", str(tmp_path / "c")) == 2
    assert "autovc_weights" in capsys.readouterr().err


# ---- DDP -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("--set", "ema_decay=0.5")], ids=["plain", "weight-average"])
def test_torchrun_two_cpu_processes_gloo(dataset, tmp_path, extra):
    """The same command under torchrun: 2 processes, gloo, one set of weights written by rank 0."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "makeittalk", "train", "autovc", "--data", str(dataset), "--out", str(out), "--device", "cpu",
        "--set", "epochs=2", "--set", "steps_per_epoch=3", "--set", "batch_size=2", "--set", "crop_frames=32",
        "--set", TINY_AUTOVC, *extra,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the workers too, or they would outlive the test
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    result = subprocess.CompletedProcess(cmd, proc.returncode, "", stderr)
    assert "x 2 processes" in result.stderr
    meta = json.loads((out / "weights" / "autovc" / "config.json").read_text())
    assert meta["training"]["processes"] == 2 and meta["training"]["batch_size_total"] == 4
    assert [r["epoch"] for r in read_csv(out / "val_log.csv")] == ["1", "2"]


# ---- weight averaging (ema_decay) -----------------------------------------------------------


def test_weight_average_follows_the_formula_and_swaps_back():
    from makeittalk.training.averaging import WeightAverage

    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    start = {k: v.clone() for k, v in net.state_dict().items()}
    average = WeightAverage(net, 0.75)
    expected = {k: v.clone() for k, v in start.items() if v.is_floating_point()}
    for step in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.5 * (step + 1))
        net.train()(torch.rand(4, 3))  # moves the batch-norm statistics and its integer counter
        average.update(net)
        for k in expected:
            expected[k] = 0.75 * expected[k] + 0.25 * net.state_dict()[k]
    own = {k: v.clone() for k, v in net.state_dict().items()}
    with average.swapped_in(net):
        for k, v in expected.items():
            torch.testing.assert_close(net.state_dict()[k], v)
        assert int(net.state_dict()["1.num_batches_tracked"]) == 3  # counters are copied, not averaged
    for k, v in own.items():
        assert torch.equal(net.state_dict()[k], v), f"{k} was not restored after the block"


def test_ema_run_exports_the_average_and_resumes_exactly(dataset, tmp_path):
    from makeittalk.weights.store import load_network

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert tiny_autovc(dataset, straight, "--set", "ema_decay=0.5") == 0
    assert tiny_autovc(dataset, resumed, "--set", "ema_decay=0.5", "--set", "epochs=1") == 0
    assert tiny_autovc(dataset, resumed, "--set", "ema_decay=0.5") == 0
    a = (straight / "weights" / "autovc" / "model.safetensors").read_bytes()
    b = (resumed / "weights" / "autovc" / "model.safetensors").read_bytes()
    assert a == b, "a resumed averaged run must train exactly as an uninterrupted one"
    # weights/ holds the average; the checkpoint goes on from the raw weights, which differ from it.
    checkpoint = torch.load(straight / "checkpoint.pt", weights_only=True)
    raw, average = checkpoint["modules"]["autovc"], checkpoint["weight_average"]
    exported = load_network("autovc", straight / "weights" / "autovc", device="cpu").state_dict()
    floats = [k for k, v in raw.items() if v.is_floating_point()]
    assert all(torch.equal(exported[k], average[k]) for k in floats)
    assert any(not torch.equal(raw[k], average[k]) for k in floats)


def test_ema_decay_out_of_range_is_a_clear_error(dataset, tmp_path, capsys):
    assert tiny_autovc(dataset, tmp_path / "run", "--set", "ema_decay=1.5") == 2
    assert "ema_decay 1.5 must be 0 (off) or below 1" in capsys.readouterr().err



def test_a_run_saved_before_a_setting_existed_still_resumes(dataset, tmp_path):
    """config.yaml of a run made before ema_decay existed lacks the key; its default applies."""
    import yaml

    run = tmp_path / "old"
    assert tiny_autovc(dataset, run, "--set", "epochs=1") == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    del saved["ema_decay"]
    (run / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    assert tiny_autovc(dataset, run) == 0  # epochs=2: continues at epoch 2
    assert [r["epoch"] for r in read_csv(run / "val_log.csv")] == ["1", "2"]
    assert tiny_autovc(dataset, run, "--set", "ema_decay=0.5", "--set", "epochs=3") == 2  # a real change
