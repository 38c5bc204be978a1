"""Landmark metrics for talking-head evaluation (pure NumPy).

MakeItTalk's paper names its metrics D-LL, D-VL, D-A, D-L, D-V, D-Rot and D-Pos, but the
formulas were never released with code (reference spec §9 marks them UNVERIFIED). These are
this project's definitions; numbers from them are NOT comparable with the paper's tables.

Conventions
-----------
* Landmarks are iBUG-68 points, 0-based, in image pixels (x right, y down): arrays (T, 68, 2).
* Every metric takes ``pred`` and ``gt`` (T, 68, 2) and ``valid`` (T,) bool: the frames where
  the ground truth has a detected face and both sequences exist. Invalid frames are ignored.
* The *reference frame* is the first valid ground-truth frame.
* Unit: distances are divided by the clip's mean ground-truth outer-eye-corner distance
  ``E = mean_t |gt[t,36] - gt[t,45]|`` over valid frames and reported x100 (percent of E).
* Jaw-lip points: 0-16 and 48-67. Stable points: 27-35 (nose) and 36, 39, 42, 45 (eye corners).

Pose removal ("aligned")
------------------------
Per frame, a 2-D similarity transform (rotation, uniform scale, translation; Umeyama's
least-squares fit, no reflection) maps that frame's stable points onto the reference frame's
stable points and is applied to all 68 points. Prediction and ground truth are aligned
separately, both to the *ground-truth* reference frame.

Metrics
-------
* D-LL: mean over valid frames and jaw-lip points of the Euclidean distance between aligned
  prediction and aligned ground truth, / E x 100.
* D-VL: the same on aligned jaw-lip velocities v[t] = x[t] - x[t-1] (per frame, so it depends
  on the frame rate), only where frames t-1 and t are both valid.
* D-A: A(t) = signed shoelace area of the aligned inner-lip polygon 60-67, clipped at 0 (in
  iBUG order an open mouth has positive area in image coordinates; a crossed, inverted inner
  lip counts as closed). D-A = mean_t |A_pred - A_gt| / mean_t(area of the aligned ground-truth
  outer-lip polygon 48-59) x 100.
* D-L, D-V: as D-LL and D-VL over all 68 points of the raw (not aligned) landmarks.
* D-Rot: the rotation angle of each frame's similarity transform above, i.e. the in-plane
  head roll relative to the ground-truth reference frame; mean |angle_pred - angle_gt| in
  degrees (difference wrapped to [-180, 180)). 2-D landmarks only show in-plane rotation:
  yaw and pitch appear as non-rigid deformation, not in D-Rot.
* D-Pos: c(t) = (centroid of the stable points at t - centroid of the reference frame's
  stable points) / E; mean |c_pred(t) - c_gt(t)| x 100.
* Mouth-opening correlation: o(t) = |p62 - p66| / |p36 - p45| (same frame, raw landmarks).
  For each lag L in [-round(0.2 fps), +round(0.2 fps)] frames, the Pearson r of the pairs
  (o_pred[t + L], o_gt[t]) over the t where both frames are valid (at least 3 pairs); the
  reported r is the largest, its lag is reported in ms (positive: the prediction is later
  than the ground truth; ties go to the smallest |L|). A series that is constant over the
  overlap has no defined r: it counts as r = 0 and the result says ``r_defined: False``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "JAW_LIP_POINTS",
    "STABLE_POINTS",
    "INNER_LIP_POINTS",
    "OUTER_LIP_POINTS",
    "LAG_SECONDS",
    "METRIC_NAMES",
    "DEFINITIONS",
    "Alignment",
    "MouthCorrelation",
    "eye_distance",
    "similarity_transform",
    "align_to_reference",
    "polygon_area",
    "mouth_opening",
    "d_ll",
    "d_vl",
    "d_a",
    "d_l",
    "d_v",
    "d_rot",
    "d_pos",
    "mouth_correlation",
    "evaluate_sequence",
]

JAW_LIP_POINTS = np.r_[0:17, 48:68]
STABLE_POINTS = np.r_[27:36, 36, 39, 42, 45]
INNER_LIP_POINTS = np.arange(60, 68)
OUTER_LIP_POINTS = np.arange(48, 60)
LAG_SECONDS = 0.2
MIN_CORRELATION_PAIRS = 3

METRIC_NAMES = ("D-LL", "D-VL", "D-A", "D-L", "D-V", "D-Rot", "D-Pos", "mouth_r", "mouth_lag_ms")

DEFINITIONS = {
    "unit": "distances in % of the clip's mean ground-truth outer-eye-corner distance |p36-p45| (iBUG-68, 0-based)",
    "aligned": "per frame, 2-D similarity (Umeyama) from the stable points 27-35,36,39,42,45 to those of the "
               "first valid ground-truth frame, applied to all points; prediction and ground truth separately",
    "D-LL": "mean distance of aligned jaw-lip points (0-16, 48-67)",
    "D-VL": "mean distance of aligned jaw-lip velocities (differences between consecutive valid frames)",
    "D-A": "mean |inner-lip area (60-67, aligned, shoelace, >= 0) pred - gt| / mean aligned gt outer-lip area (48-59)",
    "D-L": "mean distance of all 68 raw points",
    "D-V": "mean distance of raw velocities of all 68 points",
    "D-Rot": "mean |in-plane roll of the similarity fit, pred - gt| in degrees (2-D landmarks show only roll)",
    "D-Pos": "mean distance of stable-point centroids relative to the first gt frame's",
    "mouth_r": "Pearson r of |p62-p66|/|p36-p45| between pred and gt at the best lag within +-200 ms; "
               "0 with r_defined false when a series is constant",
    "mouth_lag_ms": "that lag in ms, positive = prediction later than ground truth",
    "mouth_r_lag0": "the same Pearson r without a lag",
    "amp": "std of the predicted mouth opening o(t) / std of the real one (1 = as much motion as the real "
           "mouth); the MEAN row gives the median over clips",
    "head_rot_std_ratio": "std of the predicted in-plane head roll / std of the real roll; MEAN row: median",
    "head_rot_speed_ratio": "mean |frame-to-frame roll change| predicted / real; MEAN row: median",
    "head_pos_std_ratio": "RMS distance of the stable-point centroid from its mean, predicted / real; "
                          "MEAN row: median",
    "head_pos_speed_ratio": "mean centroid speed per frame, predicted / real; MEAN row: median",
    "head_audio_r": "Pearson r between the predicted head speed (centroid, per frame) and the audio's frame "
                    "RMS (0 when undefined)",
}

#: Ratios summarised by the median over clips, not the mean (one near-still real clip makes a
#: ratio explode).
MEDIAN_METRICS = ("amp", "head_rot_std_ratio", "head_rot_speed_ratio", "head_pos_std_ratio",
                  "head_pos_speed_ratio")


# ----------------------------------------------------------------------------------------------
# helpers


def _check(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)[..., :2]
    gt = np.asarray(gt, dtype=np.float64)[..., :2]
    valid = np.asarray(valid, dtype=bool)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1] != 68:
        raise ValueError(f"pred and gt must both be (T, 68, 2), got {pred.shape} and {gt.shape}")
    if valid.shape != (len(gt),):
        raise ValueError(f"valid must be ({len(gt)},), got {valid.shape}")
    finite = np.isfinite(pred).all(axis=(1, 2)) & np.isfinite(gt).all(axis=(1, 2))
    if (valid & ~finite).any():
        raise ValueError("valid frames must have finite landmarks in both pred and gt")
    return pred, gt, valid


def eye_distance(gt: np.ndarray, valid: np.ndarray) -> float:
    """E: mean |p36 - p45| of the ground truth over the valid frames (pixels)."""
    gt = np.asarray(gt, dtype=np.float64)[..., :2]
    valid = np.asarray(valid, dtype=bool)
    if not valid.any():
        raise ValueError("no valid frames")
    return float(np.linalg.norm(gt[valid, 36] - gt[valid, 45], axis=-1).mean())


def _reference_index(valid: np.ndarray) -> int:
    indices = np.flatnonzero(valid)
    if len(indices) == 0:
        raise ValueError("no valid frames")
    return int(indices[0])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity dst ≈ scale · R @ src + t (Umeyama 1991, reflection excluded).

    Returns (scale, R (2, 2), t (2,)); the rotation angle is atan2(R[1, 0], R[0, 0]).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_src, mu_dst = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_src, dst - mu_dst
    var_src = (a**2).sum() / len(src)
    if var_src <= 0:
        return 1.0, np.eye(2), mu_dst - mu_src
    cov = b.T @ a / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = float((s * d).sum() / var_src)
    translation = mu_dst - scale * rotation @ mu_src
    return scale, rotation, translation


@dataclass(frozen=True)
class Alignment:
    """A sequence with its pose removed: `aligned` (T, 68, 2) (NaN on invalid frames) and each
    frame's similarity parameters: `roll_deg`, the frame's in-plane rotation relative to the
    reference (minus the angle of the fitted rotation, which takes the frame back onto the
    reference), and `scale`, the fitted scale."""

    aligned: np.ndarray
    roll_deg: np.ndarray
    scale: np.ndarray


def align_to_reference(seq: np.ndarray, valid: np.ndarray, reference: np.ndarray) -> Alignment:
    """Fit, per valid frame, the similarity taking its stable points onto `reference`'s (68, 2)
    stable points and apply it to the whole frame."""
    seq = np.asarray(seq, dtype=np.float64)[..., :2]
    reference = np.asarray(reference, dtype=np.float64)[..., :2]
    aligned = np.full(seq.shape, np.nan)
    roll = np.full(len(seq), np.nan)
    scale = np.full(len(seq), np.nan)
    target = reference[STABLE_POINTS]
    for t in np.flatnonzero(valid):
        s, r, shift = similarity_transform(seq[t, STABLE_POINTS], target)
        aligned[t] = s * seq[t] @ r.T + shift
        # R rotates the frame back onto the reference, so the frame is rolled by -angle(R).
        roll[t] = -math.degrees(math.atan2(r[1, 0], r[0, 0]))
        scale[t] = s
    return Alignment(aligned, roll, scale)


def polygon_area(points: np.ndarray) -> np.ndarray:
    """Signed shoelace area of polygons (..., K, 2), vertices in order; positive for the iBUG
    lip order (left corner, upper lip, right corner, lower lip) in image coordinates (y down)."""
    points = np.asarray(points, dtype=np.float64)
    x, y = points[..., 0], points[..., 1]
    return 0.5 * (x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(axis=-1)


def mouth_opening(seq: np.ndarray) -> np.ndarray:
    """o(t) = |p62 - p66| / |p36 - p45| per frame (T,)."""
    seq = np.asarray(seq, dtype=np.float64)[..., :2]
    lips = np.linalg.norm(seq[:, 62] - seq[:, 66], axis=-1)
    eyes = np.linalg.norm(seq[:, 36] - seq[:, 45], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return lips / eyes


def _mean_distance(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> float:
    if len(a) == 0:
        return float("nan")
    return float(np.linalg.norm(a[:, points] - b[:, points], axis=-1).mean())


def _velocities(seq: np.ndarray, valid: np.ndarray) -> np.ndarray:
    pairs = valid[1:] & valid[:-1]
    return (seq[1:] - seq[:-1])[pairs]


def _aligned_pair(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> tuple[Alignment, Alignment]:
    reference = gt[_reference_index(valid)]
    return align_to_reference(pred, valid, reference), align_to_reference(gt, valid, reference)


# ----------------------------------------------------------------------------------------------
# the metrics (each: pred, gt (T, 68, 2), valid (T,) -> float)


def d_ll(pred, gt, valid) -> float:
    """Aligned jaw-lip landmark distance, % of E."""
    pred, gt, valid = _check(pred, gt, valid)
    ap, ag = _aligned_pair(pred, gt, valid)
    return 100.0 * _mean_distance(ap.aligned[valid], ag.aligned[valid], JAW_LIP_POINTS) / eye_distance(gt, valid)


def d_vl(pred, gt, valid) -> float:
    """Aligned jaw-lip velocity distance, % of E per frame."""
    pred, gt, valid = _check(pred, gt, valid)
    ap, ag = _aligned_pair(pred, gt, valid)
    vp, vg = _velocities(ap.aligned, valid), _velocities(ag.aligned, valid)
    return 100.0 * _mean_distance(vp, vg, JAW_LIP_POINTS) / eye_distance(gt, valid)


def _inner_area(aligned: np.ndarray) -> np.ndarray:
    return np.maximum(polygon_area(aligned[:, INNER_LIP_POINTS]), 0.0)


def d_a(pred, gt, valid) -> float:
    """Inner-mouth area difference, % of the mean ground-truth outer-lip area."""
    pred, gt, valid = _check(pred, gt, valid)
    ap, ag = _aligned_pair(pred, gt, valid)
    area_pred, area_gt = _inner_area(ap.aligned[valid]), _inner_area(ag.aligned[valid])
    outer = np.abs(polygon_area(ag.aligned[valid][:, OUTER_LIP_POINTS])).mean()
    if outer <= 0:
        return float("nan")
    return float(100.0 * np.abs(area_pred - area_gt).mean() / outer)


def d_l(pred, gt, valid) -> float:
    """Raw distance over all 68 points, % of E."""
    pred, gt, valid = _check(pred, gt, valid)
    return 100.0 * _mean_distance(pred[valid], gt[valid], np.arange(68)) / eye_distance(gt, valid)


def d_v(pred, gt, valid) -> float:
    """Raw velocity distance over all 68 points, % of E per frame."""
    pred, gt, valid = _check(pred, gt, valid)
    vp, vg = _velocities(pred, valid), _velocities(gt, valid)
    return 100.0 * _mean_distance(vp, vg, np.arange(68)) / eye_distance(gt, valid)


def _angle_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a - b + 180.0) % 360.0 - 180.0


def d_rot(pred, gt, valid) -> float:
    """Mean absolute in-plane roll difference in degrees."""
    pred, gt, valid = _check(pred, gt, valid)
    ap, ag = _aligned_pair(pred, gt, valid)
    return float(np.abs(_angle_difference(ap.roll_deg[valid], ag.roll_deg[valid])).mean())


def d_pos(pred, gt, valid) -> float:
    """Mean distance of stable-point centroid displacements, % of E."""
    pred, gt, valid = _check(pred, gt, valid)
    origin = gt[_reference_index(valid), STABLE_POINTS].mean(axis=0)
    cp = pred[valid][:, STABLE_POINTS].mean(axis=1) - origin
    cg = gt[valid][:, STABLE_POINTS].mean(axis=1) - origin
    return float(100.0 * np.linalg.norm(cp - cg, axis=-1).mean() / eye_distance(gt, valid))


@dataclass(frozen=True)
class MouthCorrelation:
    r: float  # best Pearson r (0 when undefined)
    lag_frames: int  # positive: prediction later than ground truth
    lag_ms: float
    r_defined: bool
    r_lag0: float  # r without a lag (0 when undefined)


def _is_constant(x: np.ndarray) -> bool:
    mean = float(x.mean())
    spread = math.sqrt(float(((x - mean) ** 2).mean()))
    return spread <= 1e-9 * max(abs(mean), 1e-12)  # constant up to rounding


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson r, or None when there are too few pairs or a series is constant."""
    if len(a) < MIN_CORRELATION_PAIRS or _is_constant(a) or _is_constant(b):
        return None
    a = a - a.mean()
    b = b - b.mean()
    return float(np.clip((a @ b) / math.sqrt(float(a @ a) * float(b @ b)), -1.0, 1.0))


