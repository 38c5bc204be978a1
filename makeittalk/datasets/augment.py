"""Waveform augmentation for training copies of talking clips (`data prepare --augment N`).

Each copy runs the clip's audio through a random chain, drawn from a generator seeded by the
clip id and copy number (so a dataset is reproducible and workers do not matter):

* gain: -12..+6 dB (the front end normalises loudness, so this checks that it does);
* tempo: x0.9..1.1 with probability 0.5 (phase vocoder; the landmark times are stretched to match);
* pitch: -3..+3 semitones with probability 0.5;
* reverb: probability 0.3, a synthetic room (exponentially decaying noise, RT60 0.15-0.6 s);
* noise: probability 0.5, white or pink noise at 10-30 dB SNR;
* codec: probability 0.3, an AAC round trip at 32-64 kb/s through the bundled ffmpeg.

The features (mel, F0, speaker embedding) are then computed from the augmented audio, exactly
as for the clean clip; the landmarks are the clip's own.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


@dataclass
class Augmentation:
    samples: np.ndarray  # int16 mono at 16 kHz (the Waveform layout)
    tempo: float = 1.0  # > 1: faster; an event at t s is at t / tempo s afterwards
    steps: list[str] = field(default_factory=list)


def copy_seed(clip_id: str, copy: int) -> int:
    return int(hashlib.sha1(f"{clip_id}~{copy}".encode("utf-8")).hexdigest()[:8], 16)


def _reverb(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from scipy.signal import fftconvolve

    rt60 = float(rng.uniform(0.15, 0.6))
    length = int(rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    impulse = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    impulse[0] = 1.0
    impulse /= np.sqrt(np.sum(impulse**2))
    wet = fftconvolve(x, impulse)[: len(x)]
    mix = float(rng.uniform(0.3, 0.8))
    return (1 - mix) * x + mix * wet * (np.std(x) / max(np.std(wet), 1e-9)), f"reverb rt60 {rt60:.2f} s"


def _noise(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    snr = float(rng.uniform(10, 30))
    noise = rng.standard_normal(len(x))
    colour = "white"
    if rng.random() < 0.5:  # pink: 1/f power, shaped in the frequency domain
        spectrum = np.fft.rfft(noise)
        f = np.maximum(np.fft.rfftfreq(len(noise)), 1.0 / len(noise))
        noise = np.fft.irfft(spectrum / np.sqrt(f), n=len(noise))
        colour = "pink"
    speech_power = float(np.mean(x**2))
    noise *= np.sqrt(speech_power / max(float(np.mean(noise**2)), 1e-12) / 10 ** (snr / 10))
    return x + noise, f"{colour} noise {snr:.0f} dB SNR"


def _aac_round_trip(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    import imageio_ffmpeg
    import soundfile as sf

    bitrate = int(rng.choice([32, 48, 64]))
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        wav, m4a, back = Path(tmp) / "in.wav", Path(tmp) / "c.m4a", Path(tmp) / "out.wav"
        sf.write(wav, np.clip(x, -1, 1).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
        for command in ([ffmpeg, "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", f"{bitrate}k", str(m4a)],
                        [ffmpeg, "-v", "error", "-y", "-i", str(m4a), "-ac", "1", "-ar", str(SAMPLE_RATE), str(back)]):
            subprocess.run(command, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        y, _ = sf.read(back, dtype="float32")
    # AAC adds encoder delay at the start; cut it (found by cross-correlation) so time 0 stays time 0.
    probe = min(len(x), SAMPLE_RATE // 2)
    corr = np.correlate(y[: probe + 4096], x[:probe], mode="valid")
    delay = int(np.argmax(corr)) if len(corr) else 0
    y = y[delay : delay + len(x)]
    if len(y) < len(x):
        y = np.pad(y, (0, len(x) - len(y)))
    return y, f"aac {bitrate} kb/s"


def augment_waveform(samples: np.ndarray, seed: int) -> Augmentation:
    """One random augmentation chain of 16 kHz mono int16 `samples` (see the module doc)."""
    import librosa

    rng = np.random.default_rng(seed)
    x = np.asarray(samples, dtype=np.float64) / 32768.0
    out = Augmentation(samples=x)
    gain_db = float(rng.uniform(-12, 6))
    x = x * 10 ** (gain_db / 20)
    out.steps.append(f"gain {gain_db:+.1f} dB")
    if rng.random() < 0.5:
        out.tempo = float(rng.uniform(0.9, 1.1))
        x = librosa.effects.time_stretch(x, rate=out.tempo)
        out.steps.append(f"tempo x{out.tempo:.3f}")
    if rng.random() < 0.5:
        semitones = float(rng.uniform(-3, 3))
        x = librosa.effects.pitch_shift(x, sr=SAMPLE_RATE, n_steps=semitones)
        out.steps.append(f"pitch {semitones:+.2f} st")
    if rng.random() < 0.3:
        x, step = _reverb(x, rng)
        out.steps.append(step)
    if rng.random() < 0.5:
        x, step = _noise(x, rng)
        out.steps.append(step)
    if rng.random() < 0.3:
        x, step = _aac_round_trip(x, rng)
        out.steps.append(step)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0.99:  # keep it a valid waveform; loudness is normalised later anyway
        x = x * (0.99 / peak)
    out.samples = np.round(x * 32767.0).astype(np.int16)
    return out
