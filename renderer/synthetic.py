"""A cartoon face drawn in code with exactly known landmarks, and simple landmark motions.

Tests, benchmarks and demos need a puppet whose 68 landmarks are known without a detector and
whose pixels carry no third-party licence; this module draws one with PIL. The motion helpers
(open the mouth, close the eyes, move the head) make landmark frames for the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Flat cartoon colours (sRGB). The iris is a saturated blue no other part uses, so tests can
# follow the eyes by colour.
SKIN = (247, 203, 168)
SKIN_SHADOW = (226, 176, 140)
HAIR = (92, 54, 34)
BROW = (70, 40, 25)
LINE = (60, 35, 30)
LIPS = (204, 82, 92)
MOUTH_LINE = (110, 35, 45)
EYE_WHITE = (255, 255, 255)
IRIS = (30, 100, 235)
PUPIL = (10, 10, 20)
SHIRT = (60, 150, 110)
BACKGROUND = (200, 225, 245)


@dataclass(frozen=True)
class CartoonFace:
    """A drawn face: RGBA pixels and its 68 landmarks (x, y, 0) in pixels."""

    image: np.ndarray  # (size, size, 4) uint8
    landmarks: np.ndarray  # (68, 3) float64


def cartoon_landmarks(size: int = 512) -> np.ndarray:
    """The 68 landmarks of the cartoon face at `size` x `size` pixels, mouth closed."""
    k = size / 512.0
    cx = 256.0
    pts = np.zeros((68, 2))
    # Jaw: the lower half of the face ellipse, from the subject's right ear to the left one.
    phi = np.linspace(0.0, np.pi, 17)
    pts[0:17] = np.stack([cx - 130 * np.cos(phi), 265 + 165 * np.sin(phi)], axis=1)
    for start, sign in ((17, -1), (22, 1)):
        xs = np.linspace(100, 25, 5) if sign < 0 else np.linspace(25, 100, 5)
        t = np.linspace(0, 1, 5)
        pts[start:start + 5] = np.stack([cx + sign * xs, 212 - 12 * np.sin(np.pi * t)], axis=1)
    pts[27:31] = [(cx, 245), (cx, 263), (cx, 281), (cx, 300)]
    pts[31:36] = [(cx - 22, 308), (cx - 11, 313), (cx, 315), (cx + 11, 313), (cx + 22, 308)]
    # Both eyes start at their image-left corner and run clockwise on screen, as in the
    # 68-point scheme (36 is the right eye's outer corner, 42 the left eye's inner corner).
    for start, ex in ((36, cx - 55), (42, cx + 55)):
        a, b, dx = 28.0, 14.0, 10.0
        dy = b * np.sqrt(1 - (dx / a) ** 2)
        pts[start:start + 6] = [(ex - a, 250), (ex - dx, 250 - dy), (ex + dx, 250 - dy),
                                (ex + a, 250), (ex + dx, 250 + dy), (ex - dx, 250 + dy)]
    my = 350.0
    pts[48:60] = [(cx - 48, my), (cx - 32, my - 12), (cx - 14, my - 18), (cx, my - 15),
                  (cx + 14, my - 18), (cx + 32, my - 12), (cx + 48, my), (cx + 32, my + 12),
                  (cx + 14, my + 18), (cx, my + 19), (cx - 14, my + 18), (cx - 32, my + 12)]
    pts[60:68] = [(cx - 40, my), (cx - 18, my - 0.5), (cx, my - 0.5), (cx + 18, my - 0.5),
                  (cx + 40, my), (cx + 18, my + 0.5), (cx, my + 0.5), (cx - 18, my + 0.5)]
    out = np.zeros((68, 3))
    out[:, :2] = pts * k
    return out


def draw_cartoon_face(size: int = 512, transparent: bool = True, oversample: int = 4) -> CartoonFace:
    """Draw the cartoon head (hair, face, eyes, brows, nose, lips, neck, shirt).

    With `transparent`, everything outside the character has alpha 0 (a puppet to composite
    over a background); otherwise it stands on a light blue backdrop.
    """
    from PIL import Image, ImageDraw

    landmarks = cartoon_landmarks(size)
    s = oversample * size / 512.0  # drawing scale: 512-unit design space to oversampled pixels
    big = size * oversample
    background = (0, 0, 0, 0) if transparent else BACKGROUND + (255,)
    canvas = Image.new("RGBA", (big, big), background)
    draw = ImageDraw.Draw(canvas)

    def box(cx, cy, rx, ry):
        return [(cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s]

    def xy(points):
        return [(float(x) * s, float(y) * s) for x, y in points]

    lm = landmarks[:, :2] * 512.0 / size  # back to design units
    draw.ellipse(box(256, 540, 210, 110), fill=SHIRT)  # shoulders
    draw.rectangle([206 * s, 380 * s, 306 * s, 460 * s], fill=SKIN_SHADOW)  # neck
    draw.ellipse(box(256, 235, 158, 178), fill=HAIR)  # hair behind the head
    draw.ellipse(box(256, 265, 130, 165), fill=SKIN)  # face
    draw.chord(box(256, 190, 140, 110), 190, 350, fill=HAIR)  # fringe
    for centre in (-62, 62):
        draw.ellipse(box(256 + centre * 1.25, 318, 18, 11), fill=(240, 170, 160))  # cheeks

    for start in (17, 22):
        draw.line(xy(lm[start:start + 5]), fill=BROW, width=int(9 * s), joint="curve")
    for start in (36, 42):
        eye = lm[start:start + 6]
        centre = eye.mean(0)
        draw.ellipse(box(centre[0], centre[1], 28, 14), fill=EYE_WHITE)
        # Iris and pupil, clipped to the eye by drawing them on a mask.
        layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        layer_draw = ImageDraw.Draw(layer)
        layer_draw.ellipse(box(centre[0], centre[1], 11, 11), fill=IRIS)
        layer_draw.ellipse(box(centre[0], centre[1], 5, 5), fill=PUPIL)
        mask = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(mask).ellipse(box(centre[0], centre[1], 28, 14), fill=255)
        canvas.paste(layer, (0, 0), Image.composite(layer, Image.new("RGBA", canvas.size), mask))
        draw = ImageDraw.Draw(canvas)
        # Upper lid line thick (lashes), lower lid line thin.
        draw.arc(box(centre[0], centre[1], 28, 14), 180, 360, fill=LINE, width=int(4 * s))
        draw.arc(box(centre[0], centre[1], 28, 14), 0, 180, fill=LINE, width=int(1.5 * s))
    draw.line(xy([lm[31], lm[32], lm[33], lm[34], lm[35]]), fill=SKIN_SHADOW, width=int(4 * s))
    draw.line(xy(lm[27:31]), fill=SKIN_SHADOW, width=int(3 * s))
    draw.polygon(xy(lm[48:60]), fill=LIPS)
    draw.line(xy(list(lm[60:65])), fill=MOUTH_LINE, width=int(3 * s), joint="curve")

    image = canvas.resize((size, size), Image.Resampling.BOX)
    return CartoonFace(image=np.asarray(image).copy(), landmarks=landmarks)


# --- landmark motions ------------------------------------------------------------------------


def open_mouth(landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Drop the lower lip and chin by `amount` x mouth width (0.3 is a wide 'ah')."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    width = float(np.hypot(*(out[64, :2] - out[60, :2])))
    axis = (out[64, :2] - out[60, :2]) / max(width, 1e-9)
    down = np.array([-axis[1], axis[0]])
    drop = amount * width * down
    out[[65, 66, 67, 55, 56, 57, 58, 59], :2] += drop
    # Corners follow halfway; the chin follows fully and the jaw sides progressively less.
    out[[60, 64, 48, 54], :2] += 0.35 * drop
    for idx, weight in zip(range(3, 14), (0.15, 0.35, 0.6, 0.85, 1.0, 1.0, 1.0, 0.85, 0.6, 0.35, 0.15)):
        out[idx, :2] += weight * drop
    return out


def close_eyes(landmarks: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Bring the lids together (1.0: shut, both lids at 0.25 upper + 0.75 lower, the blink
    pose of MakeItTalk's add_naive_eye)."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        meet = 0.25 * out[upper, :2] + 0.75 * out[lower, :2]
        out[upper, :2] += amount * (meet - out[upper, :2])
        out[lower, :2] += amount * (meet - out[lower, :2])
    return out


def move_head(landmarks: np.ndarray, dx: float = 0.0, dy: float = 0.0, angle_deg: float = 0.0,
              scale: float = 1.0, centre: np.ndarray | None = None) -> np.ndarray:
    """Rotate (clockwise on screen for positive angles), scale and translate the landmarks."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    c = out[:, :2].mean(0) if centre is None else np.asarray(centre, dtype=np.float64)
    th = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) * scale
    out[:, :2] = (out[:, :2] - c) @ rot.T + c + np.array([dx, dy])
    return out


