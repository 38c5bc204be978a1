"""librosa's Slaney mel filters and power mel spectrogram, in numpy.

The original computes its mel filters with `librosa.filters.mel`, and Resemblyzer embeds from
`librosa.feature.melspectrogram`. Calling either loads librosa's core, which compiles or loads
numba code: 0.9-1.6 s of a render's start-up on the 2-core CI CPU, for arithmetic that takes
milliseconds. These functions repeat librosa 0.10/0.11's steps operation for operation (same
dtypes, same order), so the results match it to float32 rounding; tests compare them with
librosa itself.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["slaney_mel_filters", "power_mel_spectrogram"]


def _hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa, htk=False)."""
    frequencies = np.asanyarray(frequencies, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = frequencies / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    if frequencies.ndim:
        above = frequencies >= min_log_hz
        mels[above] = min_log_mel + np.log(frequencies[above] / min_log_hz) / logstep
    elif frequencies >= min_log_hz:
        mels = min_log_mel + np.log(frequencies / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asanyarray(mels)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    above = mels >= min_log_mel
    freqs[above] = min_log_hz * np.exp(logstep * (mels[above] - min_log_mel))
    return freqs


@functools.lru_cache(maxsize=8)
def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                       fmax: float | None = None) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32 triangular filters with Slaney area normalisation:
    `librosa.filters.mel(sr=, n_fft=, n_mels=, fmin=, fmax=)` (read-only, cached)."""
    if fmax is None:
        fmax = float(sample_rate) / 2
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_freqs)
    ramps = np.subtract.outer(mel_freqs, fft_freqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2 : n_mels + 2] - mel_freqs[:n_mels]))[:, np.newaxis]
    weights.setflags(write=False)
    return weights


def power_mel_spectrogram(samples: np.ndarray, sample_rate: int, n_fft: int, hop_length: int,
                          n_mels: int) -> np.ndarray:
    """(n_mels, 1 + len // hop) power mel spectrogram of float32 `samples`:
    `librosa.feature.melspectrogram(y=, sr=, n_fft=, hop_length=, n_mels=)` (centred frames,
    zero padding, periodic Hann window, |STFT|^2, Slaney filters)."""
    from scipy.signal import get_window

    samples = np.asarray(samples)
    half = n_fft // 2
    padded = np.pad(samples, (half, half), mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length].T  # (n_fft, T)
    window = get_window("hann", n_fft, fftbins=True)[:, np.newaxis]  # float64, as librosa's
    # librosa fills a complex64 matrix (for float32 input) from a float64 transform.
    spectrum = np.fft.rfft(window * frames, axis=0).astype(np.complex64 if samples.dtype == np.float32
                                                            else np.complex128)
    power = np.abs(spectrum) ** 2
    return np.einsum("ft,mf->mt", power, slaney_mel_filters(sample_rate, n_fft, n_mels), optimize=True)
