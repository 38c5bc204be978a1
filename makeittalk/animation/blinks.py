"""Synthetic eyelid motion: the per-frame eye narrowing and the blinks (step 20).

The networks do not blink, so the original adds blinks on the pixel landmarks. Two blink
schedules exist here:

* `original_blink_frames`: the original release's schedule (first blink at frame 30, then
  every 90-149 frames from `randint(30, 90)` draws), for `compat="original"`. The original
  draws from NumPy's global RNG, which its AutoVC wrapper happens to seed with 0 once per
  wav; here the stream is an explicit `np.random.RandomState(seed)`, so seed 0 reproduces it.
* `blink_schedule`: the default, seeded and with a configurable rate in blinks per minute.

Both return frame indices at the internal rate (62.5 fps); `apply_blinks` draws the closure
and its ramps there, before the final smoothing and the resampling to the video rate.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = [
    "INTERNAL_FPS",
    "EYELID_PAIRS",
    "BLINK_POINTS",
    "RAMP_BEFORE",
    "RAMP_AFTER",
    "ORIGINAL_BLINK_RATE",
    "blend_eyelids",
    "apply_blinks",
    "original_blink_frames",
    "blink_schedule",
]

INTERNAL_FPS = 62.5

# (upper, lower) eyelid points that face each other: left eye 37/41, 38/40; right 43/47, 44/46.
EYELID_PAIRS: tuple[tuple[int, int], ...] = ((37, 41), (38, 40), (43, 47), (44, 46))
BLINK_POINTS: tuple[int, ...] = (37, 38, 40, 41, 43, 44, 46, 47)

# Frames of the closing ramp before a blink and of the opening ramp after it (K1, K2).
RAMP_BEFORE = 10
RAMP_AFTER = 15

# The original's mean interval is 60 + E[randint(30, 90)] = 119.5 frames at 62.5 fps.
ORIGINAL_BLINK_RATE = 60.0 * INTERNAL_FPS / 119.5  # ≈ 31.4 blinks per minute


def blend_eyelids(pixels: np.ndarray, ratio: float = 0.95) -> np.ndarray:
    """Move each eyelid pair 5 % towards each other in every frame (slightly narrower eyes).

    Compatibility: `1 - ratio` is evaluated in float64 (0.050000000000000044), as the original
    does; writing 0.05 changes results by ~3e-14 px.
    """
    fl = np.array(pixels, dtype=np.float64).reshape(-1, 68, 3)
    r = float(ratio)
    for a, b in EYELID_PAIRS:
        pa, pb = fl[:, a].copy(), fl[:, b].copy()
        fl[:, a] = r * pa + (1 - r) * pb
        fl[:, b] = (1 - r) * pa + r * pb
    return fl


def _blink_fits(t: int, num_frames: int) -> bool:
    return t - RAMP_BEFORE >= 0 and t + RAMP_AFTER < num_frames


def apply_blinks(pixels: np.ndarray, frames: Iterable[int]) -> np.ndarray:
    """Close the eyes at each frame t and ramp linearly over 10 frames before and 15 after.

    At t both lids of a pair go to 0.25·upper + 0.75·lower; frames t-9..t-1 blend from frame
    t-10 to t, frames t+1..t+14 from t to t+15. Blinks are applied in the given order, and
    ones whose ramps would leave the clip are skipped (the original crashed on them).
    """
    fl = np.array(pixels, dtype=np.float64).reshape(-1, 68, 3)
    n = fl.shape[0]
    idx = list(BLINK_POINTS)
    for t in frames:
        t = int(t)
        if not _blink_fits(t, n):
            continue
        for a, b in EYELID_PAIRS:
            closed = 0.25 * fl[t, a] + 0.75 * fl[t, b]
            fl[t, a] = closed
            fl[t, b] = closed
        for t0 in range(t - RAMP_BEFORE + 1, t):
            r = (t - t0) / 1.0 / RAMP_BEFORE
            fl[t0, idx] = r * fl[t - RAMP_BEFORE, idx] + (1 - r) * fl[t, idx]
        for t0 in range(t + 1, t + RAMP_AFTER):
            r = (t + RAMP_AFTER - 1 - t0) / 1.0 / RAMP_AFTER
            fl[t0, idx] = r * fl[t, idx] + (1 - r) * fl[t + RAMP_AFTER, idx]
    return fl


def original_blink_frames(num_frames: int, rng: np.random.RandomState) -> list[int]:
    """The original release's blink frames for a clip of `num_frames` frames.

    Compatibility: the first blink is always frame 30 (even in clips too short for it; such
    blinks are skipped when applied), and the loop consumes one extra draw that it rejects,
    exactly like the original, so the RNG stream advances the same way.
    """
    frames = [30]
    t = 30
    while t < num_frames - 1 - RAMP_AFTER:
        t += 60
        t += int(rng.randint(30, 90))
        if t < num_frames - 1 - RAMP_AFTER:
            frames.append(t)
    return frames


def blink_schedule(
    num_frames: int,
    *,
    rate_per_minute: float = 30.0,
    seed: int = 0,
    fps: float = INTERNAL_FPS,
    jitter: float = 0.25,
) -> list[int]:
    """Seeded blink frames at `rate_per_minute` blinks per minute on average.

    Intervals are uniform in (1 ± jitter)·60/rate seconds, the same ±25 % spread as the
    original's 90-149 frames; the first blink comes after a uniform 0.25-1.0 of one mean
    interval so that short clips blink too without every clip blinking at the same moment.
    A rate of 0 means no blinks. The same (num_frames, rate, seed) always gives the same
    frames, and a longer clip only adds blinks at the end.
    """
    if rate_per_minute < 0:
        raise ValueError(f"blink rate must be >= 0 blinks per minute, got {rate_per_minute}")
    if rate_per_minute == 0 or num_frames <= 0:
        return []
    rng = np.random.default_rng(seed)
    mean_interval = 60.0 / float(rate_per_minute)
    t = rng.uniform(0.25, 1.0) * mean_interval
    frames: list[int] = []
    last_second = (num_frames - 1) / fps
    while t <= last_second:
        frame = int(round(t * fps))
        # Very high rates would overlap one blink's ramps with the next; skip such blinks.
        spaced = not frames or frame - frames[-1] >= RAMP_BEFORE + RAMP_AFTER
        if spaced and _blink_fits(frame, num_frames):
            frames.append(frame)
        t += rng.uniform(1.0 - jitter, 1.0 + jitter) * mean_interval
    return frames
