"""Landmark post-processing, steps 10-21 of the original inference chain.

Every step is its own function so that each can be checked against the stored intermediates
of the original release (reference README §4.3-4.4). The arithmetic follows the original
operation by operation (same dtypes, same evaluation order), which makes the results
bit-identical on the same inputs; where that forces an odd-looking expression, a one-line
comment says it is there for compatibility.

Array conventions: normalised landmarks are (N, 204) float32 rows ordered x0, y0, z0, x1, ...;
pixel landmarks are (N, 68, 3) float64 with x right, y down and z carried through unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

from makeittalk.animation.blinks import apply_blinks, blend_eyelids

__all__ = [
    "SPEAKER_SMOOTH_WINDOW",
    "MOUTH_CLOSE_RATIO",
    "DEFAULT_AMP_POS",
    "DEFAULT_AMP_LIP",
    "LIP_X_COLUMNS",
    "LIP_Y_COLUMNS",
    "savgol",
    "speaker_smooth_window",
    "smooth_speaker_delta",
    "close_speaker_mouth",
    "scale_pose",
    "calibrate_content",
    "amplify_lips",
    "combine",
    "inner_lip_signed_area",
    "fix_inverse_lips",
    "fix_nose_top",
    "smooth_landmarks",
    "round_like_text",
    "denormalize",
    "add_eyes",
    "final_smoothing",
]

SPEAKER_SMOOTH_WINDOW = 31
MOUTH_CLOSE_RATIO = 0.99
DEFAULT_AMP_POS = 0.5
DEFAULT_AMP_LIP = 2.0

# x and y columns of the mouth points 48-67 in the flat 204-vector.
LIP_X_COLUMNS = np.arange(48 * 3, 204, 3)
LIP_Y_COLUMNS = np.arange(48 * 3 + 1, 204, 3)

# Outer upper lip 49-53 faces 59..55 on the lower lip; inner upper 61-63 faces 67..65.
_OUTER_UPPER = list(range(49, 54))
_OUTER_LOWER = list(range(59, 54, -1))
_INNER_UPPER = list(range(61, 64))
_INNER_LOWER = list(range(67, 64, -1))


def savgol(x: np.ndarray, window: int, polyorder: int = 3) -> np.ndarray:
    """Savitzky-Golay smoothing along time (axis 0), `mode='interp'` like the original.

    For sequences long enough this is exactly `scipy.signal.savgol_filter(x, window,
    polyorder, axis=0)`. Shorter sequences (which made the original crash) get the largest
    odd window that fits and a polynomial order below it; one or two frames are returned
    unchanged. The dtype of `x` is kept (float32 in, float32 out).
    """
    n = x.shape[0]
    if window > n:
        window = n if n % 2 == 1 else n - 1
    if window < 3:
        return x.copy()
    return savgol_filter(x, window, min(polyorder, window - 1), axis=0)


def speaker_smooth_window(num_windows: int, max_window: int = SPEAKER_SMOOTH_WINDOW) -> int:
    """The original's smoothing window for Δs: odd(min(N - 1, 31))."""
    return int(min(num_windows - 1, max_window) // 2 * 2 + 1)


def smooth_speaker_delta(delta: np.ndarray, window: int | None = None) -> np.ndarray:
    """Step 10: Savitzky-Golay (order 3) over time on the raw speaker-branch output Δs."""
    delta = np.asarray(delta, dtype=np.float32)
    if window is None:
        window = speaker_smooth_window(delta.shape[0])
    return savgol(delta, window, 3)


def close_speaker_mouth(delta: np.ndarray, ratio: float = MOUTH_CLOSE_RATIO) -> np.ndarray:
    """Step 11: pull facing lip points of Δs together so the speaker branch opens no mouth.

    The lips are driven by the content branch; the speaker branch contributes only head
    motion and expression. The inner midline is computed after the outer update, as in the
    original.
    """
    p = np.array(delta, dtype=np.float32).reshape(-1, 68, 3)
    ratio = float(ratio)  # a Python float stays float32 in the products; np.float64 would not
    # Compatibility: float32 arithmetic with weak Python scalars, in the original's order.
    mean_out = 0.5 * p[:, _OUTER_UPPER] + 0.5 * p[:, _OUTER_LOWER]
    p[:, _OUTER_UPPER] = mean_out * ratio + p[:, _OUTER_UPPER] * (1 - ratio)
    p[:, _OUTER_LOWER] = mean_out * ratio + p[:, _OUTER_LOWER] * (1 - ratio)
    mean_in = 0.5 * (p[:, _INNER_UPPER] + p[:, _INNER_LOWER])
    p[:, _INNER_UPPER] = mean_in * ratio + p[:, _INNER_UPPER] * (1 - ratio)
    p[:, _INNER_LOWER] = mean_in * ratio + p[:, _INNER_LOWER] * (1 - ratio)
    return p.reshape(-1, 204)


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Umeyama fit of dst ≈ s R src + t for (..., N, 2) point sets; returns s (...), R (..., 2, 2), t (..., 2)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s = src.mean(axis=-2, keepdims=True)
    mu_d = dst.mean(axis=-2, keepdims=True)
    a, b = src - mu_s, dst - mu_d
    cov = np.swapaxes(b, -1, -2) @ a / src.shape[-2]
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones(sig.shape)
    fix[..., -1] = d
    rot = u @ (fix[..., :, None] * vt)
    var = (a**2).sum(axis=(-1, -2)) / src.shape[-2]
    scale = (sig * fix).sum(axis=-1) / np.maximum(var, 1e-12)
    t = mu_d[..., 0, :] - scale[..., None] * (rot @ mu_s[..., 0, :, None])[..., 0]
    return scale, rot, t


def apply_similarity(points: np.ndarray, scale: np.ndarray, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    return scale[..., None, None] * (points @ np.swapaxes(rot, -1, -2)) + t[..., None, :]


def rigid_speaker_delta(delta: np.ndarray, face_id: np.ndarray) -> np.ndarray:
    """Replace each frame of Δs by the similarity motion (rotation, scale, shift) that fits it best.

    For networks whose speaker branch learned head motion only: the per-point residue of the
    fit is noise that would bend the jaw and lips against the content branch.
    """
    q = np.asarray(face_id, dtype=np.float64).reshape(68, 3)[:, :2]
    d = np.asarray(delta, dtype=np.float64).reshape(-1, 68, 3)
    s, r, t = similarity_fit(np.broadcast_to(q, d[..., :2].shape), q + d[..., :2])
    out = np.zeros_like(d)
    out[..., :2] = apply_similarity(np.broadcast_to(q, d[..., :2].shape), s, r, t) - q
    return out.reshape(-1, 204).astype(np.float32)


def scale_pose(delta: np.ndarray, amp_pos: float = DEFAULT_AMP_POS) -> np.ndarray:
    """Step 12: scale the speaker-branch displacement (head motion) by `amp_pos`."""
    return (np.asarray(delta, dtype=np.float32) * np.float32(amp_pos)).astype(np.float32)


def calibrate_content(delta: np.ndarray, ratio: float = 0.5) -> np.ndarray:
    """Step 14a: make the content branch's rest pose zero.

    Per column, subtract the float32 mean of its K = ⌊ratio·N⌋ smallest values (at least
    one). The values are gathered in `np.argpartition` order because the float32 mean, and
    so the last bit, depends on that order (compatibility).
    """
    out = np.array(delta, dtype=np.float32)
    n = out.shape[0]
    k = max(1, int(n * ratio))
    if k >= n:
        # argpartition needs kth < n; with K = N the selection is every value.
        order = np.broadcast_to(np.arange(n)[:, None], out.shape)
    else:
        order = np.argpartition(out, k, axis=0)
    for column in range(out.shape[1]):
        m = np.mean(out[order[:k, column], column])
        out[:, column] = out[:, column] - m
    return out


def amplify_lips(delta: np.ndarray, amp_x: float = DEFAULT_AMP_LIP, amp_y: float = DEFAULT_AMP_LIP) -> np.ndarray:
    """Step 14b: multiply x and y of the mouth points 48-67 (the lip motion) by amp_x, amp_y."""
    out = np.array(delta, dtype=np.float32)
    out[:, LIP_X_COLUMNS] *= np.float32(amp_x)
    out[:, LIP_Y_COLUMNS] *= np.float32(amp_y)
    return out


def combine(delta_speaker: np.ndarray, delta_content: np.ndarray, face_id: np.ndarray) -> np.ndarray:
    """Step 15: landmarks = (Δs + Δc) + q, in float32 and in that order."""
    ds = np.asarray(delta_speaker, dtype=np.float32)
    dc = np.asarray(delta_content, dtype=np.float32)
    q = np.asarray(face_id, dtype=np.float32).reshape(1, 204)
    return (ds + dc) + q


def inner_lip_signed_area(landmarks: np.ndarray) -> np.ndarray:
    """Signed area of the inner-lip polygon 60-67 in (x, y), one value per frame.

    A fan from point 60, summed in float32 like the original; in image orientation (y down)
    a correctly ordered mouth has a positive area and crossed lips a negative one.
    """
    p = np.asarray(landmarks).reshape(-1, 68, 3)[:, 60:68, 0:2]
    s = None
    for i in range(1, 7):
        ab = p[:, i] - p[:, 0]
        ac = p[:, i + 1] - p[:, 0]
        term = 0.5 * (ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])
        s = term if s is None else s + term
    return s


def fix_inverse_lips(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 16: repair frames whose inner lips crossed (negative signed inner-lip area).

    The inner lips are collapsed onto their midline and the outer-lip y values are re-derived
    from the inner lips plus the previous frame's outer-minus-inner offsets, where the
    previous frame is the already-repaired one. Returns (fixed landmarks, repaired frames).
    """
    out = np.array(landmarks, dtype=np.float32).reshape(-1, 204)
    # A frame's area depends only on that frame, which no earlier repair touches.
    frames = np.flatnonzero(inner_lip_signed_area(out) < 0)

    def pt(i: int) -> slice:
        return slice(3 * i, 3 * i + 3)

    def ys(first: int, stop: int) -> slice:
        return slice(3 * first + 1, 3 * stop + 1, 3)

    for j in frames:
        row = out[j]
        row[pt(65)] = 0.5 * (row[pt(63)] + row[pt(65)])
        row[pt(63)] = row[pt(65)]
        row[pt(66)] = 0.5 * (row[pt(62)] + row[pt(66)])
        row[pt(62)] = row[pt(66)]
        row[pt(67)] = 0.5 * (row[pt(61)] + row[pt(67)])
        row[pt(61)] = row[pt(67)]
        prev = out[max(j - 1, 0)]
        # Compatibility: (inner + prev_outer) - prev_inner, the original's association.
        row[ys(55, 59)] = row[ys(64, 68)] + prev[ys(55, 59)] - prev[ys(64, 68)]
        row[ys(59, 60)] = row[ys(60, 61)] + prev[ys(59, 60)] - prev[ys(60, 61)]
        row[ys(49, 54)] = row[ys(60, 65)] + prev[ys(49, 54)] - prev[ys(60, 65)]
    return out, frames.astype(np.int64)


def fix_nose_top(landmarks: np.ndarray) -> np.ndarray:
    """Step 17: put the nose top (27) on the line through 28 and 29: p27 = 2·p28 − p29."""
    out = np.array(landmarks).reshape(-1, 204)
    out[:, 81:84] = out[:, 84:87] * 2 - out[:, 87:90]
    return out


def smooth_landmarks(landmarks: np.ndarray, window: int = 5) -> np.ndarray:
    """Step 18: Savitzky-Golay (window 5, order 3) over time on all 204 columns."""
    return savgol(np.asarray(landmarks), window, 3)


def round_like_text(landmarks: np.ndarray) -> np.ndarray:
    """Step 18, compatibility: the original writes `%.6f` text and reads it back as float64.

    Rounding a float32 value x this way equals `np.round(float64(x), 6)` exactly: x·1e6 is
    exact in float64 (24 + 14 significant bits), `rint` rounds half to even like Python's
    formatting, and k / 1e6 is the correctly rounded parse of the decimal k·10⁻⁶.
    """
    return np.round(np.asarray(landmarks, dtype=np.float64), 6)


def denormalize(landmarks: np.ndarray, scale: float, shift: np.ndarray) -> np.ndarray:
    """Step 19: normalised (N, 204) → portrait pixels (N, 68, 3): xy ← (−xy)/scale − shift.

    z stays in the normalised units (it is not measured from the image).
    """
    fl = np.array(landmarks, dtype=np.float64).reshape(-1, 68, 3)
    fl[:, :, 0:2] = -fl[:, :, 0:2]
    fl[:, :, 0:2] = fl[:, :, 0:2] / scale - np.asarray(shift, dtype=np.float64)
    return fl


def add_eyes(pixels: np.ndarray, blink_frames=(), ratio: float = 0.95) -> np.ndarray:
    """Step 20: narrow every frame's eyes slightly, then add blinks at `blink_frames`.

    Blinks that do not fit inside the clip (their ramps need 10 frames before and 15 after)
    are skipped.
    """
    out = blend_eyelids(pixels, ratio)
    return apply_blinks(out, blink_frames)


def final_smoothing(pixels: np.ndarray, eye_window: int = 15, mouth_window: int = 5) -> np.ndarray:
    """Step 21: Savitzky-Golay order 3, window 15 on points 0-47 and 5 on the mouth 48-67."""
    fl = np.array(pixels, dtype=np.float64).reshape(-1, 204)
    fl[:, : 48 * 3] = savgol(fl[:, : 48 * 3], eye_window, 3)
    fl[:, 48 * 3 :] = savgol(fl[:, 48 * 3 :], mouth_window, 3)
    return fl.reshape(-1, 68, 3)

