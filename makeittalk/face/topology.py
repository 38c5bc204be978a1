"""The 68-point iBUG face layout: part index ranges, the Laplacian neighbour table, drawing curves.

Indices are 0-based iBUG-68. "Right" and "left" are the subject's, as in the original code:
the right eye (36-41) appears on the image's left.

Everything here is a constant (tuples, read-only arrays), so other packages can import the
tables without copying them.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np

from makeittalk.errors import MakeItTalkError

NUM_LANDMARKS = 68


class LandmarksError(MakeItTalkError):
    """Landmarks (from a file, a detector or a caller) that cannot be used."""


def _span(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


JAW: tuple[int, ...] = _span(0, 16)
RIGHT_EYEBROW: tuple[int, ...] = _span(17, 21)
LEFT_EYEBROW: tuple[int, ...] = _span(22, 26)
NOSE: tuple[int, ...] = _span(27, 35)
NOSE_BRIDGE: tuple[int, ...] = _span(27, 30)
NOSTRILS: tuple[int, ...] = _span(31, 35)
RIGHT_EYE: tuple[int, ...] = _span(36, 41)
LEFT_EYE: tuple[int, ...] = _span(42, 47)
OUTER_LIPS: tuple[int, ...] = _span(48, 59)
INNER_LIPS: tuple[int, ...] = _span(60, 67)
MOUTH = range(48, 68)

#: The parts in the order the original draws them and lists them in its Laplacian table.
PARTS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        "jaw": JAW,
        "right_eyebrow": RIGHT_EYEBROW,
        "left_eyebrow": LEFT_EYEBROW,
        "nose": NOSE,
        "right_eye": RIGHT_EYE,
        "left_eye": LEFT_EYE,
        "outer_lips": OUTER_LIPS,
        "inner_lips": INNER_LIPS,
    }
)

#: Parts whose last point connects back to the first.
CLOSED_PARTS: frozenset[str] = frozenset({"right_eye", "left_eye", "outer_lips", "inner_lips"})

#: Mouth corners (outer, inner).
MOUTH_CORNERS: tuple[int, int] = (48, 54)
INNER_MOUTH_CORNERS: tuple[int, int] = (60, 64)

#: Upper and lower lip points paired column by column (left to right in the image).
UPPER_OUTER_LIP: tuple[int, ...] = (49, 50, 51, 52, 53)
LOWER_OUTER_LIP: tuple[int, ...] = (59, 58, 57, 56, 55)
UPPER_INNER_LIP: tuple[int, ...] = (61, 62, 63)
LOWER_INNER_LIP: tuple[int, ...] = (67, 66, 65)

#: (upper lid, lower lid) pairs that the eye step blends and blinks.
EYELID_PAIRS: tuple[tuple[int, int], ...] = ((37, 41), (38, 40), (43, 47), (44, 46))

#: The rigid "T-shape" (nose and eye corners) the original registers faces with.
T_SHAPE: tuple[int, ...] = (27, 28, 29, 30, 33, 36, 39, 42, 45)

#: Jaw endpoints that define the normalisation (x0 -> -0.8, x16 -> +0.8).
JAW_ENDPOINTS: tuple[int, int] = (0, 16)


def _neighbour_table() -> np.ndarray:
    table = np.empty((NUM_LANDMARKS, 2), dtype=np.int64)
    for name, points in PARTS.items():
        n = len(points)
        for k, i in enumerate(points):
            if name in CLOSED_PARTS:
                table[i] = (points[(k - 1) % n], points[(k + 1) % n])
            elif k == 0:
                # An open chain's endpoint uses its single neighbour twice.
                table[i] = (points[1], points[1])
            elif k == n - 1:
                table[i] = (points[-2], points[-2])
            else:
                table[i] = (i - 1, i + 1)
    table.setflags(write=False)
    return table


#: (68, 2) neighbours (n1, n2) of each point for the graph Laplacian (spec §4.2).
LAPLACIAN_NEIGHBOURS: np.ndarray = _neighbour_table()


def laplacian(points: np.ndarray) -> np.ndarray:
    """Graph Laplacian L(p_i) = p_i - ½(p_n1(i) + p_n2(i)) of (..., 68, D) points."""
    points = np.asarray(points)
    if points.ndim < 2 or points.shape[-2] != NUM_LANDMARKS:
        raise LandmarksError(f"laplacian() needs (..., 68, D) points, got shape {points.shape}")
    n1 = points[..., LAPLACIAN_NEIGHBOURS[:, 0], :]
    n2 = points[..., LAPLACIAN_NEIGHBOURS[:, 1], :]
    return points - 0.5 * (n1 + n2)


def _segments(points: tuple[int, ...], closed: bool) -> tuple[tuple[int, int], ...]:
    pairs = tuple(zip(points[:-1], points[1:]))
    return pairs + ((points[-1], points[0]),) if closed else pairs


#: Line segments (i, j) per part in the original's drawing order: each curve point by point,
#: closing segment last. The nose is one open chain, so it includes 30 -> 31.
LANDMARK_DRAWING_SEGMENTS: Mapping[str, tuple[tuple[int, int], ...]] = MappingProxyType(
    {name: _segments(points, name in CLOSED_PARTS) for name, points in PARTS.items()}
)

#: The original's line colours per part, in OpenCV (B, G, R) channel order.
LANDMARK_DRAWING_COLORS_BGR: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {
        "jaw": (255, 144, 25),
        "right_eyebrow": (50, 205, 50),
        "left_eyebrow": (50, 205, 50),
        "nose": (208, 224, 63),
        "right_eye": (71, 99, 255),
        "left_eye": (71, 99, 255),
        "outer_lips": (238, 130, 238),
        "inner_lips": (238, 130, 238),
    }
)


def check_landmarks(points: object, *, what: str = "landmarks", dims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Return `points` as a (68, D) float64 array, D in `dims`, or raise LandmarksError.

    Rejects wrong shapes and non-finite values with a message that names `what`.
    """
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LandmarksError(f"{what}: not a numeric array of 68 points ({exc})") from exc
    if array.ndim != 2 or array.shape[0] != NUM_LANDMARKS or array.shape[1] not in dims:
        wanted = " or ".join(f"(68, {d})" for d in dims)
        raise LandmarksError(f"{what}: expected {wanted} landmarks, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(array))[:, 0]})
        raise LandmarksError(f"{what}: points {bad} are NaN or infinite; every landmark needs finite coordinates")
    return array
