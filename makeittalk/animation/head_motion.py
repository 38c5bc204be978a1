"""Procedural head motion for weight sets whose speaker branch predicts almost none.

The project's default speaker branch learned head motion that barely moves (0.07 px on the
demo, correlation with held-out real head motion near 0), so `--pose-scale` and `--still` had
no visible effect. A weight set can ask for this generator instead (weightset.json
"animation": {"procedural_pose": GAIN}): slow band-limited sway on every axis, plus nods and
small turns that follow the loudness of the speech, calmer in silences. It is rigid (rotation
and shift of the whole face), seeded, and scaled by the user's pose_scale like the network's
motion. It does not claim to predict the speaker's own head motion.

The motion is a stationary random process: its size is fixed by the filters, not rescaled to
each clip. Real head motion has most of its power at low frequencies, so a one-second clip of a
real speaker spans far less than a minute of them; rescaling every clip to the same spread made
one-second clips sway 3-7x more than real ones (issue 13's held-out word clips).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt, sosfiltfilt

from makeittalk.animation.blinks import INTERNAL_FPS


@dataclass(frozen=True)
class HeadMotionStyle:
    """Standard deviations of the motion at gain 1 (normalised face units: the jaw is 1.6 wide)."""

    yaw_deg: float = 3.0
    pitch_deg: float = 2.0
    roll_deg: float = 2.0
    shift_x: float = 0.03
    shift_y: float = 0.02
    sway_hz: float = 0.35  # upper edge of the idle sway band
    nod_band_hz: tuple[float, float] = (0.6, 2.5)  # the loudness rhythm that drives nods
    speech_share: float = 0.5  # part of pitch, yaw and shift_y that follows the loudness
    roll_speech_share: float = 0.0  # part of roll that follows it (with a random sign)
    drift_hz: float = 0.08  # upper edge of the slow drift band
    drift_size: float = 0.0  # drift std relative to each axis's size (long clips wander, short ones not)
    silence_calm: float = 0.5  # sway amplitude in silence relative to speech

    @classmethod
    def from_settings(cls, settings: dict | None) -> HeadMotionStyle:
        """The style with a weight set's overrides (weightset.json "animation": {"procedural_style": {...}})."""
        from dataclasses import fields, replace

        from makeittalk.errors import MakeItTalkError

        known = {f.name for f in fields(cls)} - {"nod_band_hz"}
        settings = dict(settings or {})
        bad = [k for k, v in settings.items()
               if k not in known or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0]
        if bad:
            raise MakeItTalkError(f"weight-set procedural_style: {', '.join(map(repr, bad))} not valid; "
                                  f"known (non-negative numbers): {', '.join(sorted(known))}")
        if settings.get("sway_hz", 1.0) <= 0 or settings.get("drift_hz", 1.0) <= 0:
            raise MakeItTalkError("weight-set procedural_style: sway_hz and drift_hz must be positive")
        return replace(cls(), **{k: float(v) for k, v in settings.items()})


#: Std of the nod band of the min/max-normalised loudness of speech (median over the first 30 s of
#: the 30 talking/ clips: 0.111 zero-phase, 0.107 causal): the drive is divided by it.
SPEECH_DRIVE_STD = 0.11


