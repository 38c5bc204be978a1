"""WarpRenderer through real OpenGL (EGL, Mesa llvmpipe on CPUs): warp, mouth, eyes, output.

Faces: skimage's astronaut (public domain) with its dlib landmarks, and a cartoon drawn in
code (renderer.synthetic) whose landmarks and colours are known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage.data import astronaut

from renderer import RenderConfig, WarpRenderer
from renderer.mesh import INNER_LIP, LEFT_EYE, RIGHT_EYE
from renderer.mouth import MouthConfig
from renderer.synthetic import IRIS, SKIN, close_eyes, draw_cartoon_face, move_head, open_mouth, talking_motion
from test_renderer_mesh import ASTRONAUT_LANDMARKS


@pytest.fixture(scope="module")
def toon_opaque():
    return draw_cartoon_face(256, transparent=False)


@pytest.fixture(scope="module")
def astro(ctx):
    with WarpRenderer(astronaut(), ASTRONAUT_LANDMARKS, ctx=ctx) as renderer:
        yield renderer


def polygon_mask(shape, polygon, erode: int = 0) -> np.ndarray:
    mask = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(mask).polygon([(float(x), float(y)) for x, y in polygon[:, :2]], fill=255)
    out = np.asarray(mask) > 0
    for _ in range(erode):  # 4-neighbour erosion
        out = out & np.roll(out, 1, 0) & np.roll(out, -1, 0) & np.roll(out, 1, 1) & np.roll(out, -1, 1)
    return out


def colour_mask(frame: np.ndarray, colour, tolerance: int = 40) -> np.ndarray:
    diff = np.abs(frame[..., :3].astype(int) - np.array(colour)[None, None, :])
    return (diff.max(axis=2) <= tolerance) & (frame[..., 3] > 200)


def luma(frame: np.ndarray) -> np.ndarray:
    return frame[..., :3].astype(float) @ np.array([0.2126, 0.7152, 0.0722])


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    assert len(xs) > 10, "feature not found"
    return np.array([xs.mean(), ys.mean()])


# --- the warp ------------------------------------------------------------------------------


def test_rest_landmarks_reproduce_the_photo(astro):
    frame = astro.render(ASTRONAUT_LANDMARKS)
    assert frame.shape == (512, 512, 4) and frame.dtype == np.uint8
    error = np.abs(frame[..., :3].astype(int) - astronaut().astype(int))
    assert error.mean() < 0.5  # in 0..255 levels; the issue asks for < 2
    assert error.max() <= 2
    assert (frame[..., 3] == 255).all()


def test_rest_landmarks_reproduce_a_transparent_cartoon_premultiplied(ctx, toon):
    with WarpRenderer(toon.image, toon.landmarks, config=RenderConfig(style="cartoon"), ctx=ctx) as r:
        frame = r.render(toon.landmarks).astype(int)
    alpha = toon.image[..., 3:4] / 255.0
    expected = np.round(toon.image[..., :3] * alpha)
    assert np.abs(frame[..., :3] - expected).mean() < 0.05
    assert np.abs(frame[..., :3] - expected).max() <= 2
    assert np.abs(frame[..., 3] - toon.image[..., 3]).max() <= 1
    assert (frame[..., :3] <= frame[..., 3:4]).all()  # premultiplied: colour never exceeds alpha


@pytest.mark.parametrize("samples, supersample, tolerance", [(4, 1, 0.05), (0, 2, 2.5), (4, 2, 2.5)])
def test_msaa_and_supersampling_keep_the_image(ctx, toon_opaque, samples, supersample, tolerance):
    # Supersampling box-filters bilinear samples, which softens a still image slightly.
    config = RenderConfig(style="cartoon", samples=samples, supersample=supersample)
    with WarpRenderer(toon_opaque.image, toon_opaque.landmarks, config=config, ctx=ctx) as r:
        assert r.samples == samples
        frame = r.render(toon_opaque.landmarks)
        assert np.abs(frame[..., :3].astype(int) - toon_opaque.image[..., :3]).mean() < tolerance
        opened = open_mouth(toon_opaque.landmarks, 0.1)
        frame = r.render(opened)
    cavity = polygon_mask(frame.shape, opened[list(INNER_LIP)], erode=2)
    assert luma(frame)[cavity].mean() < 90


def test_translated_landmarks_move_the_face(ctx, toon_opaque):
    with WarpRenderer(toon_opaque.image, toon_opaque.landmarks, ctx=ctx) as r:
        rest = r.render(toon_opaque.landmarks)
        moved = r.render(move_head(toon_opaque.landmarks, dx=9.3, dy=-6.7))
    shift = centroid(colour_mask(moved, IRIS)) - centroid(colour_mask(rest, IRIS))
    assert shift == pytest.approx([9.3, -6.7], abs=0.3)
    # The background far from the head does not move.
    assert np.array_equal(moved[:12, :12], rest[:12, :12])
    assert np.array_equal(moved[-12:, -12:], rest[-12:, -12:])


def test_rotated_landmarks_rotate_the_eyes(ctx, toon_opaque):
    lm = toon_opaque.landmarks
    centre = lm[:, :2].mean(0)
    with WarpRenderer(toon_opaque.image, lm, ctx=ctx) as r:
        rest = r.render(lm)
        turned = r.render(move_head(lm, angle_deg=10.0, centre=centre))
    theta = np.deg2rad(10.0)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    half = np.zeros(rest.shape[:2], bool)
    for side in (slice(0, 128), slice(128, 256)):  # each eye on its own
        half[:] = False
        half[:, side] = True
        before = centroid(colour_mask(rest, IRIS) & half)
        after = centroid(colour_mask(turned, IRIS) & half)
        expected = rot @ (before + 0.5 - centre) + centre - 0.5
        assert after == pytest.approx(expected, abs=0.6)


def _linear_box_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # The renderer filters in linear light, so the reference is a linear-light box filter.
    from renderer.mouth import linear_to_srgb, srgb_to_linear

    linear = srgb_to_linear(image / 255.0).astype(np.float32)
    channels = [np.asarray(Image.fromarray(linear[..., c], "F").resize(size, Image.Resampling.BOX))
                for c in range(3)]
    return np.round(linear_to_srgb(np.stack(channels, axis=2)) * 255)


@pytest.mark.parametrize("size, tolerance", [((256, 256), 0.5), ((128, 96), 8.0)])
def test_requested_output_size(ctx, size, tolerance):
    with WarpRenderer(astronaut(), ASTRONAUT_LANDMARKS, size=size, ctx=ctx) as r:
        frame = r.render(ASTRONAUT_LANDMARKS)
        assert r.output_size == size
    assert frame.shape == (size[1], size[0], 4)
    # Mip-mapping is exact for power-of-two reductions; other aspect ratios blur a little.
    reference = _linear_box_resize(astronaut(), size)
    assert np.abs(frame[..., :3].astype(int) - reference).mean() < tolerance


def test_frames_stream_without_re_uploading_or_re_triangulating(ctx, toon_opaque, monkeypatch):
    import renderer.mesh

    frames = talking_motion(toon_opaque.landmarks, 24)
    with WarpRenderer(toon_opaque.image, toon_opaque.landmarks, ctx=ctx) as r:

        def forbidden(*args, **kwargs):
            raise AssertionError("per-frame GL allocation or triangulation")

        monkeypatch.setattr(ctx, "texture", forbidden)
        monkeypatch.setattr(ctx, "buffer", forbidden)
        monkeypatch.setattr(ctx, "program", forbidden)
        monkeypatch.setattr(renderer.mesh.Mesh, "build", forbidden)
        outputs = list(r.render_sequence(frames))
    assert len(outputs) == 24
    assert not np.array_equal(outputs[0], outputs[12])
    assert all((f[..., 3] == 255).all() for f in outputs)


def test_bad_landmarks_are_rejected(astro):
    with pytest.raises(ValueError, match="68"):
        astro.render(np.zeros((60, 2)))
    broken = ASTRONAUT_LANDMARKS.copy()
    broken[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        astro.render(broken)


def test_large_motion_from_random_weights_never_tears_the_image(ctx, reference_dir):
    data = np.load(reference_dir / "e2e.npz")
    frames = data["pix_final_blink_seeded"][::6]
    portrait = np.asarray(Image.open(reference_dir / "portrait.png").convert("RGB"))
    with WarpRenderer(portrait, data["shape_in"], ctx=ctx) as r:
        for landmarks in frames:
            frame = r.render(landmarks)
            assert (frame[..., 3] == 255).all()
            # The image frame is pinned: its outermost pixels barely change.
            edges = np.concatenate([frame[0, :, :3], frame[-1, :, :3], frame[:, 0, :3], frame[:, -1, :3]])
            source = np.concatenate([portrait[0], portrait[-1], portrait[:, 0], portrait[:, -1]])
            assert np.abs(edges.astype(int) - source).mean() < 3


# --- mouth -------------------------------------------------------------------------------


def test_open_mouth_shows_a_dark_cavity_in_a_photo(astro):
    opened = open_mouth(ASTRONAUT_LANDMARKS, 0.35)
    frame = astro.render(opened)
    # The middle of the opening, between the teeth that stay attached to each lip.
    inner = opened[list(INNER_LIP), :2]
    centre = inner.mean(0)
    core = frame[int(centre[1]) - 2:int(centre[1]) + 3, int(centre[0]) - 6:int(centre[0]) + 7]
    assert luma(core).mean() < 60
    # The smile's real upper teeth stay right under the upper lip.
    upper_lip = opened[62, :2]
    teeth = frame[int(upper_lip[1]) + 1:int(upper_lip[1]) + 3, int(upper_lip[0]) - 4:int(upper_lip[0]) + 5]
    assert luma(teeth).mean() > 150


def test_cartoon_cavity_is_flat_and_teeth_appear_only_when_wide(ctx, toon):
    with WarpRenderer(toon.image, toon.landmarks, config=RenderConfig(style="cartoon"), ctx=ctx) as r:
        small = open_mouth(toon.landmarks, 0.1)
        frame = r.render(small)
        cavity = polygon_mask(frame.shape, small[list(INNER_LIP)], erode=2)
        colours = np.unique(frame[cavity][:, :3], axis=0)
        assert cavity.sum() > 20
        assert len(colours) == 1 and colours[0].max() < 90  # one flat, dark colour
        wide = open_mouth(toon.landmarks, 0.4)
        frame = r.render(wide)
    cavity = polygon_mask(frame.shape, wide[list(INNER_LIP)], erode=1)
    bright = (luma(frame) > 200) & cavity
    dark = (luma(frame) < 90) & cavity
    assert bright.sum() > 15 and dark.sum() > 30
    # Teeth hang from the upper lip: the bright pixels are above the dark ones.
    assert centroid(bright)[1] < centroid(dark)[1]


def test_photo_style_cavity_is_shaded(ctx, toon):
    with WarpRenderer(toon.image, toon.landmarks, config=RenderConfig(style="photo"), ctx=ctx) as r:
        small = open_mouth(toon.landmarks, 0.15)
        frame = r.render(small)
    cavity = polygon_mask(frame.shape, small[list(INNER_LIP)], erode=2)
    assert luma(frame)[cavity].mean() < 90
    assert len(np.unique(frame[cavity][:, :3], axis=0)) > 5


def test_without_the_mouth_pass_the_lips_just_stretch(ctx, toon):
    small = open_mouth(toon.landmarks, 0.15)
    cavity = None
    means = {}
    for enabled in (True, False):
        config = RenderConfig(style="cartoon", mouth=MouthConfig(enabled=enabled))
        with WarpRenderer(toon.image, toon.landmarks, config=config, ctx=ctx) as r:
            frame = r.render(small)
        cavity = polygon_mask(frame.shape, small[list(INNER_LIP)], erode=2)
        means[enabled] = luma(frame)[cavity].mean()
    # Without the pass the opening shows the stretched (red) mouth line, not a dark cavity.
    assert means[False] > means[True] + 15


# --- eyes --------------------------------------------------------------------------------


def test_closed_eyes_take_the_lid_colour(ctx, toon):
    lm = toon.landmarks
    with WarpRenderer(toon.image, lm, config=RenderConfig(style="cartoon"), ctx=ctx) as r:
        frame = r.render(close_eyes(lm, 1.0))
    for eye in (RIGHT_EYE, LEFT_EYE):
        region = polygon_mask(frame.shape, lm[list(eye)])
        pixels = frame[region]
        assert colour_mask(pixels[None], IRIS).sum() == 0
        white = (pixels[:, :3] > 235).all(axis=1).mean()
        skin = (np.abs(pixels[:, :3].astype(int) - SKIN).max(axis=1) <= 12).mean()
        assert white < 0.02 and skin > 0.5


def test_half_closed_lid_covers_the_top_of_the_iris(ctx, toon):
    lm = toon.landmarks
    with WarpRenderer(toon.image, lm, config=RenderConfig(style="cartoon"), ctx=ctx) as r:
        rest = r.render(lm)
        half = r.render(close_eyes(lm, 0.5))
    iris_rest, iris_half = colour_mask(rest, IRIS), colour_mask(half, IRIS)
    assert 0 < iris_half.sum() < 0.8 * iris_rest.sum()
    rows_rest, rows_half = np.nonzero(iris_rest)[0], np.nonzero(iris_half)[0]
    assert rows_half.min() > rows_rest.min() + 1  # the top is covered ...
    # ... while the iris is not squashed: its lowest visible row stays near where it was.
    assert rows_half.max() >= rows_rest.max() - 3


@pytest.mark.parametrize("closure", [0.7, 0.75, 0.8])
def test_closing_lid_is_opaque_skin_not_a_pale_veil(ctx, closure):
    """Mid-blink the lid comes down as skin; a half-transparent lid over the eye white reads as a
    pale, whitish fill (the old cross-fade covered 10.5 / 7.4 / 4.5 % of the eye with such pixels
    at these closures; opaque lids leave only anti-aliased edge pixels, 2.0 / 0.7 / 0 %)."""
    toon = draw_cartoon_face(512, transparent=True)
    lm = toon.landmarks
    with WarpRenderer(toon.image, lm, config=RenderConfig(style="cartoon"), ctx=ctx) as r:
        frame = r.render(close_eyes(lm, closure)).astype(int)
    for eye in (RIGHT_EYE, LEFT_EYE):
        pixels = frame[polygon_mask(frame.shape, lm[list(eye)])]
        # Between skin (247, 203, 168) and eye white (255, 255, 255): whiter than skin, not white.
        pale = (pixels[:, 0] >= 230) & (pixels[:, 1] >= 212) & (pixels[:, 2] >= 180) & (pixels[:, 2] <= 245)
        assert pale.mean() < 0.03


def test_photo_blink_hides_the_iris(astro):
    rest = astro.render(ASTRONAUT_LANDMARKS)
    shut = astro.render(close_eyes(ASTRONAUT_LANDMARKS, 1.0))
    for eye in (RIGHT_EYE, LEFT_EYE):
        region = polygon_mask(rest.shape, ASTRONAUT_LANDMARKS[list(eye)])
        dark_rest = (luma(rest)[region] < 90).mean()
        dark_shut = (luma(shut)[region] < 90).mean()
        assert dark_rest > 0.25 and dark_shut < 0.5 * dark_rest


# --- compositing and alpha ---------------------------------------------------------------


def test_background_colour_fills_transparency(ctx, toon):
    with WarpRenderer(toon.image, toon.landmarks, config=RenderConfig(style="cartoon"),
                      background="#ff0000", ctx=ctx) as r:
        frame = r.render(toon.landmarks)
    assert (frame[..., 3] == 255).all()
    assert tuple(frame[2, 2]) == (255, 0, 0, 255)
    opaque = toon.image[..., 3] == 255
    assert np.abs(frame[opaque][:, :3].astype(int) - toon.image[opaque][:, :3]).max() <= 1


def test_background_image_of_another_size_is_stretched_behind(ctx, toon):
    gradient = np.zeros((64, 80, 3), np.uint8)
    gradient[..., 1] = np.linspace(0, 255, 80, dtype=np.uint8)[None, :]
    gradient[..., 2] = 200
    with WarpRenderer(toon.image, toon.landmarks, config=RenderConfig(style="cartoon"),
                      background=gradient, ctx=ctx) as r:
        frame = r.render(toon.landmarks)
        assert (frame[..., 3] == 255).all()
        assert frame[2, 2, 1] < 10 and frame[2, -3, 1] > 245 and abs(int(frame[2, 2, 2]) - 200) <= 1
        r.set_background(None)
        clear = r.render(toon.landmarks)
    assert clear[2, 2, 3] == 0


def test_straight_alpha_output_on_request(ctx, toon):
    config = RenderConfig(style="cartoon", premultiplied=False)
    with WarpRenderer(toon.image, toon.landmarks, config=config, ctx=ctx) as r:
        frame = r.render(toon.landmarks).astype(int)
    edge = (toon.image[..., 3] > 60) & (toon.image[..., 3] < 200)
    assert edge.sum() > 20
    assert np.abs(frame[edge][:, :3] - toon.image[edge][:, :3].astype(int)).mean() < 3


def test_bad_background_colour_is_rejected(ctx, toon):
    with pytest.raises(ValueError, match="colour"):
        WarpRenderer(toon.image, toon.landmarks, background="#12345", ctx=ctx)


# --- geometry: the jaw ---------------------------------------------------------------------


def _warp_point(mesh, vertices: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Where the piecewise-affine warp sends the rest-pose point `point` (source pixels)."""
    from renderer.mesh import signed_areas

    rest = mesh.rest
    for tri in mesh.triangles:
        a, b, c = rest[tri]
        area = signed_areas(np.array([a, b, c]), np.array([[0, 1, 2]]))[0]
        if abs(area) < 1e-12:
            continue
        wa = signed_areas(np.array([point, b, c]), np.array([[0, 1, 2]]))[0] / area
        wb = signed_areas(np.array([a, point, c]), np.array([[0, 1, 2]]))[0] / area
        wc = 1.0 - wa - wb
        if min(wa, wb, wc) >= -1e-9:
            return wa * vertices[tri[0]] + wb * vertices[tri[1]] + wc * vertices[tri[2]]
    raise AssertionError(f"{point} is in no triangle")


