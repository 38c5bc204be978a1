"""Streaming audio -> landmarks: the default chain on rolling windows with a bounded look-ahead.

`StreamingAnimator.push(samples)` takes 16 kHz int16 audio in chunks of any length and returns
the landmark frames (at the output rate) that the audio so far determines; `finish()` returns
the rest. The lips come from the same content branch, on the same 18-frame windows as offline
(8 frames of past audio, 9 of future), so they wait for 9 mel frames (144 ms) of audio plus
half an STFT window (32 ms); the post-processing (calibration, lip gain, lip repair, nose fix,
the Savitzky-Golay smoothing, eyelids, blinks, resampling) is the offline code run on a
rolling tail of the last `TAIL_FRAMES` frames, of which the newest `margin_frames` wait for
the next step, so the smoothing sees past and (most of its) future.

What differs from offline, and why:
- loudness normalisation uses the level of the speech heard so far (offline uses the whole
  file's RMS); after the first second of speech it changes by at most 6 dB/s, so the mel does
  not jump;
- the 30 Hz high-pass is the same filter run causally (offline runs it forwards and back);
- the content calibration (each column's rest value, the mean of its lowest half) starts from
  the value the demo speech gives this face and moves to the stream's own over its last minute
  (offline: the whole clip's);
- head motion is the weight set's procedural motion made by causal filters (offline filters it
  both ways), sized from the speech spectrum heard so far (offline: the whole clip's), moving
  from the training average with a 2 s time constant (spectrum_gains.SmoothGains); the lip gain likewise; the speaker branch is not run live, as the default set does not run it offline
  either (animation amp_pos 0: its motion was 0.003 degrees);
- blinks follow the offline schedule's rule (same rate and seed) as the stream goes.
Memory is bounded: every buffer keeps a fixed number of frames, so an hour costs what a
minute does.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from makeittalk.animation import postprocess as pp
from makeittalk.animation.blinks import INTERNAL_FPS, RAMP_AFTER, RAMP_BEFORE, apply_blinks, blend_eyelids
from makeittalk.animation.engine import WINDOW_FRAMES, AnimationConfig, normalize_mel
from makeittalk.animation.spectrum_gains import HEAD_SIZE, LIP_GAIN, SmoothGains, from_tuning, pose_multipliers
from makeittalk.errors import MakeItTalkError
from makeittalk.audio.features import FFT_LENGTH, HOP_LENGTH, SAMPLE_RATE, _hann_window, _highpass, _min_level, mel_basis

TARGET_DBFS = -20.0
GAIN_SLEW_DB_PER_S = 6.0
FREE_GAIN_SECONDS = 1.0
ACTIVE_BLOCK = 320  # 20 ms
GATE_DB = 25.0
SPEECH_PEAK_DBFS = -50.0
SPEECH_OVER_FLOOR_DB = 20.0
TAIL_FRAMES = 40  # post-processing context: > the 15-frame eye smoothing, both sides
CALIBRATION_FRAMES = int(60 * INTERNAL_FPS)  # the content calibration's memory: one minute
CALIBRATION_EVERY = 16  # frames between calibration updates (a quarter second)
PRIOR_FRAMES = int(10 * INTERNAL_FPS)  # the demo-speech prior counts as 10 s of the stream


class LiveUnsupportedError(MakeItTalkError, NotImplementedError):
    """The weight set's chain cannot run live."""


@dataclass(frozen=True)
class StreamConfig:
    """Live-mode settings; the motion options mean what they mean offline (AnimationConfig)."""

    fps: float = 25.0
    seed: int = 0
    still: bool = False
    pose_scale: float = 1.0
    lip_scale: float = 1.0
    blink: bool = True
    blink_rate: float = 30.0
    margin_frames: int = 2  # internal frames the smoothing waits for (32 ms)

    def animation(self) -> AnimationConfig:
        return AnimationConfig(fps=self.fps, seed=self.seed, still=self.still, pose_scale=self.pose_scale,
                               lip_scale=self.lip_scale, blink=self.blink, blink_rate=self.blink_rate)