def _lagged_r(op: np.ndarray, og: np.ndarray, valid: np.ndarray, lag: int) -> float | None:
    n = len(op)
    if abs(lag) >= n:
        return None
    if lag >= 0:  # pairs (pred[t + lag], gt[t])
        p, g, vp, vg = op[lag:], og[: n - lag], valid[lag:], valid[: n - lag]
    else:
        p, g, vp, vg = op[: n + lag], og[-lag:], valid[: n + lag], valid[-lag:]
    keep = vp & vg
    return _pearson(p[keep], g[keep])


def mouth_correlation(pred, gt, valid, fps: float, *, max_lag_seconds: float = LAG_SECONDS) -> MouthCorrelation:
    """Best-lag Pearson r of the mouth opening o(t) within ±max_lag_seconds."""
    pred, gt, valid = _check(pred, gt, valid)
    op, og = mouth_opening(pred), mouth_opening(gt)
    valid = valid & np.isfinite(op) & np.isfinite(og)
    max_lag = int(round(max_lag_seconds * fps))
    lags = sorted(range(-max_lag, max_lag + 1), key=lambda lag: (abs(lag), -lag))
    best: tuple[float, int] | None = None
    for lag in lags:
        r = _lagged_r(op, og, valid, lag)
        if r is not None and (best is None or r > best[0] + 1e-12):
            best = (r, lag)
    r0 = _lagged_r(op, og, valid, 0)
    if best is None:
        return MouthCorrelation(0.0, 0, 0.0, False, 0.0)
    return MouthCorrelation(best[0], best[1], 1000.0 * best[1] / fps, True, 0.0 if r0 is None else r0)


