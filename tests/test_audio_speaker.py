"""Resemblyzer embeddings as the original wrapper computed them, against the reference run."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tolerances import EMBEDDING, assert_close

from makeittalk.audio import SpeakerEncoder
from makeittalk.audio.speaker import SEGMENT_SAMPLES


@pytest.fixture(scope="module")
def ref(reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(reference_dir / "audio_frontend.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder(device="cpu")


def test_speaker_branch_embedding_matches_fixture(encoder: SpeakerEncoder, ref: dict[str, np.ndarray]) -> None:
    result = encoder.embed_detailed(ref["wav_in_int16"].astype(np.float32) / 32768)
    np.testing.assert_array_equal(result.preprocessed, ref["resemblyzer_wav_speaker_branch"])
    assert result.embedding.dtype == np.float32 and result.embedding.shape == (256,)
    assert_close(result.embedding, ref["emb_speaker_branch"], EMBEDDING, "speaker-branch embedding")
    assert_close(result.segments, ref["emb_speaker_branch_segments"], EMBEDDING, "speaker-branch segments")
    assert result.segments.shape == (1, 256)
    assert result.num_partials == 7
    assert not result.no_speech_detected


def test_autovc_source_embedding_matches_fixture(encoder: SpeakerEncoder, ref: dict[str, np.ndarray]) -> None:
    # int16 input is read as librosa.load reads PCM16 (x / 32768 in float32)
    result = encoder.embed_detailed(ref["wav_norm_int16"])
    np.testing.assert_array_equal(result.preprocessed, ref["resemblyzer_wav_autovc_source"])
    assert_close(result.embedding, ref["emb_autovc_source"], EMBEDDING, "AutoVC source embedding")
    assert_close(result.segments, ref["emb_autovc_source_segments"], EMBEDDING, "AutoVC source segments")
    np.testing.assert_array_equal(encoder.embed(ref["wav_norm_int16"]), result.embedding)
    # plain mean over segments, not re-normalised (one segment here, so it is unit-norm anyway)
    assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # audioread, imported by librosa.load
def test_in_memory_preprocessing_equals_the_original_path_call(
    encoder: SpeakerEncoder, ref: dict[str, np.ndarray], tmp_path: Path
) -> None:
    from resemblyzer import preprocess_wav

    for key in ("wav_in_int16", "wav_norm_int16"):
        path = tmp_path / f"{key}.wav"
        sf.write(str(path), ref[key], 16000, subtype="PCM_16")
        np.testing.assert_array_equal(encoder.preprocess(ref[key]), preprocess_wav(path))


def test_construction_and_embedding_keep_stdout_clean(capfd: pytest.CaptureFixture[str]) -> None:
    fresh = SpeakerEncoder(device="cpu")
    fresh.embed(np.zeros(8000, np.float32))
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "Loaded the voice encoder" not in captured.err


def test_silent_audio_gives_the_silence_embedding(encoder: SpeakerEncoder) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Resemblyzer alone warns: log10(0), 0·inf, NaN cast
        long_silence = encoder.embed_detailed(np.zeros(48000, np.float32))
        short_silence = encoder.embed_detailed(np.zeros(4800, np.int16))
    for result in (long_silence, short_silence):
        assert result.no_speech_detected and result.speech_seconds == 0.0
        assert np.all(np.isfinite(result.embedding))
        assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(long_silence.embedding, short_silence.embedding)


def test_short_clip_embeds(encoder: SpeakerEncoder, ref: dict[str, np.ndarray]) -> None:
    clip = ref["wav_in_int16"][8000:12800]  # 0.3 s of speech: one zero-padded 1.6-s partial
    result = encoder.embed_detailed(clip)
    assert result.num_partials == 1
    assert np.all(np.isfinite(result.embedding)) and result.embedding.shape == (256,)
    # still recognisably the same voice as the whole utterance
    assert float(result.embedding @ ref["emb_speaker_branch"]) > 0.4


def test_other_sample_rates_are_resampled(encoder: SpeakerEncoder, ref: dict[str, np.ndarray]) -> None:
    import librosa

    x = ref["wav_in_int16"].astype(np.float32) / 32768
    x44 = librosa.resample(x, orig_sr=16000, target_sr=44100)
    emb = encoder.embed(x44, sample_rate=44100)
    assert float(emb @ ref["emb_speaker_branch"]) > 0.95


@pytest.mark.slow
def test_long_audio_uses_whole_minutes_only(encoder: SpeakerEncoder, data_dir: Path) -> None:
    # >= 60 s: l = ⌊len/960000⌋ segments after preprocessing, the remainder dropped (original behaviour).
    files = sorted((data_dir / "speech" / "librispeech" / "wav").glob("*.wav"))
    parts, total = [], 0
    for path in files:
        data, sr = sf.read(str(path), dtype="int16")
        assert sr == 16000
        parts.append(data)
        total += len(data)
        if total > 16000 * 150:
            break
    samples = np.concatenate(parts)
    result = encoder.embed_detailed(samples)
    n_segments = len(result.preprocessed) // SEGMENT_SAMPLES
    assert n_segments >= 2
    assert result.segments.shape == (n_segments, 256)
    expected = [
        encoder._encoder.embed_utterance(
            result.preprocessed[i * SEGMENT_SAMPLES : (i + 1) * SEGMENT_SAMPLES], return_partials=True, rate=2
        )[0]
        for i in range(n_segments)
    ]
    np.testing.assert_array_equal(result.segments, np.array(expected))
    np.testing.assert_array_equal(result.embedding, np.mean(np.array(expected), axis=0))
    assert np.linalg.norm(result.embedding) < 1.0  # a mean of different unit vectors, not re-normalised
