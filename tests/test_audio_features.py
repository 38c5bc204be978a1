"""Loudness, mel and F0 against the original's stored outputs (reference README §3)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from tolerances import LOG_F0, MEL, assert_close, assert_f0_bins_match_reference, f0_normalized_tolerance

from makeittalk.audio import compute_f0, f0_onehot, mel_and_f0, mel_spectrogram, normalize_loudness
from makeittalk.audio.features import (
    F0_UNVOICED,
    MIN_SAMPLES,
    _stft_magnitude,
    condition_signal,
    normalize_log_f0,
    quantize_f0,
)
from makeittalk.audio.loudness import normalize_loudness_detailed, pcm16_dbfs, pcm16_rms
from makeittalk.errors import AudioError


@pytest.fixture(scope="module")
def ref(reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(reference_dir / "audio_frontend.npz") as data:
        return {k: data[k] for k in data.files}


# ------------------------------------------------------------------------------------------
# Loudness (pydub-exact)


def test_loudness_matches_pydub_fixture(ref: dict[str, np.ndarray]) -> None:
    result = normalize_loudness_detailed(ref["wav_in_int16"], -20.0)
    assert result.rms == int(ref["rms_int_before"]) == 2880
    assert result.dbfs == float(ref["dbfs_before"])
    assert result.gain_db == float(ref["gain_db"])
    assert result.factor == float(ref["gain_factor"]) == 1.1377777777777776
    assert result.samples.dtype == np.int16
    np.testing.assert_array_equal(result.samples, ref["wav_norm_int16"])
    np.testing.assert_array_equal(normalize_loudness(ref["wav_in_int16"]), ref["wav_norm_int16"])
    np.testing.assert_array_equal(ref["wav_norm_int16"] / 32768.0, ref["wav_norm"])


def test_loudness_knife_edge_needs_math_log(ref: dict[str, np.ndarray]) -> None:
    # With log10 the factor rounds differently and 251 samples move by one LSB (README §3.2):
    # this is what the exact arithmetic protects.
    x = ref["wav_in_int16"].astype(np.float64)
    factor_log10 = 10 ** ((-20 - 20 * math.log10(2880 / 32768)) / 20)
    moved = np.floor(x * factor_log10) != ref["wav_norm_int16"]
    assert factor_log10 != float(ref["gain_factor"])
    assert int(moved.sum()) == 251


def test_loudness_matches_audioop_on_random_signals() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # CPython < 3.13 ships pydub's backend
    rng = np.random.RandomState(7)
    for scale in (3.0, 300.0, 12000.0):
        x = np.clip(rng.randn(20011) * scale, -32768, 32767).astype(np.int16)
        rms = audioop.rms(x.tobytes(), 2)
        assert pcm16_rms(x) == rms
        dbfs = 20 * math.log(rms / 32768.0, 10)
        assert pcm16_dbfs(x) == dbfs
        factor = 10 ** ((-20.0 - dbfs) / 20)
        expected = np.frombuffer(audioop.mul(x.tobytes(), 2, factor), dtype=np.int16)
        np.testing.assert_array_equal(normalize_loudness(x), expected)


def test_loudness_silence_and_clipping() -> None:
    silent = np.zeros(16000, np.int16)
    result = normalize_loudness_detailed(silent)
    assert result.rms == 0 and result.dbfs == -math.inf and result.factor == 1.0
    np.testing.assert_array_equal(result.samples, silent)
    # A lone full-scale click in silence has a tiny RMS: the gain is huge and must clip, not wrap.
    click = np.zeros(16000, np.int16)
    click[100], click[200] = 32767, -32768
    out = normalize_loudness(click)
    assert out[100] == 32767 and out[200] == -32768
    # Quiet audio is scaled up, loud audio down, both to -20 dBFS within the int truncation.
    for amp in (500, 20000):
        tone = (amp * np.sin(np.arange(16000) * 0.05)).astype(np.int16)
        assert pcm16_dbfs(normalize_loudness(tone)) == pytest.approx(-20.0, abs=0.05)


# ------------------------------------------------------------------------------------------
# Mel


def test_mel_matches_fixture(ref: dict[str, np.ndarray]) -> None:
    mel = mel_spectrogram(ref["wav_norm"])
    assert mel.shape == (287, 80) and mel.dtype == np.float64
    assert_close(mel, ref["mel"], MEL, "mel")


def test_stft_blocks_do_not_change_bits(ref: dict[str, np.ndarray]) -> None:
    wav = condition_signal(ref["wav_norm"])
    np.testing.assert_array_equal(_stft_magnitude(wav, block_frames=7), _stft_magnitude(wav))


def test_mel_frame_count_and_appended_sample(ref: dict[str, np.ndarray]) -> None:
    # L a multiple of 256 gets one 1e-6 sample appended, so RAPT and the STFT agree on ⌊L/256⌋+1.
    wav = ref["wav_norm"][: 256 * 100]
    mel, f0 = mel_and_f0(wav)
    assert mel.shape == (101, 80)
    assert f0.onehot.shape == (101, 257)
    for n in (1000, 4800, 256 * 3 + 1):
        mel, f0 = mel_and_f0(ref["wav_norm"][:n])
        assert mel.shape[0] == f0.num_frames == n // 256 + 1


# ------------------------------------------------------------------------------------------
# F0


def assert_f0_matches_reference(f0, ref: dict[str, np.ndarray], what: str) -> None:
    """Log-F0 within LOG_F0, the same voicing, and bins that differ only on rounding edges.

    Voicing is RAPT's dynamic-programming decision, whose margins RAPT does not report: it must
    be the reference's exactly (no CPU tried has flipped one). The bins round v*255; a frame
    whose reference value sits within the propagated tolerance of a half may round either way.
    """
    assert f0.log_f0.dtype == np.float32
    np.testing.assert_array_equal(f0.voiced, ref["f0_rapt"] != F0_UNVOICED, err_msg=f"{what}: voicing")
    assert_close(f0.log_f0, ref["f0_rapt"], LOG_F0, f"{what} log-F0")
    assert_close(f0.normalized, ref["f0_norm"], f0_normalized_tolerance(f0.std_log_f0), f"{what} normalised F0")
    assert_f0_bins_match_reference(f0.bins, ref, f"{what} F0 bins")
    assert np.all(f0.onehot.sum(axis=1) == 1) and np.all(f0.onehot[np.arange(len(f0.bins)), f0.bins] == 1)


def test_f0_matches_fixture(ref: dict[str, np.ndarray]) -> None:
    f0 = compute_f0(ref["wav_norm"], "F")
    assert_f0_matches_reference(f0, ref, "F0")
    assert f0.onehot.dtype == np.float32 and f0.onehot.shape == (287, 257)
    assert int(f0.voiced.sum()) == 175
    np.testing.assert_array_equal(f0_onehot(ref["wav_norm"]), f0.onehot)  # same machine: same bits


def test_f0_does_not_depend_on_earlier_calls(ref: dict[str, np.ndarray]) -> None:
    # In-process pysptk RAPT carries C static state between calls: after near-silent audio the
    # same utterance came back with different log-F0 in 173 of 287 frames. Each call now runs in
    # a fresh process, so history cannot leak in: the result is the same bits as a first call.
    first = compute_f0(ref["wav_norm"]).log_f0
    rng = np.random.RandomState(0)
    for previous in (np.zeros(32000), rng.randn(32000) * 0.1, ref["wav_in"][:20000]):
        compute_f0(previous)
        np.testing.assert_array_equal(compute_f0(ref["wav_norm"]).log_f0, first)
    assert_f0_matches_reference(compute_f0(ref["wav_norm"]), ref, "F0 after other calls")


def test_mel_and_f0_share_one_pass(ref: dict[str, np.ndarray]) -> None:
    mel, f0 = mel_and_f0(ref["wav_norm"])
    np.testing.assert_array_equal(mel, mel_spectrogram(ref["wav_norm"]))
    np.testing.assert_array_equal(f0.onehot, compute_f0(ref["wav_norm"]).onehot)
    assert_close(mel, ref["mel"], MEL, "mel from mel_and_f0")
    assert_f0_matches_reference(f0, ref, "F0 from mel_and_f0")


def test_quantisation_rounds_half_to_even() -> None:
    # v·255 = 127.5 -> 128 (even) -> bin 129; 0.5/255 -> 0 -> bin 1; 1.5/255 -> 2 -> bin 3.
    v = np.array([0.5, 0.5 / 255, 1.5 / 255, 0.0, 1.0, F0_UNVOICED])
    bins, onehot = quantize_f0(v)
    assert bins.tolist() == [129, 1, 3, 1, 256, 0]
    assert onehot.shape == (6, 257) and onehot.sum(axis=1).tolist() == [1.0] * 6


def test_f0_degenerate_statistics() -> None:
    log_f0 = np.full(10, F0_UNVOICED, np.float32)
    out, mean, std = normalize_log_f0(log_f0)
    assert np.all(out == F0_UNVOICED) and math.isnan(mean) and math.isnan(std)
    log_f0[3] = np.log(200.0)  # one voiced frame: σ = 0, which crashed the original
    out, _, std = normalize_log_f0(log_f0)
    assert std == 0.0 and out[3] == 0.5
    assert quantize_f0(out)[0].tolist() == [0, 0, 0, 129, 0, 0, 0, 0, 0, 0]


def test_silent_audio_is_all_unvoiced() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" from an unvoiced utterance
        mel, f0 = mel_and_f0(np.zeros(32000))
    assert mel.shape == (126, 80) and np.all(np.isfinite(mel))
    assert np.all(f0.bins == 0) and np.all(f0.onehot[:, 0] == 1)


def test_clip_shorter_than_rapt_window(ref: dict[str, np.ndarray], capfd: pytest.CaptureFixture[str]) -> None:
    # RAPT refuses < 633 samples (and prints to C stderr); such clips are all unvoiced.
    mel, f0 = mel_and_f0(ref["wav_norm"][20000:20500])
    assert mel.shape == (2, 80) and f0.onehot.shape == (2, 257)
    assert np.all(f0.bins == 0)
    assert capfd.readouterr().err == ""
    mel, f0 = mel_and_f0(ref["wav_norm"][:MIN_SAMPLES])
    assert mel.shape == (1, 80) and np.all(np.isfinite(mel))
    with pytest.raises(AudioError, match="too short"):
        mel_spectrogram(ref["wav_norm"][: MIN_SAMPLES - 1])


def test_gender_ranges(ref: dict[str, np.ndarray]) -> None:
    male = compute_f0(ref["wav_norm"], "M")
    assert male.onehot.shape == (287, 257)
    with pytest.raises(ValueError, match="gender"):
        compute_f0(ref["wav_norm"], "X")


# ------------------------------------------------------------------------------------------
# The RAPT worker processes


def test_a_spare_worker_that_died_while_idle_is_replaced(ref: dict[str, np.ndarray]) -> None:
    from makeittalk.audio.features import _rapt_runner

    _rapt_runner.prewarm()
    spare = _rapt_runner._spare
    assert spare is not None
    spare.kill()
    spare.wait()
    assert_f0_matches_reference(compute_f0(ref["wav_norm"]), ref, "F0 after a dead spare")


def test_a_worker_killed_mid_job_is_a_clear_error(ref: dict[str, np.ndarray], monkeypatch) -> None:
    import subprocess

    from makeittalk.audio.features import _RaptRunner
    from makeittalk.errors import MakeItTalkError

    runner = _RaptRunner()
    real_spawn = runner._spawn
    spawned: list[subprocess.Popen] = []

    def spawn():
        proc = real_spawn()
        spawned.append(proc)
        return proc

    real_communicate = subprocess.Popen.communicate

    def killed_communicate(self, input=None, timeout=None):
        self.kill()  # as the kernel's OOM killer would
        return real_communicate(self, timeout=timeout)

    monkeypatch.setattr(runner, "_spawn", spawn)
    with monkeypatch.context() as patch:
        patch.setattr(subprocess.Popen, "communicate", killed_communicate)
        with pytest.raises(MakeItTalkError, match="killed by signal 9"):
            runner(np.zeros(20000, np.float32), 100, 600)
    runner.close()
    assert all(proc.poll() is not None for proc in spawned)  # nothing left running


def test_an_interrupted_call_leaves_no_worker_running(monkeypatch) -> None:
    import subprocess

    from makeittalk.audio.features import _RaptRunner

    runner = _RaptRunner()
    started: list[subprocess.Popen] = []
    real_spawn = runner._spawn

    def spawn():
        proc = real_spawn()
        started.append(proc)
        return proc

    def interrupted(self, input=None, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_spawn", spawn)
    with monkeypatch.context() as patch:
        patch.setattr(subprocess.Popen, "communicate", interrupted)
        with pytest.raises(KeyboardInterrupt):
            runner(np.zeros(20000, np.float32), 100, 600)
    assert len(started) == 1 and started[0].poll() is not None
    runner.close()
