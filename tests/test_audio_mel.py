"""makeittalk.audio.mel repeats librosa's mel filters and power mel spectrogram without librosa's core."""

import numpy as np
import pytest

from makeittalk.audio.mel import power_mel_spectrogram, slaney_mel_filters

librosa = pytest.importorskip("librosa")


@pytest.mark.parametrize("sample_rate, n_fft, n_mels, fmin, fmax", [
    (16000, 400, 40, 0.0, None),  # Resemblyzer's
    (16000, 1024, 80, 90.0, 7600.0),  # the original AutoVC front end's
    (22050, 2048, 128, 0.0, None),
])
def test_mel_filters_are_librosas(sample_rate, n_fft, n_mels, fmin, fmax) -> None:
    expected = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ours = slaney_mel_filters(sample_rate, n_fft, n_mels, fmin, fmax)
    assert ours.dtype == expected.dtype == np.float32
    # The same float64 operations in the same order, then one cast: equal on any CPU up to the
    # last float32 bit of libm's log/exp, which may round either way.
    np.testing.assert_allclose(ours, expected, rtol=2 * np.finfo(np.float32).eps, atol=0)
    assert not ours.flags.writeable


@pytest.mark.parametrize("num_samples", [500, 16000 * 3 + 123, 16000 * 20])
def test_power_mel_spectrogram_is_librosas(num_samples: int) -> None:
    rng = np.random.default_rng(num_samples)
    samples = (0.1 * rng.standard_normal(num_samples)).astype(np.float32)
    expected = librosa.feature.melspectrogram(y=samples, sr=16000, n_fft=400, hop_length=160, n_mels=40)
    ours = power_mel_spectrogram(samples, 16000, 400, 160, 40)
    assert ours.shape == expected.shape == (40, 1 + num_samples // 160)
    assert ours.dtype == expected.dtype == np.float32
    # Identical steps; the one freedom is the FFT and sgemm kernels' summation order for a block
    # of frames, a few float32 ulps of each sum of 201 positive terms.
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7 * float(expected.max()))
