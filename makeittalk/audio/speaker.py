"""Resemblyzer speaker embeddings, computed the way the original wrapper did.

The original (`thirdparty/resemblyer_util/speaker_emb.py::get_spk_emb`) built a new
VoiceEncoder per call and passed a wav path to `preprocess_wav`. We load the encoder once and
pass the samples in memory: `librosa.load(path, sr=None)` of a 16 kHz PCM16 wav is exactly
int16/32768 in float32, and resampling 16 kHz to 16 kHz is a no-op, so the preprocessed signal
is bit-identical (the tests compare it with the reference run's).

Segmenting, rates and the plain mean are kept as the original had them for checkpoint
compatibility: the speaker branch and AutoVC were trained on embeddings made this way.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from makeittalk.errors import AudioError, MakeItTalkError

if TYPE_CHECKING:
    import torch

SAMPLE_RATE = 16000
SEGMENT_SAMPLES = 960_000  # 60 s: the original's segment_len
PARTIALS_PER_SECOND = 2  # embed_utterance(rate=2)
EMBEDDING_SIZE = 256


@dataclass(frozen=True, eq=False)
class SpeakerEmbedding:
    """A mean Resemblyzer embedding with what it was computed from."""

    embedding: np.ndarray  # (256,) float32: plain mean of `segments`, not re-normalised
    segments: np.ndarray  # (l, 256) float32: one unit-norm embedding per 60-s segment
    preprocessed: np.ndarray  # float32 signal after preprocess_wav (gain to -30 dBFS, VAD trim)
    num_partials: int  # 1.6-s partial windows over all segments

    @property
    def speech_seconds(self) -> float:
        """Audio left after Resemblyzer's silence trimming."""
        return len(self.preprocessed) / SAMPLE_RATE

    @property
    def no_speech_detected(self) -> bool:
        """True when the VAD removed everything: the embedding is then that of digital silence."""
        return len(self.preprocessed) == 0


def _import_resemblyzer():
    try:
        with warnings.catch_warnings():
            # resemblyzer imports scipy.ndimage.morphology and webrtcvad imports pkg_resources,
            # both of which emit deprecation warnings at import time.
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder, audio
    except Exception as exc:
        raise MakeItTalkError(
            f"resemblyzer (the speaker encoder the original used) cannot be imported: {exc}; "
            f"install it with `pip install resemblyzer webrtcvad-wheels \"setuptools<81\"`"
        ) from exc
    return VoiceEncoder, audio


class SpeakerEncoder:
    """Resemblyzer's VoiceEncoder, loaded once, with the original wrapper's embedding recipe.

    `device` is anything `makeittalk.device.pick_device` accepts (None = auto).
    """

    def __init__(self, device: str | torch.device | None = None) -> None:
        from makeittalk.device import pick_device

        VoiceEncoder, audio = _import_resemblyzer()
        from resemblyzer import hparams

        self._audio = audio
        self._hparams = hparams
        self.device = pick_device(device if device is None or isinstance(device, str) else str(device))
        # verbose=False: the default prints "Loaded the voice encoder model ..." to stdout,
        # which would pollute the CLI's output. The redirect catches any other stray print.
        with contextlib.redirect_stdout(io.StringIO()):
            self._encoder = VoiceEncoder(device=self.device, verbose=False)
        self._encoder.eval()

    def preprocess(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """`resemblyzer.preprocess_wav` of in-memory samples (float in [-1, 1], or int16).

        Digital silence skips the volume step: Resemblyzer would scale 0 by an infinite gain and
        get NaNs (with warnings), which only by accident of the NaN-to-int16 cast end up trimmed
        away. Skipping it gives the same (empty) result deterministically.
        """
        wav = _as_float32(samples)
        if not np.any(wav):
            if sample_rate != SAMPLE_RATE:
                wav = np.zeros(round(len(wav) * SAMPLE_RATE / sample_rate), dtype=np.float32)
            return self._audio.trim_long_silences(wav).astype(np.float32, copy=False)
        if sample_rate != SAMPLE_RATE:
            return self._audio.preprocess_wav(wav, source_sr=sample_rate)
        # preprocess_wav's steps after its resampling, which is a no-op at 16 kHz but would load
        # librosa's core (numba) for a second.
        wav = self._audio.normalize_volume(wav, self._hparams.audio_norm_target_dBFS, increase_only=True)
        return self._audio.trim_long_silences(wav)

    def _embed_utterance(self, wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`VoiceEncoder.embed_utterance(wav, return_partials=True, rate=2)`: (embedding, partials),
        with the mel spectrogram from makeittalk.audio.mel (librosa's, bit for bit, without
        loading librosa's core)."""
        import torch

        from makeittalk.audio.mel import power_mel_spectrogram

        hp = self._hparams
        wav_slices, mel_slices = self._encoder.compute_partial_slices(len(wav), PARTIALS_PER_SECOND, 0.75)
        needed = wav_slices[-1].stop
        if needed >= len(wav):
            wav = np.pad(wav, (0, needed - len(wav)), "constant")
        mel = power_mel_spectrogram(wav, hp.sampling_rate, int(hp.sampling_rate * hp.mel_window_length / 1000),
                                    int(hp.sampling_rate * hp.mel_window_step / 1000), hp.mel_n_channels)
        mel = mel.astype(np.float32).T
        mels = np.array([mel[s] for s in mel_slices])
        with torch.no_grad():
            partials = self._encoder(torch.from_numpy(mels).to(self.device)).cpu().numpy()
        raw = np.mean(partials, axis=0)
        return raw / np.linalg.norm(raw, 2), partials

    def embed_detailed(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> SpeakerEmbedding:
        """The original `get_spk_emb`: 60-s segments, rate-2 partials, plain mean over segments.

        - l = max(1, ⌊len/960000⌋) segments; for 60 s or more the remainder after the last full
          minute is dropped (the original's behaviour, kept for compatibility).
        - Audio that the VAD trims to nothing (silence, very short or speechless clips) still
          embeds: Resemblyzer zero-pads to one 1.6-s partial, which yields the fixed "silence"
          embedding, a finite unit vector. `no_speech_detected` tells callers it happened.
        """
        wav = self.preprocess(samples, sample_rate)
        n_segments = max(1, len(wav) // SEGMENT_SAMPLES)
        all_embeds = []
        n_partials = 0
        for i in range(n_segments):
            segment = wav[SEGMENT_SAMPLES * i : SEGMENT_SAMPLES * (i + 1)]
            embed, partials = self._embed_utterance(segment)
            all_embeds.append(embed)
            n_partials += len(partials)
        segments = np.array(all_embeds)
        mean_embed = np.mean(segments, axis=0)
        if not np.all(np.isfinite(mean_embed)):  # pragma: no cover - guarded by the silence handling
            raise AudioError("the speaker embedding came out non-finite; the audio may be corrupt")
        return SpeakerEmbedding(
            embedding=mean_embed.astype(np.float32, copy=False),
            segments=segments.astype(np.float32, copy=False),
            preprocessed=wav,
            num_partials=n_partials,
        )

    def embed(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(256,) float32 mean embedding as the original wrapper computes it."""
        return self.embed_detailed(samples, sample_rate).embedding


def _as_float32(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"SpeakerEncoder expects mono 1-D samples, got shape {x.shape}")
    if x.dtype == np.int16:
        # librosa.load's reading of PCM16: x / 32768 in float32.
        return x.astype(np.float32) / np.float32(32768.0)
    if x.dtype.kind != "f":
        raise ValueError(f"SpeakerEncoder expects float samples in [-1, 1] or int16, got {x.dtype}")
    return x.astype(np.float32, copy=False)
