"""The translator path: the original's landmark drawing (pixel-exact), the network input and
output conversion (exact against the reference run), crop/align and feathered paste-back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from makeittalk.models.translator import ImageTranslator, ImageTranslatorConfig
from makeittalk.pipelines.translator_render import (
    ALIGN_POINTS,
    FaceCrop,
    TranslatorRenderer,
    autocast_dtype,
    canonical_face,
    draw_landmarks,
    feather_mask,
    translator_input,
    translator_output_to_rgb,
)


@pytest.fixture(scope="module")
def e2e(reference_dir):
    with np.load(reference_dir / "e2e.npz") as data:
        return {k: data[k] for k in ("pix_final_noblink", "shape_tweaked", "shape_in")}


@pytest.fixture(scope="module")
def portrait_bgr(reference_dir):
    import cv2

    return cv2.imread(str(reference_dir / "portrait.png"))


@pytest.mark.parametrize("frame", [0, 1, 2])
def test_drawings_are_the_originals_pixel_for_pixel(reference_dir, e2e, frame):
    import cv2

    expected = cv2.imread(str(reference_dir / f"drawing_{frame:03d}.png"))
    drawn = draw_landmarks(e2e["pix_final_noblink"][frame])
    assert drawn.dtype == np.uint8 and drawn.shape == (256, 256, 3)
    np.testing.assert_array_equal(drawn, expected)


def test_static_face_drawing_and_preallocated_canvas(reference_dir, e2e):
    import cv2

    expected = cv2.imread(str(reference_dir / "drawing_static_face.png"))
    canvas = np.zeros((256, 256, 3), np.uint8)  # dirty buffer: must be cleared to white
    out = draw_landmarks(e2e["shape_tweaked"], out=canvas)
    assert out is canvas
    np.testing.assert_array_equal(canvas, expected)


def test_drawing_survives_points_far_outside_the_canvas():
    points = np.zeros((68, 3))
    points[:, 0] = np.linspace(-1e9, 1e9, 68)
    points[5] = np.nan
    image = draw_landmarks(points)
    assert image.shape == (256, 256, 3)


def test_network_input_is_the_reference_input(reference_dir, e2e, portrait_bgr):
    with np.load(reference_dir / "ckpt_116_i2i_comb.io.npz") as io:
        expected = io["input"]
    drawing = draw_landmarks(e2e["pix_final_noblink"][0])
    x = translator_input(drawing[None], portrait_bgr)
    assert tuple(x.shape) == (1, 6, 256, 256) and x.dtype == torch.float32
    np.testing.assert_array_equal(x.contiguous().numpy(), expected)


def test_output_conversion_is_the_originals(reference_dir):
    with np.load(reference_dir / "ckpt_116_i2i_comb.io.npz") as io:
        out_tanh = io["output_tanh"]
    rgb = translator_output_to_rgb(torch.from_numpy(out_tanh))
    # The original: negatives to 0, x255, astype(uint8), BGR; we return RGB.
    g = out_tanh[0].copy()
    g[g < 0] = 0
    expected_bgr = (g * 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(rgb[0], expected_bgr[:, :, ::-1])


def test_reference_portrait_is_already_in_canonical_framing(e2e, portrait_bgr):
    """The original's example portraits are framed as the crop expects: alignment is ~identity."""
    rgb = portrait_bgr[:, :, ::-1]
    crop = FaceCrop.from_landmarks(rgb, e2e["shape_in"], align_square=True)
    scale = np.sqrt(abs(np.linalg.det(crop.matrix[:, :2])))
    assert abs(scale - 1.0) < 0.05
    assert np.abs(crop.matrix[:, 2]).max() < 10
    mapped = crop.to_crop(e2e["shape_in"])[:, :2]
    target = canonical_face()
    assert np.abs(mapped[list(ALIGN_POINTS)] - target[list(ALIGN_POINTS)]).mean() < 4.0


def test_a_256_portrait_is_used_as_is_like_the_original(e2e, portrait_bgr):
    rgb = np.ascontiguousarray(portrait_bgr[:, :, ::-1])
    crop = FaceCrop.from_landmarks(rgb, e2e["shape_in"])
    np.testing.assert_array_equal(crop.crop_bgr, portrait_bgr)
    np.testing.assert_array_equal(crop.to_crop(e2e["shape_in"]), e2e["shape_in"])
    generated = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop.paste(generated), generated)  # the frame is the network's output


