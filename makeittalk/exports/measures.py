"""Face measures that animators' formats are made of, read from 68-point landmark frames.

Every frame is first aligned to the rest face by the 2-D similarity transform that maps its
four eye corners (points 36, 39, 42, 45) onto the rest face's: eye corners move with the head
but not with speech or blinks, so what is left after the alignment is facial motion. Lengths
are then divided by the rest face's outer eye-corner distance D (36 to 45), so the measures do
not depend on the portrait's size.

"Left" and "right" are the subject's, as in ARKit: the subject's left eye is dlib points 42-47
(the right of the image for a face looking at the camera), the subject's left mouth corner is
point 54.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EYE_CORNERS = (36, 39, 42, 45)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
RIGHT_EYE_LID_PAIRS = ((37, 41), (38, 40))  # subject's right eye (image left)
LEFT_EYE_LID_PAIRS = ((43, 47), (44, 46))


@dataclass(frozen=True)
class FaceMeasures:
    """Per-frame measures, each (num_frames,) float64, in units of the rest eye distance D.

    Displacements are relative to the rest face; positive means up for the `*_rise` fields,
    down for the `*_drop` fields and away from the face's midline for `*_out`.
    """

    lip_gap: np.ndarray            # inner-lip opening (mean of the three inner pairs), absolute
    rest_lip_gap: float            # the same on the rest face
    mouth_width_ratio: np.ndarray  # corner-to-corner width / the rest face's
    lower_lip_ratio: np.ndarray    # lower-lip thickness (57 to 66) / the rest face's
    jaw_drop: np.ndarray           # chin (8) moving down
    upper_lip_rise_left: np.ndarray   # point 52
    upper_lip_rise_right: np.ndarray  # point 50
    lower_lip_drop_left: np.ndarray   # point 56
    lower_lip_drop_right: np.ndarray  # point 58
    corner_rise_left: np.ndarray      # point 54
    corner_rise_right: np.ndarray     # point 48
    corner_out_left: np.ndarray
    corner_out_right: np.ndarray
    eye_open_left: np.ndarray      # lid gap / the rest face's (1 = as open as at rest)
    eye_open_right: np.ndarray
    brow_inner_rise: np.ndarray    # points 21 and 22
    brow_rise_left: np.ndarray     # points 22-26
    brow_rise_right: np.ndarray    # points 17-21
    head_yaw: np.ndarray           # radians; estimates, see `measure_face`
    head_pitch: np.ndarray
    head_roll: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.lip_gap.shape[0])


def _similarity(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Scale, rotation and centroids of the least-squares map source -> target (Umeyama)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s)
    sign = np.sign(np.linalg.det(u @ vt)) or 1.0
    correction = np.diag([1.0, sign])
    rotation = u @ correction @ vt
    scale = float((sigma * np.diag(correction)).sum() / max((s ** 2).sum(), 1e-12))
    return scale, rotation, mu_s, mu_t


def _pair_gap(points: np.ndarray, pairs) -> np.ndarray:
    # Vertical only: the paired lid and lip points are not above one another on every face, and
    # the horizontal part of their distance does not close when the eye or mouth does.
    return np.mean([np.abs(points[..., b, 1] - points[..., a, 1]) for a, b in pairs], axis=0)


def measure_face(frames: np.ndarray, rest: np.ndarray) -> FaceMeasures:
    """Measures of `frames` (N, 68, 2|3) against `rest` (68, 2|3), both in the same pixels.

    Head roll is the alignment's rotation. Yaw and pitch are estimates: a turning head moves
    the nose tip (30) sideways against the eye corners by about half the eye distance times
    the sine of the angle (the tip sits about D/2 in front of the eyes on an adult face).
    """
    frames = np.asarray(frames, dtype=np.float64)[..., :2]
    rest = np.asarray(rest, dtype=np.float64)[..., :2]
    if frames.ndim != 3 or frames.shape[1:] != (68, 2) or rest.shape != (68, 2):
        raise ValueError(f"expected frames (N, 68, 2|3) and rest (68, 2|3), got {frames.shape} and {rest.shape}")
    eye_distance = float(np.linalg.norm(rest[45] - rest[36]))
    if not eye_distance > 0:
        raise ValueError("the rest face's outer eye corners coincide; cannot measure it")
    aligned, roll = _align(frames, rest)
    a = aligned / eye_distance
    r = rest / eye_distance
    # Image y grows downwards: a rise is a decrease of y.
    rise = lambda k: r[k, 1] - a[:, k, 1]  # noqa: E731
    width = np.linalg.norm(a[:, 54] - a[:, 48], axis=1)
    rest_width = float(np.linalg.norm(r[54] - r[48]))
    lower_lip = np.linalg.norm(a[:, 57] - a[:, 66], axis=1)
    rest_lower_lip = max(float(np.linalg.norm(r[57] - r[66])), 1e-6)
    rest_eye_left = max(float(_pair_gap(r, LEFT_EYE_LID_PAIRS)), 1e-6)
    rest_eye_right = max(float(_pair_gap(r, RIGHT_EYE_LID_PAIRS)), 1e-6)
    eye_mid = (a[:, 36] + a[:, 45]) / 2
    rest_eye_mid = (r[36] + r[45]) / 2
    nose_offset = (a[:, 30] - eye_mid) - (r[30] - rest_eye_mid)
    midline = (r[27, 0] + r[8, 0]) / 2
    left_sign = 1.0 if r[54, 0] >= midline else -1.0  # a mirrored (or upside-down) face keeps "out" outward
    return FaceMeasures(
        lip_gap=_pair_gap(a, INNER_LIP_PAIRS),
        rest_lip_gap=float(_pair_gap(r, INNER_LIP_PAIRS)),
        mouth_width_ratio=width / max(rest_width, 1e-6),
        lower_lip_ratio=lower_lip / rest_lower_lip,
        jaw_drop=-rise(8),
        upper_lip_rise_left=rise(52),
        upper_lip_rise_right=rise(50),
        lower_lip_drop_left=-rise(56),
        lower_lip_drop_right=-rise(58),
        corner_rise_left=rise(54),
        corner_rise_right=rise(48),
        corner_out_left=left_sign * (a[:, 54, 0] - r[54, 0]),
        corner_out_right=-left_sign * (a[:, 48, 0] - r[48, 0]),
        eye_open_left=_pair_gap(a, LEFT_EYE_LID_PAIRS) / rest_eye_left,
        eye_open_right=_pair_gap(a, RIGHT_EYE_LID_PAIRS) / rest_eye_right,
        brow_inner_rise=(rise(21) + rise(22)) / 2,
        brow_rise_left=np.mean([rise(k) for k in range(22, 27)], axis=0),
        brow_rise_right=np.mean([rise(k) for k in range(17, 22)], axis=0),
        head_yaw=np.arcsin(np.clip(left_sign * nose_offset[:, 0] / 0.5, -1.0, 1.0)),
        head_pitch=np.arcsin(np.clip(nose_offset[:, 1] / 0.5, -1.0, 1.0)),
        head_roll=roll,
    )


def _align(frames: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames moved by their eye-corner similarity onto `reference`, and each frame's head roll."""
    corners = list(EYE_CORNERS)
    aligned = np.empty_like(frames)
    roll = np.empty(frames.shape[0])
    for i, frame in enumerate(frames):
        scale, rotation, mu_s, mu_t = _similarity(frame[corners], reference[corners])
        aligned[i] = (frame - mu_s) @ rotation.T * scale + mu_t
        # The rotation maps the frame back to rest, so the head's own roll is its inverse.
        roll[i] = -np.arctan2(rotation[1, 0], rotation[0, 0])
    return aligned, roll


def align_to(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`frames` (N, 68, 2|3) moved by their eye-corner similarity onto `reference` (x, y only)."""
    return _align(np.asarray(frames, dtype=np.float64)[..., :2], np.asarray(reference, dtype=np.float64)[..., :2])[0]


MIN_NEUTRAL_FRAMES = 5


def neutral_face(frames: np.ndarray, rest: np.ndarray, silent: np.ndarray | None) -> np.ndarray:
    """The face the animation shows in silence: the median of its silent frames, aligned to `rest`.

    The networks' output in a pause is not exactly the portrait's points (the content branch
    leaves a small offset), so weights measured against the portrait would read a resting face
    as slightly smiling or blinking. With fewer than 5 silent frames the portrait's rest is used.
    """
    rest = np.asarray(rest, dtype=np.float64)[..., :2]
    if silent is None or int(np.count_nonzero(silent)) < MIN_NEUTRAL_FRAMES:
        return rest
    return np.median(align_to(np.asarray(frames)[np.asarray(silent, dtype=bool)], rest), axis=0)
