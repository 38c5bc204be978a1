"""The static face: MakeItTalk's landmark normalisation (spec §1.3) and its exact inverse (§1.5).

Normalised space is the networks' space: the midpoint of jaw points 0 and 16 is the origin,
x0 = -0.8 and x16 = +0.8, axes keep image orientation (x right, y down), and z is the
standard face's z times `z_scale` (0.1 for photos, 1.0 for the cartoon path, spec §1.6).

Every function here is plain float64 NumPy arithmetic in the original's operation order, so
`q`, `scale`, `shift` and `face_id` are bit-identical to the original's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from makeittalk.face.topology import (
    LOWER_INNER_LIP,
    NUM_LANDMARKS,
    UPPER_INNER_LIP,
    LandmarksError,
    check_landmarks,
)
from makeittalk.resources import standard_face

#: z factor of the natural-image path; the cartoon path uses 1.0.
PHOTO_Z_SCALE = 0.1
CARTOON_Z_SCALE = 1.0

# The original's fixed pixel tweaks after detection (README §4.1 step 4): thinner lips, wider eyes.
_LIP_UPPER_DOWN = list(range(49, 54))
_LIP_LOWER_UP = list(range(55, 60))
_EYE_UPPER_UP = [37, 38, 43, 44]
_EYE_LOWER_DOWN = [40, 41, 46, 47]


@dataclass(frozen=True, eq=False)
class StaticFace:
    """A portrait's face in normalised space plus the transform back to its pixels.

    `q` is (68, 3) float64; `scale` is 1.6 / (x0 - x16) (negative for an upright face, since
    x0 < x16); `shift` is -(p0 + p16)/2 over (x, y). Pixels map to normalised space as
    q_xy = -((xy + shift) * scale).
    """

    q: np.ndarray
    scale: float
    shift: np.ndarray

    def __post_init__(self) -> None:
        q = check_landmarks(self.q, what="StaticFace.q", dims=(3,))
        shift = np.asarray(self.shift, dtype=np.float64).reshape(-1)
        if shift.shape != (2,) or not np.all(np.isfinite(shift)):
            raise LandmarksError(f"StaticFace.shift must be 2 finite numbers, got {self.shift!r}")
        scale = float(self.scale)
        if not np.isfinite(scale) or scale == 0.0:
            raise LandmarksError(f"StaticFace.scale must be finite and non-zero, got {self.scale!r}")
        q = q.copy()
        q.setflags(write=False)
        shift = shift.copy()
        shift.setflags(write=False)
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "shift", shift)
        object.__setattr__(self, "scale", scale)

    def __eq__(self, other: object) -> bool:
        # Exact comparison: the fields are arrays, for which dataclass equality would raise.
        if not isinstance(other, StaticFace):
            return NotImplemented
        return self.scale == other.scale and np.array_equal(self.q, other.q) and np.array_equal(self.shift, other.shift)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_landmarks(cls, pixels: np.ndarray, z_scale: float = PHOTO_Z_SCALE) -> StaticFace:
        """Normalise (68, 2|3) pixel landmarks exactly as the original `norm_input_face`.

        The input z is discarded: the original replaces it with `z_scale` x the standard face z.
        """
        points = check_landmarks(pixels, what="face landmarks")
        x0, x16 = points[0, 0], points[16, 0]
        if x0 == x16:
            raise LandmarksError(
                f"face landmarks: jaw points 0 and 16 share x = {x0:g}, so the face has no width "
                "and cannot be normalised; check that the 68 points are in iBUG order and come "
                "from a frontal face"
            )
        scale = 1.6 / (x0 - x16)
        shift = -0.5 * (points[0, 0:2] + points[16, 0:2])
        q = np.empty((NUM_LANDMARKS, 3), dtype=np.float64)
        q[:, 0:2] = -((points[:, 0:2] + shift) * scale)
        q[:, 2] = standard_face()[:, 2] * z_scale
        return cls(q=q, scale=float(scale), shift=shift)

    @property
    def face_id(self) -> np.ndarray:
        """float32(q) as (1, 204), ordered x0, y0, z0, x1, ...: the branches' face input."""
        return self.q.astype(np.float32).reshape(1, NUM_LANDMARKS * 3)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """Map (..., 68, 2|3) pixel landmarks into this face's normalised space; z is kept."""
        points = np.array(pixels, dtype=np.float64, copy=True)
        _check_trailing(points, "normalize()")
        points[..., 0:2] = -((points[..., 0:2] + self.shift) * self.scale)
        return points

    def denormalize(self, normalized: np.ndarray) -> np.ndarray:
        """Map (..., 68, 2|3) normalised landmarks to pixels: xy <- (-xy)/scale - shift, z kept.

        The exact inverse of the original (spec §1.5 step 2), in its operation order.
        """
        points = np.array(normalized, dtype=np.float64, copy=True)
        _check_trailing(points, "denormalize()")
        points[..., 0:2] = (-points[..., 0:2]) / self.scale - self.shift
        return points

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form; floats round-trip exactly through Python's repr."""
        return {"q": self.q.tolist(), "scale": self.scale, "shift": self.shift.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> StaticFace:
        try:
            return cls(q=np.asarray(data["q"], dtype=np.float64), scale=float(data["scale"]),  # type: ignore[arg-type]
                       shift=np.asarray(data["shift"], dtype=np.float64))
        except KeyError as exc:
            raise LandmarksError(f"static face data lacks {exc.args[0]!r}; expected keys q, scale, shift") from exc


def _check_trailing(points: np.ndarray, where: str) -> None:
    if points.ndim < 2 or points.shape[-2] != NUM_LANDMARKS or points.shape[-1] not in (2, 3):
        raise LandmarksError(f"{where} needs (..., 68, 2|3) landmarks, got shape {points.shape}")


def apply_original_tweaks(pixels: np.ndarray) -> np.ndarray:
    """Return a copy with the original's fixed pixel tweaks (y down): lips thinner, eyes wider.

    y of 49-53 += 1, y of 55-59 -= 1, y of 37, 38, 43, 44 -= 2, y of 40, 41, 46, 47 += 2.
    Works on (..., 68, 2|3).
    """
    points = np.array(pixels, dtype=np.float64, copy=True)
    _check_trailing(points, "apply_original_tweaks()")
    points[..., _LIP_UPPER_DOWN, 1] += 1.0
    points[..., _LIP_LOWER_UP, 1] -= 1.0
    points[..., _EYE_UPPER_UP, 1] -= 2.0
    points[..., _EYE_LOWER_DOWN, 1] += 2.0
    return points


def close_mouth(pixels: np.ndarray, p1: float = 0.7, p2: float = 0.5) -> np.ndarray:
    """Return a copy with the mouth closed as the original `close_input_face_mouth` does.

    Works on every coordinate of (68, 2|3) points, in the original's update order (spec §1.3
    step 2): outer lips follow the inner lips by `p1`, the corner neighbours by `p2`, then the
    inner lips move `p1` of the way to their midline.
    """
    points = check_landmarks(pixels, what="close_mouth() landmarks").copy()
    upper = list(UPPER_INNER_LIP)  # 61, 62, 63
    lower = list(LOWER_INNER_LIP)  # 67, 66, 65, paired with 61, 62, 63
    mean_in = 0.5 * (points[upper] + points[lower])
    points[[50, 51, 52]] -= (points[upper] - mean_in) * p1
    points[[58, 57, 56]] -= (points[lower] - mean_in) * p1
    points[49] -= (points[61] - mean_in[0]) * p2
    points[53] -= (points[63] - mean_in[-1]) * p2
    points[59] -= (points[67] - mean_in[0]) * p2
    points[55] -= (points[65] - mean_in[-1]) * p2
    points[upper] -= (points[upper] - mean_in) * p1
    points[lower] -= (points[lower] - mean_in) * p1
    return points