def _ratio(a: float, b: float) -> float:
    """a / b; NaN when the real spread b is nothing but rounding (openings are ~0.05 eye
    distances, roll in degrees, positions in % of the eye distance: 1e-9 is far below any motion)."""
    return float(a / b) if b > 1e-9 and math.isfinite(a) and math.isfinite(b) else float("nan")


def head_motion(seq: np.ndarray, valid: np.ndarray, eye: float) -> dict[str, float]:
    """Size and speed of the head's roll (degrees) and of its stable-point centroid (in % of the
    eye distance): std / RMS spread and mean absolute change per frame between valid frames."""
    seq = np.asarray(seq, dtype=np.float64)[..., :2]
    reference = seq[_reference_index(valid)]
    roll = align_to_reference(seq, valid, reference).roll_deg
    centre = 100.0 * seq[:, STABLE_POINTS].mean(axis=1) / eye
    pairs = valid[1:] & valid[:-1]
    c = centre[valid]
    return {
        "rot_std": float(np.std(roll[valid])),
        "rot_speed": float(np.abs(np.diff(roll))[pairs].mean()) if pairs.any() else float("nan"),
        "pos_std": float(np.sqrt(((c - c.mean(axis=0)) ** 2).sum(axis=1).mean())),
        "pos_speed": float(np.linalg.norm(np.diff(centre, axis=0), axis=1)[pairs].mean()) if pairs.any() else float("nan"),
        "speed": np.where(pairs, np.linalg.norm(np.diff(centre, axis=0), axis=1), np.nan),
    }


