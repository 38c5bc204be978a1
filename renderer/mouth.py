"""Per-frame mouth and eyelid parameters, and the face colours they are painted with.

The warp alone cannot open a mouth or close an eye convincingly: parting lips stretch the
few lip pixels along the mouth line, and a closing eye squashes the iris. The renderer draws
two overlays on top of the warped mesh, both driven only by the landmarks:

* the mouth cavity inside the inner-lip polygon (60-67): dark interior, soft edge for photos
  and a flat, anti-aliased one for cartoons, plus upper teeth when the mouth opens wide;
* the eyes: inside the current eye polygon the texture is sampled rigidly (from the eye
  corners) instead of squashed, so the lid slides over the iris, and a lid-coloured fill takes
  over as the eye closes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from renderer.mesh import INNER_LIP, INNER_LIP_PAIRS, LEFT_EYE, OUTER_LIP, RIGHT_EYE, mouth_frame

# (upper, lower) lid landmark pairs of each eye.
EYE_LID_PAIRS = {RIGHT_EYE: ((37, 41), (38, 40)), LEFT_EYE: ((43, 47), (44, 46))}


@dataclass(frozen=True)
class MouthConfig:
    """When and how the mouth cavity and teeth appear (lengths are fractions of mouth width)."""

    enabled: bool = True
    # The cavity fades in as the lips part beyond their rest opening by this much.
    open_start: float = 0.005
    open_full: float = 0.05
    teeth: bool = True
    # Upper teeth fade in between these inner-lip openings.
    teeth_start: float = 0.12
    teeth_full: float = 0.24
    teeth_height: float = 0.13
    # Teeth never fill more than this share of the opening (the lower part stays dark).
    teeth_max_share: float = 0.45
    # Photo style: width of the soft edge as a fraction of the opening height.
    feather: float = 0.2
    tongue: bool = True
    # A rest pose opened more than this (a smile showing teeth) keeps its own interior: its
    # halves follow the upper and lower lips, and no synthetic teeth are drawn.
    rest_interior_min: float = 0.05
    # sRGB overrides; None derives the colour from the lips.
    cavity_color: tuple[int, int, int] | None = None
    teeth_color: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class EyelidConfig:
    """How closing eyes are drawn."""

    enabled: bool = True
    # Closure (0 open as at rest, 1 shut) at which the lid colour starts and ends covering.
    lid_fill_start: float = 0.55
    lid_fill_full: float = 0.9
    lid_color: tuple[int, int, int] | None = None  # sRGB override; None samples the lid skin
    # The lid fill reaches this far (fraction of eye width) beyond the eye outline when shut,
    # covering eye-white slivers the landmark polygon misses near the corners.
    dilate: float = 0.1
    # Lash line drawn along the closed lids (fraction of eye width); None colour samples the
    # darkest pixels along the upper lid.
    lash_width: float = 0.06
    lash_color: tuple[int, int, int] | None = None


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def _rgb_linear(srgb255: tuple[int, int, int]) -> np.ndarray:
    return srgb_to_linear(np.asarray(srgb255[:3], dtype=np.float64) / 255.0)


@dataclass(frozen=True)
class FaceColors:
    """Colours sampled once from the rest image (linear RGB, straight alpha)."""

    lip: np.ndarray
    lids: tuple[np.ndarray, np.ndarray]  # skin above the upper lids: right eye, left eye
    lower_lids: tuple[np.ndarray, np.ndarray]  # skin below the lower lids
    lashes: tuple[np.ndarray, np.ndarray]


def _polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    from PIL import Image, ImageDraw

    mask = Image.new("L", (shape[1], shape[0]), 0)
    if len(polygon) >= 3:
        ImageDraw.Draw(mask).polygon([(float(x), float(y)) for x, y in polygon], fill=1)
    return np.asarray(mask, dtype=bool)


def _median_colour(image_linear: np.ndarray, alpha: np.ndarray, mask: np.ndarray,
                   fallback: np.ndarray) -> np.ndarray:
    select = mask & (alpha > 0.5)
    if select.sum() < 4:
        return fallback
    return np.median(image_linear[select], axis=0)


def estimate_face_colors(image_rgba: np.ndarray, landmarks: np.ndarray) -> FaceColors:
    """Lip colour (between outer and inner lip outlines) and the skin just above each eye."""
    rgb = srgb_to_linear(image_rgba[..., :3].astype(np.float64) / 255.0)
    alpha = image_rgba[..., 3].astype(np.float64) / 255.0
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    shape = image_rgba.shape[:2]
    lip_mask = _polygon_mask(shape, pts[list(OUTER_LIP)]) & ~_polygon_mask(shape, pts[list(INNER_LIP)])
    lip = _median_colour(rgb, alpha, lip_mask, _rgb_linear((180, 80, 80)))
    lids, lower_lids, lashes = [], [], []
    for eye in (RIGHT_EYE, LEFT_EYE):
        ring = pts[list(eye)]
        eye_w = float(np.hypot(*(ring[3] - ring[0])))
        upper = ring[[0, 1, 2, 3]]
        # The face's up direction is perpendicular to the eye's corner-to-corner axis.
        axis = (ring[3] - ring[0]) / max(eye_w, 1e-9)
        up = np.array([axis[1], -axis[0]])
        band = np.concatenate([upper + up * 0.1 * eye_w, (upper + up * 0.3 * eye_w)[::-1]])
        skin = _median_colour(rgb, alpha, _polygon_mask(shape, band), _rgb_linear((230, 190, 160)))
        lids.append(skin)
        lower = ring[[3, 4, 5, 0]]
        band = np.concatenate([lower - up * 0.1 * eye_w, (lower - up * 0.3 * eye_w)[::-1]])
        lower_lids.append(_median_colour(rgb, alpha, _polygon_mask(shape, band), skin))
        # The lash line: the darkest pixels in a thin band around the upper lid.
        around = np.concatenate([upper + up * 0.07 * eye_w, (upper - up * 0.07 * eye_w)[::-1]])
        select = _polygon_mask(shape, around) & (alpha > 0.5)
        if select.sum() >= 4:
            values = rgb[select]
            luma = values @ np.array([0.2126, 0.7152, 0.0722])
            darkest = values[luma <= np.quantile(luma, 0.15)]
            lashes.append(darkest.mean(0))
        else:
            lashes.append(skin * 0.15)
    return FaceColors(lip=lip, lids=(lids[0], lids[1]), lower_lids=(lower_lids[0], lower_lids[1]),
                      lashes=(lashes[0], lashes[1]))


@dataclass(frozen=True)
class MouthColors:
    """Linear RGB colours of the cavity (edge and deep), teeth and tongue."""

    cavity_edge: np.ndarray
    cavity_deep: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray

    @classmethod
    def derive(cls, lip: np.ndarray, config: MouthConfig, flat: bool) -> "MouthColors":
        lip = np.clip(np.asarray(lip, dtype=np.float64), 0.0, 1.0)
        if config.cavity_color is not None:
            edge = _rgb_linear(config.cavity_color)
            deep = edge * 0.4
        elif flat:
            # One dark, slightly red tone, like an inked cartoon mouth.
            edge = deep = 0.5 * (0.12 * lip + _rgb_linear((60, 20, 28)))
        else:
            # A photographed mouth interior: dark red-brown, tinted by the lips, near black
            # at the back.
            edge = 0.5 * (0.15 * lip + _rgb_linear((92, 38, 38)))
            deep = _rgb_linear((28, 10, 11))
        teeth = _rgb_linear(config.teeth_color) if config.teeth_color is not None else (
            _rgb_linear((238, 236, 228)) if flat else _rgb_linear((238, 228, 206))
        )
        tongue = 0.5 * lip * np.array([1.0, 0.55, 0.6])
        return cls(cavity_edge=edge, cavity_deep=deep, teeth=teeth, tongue=tongue)


def _smoothstep(lo: float, hi: float, x: float) -> float:
    if hi <= lo:
        return float(x >= hi)
    t = min(max((x - lo) / (hi - lo), 0.0), 1.0)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class MouthState:
    """What the mouth pass needs for one frame (pixels of the source image)."""

    polygon: np.ndarray  # (8, 2) inner lip 60..67
    origin: np.ndarray  # corner 60
    axis: np.ndarray  # unit vector 60 -> 64
    width: float
    upper: np.ndarray  # (5, 2) local (u, v) of 60, 61, 62, 63, 64
    lower: np.ndarray  # (5, 2) local (u, v) of 60, 67, 66, 65, 64
    cavity_alpha: float
    teeth_alpha: float
    teeth_height: float
    feather: float
    keep_rest: bool  # draw the rest interior split between the lips (see mouth.frag)


@dataclass(frozen=True)
class MouthRest:
    """The rest pose's mouth, in its own local frame (for re-sampling its interior)."""

    origin: np.ndarray
    axis: np.ndarray
    width: float
    upper: np.ndarray
    lower: np.ndarray
    opening: float  # mean inner-lip gap / width

    @classmethod
    def from_landmarks(cls, rest_landmarks: np.ndarray) -> "MouthRest":
        pts = np.asarray(rest_landmarks, dtype=np.float64)[:, :2]
        axis, down, width = mouth_frame(pts)
        upper, lower = _lip_polylines(pts, pts[60], axis, down)
        return cls(origin=pts[60].copy(), axis=axis, width=width, upper=upper, lower=lower,
                   opening=max(_relative_opening(pts), 0.0))


