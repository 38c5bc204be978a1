"""The lower-face crop the mouth translator works in: alignment, guides and masks.

Every frame gets its own square crop, aligned by a similarity transform from the points that
do not move when a person speaks (the four eye corners and the nose) onto the standard face.
In the crop, one eye distance (outer corner to outer corner) spans the whole side, and the
mouth centre of the standard face sits at the centre, so the crop reaches from the nostrils
to the chin whatever the head pose or the image size.

Inside the crop:
- `mouth_guides` draws what the frame's mouth should look like: the jaw and nose lines, the
  outer-lip outline and the filled inner-lip polygon, one channel each (anti-aliased, 0..255);
- `mouth_masks` gives the hole the network fills (the outer lips' hull, dilated) and the
  feathered weight its output is blended back with, which is zero wherever the input was kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MouthRegion",
    "crop_matrix",
    "warp_into_crop",
    "mouth_guides",
    "mouth_masks",
]

# Points that stay put while speaking: outer and inner eye corners and the nose.
STABLE_POINTS = (36, 39, 42, 45, *range(27, 36))
OUTER_LIP = tuple(range(48, 60))
INNER_LIP = tuple(range(60, 68))
JAW_LINE = tuple(range(2, 15))
NOSE_BOTTOM = (31, 32, 33, 34, 35)


@dataclass(frozen=True)
class MouthRegion:
    """Geometry of the crop, in eye distances (outer eye corners) of the standard face.

    size: crop side in pixels. side: crop side in eye distances (1.0 reaches from the nostrils
    to the chin). centre_y: crop centre below the eye midpoint (0.78 is the standard mouth
    centre). hole: how far the filled hole reaches beyond the outer lips. feather: width of
    the blend weight's fade, inside the hole's edge.
    """

    size: int = 96
    side: float = 1.0
    centre_y: float = 0.80
    hole: float = 0.12
    feather: float = 0.06

    def to_dict(self) -> dict:
        return {"size": self.size, "side": self.side, "centre_y": self.centre_y, "hole": self.hole,
                "feather": self.feather}

    @classmethod
    def from_dict(cls, data: dict) -> "MouthRegion":
        return cls(**{k: data[k] for k in ("size", "side", "centre_y", "hole", "feather") if k in data})

    def canonical_points(self) -> np.ndarray:
        """(68, 2) standard face in crop pixels."""
        from makeittalk.resources import standard_face

        face = np.asarray(standard_face(), dtype=np.float64)[:, :2]
        eye_mid = (face[36] + face[45]) / 2.0
        eye_distance = float(np.linalg.norm(face[45] - face[36]))
        scale = self.size / (self.side * eye_distance)
        centre = np.array([self.size / 2.0, self.size / 2.0])
        return (face - eye_mid - np.array([0.0, self.centre_y * eye_distance])) * scale + centre


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    from makeittalk.pipelines.translator_render import _similarity as similarity

    return similarity(src, dst)


def crop_matrix(points: np.ndarray, region: MouthRegion) -> np.ndarray:
    """(2, 3) similarity mapping image pixels to this frame's crop pixels."""
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    index = list(STABLE_POINTS)
    return _similarity(pts[index], region.canonical_points()[index])


def map_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    return pts @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear, -linear @ matrix[:, 2:3]], axis=1)


def warp_into_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The (size, size, C) crop of `image` (H, W, C) under `matrix`, bilinear (area-filtered
    first when the crop shrinks the image by more than 1.5x, so small crops do not alias)."""
    import cv2

    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    source, warp = image, matrix
    if scale < 1 / 1.5:
        height, width = image.shape[:2]
        small = (max(1, round(width * scale * 1.25)), max(1, round(height * scale * 1.25)))
        source = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        sx, sy = small[0] / width, small[1] / height
        to_small = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]])
        warp = matrix @ np.vstack([invert(to_small), [0, 0, 1]])
    return cv2.warpAffine(source, warp, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


_SHIFT = 4  # sub-pixel bits for cv2's anti-aliased drawing


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.clip(points, -4096, 4096) * (1 << _SHIFT)).astype(np.int32)


def mouth_guides(crop_points: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8: jaw + nose lines, outer-lip outline, filled inner-lip polygon."""
    import cv2

    pts = _fixed(np.asarray(crop_points, dtype=np.float64)[:, :2])
    guides = np.zeros((3, size, size), dtype=np.uint8)
    jaw, lips, inner = guides[0], guides[1], guides[2]
    cv2.polylines(jaw, [pts[list(JAW_LINE)]], False, 255, 1, cv2.LINE_AA, _SHIFT)
    cv2.polylines(jaw, [pts[list(NOSE_BOTTOM)]], False, 255, 1, cv2.LINE_AA, _SHIFT)
    cv2.polylines(lips, [pts[list(OUTER_LIP)]], True, 255, 1, cv2.LINE_AA, _SHIFT)
    cv2.fillPoly(inner, [pts[list(INNER_LIP)]], 255, cv2.LINE_AA, _SHIFT)
    cv2.polylines(inner, [pts[list(INNER_LIP)]], True, 255, 1, cv2.LINE_AA, _SHIFT)
    return np.ascontiguousarray(guides.transpose(1, 2, 0))


def mouth_masks(crop_points: np.ndarray, region: MouthRegion) -> tuple[np.ndarray, np.ndarray]:
    """(hole, weight), each (size, size) float32 in [0, 1].

    hole is 1 where the input is blanked: the outer lips' convex hull grown by `region.hole`
    eye distances. weight blends the network's output back: 1 well inside the hole, fading
    to 0 at its edge over `region.feather`, so kept pixels are never replaced.
    """
    import cv2

    size = region.size
    pixels_per_eye = size / region.side
    lips = np.asarray(crop_points, dtype=np.float64)[list(OUTER_LIP), :2]
    hull = cv2.convexHull(_fixed(lips))
    base = np.zeros((size, size), dtype=np.uint8)
    cv2.fillConvexPoly(base, hull, 255, cv2.LINE_AA, _SHIFT)
    # Distance outside the hull, in pixels; the hole and its fade are thresholds on it.
    outside = cv2.distanceTransform(np.where(base > 127, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    grow = region.hole * pixels_per_eye
    fade = max(region.feather * pixels_per_eye, 1e-3)
    hole = (outside <= grow).astype(np.float32)
    ramp = np.clip((grow - outside) / fade, 0.0, 1.0)
    weight = (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)
    return hole, weight
