"""AutoVC input features: the 80-band mel spectrogram and the 257-bin one-hot F0.

Both follow the original `extract_f0_func_audiofile` and `quantize_f0_interp` step for step
(spec §2.2-2.3, reference README §3.2), because the AutoVC checkpoint was trained on exactly
these features. Mel and F0 are computed from the same conditioned signal (appended sample,
30 Hz high-pass, dither), as in the original.

scipy is imported inside the functions (it costs most of a second at start-up and the CLI
does not need it for --help); pysptk is only ever imported in the RAPT worker process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from makeittalk.errors import AudioError, MakeItTalkError

SAMPLE_RATE = 16000
FFT_LENGTH = 1024
HOP_LENGTH = 256
N_MELS = 80
MEL_FMIN = 90.0
MEL_FMAX = 7600.0
HIGHPASS_CUTOFF_HZ = 30.0
HIGHPASS_ORDER = 5
F0_BINS = 256  # voiced bins; bin 0 is "unvoiced", so the one-hot has 257 columns
F0_UNVOICED = -1e10  # RAPT's marker for unvoiced frames (otype=2)
F0_RANGES_HZ = {"F": (100, 600), "M": (50, 250)}

# scipy.signal.filtfilt's default padlen is 3·max(len(a), len(b)) = 18 for an order-5 filter;
# it refuses signals that are not longer than that.
MIN_SAMPLES = 3 * (HIGHPASS_ORDER + 1) + 1

# SPTK's RAPT rejects signals shorter than (2·frame_step + wind_dur)·fs = (2·256 + 120) samples
# ("input range too small for analysis by get_f0"), after printing that to the C stderr.
_RAPT_MIN_SAMPLES = 2 * HOP_LENGTH + 120 + 1


@dataclass(frozen=True, eq=False)
class F0Features:
    """F0 feature and its intermediates, one row per mel frame."""

    log_f0: np.ndarray  # (T,) float32: raw RAPT output, natural log of Hz, F0_UNVOICED when unvoiced
    normalized: np.ndarray  # (T,) float64: per-utterance normalised to [0, 1]; unvoiced stay F0_UNVOICED
    bins: np.ndarray  # (T,) int64: 0 = unvoiced, 1..256 voiced
    onehot: np.ndarray  # (T, 257) float32
    mean_log_f0: float  # NaN when no frame is voiced
    std_log_f0: float  # population std; NaN when no frame is voiced

    @property
    def voiced(self) -> np.ndarray:
        return self.bins > 0

    @property
    def num_frames(self) -> int:
        return int(len(self.bins))


def num_frames(num_samples: int) -> int:
    """Mel/F0 frame count for `num_samples` samples: ⌊L/256⌋ + 1 (after the original's appended sample)."""
    return num_samples // HOP_LENGTH + 1


@functools.lru_cache(maxsize=1)
def _min_level() -> float:
    # The original's expression; it is 1e-5 up to rounding, kept verbatim so no frame can differ.
    return float(np.exp(-100 / 20 * np.log(10)))


@functools.lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    """(513, 80) float32 Slaney mel filters (transposed), exactly as the original built them."""
    from makeittalk.audio.mel import slaney_mel_filters

    # librosa.filters.mel's filters, which the original used, without loading librosa's core.
    return slaney_mel_filters(SAMPLE_RATE, FFT_LENGTH, N_MELS, MEL_FMIN, MEL_FMAX).T


@functools.lru_cache(maxsize=1)
def _highpass() -> tuple[np.ndarray, np.ndarray]:
    from scipy import signal

    nyquist = 0.5 * SAMPLE_RATE
    return signal.butter(HIGHPASS_ORDER, HIGHPASS_CUTOFF_HZ / nyquist, btype="high", analog=False)


@functools.lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    from scipy.signal import get_window

    return get_window("hann", FFT_LENGTH, fftbins=True)  # periodic Hann


def condition_signal(wav: np.ndarray) -> np.ndarray:
    """The signal both mel and F0 are computed from: append, 30 Hz high-pass, scale and dither.

    - one 1e-6 sample is appended when len % 256 == 0 (the original's way of making RAPT's
      ⌈L/256⌉ frames equal the STFT's ⌊L/256⌋+1);
    - zero-phase order-5 Butterworth high-pass at 30 Hz (filtfilt, default odd padding);
    - 0.95·y + (U[0,1) - 0.5)·1e-6 with a fresh RandomState(0), as the original does per file.
    """
    from scipy import signal

    x = np.asarray(wav, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {x.shape}")
    if x.shape[0] < MIN_SAMPLES:
        raise AudioError(
            f"audio is too short for feature extraction ({x.shape[0]} samples, "
            f"{1000 * x.shape[0] / SAMPLE_RATE:.2f} ms); at least {MIN_SAMPLES} samples at 16 kHz are needed"
        )
    if x.shape[0] % HOP_LENGTH == 0:
        x = np.concatenate((x, np.array([1e-06])), axis=0)
    b, a = _highpass()
    y = signal.filtfilt(b, a, x)
    prng = np.random.RandomState(0)
    return y * 0.95 + (prng.rand(y.shape[0]) - 0.5) * 1e-06


def _stft_magnitude(x: np.ndarray, block_frames: int = 4096) -> np.ndarray:
    """|rfft| of periodic-Hann frames of the reflect-padded signal, shape (T, 513).

    Same framing as the original's pySTFT; done in blocks of frames so that an hour of audio
    does not need gigabytes at once (each frame's FFT is independent, so blocking changes no bit).
    """
    padded = np.pad(x, FFT_LENGTH // 2, mode="reflect")
    noverlap = FFT_LENGTH - HOP_LENGTH
    n_frames = (padded.shape[-1] - noverlap) // HOP_LENGTH
    frames = np.lib.stride_tricks.as_strided(
        padded,
        shape=(n_frames, FFT_LENGTH),
        strides=(HOP_LENGTH * padded.strides[-1], padded.strides[-1]),
        writeable=False,
    )
    window = _hann_window()
    out = np.empty((n_frames, FFT_LENGTH // 2 + 1), dtype=np.float64)
    for start in range(0, n_frames, block_frames):
        stop = min(start + block_frames, n_frames)
        out[start:stop] = np.abs(np.fft.rfft(window * frames[start:stop], n=FFT_LENGTH))
    return out


def _mel_from_conditioned(wav: np.ndarray) -> np.ndarray:
    magnitude = _stft_magnitude(wav)
    # float32 filters against float64 magnitudes: numpy promotes to float64, as in the original.
    mel = np.dot(magnitude, mel_basis())
    db = 20 * np.log10(np.maximum(_min_level(), mel)) - 16
    # No clipping to [0, 1]: the original AutoVC clips, MakeItTalk's retrained one does not.
    return (db + 100) / 100


def mel_spectrogram(wav_float64: np.ndarray) -> np.ndarray:
    """AutoVC input mel of a 16 kHz waveform in [-1, 1]: (T, 80) float64, T = ⌊L/256⌋ + 1."""
    return _mel_from_conditioned(condition_signal(wav_float64))


# --------------------------------------------------------------------------------------------
# RAPT in a fresh process per call
#
# pysptk's RAPT (SPTK's copy of ESPS get_f0) keeps C static state between calls: after some
# inputs (e.g. near-silent audio) the next call on the *same* signal returns slightly different
# log-F0 in most voiced frames (by 1e-3 to 2e-2) and moves quantised bins. So results would
# depend on what the process analysed before. The original computed F0 once per process for
# the reference run, which is what the fixture holds; a fresh process per call reproduces that
# exactly and makes every call independent of history. A spare worker is started right after
# each call (and can be pre-started with `prewarm_rapt()`), so the ~0.3 s interpreter start-up
# overlaps other work.

_RAPT_WORKER_CODE = r"""
import sys, warnings
warnings.simplefilter("ignore")
try:  # import before reading: a spare worker is ready when its job arrives
    import numpy as np
    from pysptk import sptk
    import_error = None
except Exception as exc:
    import_error = "%s: %s" % (type(exc).__name__, exc)
data = sys.stdin.buffer.read()
if not data:
    sys.exit(0)
if import_error is not None:
    sys.stderr.write("IMPORT: " + import_error)
    sys.exit(3)
params = np.frombuffer(data[:32], dtype="<f8")
x = np.frombuffer(data[32:], dtype="<f4").copy()
try:
    f0 = sptk.rapt(x, int(params[0]), int(params[1]), min=float(params[2]), max=float(params[3]), otype=2)
except ValueError as exc:
    sys.stderr.write("VALUE: %s" % exc)
    sys.exit(4)
sys.stdout.buffer.write(np.ascontiguousarray(f0, dtype="<f4").tobytes())
"""


class _RaptRunner:
    """Runs each RAPT call in its own short-lived Python process, keeping one spare warm."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._spare = None
        self._owner_pid = 0  # a forked child must not share its parent's spare worker
        self._atexit_registered = False

    def _take_spare(self):
        import os

        spare, self._spare = self._spare, None
        if spare is not None and self._owner_pid != os.getpid():
            return None
        if spare is not None and spare.poll() is not None:
            spare.communicate()  # it died while idle (killed, out of memory): reap it, start another
            return None
        return spare

    def _spawn(self):
        import atexit
        import os
        import subprocess
        import sys

        self._owner_pid = os.getpid()
        proc = subprocess.Popen(
            [sys.executable, "-c", _RAPT_WORKER_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Ctrl+C interrupts this process, which kills the worker; a worker that got the
            # signal too would die first and be reported as "killed by signal".
            process_group=0,
        )
        if not self._atexit_registered:
            atexit.register(self.close)
            self._atexit_registered = True
        return proc

    def prewarm(self) -> None:
        with self._lock:
            self._spare = self._take_spare()
            if self._spare is None:
                try:
                    self._spare = self._spawn()
                except OSError:
                    self._spare = None

    def close(self) -> None:
        """Stop the idle spare worker (it holds no state worth keeping)."""
        spare = self._take_spare()
        if spare is not None:
            spare.kill()
            spare.communicate()

    def __call__(self, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        header = np.array([SAMPLE_RATE, HOP_LENGTH, lo, hi], dtype="<f8").tobytes()
        payload = header + np.ascontiguousarray(x, dtype="<f4").tobytes()
        import os

        if os.environ.get("MAKEITTALK_RAPT_INPROCESS") == "1":
            return _rapt_in_process(x, lo, hi)
        with self._lock:
            proc = self._take_spare()
            if proc is None:
                try:
                    proc = self._spawn()
                except OSError as exc:
                    import warnings

                    warnings.warn(
                        f"cannot start a RAPT worker process ({exc}); running RAPT in-process, "
                        f"where its result can depend on earlier calls",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    return _rapt_in_process(x, lo, hi)
            try:
                out, err = proc.communicate(input=payload)
            except BaseException:
                # Interrupted (Ctrl+C, or an error while piping): never leave the worker running.
                proc.kill()
                proc.wait()
                raise
            try:
                self._spare = self._spawn()  # warm up the next call's worker in the background
            except OSError:
                self._spare = None
        message = err.decode("utf-8", errors="replace").strip()
        if proc.returncode == 4:
            raise ValueError(message.removeprefix("VALUE: "))
        if proc.returncode < 0:
            raise MakeItTalkError(
                f"the RAPT pitch-tracker process was killed by signal {-proc.returncode} while analysing the "
                f"audio (out of memory?); free some memory and try again"
            )
        if proc.returncode != 0:
            raise MakeItTalkError(
                f"pysptk (the RAPT pitch tracker the original used) failed: "
                f"{message.removeprefix('IMPORT: ') or f'exit code {proc.returncode}'}; "
                f"install it with `pip install pysptk \"setuptools<81\"`"
            )
        return np.frombuffer(out, dtype="<f4").astype(np.float32)


def _rapt_in_process(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """RAPT in this process (MAKEITTALK_RAPT_INPROCESS=1, or no subprocesses allowed)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pysptk imports pkg_resources, which warns
            from pysptk import sptk
    except Exception as exc:
        raise MakeItTalkError(
            f"pysptk (the RAPT pitch tracker the original used) cannot be imported: {exc}; "
            f"install it with `pip install pysptk \"setuptools<81\"`"
        ) from exc
    f0 = sptk.rapt(np.ascontiguousarray(x, dtype=np.float32), SAMPLE_RATE, HOP_LENGTH, min=lo, max=hi, otype=2)
    return np.asarray(f0, dtype=np.float32)


_rapt_runner = _RaptRunner()


def prewarm_rapt() -> None:
    """Start the RAPT worker process now, so that its start-up overlaps other work."""
    _rapt_runner.prewarm()


def _rapt_log_f0(wav: np.ndarray, gender: str, n_frames: int) -> np.ndarray:
    lo, hi = F0_RANGES_HZ[gender]
    x = np.ascontiguousarray(wav.astype(np.float32) * 32768)
    if x.shape[0] < _RAPT_MIN_SAMPLES:
        # RAPT cannot analyse under ~40 ms (it raises); no pitch is measurable there, so every
        # frame is unvoiced. The original would have crashed on such a clip.
        return np.full(n_frames, F0_UNVOICED, dtype=np.float32)
    try:
        log_f0 = _rapt_runner(x, lo, hi)
    except ValueError:
        return np.full(n_frames, F0_UNVOICED, dtype=np.float32)
    # RAPT returns ⌈L/256⌉ frames and the STFT ⌊L/256⌋+1; the appended sample makes them equal,
    # so this never triggers, but a misaligned F0 would silently shift AutoVC's pitch input.
    if log_f0.shape[0] < n_frames:
        log_f0 = np.concatenate([log_f0, np.full(n_frames - log_f0.shape[0], F0_UNVOICED, dtype=np.float32)])
    return log_f0[:n_frames]


def normalize_log_f0(log_f0: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per-utterance normalisation over voiced frames: ((x-μ)/σ/4 clipped to [-1,1] + 1)/2.

    μ and σ are computed in float32 from the float32 RAPT output (as the original's np.mean and
    np.std did), the rest in float64. Unvoiced frames keep F0_UNVOICED.

    Degenerate cases the original did not survive: with no voiced frame it produced NaN
    statistics (harmless, nothing to normalise), and with σ = 0 (one voiced frame, or a
    perfectly flat pitch) it divided 0 by 0 and failed an assertion. Here no voiced frame means
    nothing changes, and σ = 0 puts every voiced frame at the centre (0.5).
    """
    log_f0 = np.asarray(log_f0, dtype=np.float32)
    voiced = log_f0 != F0_UNVOICED
    out = log_f0.astype(float).copy()
    if not voiced.any():
        return out, float("nan"), float("nan")
    values = log_f0[voiced]
    mean_f0, std_f0 = np.mean(values), np.std(values)
    if std_f0 == 0:
        out[voiced] = 0.5
        return out, float(mean_f0), 0.0
    out[voiced] = (out[voiced] - mean_f0) / std_f0 / 4.0
    out[voiced] = np.clip(out[voiced], -1, 1)
    out[voiced] = (out[voiced] + 1) / 2.0
    return out, float(mean_f0), float(std_f0)


def quantize_f0(normalized: np.ndarray, num_bins: int = F0_BINS) -> tuple[np.ndarray, np.ndarray]:
    """`quantize_f0_interp`: negative = unvoiced (bin 0), else round(v·255)+1 with half-to-even.

    Returns (bins int64, one-hot float32 of shape (T, num_bins+1)).
    """
    x = np.asarray(normalized, dtype=float).copy()
    uv = x < 0
    x[uv] = 0.0
    if np.any(x > 1) or np.any(np.isnan(x)):
        raise ValueError("normalised F0 must lie in [0, 1] for voiced frames")
    x = np.round(x * (num_bins - 1)) + 1  # numpy.round: halves go to the even neighbour
    x[uv] = 0.0
    bins = x.astype(np.int64)
    onehot = np.zeros((len(x), num_bins + 1), dtype=np.float32)
    onehot[np.arange(len(x)), bins] = 1.0
    return bins, onehot


def _f0_from_conditioned(wav: np.ndarray, gender: str) -> F0Features:
    if gender not in F0_RANGES_HZ:
        raise ValueError(f"gender must be 'F' (100-600 Hz) or 'M' (50-250 Hz), got {gender!r}")
    n_frames = num_frames(wav.shape[0])
    log_f0 = _rapt_log_f0(wav, gender, n_frames)
    normalized, mean_f0, std_f0 = normalize_log_f0(log_f0)
    bins, onehot = quantize_f0(normalized)
    return F0Features(
        log_f0=log_f0, normalized=normalized, bins=bins, onehot=onehot, mean_log_f0=mean_f0, std_log_f0=std_f0
    )


def compute_f0(wav_float64: np.ndarray, gender: str = "F") -> F0Features:
    """RAPT F0 of a 16 kHz waveform with all intermediates; gender 'F' is what inference uses."""
    return _f0_from_conditioned(condition_signal(wav_float64), gender)


def f0_onehot(wav_float64: np.ndarray, gender: str = "F") -> np.ndarray:
    """(T, 257) float32 one-hot F0, row-aligned with `mel_spectrogram` of the same waveform."""
    return compute_f0(wav_float64, gender).onehot


def mel_and_f0(wav_float64: np.ndarray, gender: str = "F") -> tuple[np.ndarray, F0Features]:
    """Both features from one conditioning pass (what the original's single function returns)."""
    wav = condition_signal(wav_float64)
    return _mel_from_conditioned(wav), _f0_from_conditioned(wav, gender)