class IncrementalMel:
    """The front end's mel, one 16 ms frame at a time, from audio that arrives in pieces."""

    def __init__(self) -> None:
        from scipy import signal

        self._signal = signal
        self._b, self._a = _highpass()
        self._zi = None
        self._dither = np.random.RandomState(0)
        self._window = _hann_window()
        self._basis = mel_basis()
        self._floor = _min_level()
        self._buffer = np.zeros(0)
        self._offset = 0  # sample index of _buffer[0]
        self._frames_done = 0
        self._gain_db = None
        self._energy = 0.0
        self._count = 0
        self._pending = np.zeros(0)
        self._hist_count = np.zeros(201)  # 20 ms block levels, -100..0 dBFS in 0.5 dB bins
        self._hist_energy = np.zeros(201)
        self._peak_db = -np.inf

    def _update_gain(self, x: np.ndarray) -> float:
        # The level of the speech heard so far: the mean energy of the 20 ms blocks within 25 dB
        # of the loudest (a relative gate, as in loudness meters), kept as a histogram so memory
        # stays constant. It needs a few syllables, not the whole file, and background noise
        # before the first word is gated out as soon as the word comes.
        self._pending = np.concatenate([self._pending, x])
        blocks = self._pending.size // ACTIVE_BLOCK
        if blocks:
            piece = self._pending[: blocks * ACTIVE_BLOCK].reshape(blocks, ACTIVE_BLOCK)
            self._pending = self._pending[blocks * ACTIVE_BLOCK:]
            energy = np.mean(piece * piece, axis=1)
            level = 10 * np.log10(energy + 1e-12)
            bins = np.clip(((level + 100.0) * 2).astype(int), 0, self._hist_count.size - 1)
            np.add.at(self._hist_count, bins, 1)
            np.add.at(self._hist_energy, bins, energy)
            self._peak_db = max(self._peak_db, float(level.max()))
        cumulative = np.cumsum(self._hist_count)
        floor_db = np.searchsorted(cumulative, 0.1 * cumulative[-1]) / 2 - 100.0
        if self._gain_db is None and (self._peak_db < SPEECH_PEAK_DBFS or self._peak_db < floor_db + SPEECH_OVER_FLOOR_DB):
            return 0.0  # no speech yet (nothing clearly above the background): leave the audio as it is
        first = max(0, int((self._peak_db - GATE_DB + 100.0) * 2))
        count = self._hist_count[first:].sum()
        wanted = TARGET_DBFS - 10 * np.log10(self._hist_energy[first:].sum() / max(count, 1))
        if self._gain_db is None or count * ACTIVE_BLOCK < FREE_GAIN_SECONDS * SAMPLE_RATE:
            self._gain_db = wanted  # the first second of speech follows the estimate
        else:
            step = GAIN_SLEW_DB_PER_S * x.size / SAMPLE_RATE
            self._gain_db += float(np.clip(wanted - self._gain_db, -step, step))
        return self._gain_db

    def push(self, samples: np.ndarray) -> np.ndarray:
        """New (n, 80) mel rows (float64, the offline mel's scale) for the audio given so far."""
        x = np.asarray(samples, dtype=np.float64) / 32768.0
        if x.size == 0:
            return np.zeros((0, 80))
        gain = 10 ** (self._update_gain(x) / 20)
        x = np.clip(np.round(x * gain * 32768.0), -32768, 32767) / 32768.0  # as the int16 normalisation
        if self._zi is None:
            self._zi = self._signal.lfilter_zi(self._b, self._a) * x[0]
        y, self._zi = self._signal.lfilter(self._b, self._a, x, zi=self._zi)
        y = y * 0.95 + (self._dither.rand(y.size) - 0.5) * 1e-6
        self._buffer = np.concatenate([self._buffer, y])
        return self._frames(final=False)

    def finish(self) -> np.ndarray:
        return self._frames(final=True)

    def _frames(self, *, final: bool) -> np.ndarray:
        half = FFT_LENGTH // 2
        end = self._offset + self._buffer.size  # samples seen
        rows = []
        # Offline has floor(L / 256) + 1 frames; before the end, a frame waits for its whole window.
        last = end // HOP_LENGTH if final else (end - half) // HOP_LENGTH
        while self._frames_done <= last:
            rows.append(self._frame(self._frames_done * HOP_LENGTH, end))
            self._frames_done += 1
        # Keep one window of history for the next frame.
        keep_from = max(0, self._frames_done * HOP_LENGTH - half)
        if keep_from > self._offset:
            self._buffer = self._buffer[keep_from - self._offset:]
            self._offset = keep_from
        return np.asarray(rows).reshape(-1, 80)

    def _frame(self, centre: int, end: int) -> np.ndarray:
        half = FFT_LENGTH // 2
        index = np.arange(centre - half, centre + half)
        # Reflect at both ends like the offline STFT's np.pad(mode="reflect").
        index = np.where(index < 0, -index, index)
        index = np.where(index > end - 1, 2 * (end - 1) - index, index)
        piece = self._buffer[np.clip(index - self._offset, 0, self._buffer.size - 1)]
        magnitude = np.abs(np.fft.rfft(self._window * piece, n=FFT_LENGTH))
        mel = magnitude @ self._basis
        db = 20 * np.log10(np.maximum(self._floor, mel)) - 16
        return (db + 100) / 100


