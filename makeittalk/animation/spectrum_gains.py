"""Gains from how the recording sounds: the head motion's size and the lips' gain per recording.

Real head motion differs about 5x between the development groups (near-still GRID studio
sentences, moving interviewees, TV news readers), which no single motion size spans within
0.5-2x. Loudness does not tell them apart (scripts/fit_head_motion.py's notes), but the long-term
spectrum of the speech does: it carries the speaker and the recording setting. A weight set may
store a ridge regression from that spectrum to two log gains, one for the roll and one for the
rest of the pose (weightset.json "animation": {"head_size_model": {...}}), fitted on training
speakers by `scripts/fit_head_motion.py --size-model`. It picks the motion size of the training
speakers whose recordings sound most like this one; it does not know the speaker.

The lips get the same treatment ("lip_gain_model", `scripts/fit_animation_gains.py --gain-model`):
for the same speech the one GRID speaker opens less than the others, and one lip gain left GRID's
predicted opening at 1.7x the real one while the talking clips had 0.86x.

Offline, the gains come from the whole clip; live, from the speech heard so far (running sums,
so memory stays constant), moving smoothly from the training speakers' average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from makeittalk.errors import MakeItTalkError

FEATURES = "speech_spectrum_v1"
#: Frames whose mean mel level (the front end's 0-1 dB scale, after the -20 dBFS normalisation)
#: is above this count as speech: between the silence floor and the 30th percentile of speech in
#: every development group (0.17-0.39 and 0.43-0.44).
SPEECH_LEVEL = 0.40
MIN_SPEECH_FRAMES = 31  # half a second of speech before the spectrum is trusted
NUM_BANDS = 80
NUM_FEATURES = 2 * NUM_BANDS  # per-band mean and std over the speech frames


def speech_frames(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return mel[mel.mean(axis=1) > SPEECH_LEVEL]


def spectrum_features(mel: np.ndarray) -> np.ndarray | None:
    """(160,) per-band mean and std of the speech frames of a (T, 80) mel; None with too little speech."""
    speech = speech_frames(mel)
    if len(speech) < MIN_SPEECH_FRAMES:
        return None
    return np.concatenate([speech.mean(axis=0), speech.std(axis=0)])


class RunningSpectrum:
    """`spectrum_features` of every mel row pushed so far, from running sums (constant memory)."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = np.zeros(NUM_BANDS)
        self._squares = np.zeros(NUM_BANDS)

    def push(self, mel_rows: np.ndarray) -> None:
        speech = speech_frames(np.atleast_2d(mel_rows))
        self.count += len(speech)
        self._sum += speech.sum(axis=0)
        self._squares += (speech ** 2).sum(axis=0)

    def features(self) -> np.ndarray | None:
        if self.count < MIN_SPEECH_FRAMES:
            return None
        mean = self._sum / self.count
        return np.concatenate([mean, np.sqrt(np.maximum(self._squares / self.count - mean ** 2, 0.0))])


@dataclass(frozen=True, eq=False)
class SpectrumGainModel:
    """log gains = intercept + features @ coefficients, each clipped to `limits`, one per channel;
    `prior` (log gains) stands in while there is too little speech."""

    channels: tuple[str, ...]
    coefficients: np.ndarray  # (160, channels)
    intercept: np.ndarray  # (channels,)
    prior: np.ndarray  # (channels,)
    limits: tuple[float, float] = (0.33, 3.0)

    @classmethod
    def from_settings(cls, settings: dict | None, channels: tuple[str, ...], key: str) -> SpectrumGainModel | None:
        """The model stored under weightset.json "animation": {key: settings}, or None."""
        if not settings:
            return None
        try:
            if settings.get("features") != FEATURES:
                raise ValueError(f"features must be {FEATURES!r}")
            coefficients = np.array([settings[c]["coefficients"] for c in channels], dtype=np.float64).T
            intercept = np.array([settings[c]["intercept"] for c in channels], dtype=np.float64)
            prior = np.array([settings[c]["prior"] for c in channels], dtype=np.float64)
            low, high = (float(v) for v in settings.get("limits", (0.33, 3.0)))
            if coefficients.shape != (NUM_FEATURES, len(channels)) or not np.isfinite(coefficients).all():
                raise ValueError(f"each coefficients list needs {NUM_FEATURES} finite numbers")
            if not (np.isfinite(intercept).all() and np.isfinite(prior).all() and 0 < low <= 1 <= high):
                raise ValueError("intercept and prior must be finite and 0 < limits[0] <= 1 <= limits[1]")
        except (KeyError, TypeError, ValueError) as exc:
            raise MakeItTalkError(f"weight-set {key} is not valid ({exc}); refit it with {FIT_SCRIPTS[key]}") from None
        return cls(tuple(channels), coefficients, intercept, prior, (low, high))

    def to_settings(self) -> dict:
        def channel(k: int) -> dict:
            return {"intercept": round(float(self.intercept[k]), 6), "prior": round(float(self.prior[k]), 6),
                    "coefficients": [round(float(c), 6) for c in self.coefficients[:, k]]}

        return {"features": FEATURES, "limits": list(self.limits),
                **{name: channel(k) for k, name in enumerate(self.channels)}}

    def log_gains(self, features: np.ndarray | None) -> np.ndarray:
        raw = self.prior if features is None else self.intercept + np.asarray(features, np.float64) @ self.coefficients
        return np.clip(raw, np.log(self.limits[0]), np.log(self.limits[1]))

    def gains(self, features: np.ndarray | None) -> np.ndarray:
        """One gain per channel."""
        return np.exp(self.log_gains(features))


HEAD_SIZE = ("head_size_model", ("roll", "position"))
LIP_GAIN = ("lip_gain_model", ("lips",))
FIT_SCRIPTS = {"head_size_model": "scripts/fit_head_motion.py --size-model",
               "lip_gain_model": "scripts/fit_animation_gains.py --gain-model"}


def from_tuning(tuning: dict, which: tuple[str, tuple[str, ...]]) -> SpectrumGainModel | None:
    """A weight set's HEAD_SIZE or LIP_GAIN model (None when it has none)."""
    key, channels = which
    return SpectrumGainModel.from_settings(tuning.get(key), channels, key)


def pose_multipliers(gains: np.ndarray) -> np.ndarray:
    """(..., 5) factors for procedural_pose's yaw, pitch, roll, shift x, shift y from (..., 2) HEAD_SIZE gains."""
    gains = np.asarray(gains, dtype=np.float64)
    roll, position = gains[..., 0], gains[..., 1]
    return np.stack([position, position, roll, position, position], axis=-1)


class SmoothGains:
    """Live gains: from the prior toward the running spectrum's, in log space with a time constant,
    so that the motion's size never jumps as the estimate is refined."""

    def __init__(self, model: SpectrumGainModel, fps: float, time_constant_s: float = 2.0) -> None:
        self.model = model
        self.spectrum = RunningSpectrum()
        self._log = model.log_gains(None)
        self._rate = 1.0 / (time_constant_s * fps)

    def step(self, mel_rows: np.ndarray) -> np.ndarray:
        """(len(mel_rows), channels) gains, one row per frame, after hearing these rows."""
        out = np.empty((len(mel_rows), len(self.model.channels)))
        for k, row in enumerate(np.atleast_2d(mel_rows)):
            self.spectrum.push(row)
            target = self.model.log_gains(self.spectrum.features())
            self._log = self._log + self._rate * (target - self._log)
            out[k] = np.exp(self._log)
        return out
