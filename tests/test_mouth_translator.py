"""The mouth translator: crop geometry, masks, the network, paste-back, training and the photo path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from makeittalk.face.mouth_region import (
    INNER_LIP,
    OUTER_LIP,
    MouthRegion,
    crop_matrix,
    map_points,
    mouth_guides,
    mouth_masks,
    warp_into_crop,
)
from makeittalk.models import MouthTranslator, MouthTranslatorConfig
from makeittalk.resources import standard_face
from training_data import one_torch_thread, prepare_talking_dataset


@pytest.fixture(autouse=True)
def _one_thread():
    yield from one_torch_thread()


def _face(scale: float = 80.0, angle_deg: float = 0.0, shift=(200.0, 150.0)) -> np.ndarray:
    theta = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return standard_face()[:, :2] @ rotation.T * scale + np.asarray(shift)


def tiny_translator(seed: int = 0) -> MouthTranslator:
    torch.manual_seed(seed)
    config = MouthTranslatorConfig.tiny()
    config = MouthTranslatorConfig(image_size=config.image_size, channels=config.channels,
                                   region=MouthRegion(size=config.image_size).to_dict())
    return MouthTranslator(config).eval()


# ---- geometry -------------------------------------------------------------------------------


@pytest.mark.parametrize("scale, angle", [(80.0, 0.0), (37.0, 12.0), (210.0, -25.0)])
def test_crop_maps_any_pose_of_the_standard_face_onto_the_canonical_crop(scale, angle):
    region = MouthRegion()
    face = _face(scale, angle)
    crop_points = map_points(face, crop_matrix(face, region))
    # An exact similarity of the standard face: every point lands on the canonical one (float64
    # least squares on coordinates of a few hundred pixels: far below 1e-6 px).
    np.testing.assert_allclose(crop_points, region.canonical_points(), atol=1e-6)
    # The crop is framed on the mouth: its centre near the middle, nostrils and chin inside.
    mouth = crop_points[list(OUTER_LIP)].mean(axis=0)
    assert abs(mouth[0] - region.size / 2) < 1.0 and abs(mouth[1] - region.size / 2) < 0.05 * region.size
    assert 0 < crop_points[33, 1] < mouth[1] < crop_points[8, 1] < region.size


def test_masks_cover_the_lips_and_the_blend_weight_stays_inside_the_hole():
    region = MouthRegion()
    face = _face()
    face[list(range(56, 60)) + [65, 66, 67], 1] += 12.0  # open the jaw a little
    points = map_points(face, crop_matrix(face, region))
    hole, weight = mouth_masks(points, region)
    assert hole.shape == weight.shape == (region.size, region.size)
    for x, y in points[list(OUTER_LIP)]:
        assert hole[int(round(y)), int(round(x))] == 1.0
    centre = points[list(INNER_LIP)].mean(axis=0).round().astype(int)
    assert weight[centre[1], centre[0]] == pytest.approx(1.0)
    assert np.all(weight[hole == 0] == 0.0)  # kept pixels are never replaced
    assert 0.0 <= weight.min() and weight.max() <= 1.0
    assert hole[0, 0] == 0.0 and hole[-1, -1] == 0.0  # the crop's corners are kept


def test_guides_draw_the_lips_where_the_points_are():
    region = MouthRegion()
    face = _face()
    face[list(range(65, 68)), 1] += 10.0  # an open inner mouth
    points = map_points(face, crop_matrix(face, region))
    guides = mouth_guides(points, region.size)
    assert guides.shape == (region.size, region.size, 3) and guides.dtype == np.uint8
    inner_centre = points[list(INNER_LIP)].mean(axis=0).round().astype(int)
    assert guides[inner_centre[1], inner_centre[0], 2] == 255  # the inner mouth is filled
    assert guides[inner_centre[1], inner_centre[0], 1] == 0  # the outer outline is only a line
    corner = points[48].round().astype(int)
    assert guides[corner[1] - 1 : corner[1] + 2, corner[0] - 1 : corner[0] + 2, 1].max() > 100


def test_warp_into_crop_samples_the_image_through_the_matrix():
    region = MouthRegion(size=64)
    face = _face(60.0, 8.0)
    yy, xx = np.mgrid[0:400, 0:400]
    image = np.stack([xx % 256, yy % 256, (xx // 2) % 256], axis=-1).astype(np.uint8)
    matrix = crop_matrix(face, region)
    crop = warp_into_crop(image, matrix, region.size)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    for cx, cy in [(10, 10), (32, 40), (50, 20)]:
        x, y = inverse @ np.array([cx, cy, 1.0])
        # bilinear sampling of a ramp of slope 1 (channel 0) is exact up to uint8 rounding
        assert abs(int(crop[cy, cx, 0]) - x) <= 1.0
        assert abs(int(crop[cy, cx, 1]) - y) <= 1.0


# ---- the network ----------------------------------------------------------------------------


def test_network_shapes_range_and_save_load_round_trip(tmp_path):
    net = tiny_translator()
    x = torch.rand(2, 10, 32, 32)
    with torch.no_grad():
        out = net(x)
    assert out.shape == (2, 3, 32, 32) and 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    with pytest.raises(ValueError, match=r"expects \(B, 10, 32, 32\)"):
        net(torch.rand(1, 10, 48, 48))
    net.save_pretrained(tmp_path / "mouth")
    loaded = MouthTranslator.from_pretrained(tmp_path / "mouth").eval()
    assert loaded.config == net.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_config_rejects_a_size_the_levels_cannot_halve():
    with pytest.raises(ValueError, match="multiple of 8"):
        MouthTranslatorConfig(image_size=36, channels=(4, 8, 8, 8))


# ---- paste-back -----------------------------------------------------------------------------


def test_paste_crop_changes_only_the_weighted_pixels():
    from makeittalk.pipelines.mouth_render import paste_crop

    region = MouthRegion(size=48)
    face = _face(70.0, -10.0)
    matrix = crop_matrix(face, region)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (360, 400, 3), dtype=np.uint8)
    before = frame.copy()
    hole, weight = mouth_masks(map_points(face, matrix), region)
    paste_crop(frame, np.full((48, 48, 3), (255, 0, 0), np.uint8), weight, matrix)
    changed = np.any(frame != before, axis=2)
    # The changed pixels all map back inside the crop's hole (one pixel of bilinear slack).
    ys, xs = np.nonzero(changed)
    crop_xy = map_points(np.stack([xs, ys], axis=1).astype(np.float64), matrix)
    assert changed.sum() > 100
    assert np.all((crop_xy > -1) & (crop_xy < 49))
    # Bilinear sampling of the weight reaches one crop pixel past the hole, no further.
    import cv2

    grown = np.pad(cv2.dilate(hole, np.ones((3, 3), np.uint8)), 1)
    rows = np.clip(np.round(crop_xy[:, 1]).astype(int) + 1, 0, 49)
    cols = np.clip(np.round(crop_xy[:, 0]).astype(int) + 1, 0, 49)
    assert np.all(grown[rows, cols] == 1.0)
    # The mouth centre is fully replaced.
    centre = face[list(INNER_LIP)].mean(axis=0).round().astype(int)
    assert tuple(frame[centre[1], centre[0]]) == (255, 0, 0)


# ---- training -------------------------------------------------------------------------------

TRAIN_CLIP, VAL_CLIP = "pcavs_AudioSource_00373", "pcavs_Input_00010"
TINY = ["--device", "cpu", "--set", "model.channels=[4,8,8]", "--set", "image_size=32", "--set", "epochs=2",
        "--set", "steps_per_epoch=3", "--set", "batch_size=2", "--set", "max_frames_per_clip=6",
        "--set", "log_every=1", "--set", "lr=0.001"]


@pytest.fixture(scope="module")
def dataset(data_dir, tmp_path_factory) -> Path:
    return prepare_talking_dataset(data_dir, tmp_path_factory, (TRAIN_CLIP, VAL_CLIP), ["pcavs_00010"])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_train_export_and_resume(dataset, tmp_path, capsys):
    from makeittalk.cli.main import main

    run = tmp_path / "run"
    assert main(["train", "mouth-translator", "--data", str(dataset), "--out", str(run), *TINY]) == 0
    err = capsys.readouterr().err
    assert "training crops of 1 clips" in err and "decoded and warped 1/1 train clips" in err
    val = _rows(run / "val_log.csv")
    assert [r["epoch"] for r in val] == ["1", "2"]
    for row in val:
        assert 0.0 < float(row["val_ssim"]) <= 1.0 and float(row["val_psnr"]) > 5.0
        assert float(row["val_psnr_warp"]) > 15.0  # the warp alone is already close to the real frame
    exported = MouthTranslator.from_pretrained(run / "best" / "mouth_translator")
    assert exported.config.image_size == 32 and exported.config.region["size"] == 32
    meta = json.loads((run / "best" / "mouth_translator" / "config.json").read_text())
    assert "L1 in the hole" in meta["training"]["loss"]
    assert len(list(run.glob("mouth_frames-*.npz"))) == 2  # decoded once, kept for resuming

    # Resume: two more epochs start from the checkpoint and reuse the decoded crops.
    assert main(["train", "mouth-translator", "--data", str(dataset), "--out", str(run), *TINY,
                 "--set", "epochs=4"]) == 0
    err = capsys.readouterr().err
    assert "decoded" not in err
    assert [r["epoch"] for r in _rows(run / "val_log.csv")] == ["1", "2", "3", "4"]


def test_training_batch_flips_the_whole_example_consistently(dataset):
    from makeittalk.training.data import PreparedDataset
    from makeittalk.training.tasks.mouth_translator import load_mouth_frames, make_batch

    clip = PreparedDataset(dataset).select(split="train")[0]
    region = MouthRegion(size=48)
    frames = load_mouth_frames(clip, region, 4, references=2)
    assert frames.warps.shape == (2, 4, 48, 48, 3) and list(frames.references) == [0, 2]
    (x, w, warp, y), (xf, wf, warpf, yf) = (make_batch([(frames, 1, 1, False)], region),
                                            make_batch([(frames, 1, 1, True)], region))
    torch.testing.assert_close(yf, y.flip(-1), rtol=0, atol=0)
    torch.testing.assert_close(warpf, warp.flip(-1), rtol=0, atol=0)
    torch.testing.assert_close(xf[:, 0:3], warp.flip(-1), rtol=0, atol=0)  # the network sees the warp's frame
    torch.testing.assert_close(xf[:, 7:10], x[:, 7:10].flip(-1), rtol=0, atol=0)  # the reference
    # The warp of the reference frame onto its own landmarks is the real crop, up to resampling.
    assert np.abs(frames.warps[1, 2].astype(int) - frames.crops[2]).mean() < 4.0
    # The guides and masks are redrawn from mirrored points, so they match the flipped drawing
    # up to anti-aliasing at the outlines.
    assert float((wf - w.flip(-1)).abs().mean()) < 0.02
    assert float((xf[:, 4:7] - x[:, 4:7].flip(-1)).abs().mean()) < 0.03


# ---- the photo path -------------------------------------------------------------------------


def test_photo_render_keeps_every_pixel_outside_the_mouth_box(tmp_path):
    """warp + mouth translator vs warp alone: identical outside the crop boxes, different inside."""
    from makeittalk.pipelines.mouth_render import MouthTranslatorRenderer
    from renderer.warp import RenderConfig, WarpRenderer

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)
    rest = _face(60.0, 0.0, (120.0, 70.0))
    frames = [rest.copy() for _ in range(3)]
    for k, points in enumerate(frames):
        points[list(range(56, 60)) + [65, 66, 67], 1] += 3.0 * k
        points[:, 0] += k  # the head moves too
    region = MouthRegion(size=32)
    net = tiny_translator()
    with WarpRenderer(image, rest, config=RenderConfig(style="photo")) as warp:
        plain = [warp.render(p).copy() for p in frames]
        mouth = list(MouthTranslatorRenderer(net, warp, image, rest, batch_size=2).render_sequence(frames))
    for p, a, b in zip(frames, plain, mouth):
        assert b.shape == a.shape == (200, 240, 4) and b.dtype == np.uint8
        assert np.array_equal(a[:, :, 3], b[:, :, 3])  # the warp's alpha is kept
        a, b = a[:, :, :3], b[:, :, :3]
        differs = np.any(a != b, axis=2)
        assert differs.any()
        ys, xs = np.nonzero(differs)
        crop_xy = map_points(np.stack([xs, ys], axis=1).astype(np.float64), crop_matrix(p, region))
        assert np.all((crop_xy > -1.5) & (crop_xy < region.size + 0.5))


def test_talking_head_renders_photos_through_a_mouth_translator(tmp_path):
    """The API with a weight set's landmark networks and a (tiny) mouth translator: auto picks it
    for a photo, says why, and writes a real h264 + aac video of the portrait's size."""
    from PIL import Image
    from skimage import data as skdata

    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path
    from makeittalk.pipelines.talking_head import TalkingHead
    from makeittalk.pipelines.video import probe_video

    base = TalkingHead.from_pretrained("default", device="cpu")
    head = TalkingHead(base.animator, translator=tiny_translator(), weights="default", device="cpu")
    Image.fromarray(skdata.astronaut()[:301, 100:421]).save(tmp_path / "photo.png")  # 321x301
    speech = load_audio(demo_speech_path()).samples[:16000]
    result = head.render(tmp_path / "photo.png", (speech, 16000), tmp_path / "out.mp4", fps=25)
    assert result.renderer == "translator" and "mouth translator" in result.reason
    info = probe_video(tmp_path / "out.mp4")
    assert (info.width, info.height) == (320, 300) and info.num_frames == 25
    assert info.video_codec == "h264" and info.audio_codec == "aac"


def test_validation_sharpness_ratio_is_one_for_itself_and_drops_for_a_blurred_crop():
    from makeittalk.training.tasks.mouth_translator import sharpness_ratio

    rng = np.random.default_rng(0)
    crops = torch.from_numpy(rng.random((2, 3, 32, 32), dtype=np.float32))
    assert float(sharpness_ratio(crops, crops)) == pytest.approx(1.0, rel=1e-5)
    blurred = torch.nn.functional.avg_pool2d(crops, 3, stride=1, padding=1, count_include_pad=False)
    assert float(sharpness_ratio(blurred, crops)) < 0.5


def test_config_from_yaml_lists_equals_the_saved_tuple_form():
    # init_from compares the run's config (from YAML) with the saved network's
    assert MouthTranslatorConfig(channels=[16, 32, 64, 128]) == MouthTranslatorConfig(channels=(16, 32, 64, 128))