class CausalHeadMotion:
    """The default set's procedural head motion (animation.head_motion) with causal filters.

    Like offline, the motion is a stationary process of fixed size (no running rescaling).
    """

    def __init__(self, seed: int, style: Any = None) -> None:
        from scipy.signal import butter, sosfilt

        from makeittalk.animation import head_motion as hm

        self.style = style or hm.HeadMotionStyle()
        fps = INTERNAL_FPS
        self._rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4EAD]))
        self._sign = float(self._rng.choice([-1.0, 1.0]))
        self._sway = hm.sway_filter(self.style, fps)
        self._sway_gain = hm.noise_gain(self._sway, zero_phase=False)
        self._band = hm.nod_filter(self.style, fps)
        self._calm = butter(2, 0.5 / (fps / 2), btype="low", output="sos")
        self._zi_sway = np.zeros((self._sway.shape[0], 2, 5))
        self._zi_band = np.zeros((self._band.shape[0], 2))
        self._zi_calm = np.zeros((self._calm.shape[0], 2))
        self._level_min = None
        self._level_max = None
        # The filters' warm-up: two seconds of noise, as offline's padding hides the edges.
        warm = self._rng.standard_normal((int(2 * fps), 5))
        _, self._zi_sway = sosfilt(self._sway, warm, axis=0, zi=self._zi_sway)
        self._roll_sign = float(self._rng.choice([-1.0, 1.0])) if self.style.roll_speech_share > 0 else 0.0
        self._drift = hm.drift_filter(self.style, fps) if self.style.drift_size > 0 else None
        if self._drift is not None:
            self._drift_gain = hm.noise_gain(self._drift, zero_phase=False)
            # Its warm-up: three of its time constants, so the stream starts at its stationary size.
            warm = self._rng.standard_normal((int(3 * fps / self.style.drift_hz), 5))
            _, self._zi_drift = sosfilt(self._drift, warm, axis=0, zi=np.zeros((self._drift.shape[0], 2, 5)))

    def step(self, loudness: np.ndarray) -> np.ndarray:
        """(n, 5) yaw, pitch, roll, shift x, shift y at gain 1 for n new frames' mel loudness."""
        from scipy.signal import sosfilt

        from makeittalk.animation.head_motion import SPEECH_DRIVE_STD

        n = loudness.shape[0]
        if n == 0:
            return np.zeros((0, 5))
        lo, hi = float(loudness.min()), float(loudness.max())
        self._level_min = lo if self._level_min is None else min(self._level_min, lo)
        self._level_max = hi if self._level_max is None else max(self._level_max, hi)
        span = max(self._level_max - self._level_min, 1e-9)
        level = (loudness - self._level_min) / span
        activity = np.clip((level - 0.25) / 0.35, 0.0, 1.0)
        drive, self._zi_band = sosfilt(self._band, level, zi=self._zi_band)
        calm_in, self._zi_calm = sosfilt(self._calm, activity, zi=self._zi_calm)
        sway, self._zi_sway = sosfilt(self._sway, self._rng.standard_normal((n, 5)), axis=0, zi=self._zi_sway)
        sway = sway / self._sway_gain
        if self._drift is not None:
            drift, self._zi_drift = sosfilt(self._drift, self._rng.standard_normal((n, 5)), axis=0, zi=self._zi_drift)
            sway = sway + self.style.drift_size * drift / self._drift_gain
        drive = drive / SPEECH_DRIVE_STD
        calm = self.style.silence_calm + (1.0 - self.style.silence_calm) * np.clip(calm_in, 0.0, 1.0)
        share = self.style.speech_share
        follow = np.zeros((n, 5))
        follow[:, 1] = drive
        follow[:, 0] = drive * self._sign * 0.5
        follow[:, 4] = drive * 0.5
        follow[:, 2] = drive * self._roll_sign
        mix = np.array([share, share, self.style.roll_speech_share, 0.0, share])
        motion = ((1 - mix) * sway + mix * follow) * calm[:, None]
        sizes = np.array([np.radians(self.style.yaw_deg), np.radians(self.style.pitch_deg),
                          np.radians(self.style.roll_deg), self.style.shift_x, self.style.shift_y])
        return motion * sizes