def _lip_polylines(pts: np.ndarray, origin: np.ndarray, axis: np.ndarray, down: np.ndarray):
    def local(indices):
        d = pts[list(indices)] - origin
        uv = np.stack([d @ axis, d @ down], axis=1)
        # The shader walks these polylines by u, so keep them sorted.
        return uv[np.argsort(uv[:, 0], kind="stable")]

    return local((60, 61, 62, 63, 64)), local((60, 67, 66, 65, 64))


def _relative_opening(landmarks: np.ndarray) -> float:
    _, down, width = mouth_frame(landmarks)
    gaps = [float(np.dot(landmarks[lo, :2] - landmarks[up, :2], down)) for up, lo in INNER_LIP_PAIRS]
    return float(np.mean(gaps)) / max(width, 1e-9)


def mouth_state(landmarks: np.ndarray, rest: MouthRest, config: MouthConfig, flat: bool = False) -> MouthState:
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    axis, down, width = mouth_frame(pts)
    origin = pts[60]
    upper, lower = _lip_polylines(pts, origin, axis, down)
    opening = _relative_opening(pts)
    cavity = _smoothstep(config.open_start, config.open_full, opening - rest.opening)
    keep_rest = rest.opening > config.rest_interior_min
    ramp = 0.0
    if config.teeth and not keep_rest:
        ramp = _smoothstep(config.teeth_start, config.teeth_full, opening)
    # Teeth slide out from under the upper lip as the mouth opens (a cartoon keeps them
    # opaque and flat; a photo also fades them in).
    centre_gap = max(opening * width, 0.0)
    teeth_h = min(config.teeth_height * width, config.teeth_max_share * centre_gap) * ramp
    teeth_alpha = (1.0 if flat else float(np.sqrt(ramp))) if ramp > 0 else 0.0
    max_gap = float(np.max(lower[:, 1]) - np.min(upper[:, 1])) if width > 0 else 0.0
    return MouthState(
        polygon=pts[list(INNER_LIP)].copy(), origin=origin.copy(), axis=axis, width=width,
        upper=upper, lower=lower, cavity_alpha=cavity if config.enabled else 0.0,
        teeth_alpha=teeth_alpha, teeth_height=teeth_h, feather=max(config.feather * max_gap, 0.0),
        keep_rest=keep_rest,
    )