def test_crop_aligns_a_rotated_scaled_face_and_pastes_back():
    """A face rotated, shrunk and moved inside a bigger image comes out upright and canonical."""
    import cv2

    from skimage import data

    base = data.astronaut()
    # A known similarity: rotate 20 degrees, scale 1.6, into a 900x700 canvas.
    M = cv2.getRotationMatrix2D((256, 256), 20, 1.6)
    M[:, 2] += (150, 60)
    big = cv2.warpAffine(base, M, (900, 700), borderMode=cv2.BORDER_REFLECT)
    points = canonical_face(256) * 1.2 + (100, 40)  # any face-shaped points in `base` pixels
    moved = points @ M[:, :2].T + M[:, 2]
    crop = FaceCrop.from_landmarks(big, np.c_[moved, np.zeros(68)])
    # back in canonical framing, up to the fit's residual (exact here: a pure similarity)
    np.testing.assert_allclose(crop.to_crop(moved)[:, :2], canonical_face(), atol=1e-6)
    assert crop.crop_bgr.shape == (256, 256, 3)
    # paste-back of the crop itself reproduces the image (interpolation error only) inside,
    # and leaves everything outside the box untouched, bit for bit
    frame = crop.paste(np.ascontiguousarray(crop.crop_bgr[:, :, ::-1]))
    x0, y0, x1, y1 = crop.box
    outside = np.ones(big.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(frame[outside], big[outside])
    centre = moved.mean(0).round().astype(int)
    patch = (slice(centre[1] - 40, centre[1] + 40), slice(centre[0] - 40, centre[0] + 40))
    assert np.abs(frame[patch].astype(int) - big[patch].astype(int)).mean() < 6


def test_large_portraits_are_shrunk_with_an_area_filter():
    from skimage import data

    import cv2

    base = data.astronaut()
    big = cv2.resize(base, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    points = canonical_face(256) * 1.2 + (100, 40)
    small = FaceCrop.from_landmarks(base, np.c_[points, np.zeros(68)])
    large = FaceCrop.from_landmarks(big, np.c_[(points + 0.5) * 4 - 0.5, np.zeros(68)])
    diff = np.abs(small.crop_bgr.astype(int) - large.crop_bgr.astype(int))
    assert diff.mean() < 4


def test_feather_mask_is_one_inside_and_fades_to_zero_at_the_border():
    mask = feather_mask(256, 24)
    assert mask.shape == (256, 256) and mask.dtype == np.float32
    assert mask[128, 128] == 1.0 and mask[30:226, 30:226].min() == 1.0
    assert mask[0].max() < 0.01 and mask[:, 0].max() < 0.01
    np.testing.assert_array_equal(mask, mask.T)
    np.testing.assert_array_equal(mask, mask[::-1, ::-1])
    row = mask[128, :24]
    assert np.all(np.diff(row) > 0)


def _tiny_translator() -> ImageTranslator:
    torch.manual_seed(0)
    return ImageTranslator(ImageTranslatorConfig.tiny()).eval()


def test_renderer_batches_give_every_frame_in_order():
    from skimage import data

    portrait = data.astronaut()[:400, 80:480].copy()
    rest = np.c_[canonical_face() * 1.3 + (40, 20), np.zeros(68)]
    frames = np.repeat(rest[None], 11, axis=0)
    frames[:, 48:68, 1] += np.linspace(0, 8, 11)[:, None]  # the mouth opens over time
    renderer = TranslatorRenderer(_tiny_translator(), portrait, rest, batch_size=4, precision="float32")
    out = list(renderer.render_sequence(frames))
    assert len(out) == 11
    assert all(f.shape == portrait.shape and f.dtype == np.uint8 for f in out)
    # outside the pasted region the portrait is untouched
    x0, y0, x1, y1 = renderer.crop.box
    assert np.array_equal(out[3][:, :x0], portrait[:, :x0]) and np.array_equal(out[3][y1:], portrait[y1:])
    # a batch of 4 and single frames agree (BatchNorm is in eval mode: frames are independent)
    single = TranslatorRenderer(_tiny_translator(), portrait, rest, batch_size=1, precision="float32")
    for k in (0, 5, 10):
        np.testing.assert_allclose(single.render_batch(frames[k:k + 1])[0].astype(int), out[k].astype(int), atol=1)
    # the drawings follow the landmarks
    drawings = renderer.drawings(frames[[0, 10]])
    assert not np.array_equal(drawings[0], drawings[1])


def test_autocast_choice():
    assert autocast_dtype("cpu", "float32") is None
    assert autocast_dtype("cpu", "bfloat16") is torch.bfloat16
    assert autocast_dtype("cpu", "auto") in (None, torch.bfloat16)
    with pytest.raises(ValueError):
        autocast_dtype("cpu", "float8")


def test_bfloat16_frames_stay_close_to_float32():
    from skimage import data

    portrait = data.astronaut()[:400, 80:480].copy()
    rest = np.c_[canonical_face() * 1.3 + (40, 20), np.zeros(68)]
    net = _tiny_translator()
    exact = TranslatorRenderer(net, portrait, rest, precision="float32").generate(rest[None])
    fast = TranslatorRenderer(net, portrait, rest, precision="bfloat16").generate(rest[None])
    assert np.abs(exact.astype(int) - fast.astype(int)).mean() < 3
