"""Checks that detected landmarks fit a drawn face before they rig a puppet.

Face detectors are trained on photos. On drawings they often put the eye contour around the
iris instead of the lids, so blinks close a white eye onto a squashed line, or they misjudge
a stylised mouth. These checks look at the geometry and at the colours under the eye points
and say what looks wrong; the fix is the landmark editor in `makeittalk app` or a landmarks
file for `puppet create --landmarks`.
"""

from __future__ import annotations

import numpy as np

FIX = ("check the points in the web app's landmark editor ('makeittalk app') or pass your own with "
       "'makeittalk puppet create IMAGE --landmarks FILE'")

# Plausible ranges, from the project's drawn cartoon and real faces, with room for styles.
EYE_ASPECT = (0.08, 0.8)  # lid opening / eye width: a line or a circle is not an open eye
EYE_WIDTH_TO_GAP = 0.35  # eye width / gap between the inner corners, at least
MOUTH_TO_EYES = (0.25, 1.2)  # mouth width / outer eye-corner distance

_EYES = {"right eye (image left)": 36, "left eye (image right)": 42}


def _colour_at(image: np.ndarray, point: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x = int(np.clip(round(point[0]), 0, w - 1))
    y = int(np.clip(round(point[1]), 0, h - 1))
    return image[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2, :3].reshape(-1, 3).astype(np.float64).mean(0)


def _lids_inside_the_eye(image: np.ndarray, eye: np.ndarray, skin: np.ndarray) -> bool:
    """Whether the lid points sit inside the eye: beyond them lies eye, not skin.

    Sampled a tenth of the eye's width outside each of the four lid points (away from the
    eye's centre): on a correctly placed lid that is skin (or the outline and then skin); when
    the contour hugs the iris it is the white of the eye, far from the skin colour.
    """
    centre = eye.mean(0)
    width = np.linalg.norm(eye[0] - eye[3])
    outside = []
    for k in (1, 2, 4, 5):
        direction = eye[k] - centre
        norm = np.linalg.norm(direction)
        if norm < 1e-6:
            continue
        outside.append(_colour_at(image, eye[k] + direction / norm * 0.1 * width))
    if not outside:
        return False
    sclera_like = [c for c in outside if np.linalg.norm(c - skin) > 60 and c.mean() > skin.mean() + 20]
    return len(sclera_like) >= 3


def cartoon_landmark_problems(image_rgba: np.ndarray, landmarks: np.ndarray) -> list[str]:
    """Reasons the 68 points look wrong for a drawn face (empty when they look plausible)."""
    p = np.asarray(landmarks, dtype=np.float64)[:, :2]
    problems = []
    # Between the eyes is skin on nearly every drawing (cheeks often carry blush).
    skin = _colour_at(image_rgba, 0.5 * (p[39] + p[42]))
    gap = np.linalg.norm(p[39] - p[42])
    for name, start in _EYES.items():
        eye = p[start : start + 6]
        width = np.linalg.norm(eye[0] - eye[3])
        height = 0.5 * (np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4]))
        aspect = height / max(width, 1e-6)
        if not EYE_ASPECT[0] <= aspect <= EYE_ASPECT[1]:
            problems.append(f"the {name} points are {aspect:.2f} times as high as wide (an open eye is "
                            f"{EYE_ASPECT[0]}-{EYE_ASPECT[1]}): blinks will look wrong")
        elif width < EYE_WIDTH_TO_GAP * gap:
            problems.append(f"the {name} points are only {width / max(gap, 1e-6):.2f} times the gap between the "
                            "eyes wide: they may sit on the iris instead of the lids")
        elif _lids_inside_the_eye(image_rgba, eye, skin):
            problems.append(f"the {name} lid points seem to lie inside the eye (the white of the eye shows beyond "
                            "them): blinks would close onto the iris and leave white showing")
    mouth = np.linalg.norm(p[48] - p[54]) / max(np.linalg.norm(p[36] - p[45]), 1e-6)
    if not MOUTH_TO_EYES[0] <= mouth <= MOUTH_TO_EYES[1]:
        problems.append(f"the mouth is {mouth:.2f} times as wide as the eyes are apart (expected "
                        f"{MOUTH_TO_EYES[0]}-{MOUTH_TO_EYES[1]}): the mouth points may be off")
    return [f"{problem}; {FIX}" for problem in problems]
