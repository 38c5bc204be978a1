"""Audio front end: loading, pydub-exact loudness normalisation, AutoVC mel/F0 and Resemblyzer.

Importing this package is cheap: scipy, librosa, pysptk, torch and resemblyzer are imported
only when a function that needs them runs.
"""

from makeittalk.audio.features import (
    F0Features,
    compute_f0,
    f0_onehot,
    mel_and_f0,
    mel_spectrogram,
    prewarm_rapt,
)
from makeittalk.audio.frontend import AudioFeatures, extract_features
from makeittalk.audio.io import SAMPLE_RATE, AudioTooLongError, Waveform, load_audio
from makeittalk.audio.loudness import LoudnessNormalization, normalize_loudness, normalize_loudness_detailed
from makeittalk.audio.speaker import SpeakerEmbedding, SpeakerEncoder

__all__ = [
    "SAMPLE_RATE",
    "AudioFeatures",
    "AudioTooLongError",
    "F0Features",
    "LoudnessNormalization",
    "SpeakerEmbedding",
    "SpeakerEncoder",
    "Waveform",
    "compute_f0",
    "extract_features",
    "f0_onehot",
    "load_audio",
    "mel_and_f0",
    "mel_spectrogram",
    "normalize_loudness",
    "normalize_loudness_detailed",
    "prewarm_rapt",
]
