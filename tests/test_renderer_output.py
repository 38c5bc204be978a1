"""What the renderer hands back: alpha compositing in linear light, both output paths (opaque
sRGB8 read back directly, possibly-transparent through the resolve pass), headless operation,
and a few frames saved under test-artifacts/renderer/ for a look."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.data import astronaut

from renderer import RenderConfig, WarpRenderer
from renderer.mouth import linear_to_srgb, srgb_to_linear
from renderer.synthetic import close_eyes, draw_cartoon_face, move_head, open_mouth, talking_motion
from test_renderer_mesh import ASTRONAUT_LANDMARKS

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "renderer"


def _poses(lm: np.ndarray) -> dict[str, np.ndarray]:
    return {"rest": lm, "open": open_mouth(lm, 0.3), "blink": close_eyes(lm, 0.8),
            "turn": move_head(open_mouth(lm, 0.12), dx=6.0, angle_deg=7.0)}


def _over(premultiplied: np.ndarray, background_rgba: np.ndarray) -> np.ndarray:
    """Reference 'over' in linear light: premultiplied sRGB8 output over a straight-alpha
    sRGB8 background (either may be a broadcastable array); returns straight sRGB 0..255 and
    alpha 0..255 as floats."""
    a = premultiplied[..., 3:4] / 255.0
    straight = np.where(a > 0, premultiplied[..., :3] / np.maximum(a, 1e-9) / 255.0, 0.0)
    fg = srgb_to_linear(np.clip(straight, 0, 1)) * a
    ba = background_rgba[..., 3:4] / 255.0
    bg = srgb_to_linear(background_rgba[..., :3] / 255.0) * ba
    out_a = a + ba * (1 - a)
    lin = fg + bg * (1 - a)
    rgb = np.where(out_a > 0, lin / np.maximum(out_a, 1e-9), 0.0)
    return np.concatenate([linear_to_srgb(rgb) * 255.0, out_a * 255.0], axis=-1)


def _reference_is_exact(frame: np.ndarray) -> np.ndarray:
    return (frame[..., 3] == 0) | (frame[..., 3] >= 48)


@pytest.mark.parametrize("pose", ["rest", "open", "blink"])
def test_background_colour_is_composited_in_linear_light(ctx, toon, pose):
    lm = _poses(toon.landmarks)[pose]
    config = RenderConfig(style="cartoon")
    with WarpRenderer(toon.image, toon.landmarks, config=config, ctx=ctx) as r:
        alone = r.render(lm).astype(float)  # premultiplied, possibly transparent
        r.set_background("#3366cc")
        composed = r.render(lm).astype(float)  # opaque: the direct sRGB8 path
    assert (composed[..., 3] == 255).all()
    expected = _over(alone, np.array([0x33, 0x66, 0xCC, 255.0]))
    error = np.abs(composed[..., :3] - expected[..., :3])
    edge = (alone[..., 3] > 0) & (alone[..., 3] < 255)
    assert edge.sum() > 100
    # Where alpha is tiny the 8-bit premultiplied frame cannot tell its colour precisely, so
    # the reference is only exact where alpha is 0 or large.
    exact = _reference_is_exact(alone)
    assert error.mean() < 0.1 and error[exact].max() <= 2.0
    assert error[edge].mean() < 1.0
    # Linear-light blending differs visibly from blending the sRGB bytes on soft edges.
    naive = alone[..., :3] + np.array([0x33, 0x66, 0xCC]) * (1 - alone[..., 3:4] / 255.0)
    assert np.abs(naive - expected[..., :3])[edge].mean() > 2.0


def test_translucent_background_and_background_image(ctx, toon):
    lm = open_mouth(toon.landmarks, 0.2)
    gradient = np.zeros((256, 256, 4), np.uint8)
    gradient[..., 0] = np.linspace(0, 255, 256, dtype=np.uint8)[None, :]
    gradient[..., 2] = np.linspace(255, 0, 256, dtype=np.uint8)[:, None]
    gradient[..., 3] = 255
    config = RenderConfig(style="cartoon")
    with WarpRenderer(toon.image, toon.landmarks, config=config, ctx=ctx) as r:
        alone = r.render(lm).astype(float)
        r.set_background(gradient)  # same size: copied under the scene
        over_image = r.render(lm).astype(float)
        r.set_background((255, 0, 0, 128))  # translucent: the output keeps alpha
        over_half = r.render(lm).astype(float)
    expected = _over(alone, gradient.astype(float))
    error = np.abs(over_image[..., :3] - expected[..., :3])
    assert error.mean() < 0.1 and error[_reference_is_exact(alone)].max() <= 2.5
    assert (over_image[..., 3] == 255).all()
    expected = _over(alone, np.array([255.0, 0.0, 0.0, 128.0]))
    # The output is premultiplied: compare colours times alpha.
    got = over_half[..., :3]
    want = expected[..., :3] * expected[..., 3:4] / 255.0
    assert np.abs(over_half[..., 3] - expected[..., 3]).max() <= 1.0
    assert np.abs(got - want).mean() < 0.3 and np.abs(got - want)[_reference_is_exact(alone)].max() <= 2.5
    assert over_half[2, 2, 3] == 128 and abs(over_half[2, 2, 0] - 128) <= 1  # 255 x 128/255


def test_straight_and_premultiplied_outputs_agree(ctx, toon):
    lm = close_eyes(open_mouth(toon.landmarks, 0.25), 0.7)
    frames = {}
    for premultiplied in (True, False):
        config = RenderConfig(style="cartoon", premultiplied=premultiplied)
        with WarpRenderer(toon.image, toon.landmarks, config=config, ctx=ctx) as r:
            frames[premultiplied] = r.render(lm).astype(float)
    pm, straight = frames[True], frames[False]
    assert np.array_equal(pm[..., 3], straight[..., 3])
    assert (pm[..., :3] <= pm[..., 3:4] + 0.5).all()
    visible = straight[..., 3] >= 32
    recomputed = straight[..., :3] * straight[..., 3:4] / 255.0
    assert np.abs(recomputed - pm[..., :3])[visible].max() <= 1.5  # two roundings
    assert (pm[pm[..., 3] == 0][:, :3] == 0).all()


def test_opaque_image_ignores_the_background(ctx):
    # A fully opaque portrait covers the frame: any background gives the same pixels, and
    # without one the output is still opaque.
    lm = move_head(ASTRONAUT_LANDMARKS, dx=8, angle_deg=5)
    frames = []
    for background in (None, "black", "#ff00ff"):
        with WarpRenderer(astronaut(), ASTRONAUT_LANDMARKS, background=background, ctx=ctx) as r:
            frames.append(r.render(lm))
    assert all(np.array_equal(frames[0], f) for f in frames[1:])
    assert (frames[0][..., 3] == 255).all()


def test_renders_headless_without_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MAKEITTALK_GL_BACKEND")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    script = (
        "import numpy as np\n"
        "from renderer import WarpRenderer, describe_context\n"
        "from renderer.synthetic import draw_cartoon_face, open_mouth\n"
        "toon = draw_cartoon_face(128)\n"
        "with WarpRenderer(toon.image, toon.landmarks, background='white') as r:\n"
        "    frame = r.render(open_mouth(toon.landmarks, 0.2))\n"
        "    print(describe_context(r.ctx))\n"
        "assert frame.shape == (128, 128, 4) and (frame[..., 3] == 255).all()\n"
        "print('rendered')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("rendered")


def test_save_frames_as_artifacts(ctx, toon):
    """Writes rest/open/blink/turn frames of the cartoon and the astronaut, and a strip of a
    talking sequence, to test-artifacts/renderer/ (git-ignored) for visual inspection."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subjects = [("cartoon", toon.image, toon.landmarks, "cartoon"),
                ("astronaut", astronaut(), ASTRONAUT_LANDMARKS, "photo")]
    written = []
    for name, image, lm, style in subjects:
        with WarpRenderer(image, lm, config=RenderConfig(style=style), background="white", ctx=ctx) as r:
            for pose, landmarks in _poses(lm).items():
                frame = r.render(landmarks)
                assert (frame[..., 3] == 255).all()
                path = ARTIFACTS / f"{name}_{pose}.png"
                Image.fromarray(frame, "RGBA").save(path)
                written.append(path)
    with WarpRenderer(toon.image, toon.landmarks, config=RenderConfig(style="cartoon"), size=(128, 128),
                      background="white", ctx=ctx) as r:
        frames = [r.render(lm) for lm in talking_motion(toon.landmarks, 40)[::5]]
    strip = np.concatenate(frames, axis=1)
    Image.fromarray(strip, "RGBA").save(ARTIFACTS / "cartoon_talking_strip.png")
    assert all(p.stat().st_size > 1000 for p in written)