def noise_gain(sos: np.ndarray, zero_phase: bool) -> float:
    """Std of the filter's output for unit-variance white noise (sqrt of its impulse response's energy)."""
    impulse = np.zeros(8192)
    impulse[len(impulse) // 2] = 1.0
    response = sosfiltfilt(sos, impulse) if zero_phase else sosfilt(sos, impulse)
    return float(np.sqrt(np.sum(response ** 2)))


def sway_filter(style: HeadMotionStyle, fps: float) -> np.ndarray:
    return butter(2, style.sway_hz / (fps / 2), btype="low", output="sos")


def nod_filter(style: HeadMotionStyle, fps: float) -> np.ndarray:
    return butter(2, [style.nod_band_hz[0] / (fps / 2), style.nod_band_hz[1] / (fps / 2)], btype="band", output="sos")


def drift_filter(style: HeadMotionStyle, fps: float) -> np.ndarray:
    return butter(2, style.drift_hz / (fps / 2), btype="low", output="sos")


def _band_noise(rng: np.random.Generator, n: int, channels: int, sos: np.ndarray, high_hz: float,
                fps: float) -> np.ndarray:
    """(n, channels) stationary Gaussian noise of unit variance low-passed by `sos` (zero-phase, so
    no delay); the padding (at least two seconds, or one period of `high_hz`) keeps the filter's
    edges out. Channels are drawn one after the other, so the random stream matches one per call."""
    if n < 16:
        return np.zeros((n, channels))
    pad = int(fps * max(2.0, 1.0 / high_hz))
    noise = np.stack([rng.standard_normal(n + 2 * pad) for _ in range(channels)], axis=1)
    return sosfiltfilt(sos, noise, axis=0)[pad:-pad] / noise_gain(sos, zero_phase=True)


def _speech_drive(loudness: np.ndarray, style: HeadMotionStyle, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(nod drive of about unit std in speech, speech activity in [0, 1]) from per-frame loudness."""
    n = len(loudness)
    level = np.asarray(loudness, dtype=np.float64)
    span = np.ptp(level)
    if n < 32 or span < 1e-9:
        return np.zeros(n), np.zeros(n)
    level = (level - level.min()) / span
    activity = np.clip((level - 0.25) / 0.35, 0.0, 1.0)
    drive = sosfiltfilt(nod_filter(style, fps), level) / SPEECH_DRIVE_STD
    smooth = butter(2, 0.5 / (fps / 2), btype="low", output="sos")
    activity = np.clip(sosfiltfilt(smooth, activity), 0.0, 1.0)
    return drive, activity


def procedural_pose(
    num_frames: int,
    loudness: np.ndarray,
    *,
    seed: int = 0,
    fps: float = INTERNAL_FPS,
    style: HeadMotionStyle = HeadMotionStyle(),
) -> np.ndarray:
    """(num_frames, 5) yaw, pitch, roll (radians), shift x, shift y at gain 1."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4EAD]))
    drive, activity = _speech_drive(loudness[:num_frames], style, fps)
    calm = style.silence_calm + (1.0 - style.silence_calm) * activity
    sway = _band_noise(rng, num_frames, 5, sway_filter(style, fps), style.sway_hz, fps)
    if style.drift_size > 0:
        # Drawn only when used, so that styles without it keep their earlier random streams.
        sway = sway + style.drift_size * _band_noise(rng, num_frames, 5, drift_filter(style, fps), style.drift_hz, fps)
    share = style.speech_share
    # Nods (pitch) and the vertical bob follow the loudness; a turn follows it with a random sign.
    follow = np.zeros((num_frames, 5))
    follow[:, 1] = drive
    follow[:, 0] = drive * rng.choice([-1.0, 1.0]) * 0.5
    follow[:, 4] = drive * 0.5
    mix = np.array([share, share, 0.0, 0.0, share])
    if style.roll_speech_share > 0:
        # Drawn only when used, so that styles without it keep their earlier random streams.
        follow[:, 2] = drive * rng.choice([-1.0, 1.0])
        mix[2] = style.roll_speech_share
    motion = ((1 - mix) * sway + mix * follow) * calm[:, None]
    sizes = np.array([np.radians(style.yaw_deg), np.radians(style.pitch_deg), np.radians(style.roll_deg),
                      style.shift_x, style.shift_y])
    return motion * sizes


def rigid_delta(face_id: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(T, 204) float32 offsets that turn the static face by `pose` (from procedural_pose).

    Rotations are about the face's centre (the midpoint of the jaw ends, the origin of the
    normalised space), in 3-D with the face's own depth, then shifted.
    """
    q = np.asarray(face_id, dtype=np.float64).reshape(68, 3)
    yaw, pitch, roll, tx, ty = (pose[:, k] for k in range(5))
    zero, one = np.zeros(len(pose)), np.ones(len(pose))

    def stack(rows):
        return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)

    r_yaw = stack([[np.cos(yaw), zero, np.sin(yaw)], [zero, one, zero], [-np.sin(yaw), zero, np.cos(yaw)]])
    r_pitch = stack([[one, zero, zero], [zero, np.cos(pitch), -np.sin(pitch)], [zero, np.sin(pitch), np.cos(pitch)]])
    r_roll = stack([[np.cos(roll), -np.sin(roll), zero], [np.sin(roll), np.cos(roll), zero], [zero, zero, one]])
    r = r_roll @ r_pitch @ r_yaw
    moved = np.einsum("tij,nj->tni", r, q)
    moved[..., 0] += tx[:, None]
    moved[..., 1] += ty[:, None]
    return (moved - q).reshape(len(pose), 204).astype(np.float32)
