"""The whole audio front end: a Waveform in, everything the networks need out.

The steps run in the original's order (reference README §3.2), because the order decides
which signal each step sees: the speaker-branch embedding is taken before loudness
normalisation, the mel/F0 and the AutoVC source embedding after it. The original did this by
overwriting the user's wav between steps; here every intermediate stays in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from makeittalk.audio.features import MIN_SAMPLES, mel_and_f0, mel_spectrogram, prewarm_rapt
from makeittalk.audio.io import Waveform, load_audio
from makeittalk.audio.loudness import normalize_loudness_detailed
from makeittalk.audio.speaker import SpeakerEmbedding, SpeakerEncoder
from makeittalk.errors import AudioError

TARGET_DBFS = -20.0
INFERENCE_GENDER = "F"  # the inference path always used the 'F' F0 range (100-600 Hz)


@dataclass(frozen=True, eq=False)
class AudioFeatures:
    """Front-end outputs for one utterance; T = ⌊L/256⌋ + 1 frames at 62.5 frames/s."""

    mel: np.ndarray  # (T, 80) float64: AutoVC input mel
    # The voice features (None when extracted with voice=False): what AutoVC and the speaker branch read.
    f0_onehot: np.ndarray | None  # (T, 257) float32: AutoVC F0 input
    speaker_embedding: np.ndarray | None  # (256,) float32: before loudness normalisation (speaker branch)
    autovc_source_embedding: np.ndarray | None  # (256,) float32: after it (AutoVC's c_org)
    normalized_samples: np.ndarray  # (L,) int16: the -20 dBFS signal the features come from
    seconds: float
    f0_bins: np.ndarray | None  # (T,) int64: 0 = unvoiced
    loudness_gain_db: float  # gain applied by the normalisation (0 for silence)
    speech_detected: bool | None  # False when Resemblyzer's VAD found no speech at all; None: not checked

    @property
    def has_voice(self) -> bool:
        return self.f0_onehot is not None and self.speaker_embedding is not None

    @property
    def num_frames(self) -> int:
        return int(self.mel.shape[0])


def extract_features(
    waveform: Waveform | object,
    speaker_encoder: SpeakerEncoder | None = None,
    *,
    gender: str = INFERENCE_GENDER,
    progress: Callable[[float], None] | None = None,
    voice: bool = True,
) -> AudioFeatures:
    """Run the front end on `waveform` (a Waveform, or anything `load_audio` accepts).

    `speaker_encoder` should be built once and reused; when None one is built for this call.
    `progress(fraction)` is called as the steps finish (their shares are the measured costs).
    `voice=False` computes only the loudness normalisation and the mel, for weight sets that
    run neither AutoVC nor the speaker branch: the two Resemblyzer passes and RAPT are most of
    the front end's cost.
    """
    report = progress or (lambda fraction: None)
    if not isinstance(waveform, Waveform):
        waveform = load_audio(waveform)  # type: ignore[arg-type]
    if waveform.num_samples < MIN_SAMPLES:
        raise AudioError(
            f"audio {waveform.source} is too short ({waveform.num_samples} samples, "
            f"{1000 * waveform.seconds:.2f} ms); at least {MIN_SAMPLES} samples at 16 kHz are needed"
        )
    if not voice:
        loud = normalize_loudness_detailed(waveform.samples, TARGET_DBFS)
        mel = mel_spectrogram(loud.samples.astype(np.float64) / 32768.0)  # the same mel as mel_and_f0's
        report(1.0)
        return AudioFeatures(mel=mel, f0_onehot=None, speaker_embedding=None, autovc_source_embedding=None,
                             normalized_samples=loud.samples, seconds=waveform.seconds, f0_bins=None,
                             loudness_gain_db=loud.gain_db, speech_detected=None)
    # RAPT runs in a fresh process per call (see features.py); starting it now lets the
    # interpreter start-up overlap the first Resemblyzer pass.
    prewarm_rapt()
    encoder = speaker_encoder if speaker_encoder is not None else SpeakerEncoder()

    # 1. Speaker-branch embedding from the audio as given (the original's first get_spk_emb).
    speaker: SpeakerEmbedding = encoder.embed_detailed(waveform.as_float32())
    report(0.4)
    # 2. pydub-exact -20 dBFS normalisation (the original overwrote the wav with it).
    loud = normalize_loudness_detailed(waveform.samples, TARGET_DBFS)
    # 3. Mel and F0 from the normalised samples as soundfile reads them (int16 / 32768).
    mel, f0 = mel_and_f0(loud.samples.astype(np.float64) / 32768.0, gender)
    report(0.6)
    # 4. AutoVC source embedding from the normalised audio (the second get_spk_emb).
    source = encoder.embed_detailed(loud.samples.astype(np.float32) / np.float32(32768.0))
    report(1.0)

    return AudioFeatures(
        mel=mel,
        f0_onehot=f0.onehot,
        speaker_embedding=speaker.embedding,
        autovc_source_embedding=source.embedding,
        normalized_samples=loud.samples,
        seconds=waveform.seconds,
        f0_bins=f0.bins,
        loudness_gain_db=loud.gain_db,
        speech_detected=not (speaker.no_speech_detected and source.no_speech_detected),
    )