def test_gpu_settings_work_too(ctx, toon, monkeypatch):
    """GPUs get mip-maps and 4x MSAA by default; exercise those settings on this machine's
    rasteriser by making the renderer believe it runs on a GPU."""
    import renderer.warp

    monkeypatch.setattr(renderer.warp, "is_software_renderer", lambda ctx: False)
    big = draw_cartoon_face(512, transparent=True)
    for background in ("white", None):
        with WarpRenderer(big.image, big.landmarks, config=RenderConfig(style="cartoon"), size=(256, 256),
                          background=background, ctx=ctx) as r:
            assert r.samples == min(4, ctx.max_samples)
            rest = r.render(big.landmarks).astype(int)
            opened = r.render(open_mouth(big.landmarks, 0.3))
        small = draw_cartoon_face(256, transparent=True).image.astype(float)
        if background == "white":
            alpha = small[..., 3:4] / 255.0
            reference = linear_to_srgb(srgb_to_linear(small[..., :3] / 255.0) * alpha + (1 - alpha)) * 255
        else:
            reference = small[..., :3] * small[..., 3:4] / 255.0
        # Drawn at 512 and reduced, against drawn at 256: the same picture up to resampling.
        assert np.abs(rest[..., :3] - reference).mean() < 2.0
        centre = (open_mouth(big.landmarks, 0.3)[60:68, :2].mean(0) / 2).astype(int)
        assert opened[centre[1] + 3, centre[0], :3].max() < 90  # the cavity, below the teeth