def _edge_row(frame: np.ndarray, column: int, rows: slice, top, bottom) -> float:
    """Sub-pixel row where a column changes from colour `top` to colour `bottom` (by the
    green channel): rows.start + the number of rows still `top`-coloured."""
    g = frame[rows, column, 1].astype(float)
    share = np.clip((g - bottom[1]) / (top[1] - bottom[1]), 0.0, 1.0)
    return rows.start + float(share.sum())


def test_moving_the_jaw_moves_the_chin_pixels_by_the_landmark_displacement(ctx, toon_opaque):
    from renderer.synthetic import SKIN_SHADOW

    lm = toon_opaque.landmarks
    chin = lm[8, :2]
    jaw = open_mouth(lm, 0.0)
    drop = 7.0
    jaw[5:12, 1] += drop  # the lower jaw only; lips and nose stay
    with WarpRenderer(toon_opaque.image, lm, config=RenderConfig(style="cartoon"), ctx=ctx) as r:
        rest = r.render(lm)
        moved = r.render(jaw)
        vertices = r.mesh.deform(jaw[:, :2])
        mesh = r.mesh
    # The chin outline (face skin above, neck shadow below) through landmark 8.
    column = int(round(chin[0]))
    rows = slice(int(chin[1]) - 15, int(chin[1]) + 25)
    before = _edge_row(rest, column, rows, SKIN, SKIN_SHADOW)
    after = _edge_row(moved, column, rows, SKIN, SKIN_SHADOW)
    assert before == pytest.approx(chin[1] + 0.5, abs=1.0)  # the outline is at the landmark
    assert after - before == pytest.approx(drop, abs=0.35)

    # A distinctive mark on the chin (a dark dot between the lower lip and the chin point)
    # moves as the piecewise-affine warp predicts, a share of the landmark's displacement.
    marked = toon_opaque.image.copy()
    centre = chin + np.array([3.0, -9.0])
    yy, xx = np.mgrid[0:marked.shape[0], 0:marked.shape[1]]
    dot = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= 2.5 ** 2
    marked[dot, :3] = (20, 200, 20)
    sideways = jaw.copy()
    sideways[5:12, 0] += 4.0
    with WarpRenderer(marked, lm, config=RenderConfig(style="cartoon"), ctx=ctx) as r:
        before_dot = centroid(colour_mask(r.render(lm), (20, 200, 20), 60))
        after_dot = centroid(colour_mask(r.render(sideways), (20, 200, 20), 60))
        vertices = r.mesh.deform(sideways[:, :2])
    ys, xs = np.nonzero(dot)
    expected = np.mean([_warp_point(mesh, vertices, np.array([x, y], float)) - [x, y] for x, y in zip(xs, ys)], axis=0)
    assert after_dot - before_dot == pytest.approx(expected, abs=0.3)
    assert 0.3 * 4.0 < expected[0] < 4.0 and 0.3 * drop < expected[1] < drop


