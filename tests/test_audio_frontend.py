"""extract_features end to end: file in, every front-end output equal to the reference run."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from tolerances import EMBEDDING, MEL, NETWORK, assert_close, assert_f0_bins_match_reference

from makeittalk.audio import AudioFeatures, SpeakerEncoder, extract_features, load_audio
from makeittalk.errors import AudioError


@pytest.fixture(scope="module")
def ref(reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(reference_dir / "audio_frontend.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder()  # auto device: cpu here, whatever pick_device chooses elsewhere


@pytest.fixture(scope="module")
def features(reference_dir: Path, encoder: SpeakerEncoder) -> AudioFeatures:
    path = reference_dir / "speech_16k.wav"
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    result = extract_features(load_audio(path), encoder)
    # the original overwrote the wav twice; we must not touch it
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    return result


def test_all_outputs_match_the_reference_run(features: AudioFeatures, ref: dict[str, np.ndarray]) -> None:
    assert features.seconds == pytest.approx(4.58025)
    np.testing.assert_array_equal(features.normalized_samples, ref["wav_norm_int16"])
    assert features.loudness_gain_db == float(ref["gain_db"])

    assert features.mel.shape == (287, 80) and features.mel.dtype == np.float64
    assert_close(features.mel, ref["mel"], MEL, "front-end mel")

    assert features.f0_onehot.dtype == np.float32 and features.f0_onehot.shape == ref["f0_onehot"].shape
    assert_f0_bins_match_reference(features.f0_bins, ref, "front-end F0 bins")
    np.testing.assert_array_equal(np.argmax(features.f0_onehot, axis=1), features.f0_bins)
    assert features.num_frames == 287


def test_embeddings_come_from_the_right_side_of_the_normalisation(
    features: AudioFeatures, ref: dict[str, np.ndarray], encoder: SpeakerEncoder
) -> None:
    tol = EMBEDDING if encoder.device.type == "cpu" else NETWORK
    assert features.speaker_embedding.dtype == np.float32 and features.speaker_embedding.shape == (256,)
    assert features.autovc_source_embedding.dtype == np.float32
    assert_close(features.speaker_embedding, ref["emb_speaker_branch"], tol, "speaker-branch embedding")
    assert_close(features.autovc_source_embedding, ref["emb_autovc_source"], tol, "AutoVC source embedding")
    # the two differ because Resemblyzer saw different signals (before/after -20 dBFS)
    assert not np.array_equal(ref["emb_speaker_branch"], ref["emb_autovc_source"])
    assert features.speech_detected


def test_accepts_a_path(reference_dir: Path, encoder: SpeakerEncoder, features: AudioFeatures) -> None:
    again = extract_features(reference_dir / "speech_16k.wav", encoder)
    np.testing.assert_array_equal(again.mel, features.mel)
    np.testing.assert_array_equal(again.speaker_embedding, features.speaker_embedding)


@pytest.mark.parametrize(
    "samples",
    [
        pytest.param(np.zeros(32000, np.int16), id="silent-2s"),
        pytest.param(np.zeros(4800, np.int16), id="silent-0.3s"),
        pytest.param("speech-0.3s", id="speech-0.3s"),
        pytest.param("speech-30ms", id="speech-30ms"),
    ],
)
def test_silent_and_short_audio(samples: object, encoder: SpeakerEncoder, ref: dict[str, np.ndarray]) -> None:
    if isinstance(samples, str):
        n = 4800 if samples == "speech-0.3s" else 480
        samples = ref["wav_in_int16"][8000 : 8000 + n]
    wave = load_audio((samples, 16000))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no NaN/inf arithmetic on the way
        result = extract_features(wave, encoder)
    frames = len(wave) // 256 + 1
    assert result.mel.shape == (frames, 80) and np.all(np.isfinite(result.mel))
    assert result.f0_onehot.shape == (frames, 257) and np.all(result.f0_onehot.sum(axis=1) == 1)
    for emb in (result.speaker_embedding, result.autovc_source_embedding):
        assert emb.shape == (256,) and emb.dtype == np.float32 and np.all(np.isfinite(emb))
    assert result.normalized_samples.shape == (len(wave),)
    if not np.any(wave.samples):
        assert not result.speech_detected and np.all(result.f0_bins == 0)
        np.testing.assert_array_equal(result.normalized_samples, wave.samples)


def test_too_short_is_an_audio_error(encoder: SpeakerEncoder) -> None:
    with pytest.raises(AudioError, match="too short"):
        extract_features(load_audio((np.ones(10, np.int16), 16000)), encoder)