@dataclass(frozen=True)
class EyeState:
    """What the eye pass needs for one eye in one frame."""

    polygon: np.ndarray  # (6, 2) current eye outline
    rest_polygon: np.ndarray  # (6, 2)
    map_a: complex  # current pixel z -> rest pixel a*z + b (rigid in the eye corners)
    map_b: complex
    closure: float  # 0 as open as at rest, 1 shut
    lid_alpha: float
    width: float  # corner to corner, pixels


def eye_opening(landmarks: np.ndarray, eye: tuple[int, ...]) -> float:
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    pairs = EYE_LID_PAIRS[eye]
    return float(np.mean([np.hypot(*(pts[lo] - pts[up])) for up, lo in pairs]))


def eye_state(landmarks: np.ndarray, rest_landmarks: np.ndarray, eye: tuple[int, ...],
              rest_opening: float, config: EyelidConfig) -> EyeState:
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    rest = np.asarray(rest_landmarks, dtype=np.float64)[:, :2]
    idx = list(eye)
    # The corners anchor the eye's frame: they move with the head but not with the lids.
    c0, c1 = pts[idx[0]], pts[idx[3]]
    r0, r1 = rest[idx[0]], rest[idx[3]]
    z0, z1 = complex(*c0), complex(*c1)
    w0, w1 = complex(*r0), complex(*r1)
    a = (w1 - w0) / (z1 - z0) if abs(z1 - z0) > 1e-9 else 1.0 + 0j
    b = w0 - a * z0
    opening = eye_opening(pts, eye)
    closure = 0.0 if rest_opening <= 1e-9 else min(max(1.0 - opening / rest_opening, 0.0), 1.0)
    lid = _smoothstep(config.lid_fill_start, config.lid_fill_full, closure)
    return EyeState(polygon=pts[idx].copy(), rest_polygon=rest[idx].copy(), map_a=a, map_b=b,
                    closure=closure, lid_alpha=lid, width=abs(z1 - z0))
