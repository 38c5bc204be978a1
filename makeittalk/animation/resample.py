"""From the internal 62.5 fps (one landmark frame per mel hop) to any video frame rate.

Frame i of the output is at time i/fps from the start of the audio; internal frame k is at
k/62.5. Output frames are linearly interpolated between the two internal frames around
their time, in landmark space (pixels). Linear interpolation never overshoots, so lips that
touch in two neighbouring internal frames never cross in between, which a spline could do.
Downsampling needs no low-pass filter here: the landmarks were already smoothed at the
internal rate and lip motion has little energy above ~10 Hz.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["INTERNAL_FPS", "frame_count", "frame_times", "resample"]

INTERNAL_FPS = 62.5

# Frame times are computed as i / fps; this tolerance absorbs the rounding of that division
# when deciding whether a time coincides with an internal frame or the end of the audio.
_EPS = 1e-9


def frame_count(seconds: float, fps: float) -> int:
    """Number of video frames that cover `seconds` of audio at `fps`: ⌈seconds·fps⌉, at least 1.

    Frame i shows time i/fps, so the last frame's time is before the end of the audio and a
    video of this many frames lasts at least as long as the audio.
    """
    if fps <= 0 or not math.isfinite(fps):
        raise ValueError(f"fps must be a positive number, got {fps}")
    return max(1, math.ceil(seconds * fps - _EPS))


def frame_times(num_frames: int, fps: float) -> np.ndarray:
    """Times in seconds of frames 0..num_frames-1 at `fps`."""
    return np.arange(num_frames, dtype=np.float64) / float(fps)


def resample(
    frames: np.ndarray,
    fps: float,
    num_frames: int,
    *,
    source_fps: float = INTERNAL_FPS,
) -> np.ndarray:
    """Resample (N, ...) frames at `source_fps` to `num_frames` frames at `fps`.

    Times past the last source frame (at most one source frame period, at the end of the
    audio) hold the last frame. When `fps == source_fps` the frames are returned unchanged
    (a copy), truncated or edge-extended to `num_frames`.
    """
    frames = np.asarray(frames, dtype=np.float64)
    n = frames.shape[0]
    if n == 0:
        raise ValueError("cannot resample an empty landmark sequence")
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if float(fps) == float(source_fps):
        index = np.minimum(np.arange(num_frames), n - 1)
        return frames[index].copy()
    position = frame_times(num_frames, fps) * float(source_fps)
    position = np.clip(position, 0.0, n - 1)
    lower = np.floor(position + _EPS).astype(np.int64)
    lower = np.minimum(lower, n - 1)
    upper = np.minimum(lower + 1, n - 1)
    weight = np.clip(position - lower, 0.0, 1.0)
    weight[weight < _EPS] = 0.0
    shape = (num_frames,) + (1,) * (frames.ndim - 1)
    w = weight.reshape(shape)
    return (1.0 - w) * frames[lower] + w * frames[upper]
