"""Loudness normalisation with pydub's exact arithmetic.

The original normalised every wav to -20 dBFS with pydub (`AudioSegment.apply_gain(-20 - dBFS)`)
and overwrote the file. We do it in memory. Every step below mirrors pydub 0.25.1 + CPython's
`audioop` so that the result is bit-identical; the gain factor sits on a rounding knife edge
(it is mathematically 3276.8 / rms), so "equivalent" formulas are not good enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# pydub's AudioSegment.max_possible_amplitude for 16-bit samples.
_MAX_AMPLITUDE_16BIT = 32768.0


@dataclass(frozen=True, eq=False)
class LoudnessNormalization:
    """The result of `normalize_loudness_detailed` with the intermediate pydub quantities."""

    samples: np.ndarray  # int16, the normalised audio
    rms: int  # integer RMS of the input, truncated (audioop.rms)
    dbfs: float  # input level in dBFS (-inf for digital silence)
    gain_db: float  # target - dbfs (0.0 when the input is silent)
    factor: float  # linear gain applied to every sample (1.0 when the input is silent)


def pcm16_rms(samples_int16: np.ndarray) -> int:
    """`audioop.rms(data, 2)`: ⌊sqrt(Σx²/n)⌋ with Σx² accumulated sequentially in a C double."""
    x = np.asarray(samples_int16)
    if x.size == 0:
        return 0
    # cumsum accumulates left to right like audioop's loop (np.sum would sum pairwise); the
    # two only differ once Σx² passes 2**53, i.e. for recordings of roughly ten minutes or more.
    sum_squares = float(np.cumsum(np.square(x.astype(np.float64)))[-1])
    return int(math.sqrt(sum_squares / float(x.size)))


def pcm16_dbfs(samples_int16: np.ndarray) -> float:
    """pydub's `AudioSegment.dBFS`: 20·log(rms/32768, 10) with `math.log(v, 10)`, not log10."""
    rms = pcm16_rms(samples_int16)
    if rms == 0:
        return -math.inf
    # math.log(v, 10) = ln v / ln 10, which differs from log10 in the last bit; kept for exactness.
    return 20.0 * math.log(rms / _MAX_AMPLITUDE_16BIT, 10)


def normalize_loudness_detailed(samples_int16: np.ndarray, target_dbfs: float = -20.0) -> LoudnessNormalization:
    """Normalise to `target_dbfs` average loudness exactly as pydub does; returns the intermediates.

    Digital silence (rms 0) is returned unchanged: pydub would compute an infinite gain and
    multiply 0 by inf, which only happens to come out as zeros.
    """
    x = np.asarray(samples_int16)
    if x.dtype != np.int16 or x.ndim != 1:
        raise ValueError(f"normalize_loudness expects a 1-D int16 array, got {x.dtype} {x.shape}")
    rms = pcm16_rms(x)
    if rms == 0:
        return LoudnessNormalization(samples=x.copy(), rms=0, dbfs=-math.inf, gain_db=0.0, factor=1.0)
    dbfs = 20.0 * math.log(rms / _MAX_AMPLITUDE_16BIT, 10)
    gain_db = float(target_dbfs) - dbfs
    # pydub's db_to_float: a Python float power (C pow), not numpy.
    factor = 10 ** (gain_db / 20)
    # audioop.mul: x·factor in double, clipped to [-32768, 32767], then floored. Flooring before
    # clipping gives the same integers and lets numpy do it in one pass.
    scaled = np.floor(x.astype(np.float64) * factor)
    out = np.clip(scaled, -32768.0, 32767.0).astype(np.int16)
    return LoudnessNormalization(samples=out, rms=rms, dbfs=dbfs, gain_db=gain_db, factor=factor)


def normalize_loudness(samples_int16: np.ndarray, target_dbfs: float = -20.0) -> np.ndarray:
    """pydub-exact normalisation of int16 samples to `target_dbfs` (default -20 dBFS, as the original)."""
    return normalize_loudness_detailed(samples_int16, target_dbfs).samples