class StreamingBlinks:
    """Blink frames by `blink_schedule`'s rule (uniform (1 +- 0.25) x mean intervals), as they come."""

    def __init__(self, rate_per_minute: float, seed: int) -> None:
        self.rate = float(rate_per_minute)
        self._rng = np.random.default_rng(seed)
        self.frames: deque[int] = deque(maxlen=8)
        if self.rate > 0:
            self._mean = 60.0 / self.rate
            self._next_t = self._rng.uniform(0.25, 1.0) * self._mean

    def upto(self, frame: int) -> list[int]:
        """Blink centres scheduled up to internal `frame` (the last few only: older ones are done)."""
        if self.rate <= 0:
            return []
        while self._next_t * INTERNAL_FPS <= frame:
            centre = int(round(self._next_t * INTERNAL_FPS))
            if centre >= RAMP_BEFORE and (not self.frames or centre - self.frames[-1] >= RAMP_BEFORE + RAMP_AFTER):
                self.frames.append(centre)
            self._next_t += self._rng.uniform(0.75, 1.25) * self._mean
        return list(self.frames)


def _lowest_half_mean(history: np.ndarray) -> np.ndarray:
    """Per column, the mean of the lowest half: what `postprocess.calibrate_content` subtracts."""
    k = max(1, int(history.shape[0] * 0.5))
    lowest = np.partition(history, k - 1, axis=0)[:k] if k < history.shape[0] else history
    return lowest.mean(axis=0).astype(np.float32)


_DEMO_MEL: np.ndarray | None = None


def _demo_speech_mel() -> np.ndarray:
    """The normalised mel of the bundled demo speech (computed once per process)."""
    global _DEMO_MEL
    if _DEMO_MEL is None:
        from makeittalk.audio import load_audio
        from makeittalk.audio.features import mel_spectrogram
        from makeittalk.audio.loudness import normalize_loudness
        from makeittalk.pipelines.demo import demo_speech_path

        samples = normalize_loudness(load_audio(demo_speech_path()).samples)
        _DEMO_MEL = normalize_mel(mel_spectrogram(samples.astype(np.float64) / 32768.0))
    return _DEMO_MEL