def talking_motion(rest: np.ndarray, frames: int, fps: float = 25.0, seed: int = 0) -> np.ndarray:
    """A plausible landmark sequence: head sway, syllable-rate mouth opening and two blinks."""
    rng = np.random.default_rng(seed)
    rest = np.asarray(rest, dtype=np.float64)
    face_w = float(np.hypot(*(rest[16, :2] - rest[0, :2])))
    out = np.empty((frames, rest.shape[0], rest.shape[1]))
    phases = rng.uniform(0, 2 * np.pi, 4)
    blink_at = {int(frames * 0.3), int(frames * 0.75)}
    for i in range(frames):
        t = i / fps
        lm = open_mouth(rest, max(0.0, 0.22 * np.sin(2 * np.pi * 3.1 * t + phases[0]) + 0.08))
        closure = max((1.0 - abs(i - b) / 3.0 for b in blink_at), default=0.0)
        if closure > 0:
            lm = close_eyes(lm, closure)
        out[i] = move_head(
            lm,
            dx=0.03 * face_w * np.sin(2 * np.pi * 0.4 * t + phases[1]),
            dy=0.02 * face_w * np.sin(2 * np.pi * 0.3 * t + phases[2]),
            angle_deg=4.0 * np.sin(2 * np.pi * 0.25 * t + phases[3]),
        )
    return out