# --- a closed mouth draws no cavity ----------------------------------------------------------


@pytest.mark.parametrize("subject", ["cartoon", "photo"])
def test_open_mouth_draws_a_cavity_and_a_closed_one_none(ctx, toon_opaque, subject):
    from makeittalk.face import close_mouth

    if subject == "cartoon":
        image, lm, style = toon_opaque.image, toon_opaque.landmarks, "cartoon"
    else:
        image, lm, style = astronaut(), ASTRONAUT_LANDMARKS, "photo"  # a smile showing teeth
    closed = close_mouth(lm[:, :2], p1=1.0, p2=0.5)
    poses = {"rest": lm, "closed": closed, "nearly": open_mouth(lm, 0.004), "open": open_mouth(lm, 0.25)}
    frames = {}
    for enabled in (True, False):
        config = RenderConfig(style=style, mouth=MouthConfig(enabled=enabled))
        with WarpRenderer(image, lm, config=config, ctx=ctx) as r:
            for name, pose in poses.items():
                frames[name, enabled] = r.render(pose)
    # Closed (or parted less than the threshold): the mouth pass adds nothing at all.
    for name in ("rest", "closed", "nearly"):
        assert np.array_equal(frames[name, True], frames[name, False]), name
    # Open: it draws a cavity inside the inner lips, and nothing outside them.
    opened = poses["open"]
    inside = polygon_mask(frames["open", True].shape, opened[list(INNER_LIP)], erode=1)
    changed = np.abs(frames["open", True].astype(int) - frames["open", False]).max(axis=2) > 8
    assert changed[inside].mean() > 0.5
    outside = ~polygon_mask(frames["open", True].shape, opened[list(INNER_LIP)])
    outside &= ~np.roll(~outside, 2, 0) & ~np.roll(~outside, -2, 0) & ~np.roll(~outside, 2, 1) & ~np.roll(~outside, -2, 1)
    assert not changed[outside].any()


def test_rgb_frames_are_the_rgba_frames_without_alpha(astro):
    moved = ASTRONAUT_LANDMARKS.copy()
    moved[48:68, 1] += 6.0  # an open-ish mouth: the cavity and teeth pass draw too
    rgba = astro.render(moved)
    rgb = astro.render(moved, channels=3)
    assert rgb.shape == (512, 512, 3) and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, rgba[..., :3])  # the same framebuffer read twice
    with pytest.raises(ValueError, match="channels"):
        astro.render(moved, channels=2)
