"""Reference predictions that need no model, scored with the same metric code.

* ``static``: the first ground-truth face repeated for every frame. Any useful model must beat
  it on the lip metrics; on the pose metrics it is the "no head motion" floor.
* ``rms``: the same static face whose mouth opens with the loudness of the audio. For video
  frame i (shown over [i/fps, (i+1)/fps) on the 16 kHz audio axis), rms[i] is the RMS of those
  samples; open[i] = clip(rms[i] / P95(rms), 0, 1) with P95 the clip's 95th percentile. The
  lower-lip points 55-59 and 65-67 move by open·K·E and the chin points 6-10 by half that,
  along the face's own down axis (perpendicular to the 36→45 eye line of the first frame, +y
  in image space), E being that frame's eye-corner distance. K = 0.25 is fixed a priori (a
  wide-open mouth is about a quarter of the eye distance); it is NOT tuned on ground truth.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RMS_OPEN_GAIN",
    "LOWER_LIP_POINTS",
    "CHIN_POINTS",
    "static_baseline",
    "frame_rms",
    "rms_openness",
    "face_down_axis",
    "rms_baseline",
]

RMS_OPEN_GAIN = 0.25  # K: full opening in eye distances
LOWER_LIP_POINTS = np.r_[55:60, 65:68]
CHIN_POINTS = np.r_[6:11]
SAMPLE_RATE = 16000


def static_baseline(first_frame: np.ndarray, num_frames: int) -> np.ndarray:
    """(num_frames, 68, 2): `first_frame` (68, 2+) repeated."""
    face = np.asarray(first_frame, dtype=np.float64)[:, :2]
    return np.repeat(face[None], num_frames, axis=0)


def frame_rms(samples: np.ndarray, fps: float, num_frames: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """RMS of the audio over each video frame's span [i/fps, (i+1)/fps); int16 samples are
    scaled to [-1, 1). Frames past the end of the audio get 0."""
    samples = np.asarray(samples)
    audio = samples.astype(np.float64) / 32768.0 if samples.dtype == np.int16 else samples.astype(np.float64)
    edges = np.round(np.arange(num_frames + 1) * sample_rate / fps).astype(np.int64)
    edges = np.clip(edges, 0, len(audio))
    squares = np.concatenate([[0.0], np.cumsum(audio**2)])
    counts = np.diff(edges)
    sums = squares[edges[1:]] - squares[edges[:-1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return np.sqrt(np.maximum(mean, 0.0))


def rms_openness(rms: np.ndarray) -> np.ndarray:
    """rms / (95th percentile of rms), clipped to [0, 1]; all zeros for silent audio."""
    rms = np.asarray(rms, dtype=np.float64)
    if len(rms) == 0:
        return rms
    top = float(np.percentile(rms, 95))
    if top <= 0:
        return np.zeros_like(rms)
    return np.clip(rms / top, 0.0, 1.0)


def face_down_axis(face: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit vector perpendicular to the 36→45 eye line, pointing down the face (+y for an
    upright face), and the eye distance |p36 - p45|."""
    face = np.asarray(face, dtype=np.float64)
    eye = face[45, :2] - face[36, :2]
    distance = float(np.linalg.norm(eye))
    if distance <= 0:
        raise ValueError("the face's outer eye corners 36 and 45 coincide")
    across = eye / distance
    return np.array([-across[1], across[0]]), distance  # +90° in image coordinates: down


def rms_baseline(first_frame: np.ndarray, samples: np.ndarray, fps: float, num_frames: int, *,
                 gain: float = RMS_OPEN_GAIN, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(num_frames, 68, 2): the static face with the lower lip and chin moved down by the
    audio's normalised RMS (see the module docstring)."""
    face = np.asarray(first_frame, dtype=np.float64)[:, :2]
    openness = rms_openness(frame_rms(samples, fps, num_frames, sample_rate))
    down, eye = face_down_axis(face)
    shift = (openness * gain * eye)[:, None] * down[None, :]  # (N, 2)
    frames = static_baseline(face, num_frames)
    frames[:, LOWER_LIP_POINTS] += shift[:, None, :]
    frames[:, CHIN_POINTS] += 0.5 * shift[:, None, :]
    return frames