class StreamingAnimator:
    """Audio chunks in, landmark frames (portrait pixels, at `config.fps`) out; see the module docstring."""

    def __init__(self, animator: Any, face: Any, config: StreamConfig = StreamConfig()) -> None:
        from makeittalk.animation.engine import _as_static_face

        self.animator = animator
        self.config = config
        anim = config.animation()
        self.face = _as_static_face(face, animator.face_tweaks)
        self.face_id = self.face.face_id
        tuning = animator.tuning
        if animator.uses_voice:
            # Offline, such a set runs AutoVC or the speaker branch; live would not match it.
            raise LiveUnsupportedError("live mode runs weight sets whose networks read only the mel (weightset.json "
                                       "animation content_features: source and amp_pos: 0), as the default set "
                                       "does; render this set offline with 'makeittalk render'")
        self.delay = int(tuning.get("content_delay_frames", 0))
        self.lookahead = WINDOW_FRAMES - 1 - self.delay  # future mel frames each window needs
        self.amp_lip = anim.amp_lip * tuning.get("amp_lip", pp.DEFAULT_AMP_LIP) / pp.DEFAULT_AMP_LIP
        self.head_gain = float(tuning.get("procedural_pose", 0.0)) * anim.amp_pos / pp.DEFAULT_AMP_POS
        self.calibrate = bool(tuning.get("calibrate_content", True))
        self.mel = IncrementalMel()
        from makeittalk.animation.head_motion import HeadMotionStyle

        self.head = CausalHeadMotion(config.seed, HeadMotionStyle.from_settings(tuning.get("procedural_style")))
        size_model, lip_model = from_tuning(tuning, HEAD_SIZE), from_tuning(tuning, LIP_GAIN)
        self.head_sizes = SmoothGains(size_model, INTERNAL_FPS) if size_model is not None else None
        self.lip_gains = SmoothGains(lip_model, INTERNAL_FPS) if lip_model is not None else None
        from makeittalk.resources import autovc_mel_mean_std

        self._mel_mean, self._mel_std = autovc_mel_mean_std()
        self.blinks = StreamingBlinks(config.blink_rate if config.blink else 0.0, config.seed)
        self._mel_rows: deque[np.ndarray] = deque(maxlen=WINDOW_FRAMES + 2)
        self._mel_count = 0
        self._first_mel: np.ndarray | None = None
        self._content_done = 0
        self._raw_content: deque[np.ndarray] = deque(maxlen=CALIBRATION_FRAMES)
        self._offsets = np.zeros(204, dtype=np.float32)
        self._offsets_at = -CALIBRATION_EVERY
        self._prior: np.ndarray | None = None
        self._rows: deque[np.ndarray] = deque(maxlen=TAIL_FRAMES)  # combined normalised rows
        self._rows_start = 0  # internal frame index of _rows[0]
        self._emitted_internal = 0  # internal frames already turned into output
        self._pixels_tail: deque[np.ndarray] = deque(maxlen=2)
        self._next_output = 0  # index of the next output frame
        self._samples = 0
        self._finished = False
        self._device = animator.device
        self._face_tensor = torch.from_numpy(np.asarray(self.face_id, dtype=np.float32).reshape(1, -1)).to(self._device)
        # The calibration prior and a first network call now, not on the first audio: both cost
        # more than a frame period the first time.
        if self.calibrate:
            self._prior = self._prior_offsets()
        self._run_content(np.zeros((2, WINDOW_FRAMES, 80), dtype=np.float32))

    # ---- input -------------------------------------------------------------------------

    def push(self, samples: np.ndarray) -> list[tuple[int, float, np.ndarray]]:
        """Frames (index, time in s, (68, 3) pixels) made possible by these samples."""
        samples = np.asarray(samples)
        if samples.dtype != np.int16:
            samples = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)
        self._samples += samples.size
        self._add_mel(self.mel.push(samples))
        return self._advance(final=False)

    def finish(self) -> list[tuple[int, float, np.ndarray]]:
        """The remaining frames up to the end of the audio (the last windows see the held last frame)."""
        if self._finished:
            return []
        self._finished = True
        self._add_mel(self.mel.finish())
        return self._advance(final=True)

    @property
    def audio_seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    # ---- the chain ---------------------------------------------------------------------

    def _add_mel(self, rows: np.ndarray) -> None:
        for row in normalize_mel(rows) if len(rows) else []:
            if self._first_mel is None:
                self._first_mel = row
            self._mel_rows.append(row.astype(np.float32))
            self._mel_count += 1

    def _mel_at(self, index: int) -> np.ndarray:
        """Normalised mel frame `index`, with the offline padding: the first frame before 0, the last after the end."""
        if index < 0:
            return self._first_mel
        index = min(index, self._mel_count - 1)
        return self._mel_rows[index - (self._mel_count - len(self._mel_rows))]

    def _content_windows(self, final: bool) -> np.ndarray:
        last_window = self._mel_count - 1 if final else self._mel_count - 1 - self.lookahead
        start = self._content_done
        if last_window < start or self._mel_count == 0:
            return np.zeros((0, WINDOW_FRAMES, 80), dtype=np.float32)
        windows = np.stack([np.stack([self._mel_at(k - self.delay + i) for i in range(WINDOW_FRAMES)])
                            for k in range(start, last_window + 1)])
        return windows.astype(np.float32)

    def _run_content(self, windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(windows).to(self._device)
            out = self.animator.content_branch(x, self._face_tensor.expand(1, -1)).float().cpu().numpy()
        return out

    def _prior_offsets(self) -> np.ndarray:
        """The calibration offline would find for this face on the bundled demo speech.

        A stream's first frames are too few to calibrate on (on 1 s clips that cost 0.05 in
        mouth r), so the running estimate starts from this and takes over as speech comes in.
        """
        from makeittalk.animation.engine import delay_content_windows, pad_for_windows, run_content_branch

        mel = _demo_speech_mel()
        content = torch.from_numpy(pad_for_windows(mel).astype(np.float32))
        content = delay_content_windows(content, self.delay)
        delta = run_content_branch(self.animator.content_branch, content, self.face_id, mel.shape[0])
        return _lowest_half_mean(delta)

    def _calibrated(self, delta: np.ndarray) -> np.ndarray:
        if not self.calibrate:
            return delta
        if self._prior is None:
            self._prior = self._prior_offsets()
        for row in delta:
            self._raw_content.append(row)
        done = self._content_done
        if done - self._offsets_at >= CALIBRATION_EVERY or done < 4 * CALIBRATION_EVERY:
            history = np.asarray(self._raw_content, dtype=np.float32)
            n = history.shape[0]
            weight = n / (n + PRIOR_FRAMES)
            self._offsets = ((1 - weight) * self._prior + weight * _lowest_half_mean(history)).astype(np.float32)
            self._offsets_at = done
        return delta - self._offsets

    def _advance(self, final: bool) -> list[tuple[int, float, np.ndarray]]:
        windows = self._content_windows(final)
        if len(windows):
            start = self._content_done
            delta_content = self._run_content(windows)
            self._content_done += len(windows)
            dc = pp.amplify_lips(self._calibrated(delta_content), self.amp_lip, self.amp_lip)
            loudness = np.stack([self._mel_at(k) for k in range(start, self._content_done)]).astype(np.float64)
            raw_mel = loudness * self._mel_std + self._mel_mean  # the front end's scale, as offline
            if self.lip_gains is not None:
                # The lips' gain from the speech heard so far (offline: the whole clip's).
                gains = self.lip_gains.step(raw_mel)[:, :1].astype(np.float32)
                dc[:, pp.LIP_X_COLUMNS] *= gains
                dc[:, pp.LIP_Y_COLUMNS] *= gains
            # Offline takes the mean of the raw mel; normalised mel is an affine map of it per bin,
            # and the procedural drive only uses the level's shape (it is min/max normalised).
            pose = self.head.step(loudness.mean(axis=1))
            if self.head_sizes is not None:
                # The motion's size from the speech heard so far (offline: the whole clip's).
                pose = pose * pose_multipliers(self.head_sizes.step(raw_mel))
            ds = np.zeros_like(dc)
            if self.head_gain > 0:
                from makeittalk.animation.head_motion import rigid_delta

                ds = rigid_delta(self.face_id, pose * self.head_gain).astype(np.float32)
            for row in pp.combine(ds, dc, self.face_id):
                if len(self._rows) == self._rows.maxlen:
                    self._rows_start += 1
                self._rows.append(row)
        return self._emit(final)

    def _emit(self, final: bool) -> list[tuple[int, float, np.ndarray]]:
        available = self._rows_start + len(self._rows)  # internal frames with content
        ready = available if final else available - self.config.margin_frames
        if ready <= self._emitted_internal or not self._rows:
            return []
        tail = np.asarray(self._rows)
        fixed, _ = pp.fix_inverse_lips(tail)
        landmarks = pp.smooth_landmarks(pp.fix_nose_top(fixed), 5)
        pixels = blend_eyelids(pp.denormalize(landmarks, self.face.scale, self.face.shift))
        local = [b - self._rows_start for b in self.blinks.upto(available + RAMP_AFTER)]
        local = [b for b in local if b - RAMP_BEFORE >= 0 and b - RAMP_BEFORE < len(tail)]
        # A blink's ramps reach 15 frames ahead; until those frames exist the lids are held at
        # their last position there (eyelids barely move between blinks), so a blink starts on time.
        reach = max([b + RAMP_AFTER + 1 for b in local] + [len(tail)])
        if reach > len(tail):
            pixels = np.concatenate([pixels, np.repeat(pixels[-1:], reach - len(tail), axis=0)])
        pixels = pp.final_smoothing(apply_blinks(pixels, local))[: len(tail)]
        out = []
        fps = self.config.fps
        total = None
        if final:
            from makeittalk.animation.resample import frame_count

            total = frame_count(self.audio_seconds, fps)
        while True:
            i = self._next_output
            if total is not None and i >= total:
                break
            position = i / fps * INTERNAL_FPS
            lower = int(np.floor(position + 1e-9))
            upper = lower + 1
            if not final and upper >= ready:
                break
            if final and lower >= available:
                lower = upper = available - 1
            upper = min(upper, available - 1)
            lo = lower - self._rows_start
            hi = upper - self._rows_start
            if lo < 0:  # pragma: no cover - the tail always covers the next frame
                raise RuntimeError("the live tail lost a frame it still needed")
            w = min(max(position - lower, 0.0), 1.0)
            frame = (1.0 - w) * pixels[lo] + w * pixels[hi]
            out.append((i, i / fps, frame))
            self._next_output += 1
        self._emitted_internal = ready
        return out