def evaluate_sequence(pred, gt, valid, fps: float, loudness: np.ndarray | None = None) -> dict:
    """Every metric for one (prediction, ground truth) pair, as a JSON-ready dict.

    Same numbers as the single-metric functions; the alignment is computed once.
    """
    pred, gt, valid = _check(pred, gt, valid)
    if not valid.any():
        raise ValueError("no valid frames to compare")
    eye = eye_distance(gt, valid)
    ap, ag = _aligned_pair(pred, gt, valid)
    pv, gv = ap.aligned[valid], ag.aligned[valid]
    outer = np.abs(polygon_area(gv[:, OUTER_LIP_POINTS])).mean()
    origin = gt[_reference_index(valid), STABLE_POINTS].mean(axis=0)
    cp = pred[valid][:, STABLE_POINTS].mean(axis=1) - origin
    cg = gt[valid][:, STABLE_POINTS].mean(axis=1) - origin
    mouth = mouth_correlation(pred, gt, valid, fps)
    op, og = mouth_opening(pred)[valid], mouth_opening(gt)[valid]
    head_p, head_g = head_motion(pred, valid, eye), head_motion(gt, valid, eye)
    head_audio_r = 0.0
    if loudness is not None and len(loudness) == len(pred):
        speed = head_p["speed"]
        keep = np.isfinite(speed) & np.isfinite(loudness[1:])
        r = _pearson(speed[keep], loudness[1:][keep]) if keep.sum() >= MIN_CORRELATION_PAIRS else None
        head_audio_r = 0.0 if r is None else r
    all_points = np.arange(68)
    return {
        "D-LL": 100.0 * _mean_distance(pv, gv, JAW_LIP_POINTS) / eye,
        "D-VL": 100.0 * _mean_distance(_velocities(ap.aligned, valid), _velocities(ag.aligned, valid),
                                       JAW_LIP_POINTS) / eye,
        "D-A": float(100.0 * np.abs(_inner_area(pv) - _inner_area(gv)).mean() / outer) if outer > 0 else float("nan"),
        "D-L": 100.0 * _mean_distance(pred[valid], gt[valid], all_points) / eye,
        "D-V": 100.0 * _mean_distance(_velocities(pred, valid), _velocities(gt, valid), all_points) / eye,
        "D-Rot": float(np.abs(_angle_difference(ap.roll_deg[valid], ag.roll_deg[valid])).mean()),
        "D-Pos": float(100.0 * np.linalg.norm(cp - cg, axis=-1).mean() / eye),
        "mouth_r": mouth.r,
        "mouth_lag_ms": mouth.lag_ms,
        "r_defined": mouth.r_defined,
        "mouth_r_lag0": mouth.r_lag0,
        "amp": _ratio(float(np.std(op)), float(np.std(og))),
        "head_rot_std_ratio": _ratio(head_p["rot_std"], head_g["rot_std"]),
        "head_rot_speed_ratio": _ratio(head_p["rot_speed"], head_g["rot_speed"]),
        "head_pos_std_ratio": _ratio(head_p["pos_std"], head_g["pos_std"]),
        "head_pos_speed_ratio": _ratio(head_p["pos_speed"], head_g["pos_speed"]),
        "head_audio_r": head_audio_r,
        "frames_compared": int(valid.sum()),
        "eye_distance_px": eye,
    }
