"""Self-reenactment evaluation of the photo renderers (`makeittalk eval --frames`).

The metric tests use synthetic images with known answers. The end-to-end tests run two held-out
talking_ar clips (val split of the talking_ar dataset) through the warp renderer and a tiny,
untrained mouth translator built here: they check the plumbing and that the warp's figures are
those of a faithful re-render, not the translator's quality.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from makeittalk.cli.main import main as cli_main
from makeittalk.evaluation import reenactment as re
from makeittalk.evaluation.runner import discover_clips
from makeittalk.face.mouth_region import MouthRegion
from makeittalk.models.mouth_translator import MouthTranslator, MouthTranslatorConfig

torch.set_num_threads(1)  # a training run may share this machine

CLIPS = ("ar_00139", "ar_00154")  # in the val split (held-out speakers) of the talking_ar dataset


def _pattern(size: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------------------------
# metrics


def test_psnr_of_a_constant_error():
    real = np.full((20, 30, 3), 100, np.uint8)
    assert re.psnr(real + 5, real) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-9)
    assert re.psnr(real, real) == math.inf


def test_ssim_of_identical_and_of_constant_images():
    image = _pattern()
    assert abs(re.ssim(image, image) - 1.0) < 1e-6
    assert re.ssim(image, _pattern(seed=1)) < 0.1
    # Flat images: no variance, so SSIM is the luminance term (2ab + c1) / (a^2 + b^2 + c1).
    a, b, c1 = 102 / 255, 51 / 255, 0.01**2
    flat = re.ssim(np.full((16, 16, 3), 102, np.uint8), np.full((16, 16, 3), 51, np.uint8))
    assert flat == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-9)


def test_sharpness_ratio():
    import cv2

    image = _pattern()
    blurred = cv2.GaussianBlur(image, (0, 0), 1.5)
    assert re.sharpness_ratio(blurred, image) < 0.2
    assert re.sharpness_ratio(image, image) == 1.0
    # The Laplacian is linear: twice the contrast, four times the variance.
    low = (image // 2).astype(np.uint8)
    assert re.sharpness_ratio(low * 2, low) == pytest.approx(4.0, rel=1e-9)
    assert math.isnan(re.sharpness_ratio(image, np.zeros_like(image)))


def test_pick_frames_spreads_the_later_faces():
    detected = np.array([False, True, True, False, True, True, True, True, True, True])
    first, later = re.pick_frames(detected, 3)
    assert first == 1 and later == [2, 6, 9]
    assert re.pick_frames(detected, 50)[1] == [2, 4, 5, 6, 7, 8, 9]
    assert re.pick_frames(detected, 3, last=5) == (1, [2, 4, 5])
    assert re.pick_frames(np.array([False, True, False]), 3) == (1, [])


def test_translator_region_follows_the_network():
    assert re.translator_region(None) == MouthRegion()
    net = MouthTranslator(dataclasses.replace(MouthTranslatorConfig.tiny(), region={"centre_y": 0.7}))
    assert re.translator_region(net) == MouthRegion(size=32, centre_y=0.7)


# ----------------------------------------------------------------------------------------------
# real clips


@pytest.fixture(scope="module")
def clip_dir(data_dir, tmp_path_factory) -> Path:
    """The two clips (video + landmarks) linked into a folder of their own."""
    source = data_dir / "talking_ar"
    if not all((source / f"{c}.mp4").is_file() and (source / f"{c}.landmarks.npz").is_file() for c in CLIPS):
        pytest.skip(f"{source} lacks the clips {', '.join(CLIPS)}")
    folder = tmp_path_factory.mktemp("reenact_clips")
    for clip in CLIPS:
        for part in ("mp4", "landmarks.npz"):
            (folder / f"{clip}.{part}").symlink_to(source / f"{clip}.{part}")
    return folder


@pytest.fixture(scope="module")
def tiny_translator(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = dataclasses.replace(MouthTranslatorConfig.tiny(), region=MouthRegion(size=32).to_dict())
    return MouthTranslator(config).eval().save_pretrained(tmp_path_factory.mktemp("mt") / "mouth_translator")


def test_identity_distance_of_a_frame_with_itself(clip_dir):
    frames = re.read_video_frames(clip_dir / f"{CLIPS[0]}.mp4", [0, 5])
    with np.load(clip_dir / f"{CLIPS[0]}.landmarks.npz") as data:
        points = data["landmarks"][0].astype(np.float64)
    descriptor = re.face_descriptor(frames[0], points)
    assert descriptor.shape == (128,) and np.isfinite(descriptor).all()
    assert re.identity_distance(frames[0], frames[0], points) < 1e-6
    assert re.identity_distance(np.zeros_like(frames[0]), frames[0], points) > 0.3


def test_reenactment_of_two_clips(clip_dir, tiny_translator):
    translator = MouthTranslator.from_pretrained(tiny_translator, "cpu")
    clips = discover_clips(clip_dir)
    lines: list[str] = []
    report = re.run_reenactment(clips, translator, translator_source=str(tiny_translator), frames_per_clip=3,
                                log=lines.append)
    assert report.methods == ["warp", "translator"]
    assert [c.clip for c in report.clips] == list(CLIPS) and not report.skipped
    assert len(lines) == 2 and lines[0].startswith(f"[1/2] {CLIPS[0]}: 3 frames")
    assert report.region == MouthRegion(size=32).to_dict()
    for clip in report.clips:
        assert clip.portrait_frame == 0 and len(clip.frames) == 3 and clip.frames[0] > clip.portrait_frame
        for name in report.methods:
            for key in re.METRICS:
                values = clip.per_frame[name][key]
                assert len(values) == 3 and all(math.isfinite(v) for v in values), (clip.clip, name, key)
                assert clip.means[name][key] == pytest.approx(np.mean(values))
    warp, mouth = report.means["warp"], report.means["translator"]
    assert warp["frames"] == mouth["frames"] == 6 and warp["clips"] == 2
    assert warp["psnr"] == pytest.approx(np.mean([c.means["warp"]["psnr"] for c in report.clips]))
    # The warp redraws the portrait at the frame's own landmarks: close to the real frame.
    assert warp["psnr"] > 25 and warp["ssim"] > 0.8 and warp["identity"] < 0.35
    assert 0.5 < warp["sharpness_median"] < 2.0
    # An untrained translator paints a blur into the hole: worse than the warp, but finite.
    assert mouth["psnr"] < warp["psnr"] and mouth["sharpness"] < warp["sharpness"]
    data = json.loads(report.to_json())
    assert data["translator_source"] == str(tiny_translator) and data["frames_per_clip"] == 3
    assert set(data["means"]) == {"warp", "translator"} and len(data["clips"]) == 2


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["eval", *args])
    return code, out.getvalue(), err.getvalue()


def test_cli_frames_writes_both_methods(clip_dir, tiny_translator, tmp_path):
    report_path = tmp_path / "out.json"
    args = [str(clip_dir), "--frames", "--translator", str(tiny_translator), "--frames-per-clip", "2",
            "--clips", CLIPS[0], "--device", "cpu", "--json", str(report_path)]
    code, out, err = _run(*args)
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["method", "PSNR", "dB"]
    assert [line.split()[0] for line in out.splitlines()[2:4]] == ["warp", "translator"]
    report = json.loads(report_path.read_text())
    assert [c["clip"] for c in report["clips"]] == [CLIPS[0]] and report["frames_per_clip"] == 2
    for name in ("warp", "translator"):
        means = report["means"][name]
        assert means["frames"] == 2
        for key in (*re.METRICS, "sharpness_median"):
            assert isinstance(means[key], float) and math.isfinite(means[key]), (name, key)
    code, _, err = _run(*args)  # the report exists now
    assert code != 0 and "--overwrite" in err


def test_cli_frames_without_a_translator_scores_the_warp_only(clip_dir, tmp_path):
    empty = tmp_path / "no_weights"
    empty.mkdir()
    code, out, err = _run(str(clip_dir), "--frames", "--weights", str(empty), "--frames-per-clip", "1",
                          "--clips", CLIPS[1], "--device", "cpu")
    assert code == 0, err
    assert "warp renderer only" in err and "--translator" in err
    rows = [line.split()[0] for line in out.splitlines()[2:] if line.split()]
    assert rows[0] == "warp" and "translator" not in rows


def test_cli_translator_needs_frames(tmp_path):
    code, _, err = _run(str(tmp_path), "--frames-per-clip", "3")
    assert code != 0 and "--frames" in err


def test_eval_frames_are_the_photo_path_frames(clip_dir, tiny_translator):
    # The eval redraws mouths on copies of its warp frames instead of rendering each twice; the
    # frames must still be exactly what the photo render path (MouthTranslatorRenderer) draws.
    from makeittalk.pipelines.mouth_render import MouthTranslatorRenderer
    from renderer.warp import RenderConfig, WarpRenderer

    translator = MouthTranslator.from_pretrained(tiny_translator, "cpu")
    portrait = re.read_video_frames(clip_dir / f"{CLIPS[0]}.mp4", [0])[0]
    with np.load(clip_dir / f"{CLIPS[0]}.landmarks.npz") as data:
        points = data["landmarks"].astype(np.float64)
    targets = [points[k] for k in (3, 9, 15)]
    renders = re.render_frames(portrait, points[0], targets, translator, batch_size=2)
    with WarpRenderer(portrait, points[0], config=RenderConfig(style="photo")) as warp:
        expected_warp = [warp.render(lm)[:, :, :3] for lm in targets]
        path = MouthTranslatorRenderer(translator, warp, portrait, points[0], batch_size=2)
        expected = [frame[:, :, :3] for frame in path.render_sequence(targets)]
    for ours, theirs in zip(renders["warp"], expected_warp):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(renders["translator"], expected):
        np.testing.assert_array_equal(ours, theirs)
    assert any(not np.array_equal(a, b) for a, b in zip(renders["warp"], renders["translator"]))
