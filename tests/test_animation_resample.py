"""Resampling from the internal 62.5 fps to video rates: frame i at i/fps."""

from __future__ import annotations

import numpy as np
import pytest

from makeittalk.animation.resample import INTERNAL_FPS, frame_count, frame_times, resample


@pytest.mark.parametrize(
    "seconds, fps, expected",
    [(4.58025, 25, 115), (2.0, 25, 50), (2.0, 30, 60), (0.1, 25, 3), (0.1, 60, 6), (0.001, 25, 1), (10.0, 62.5, 625)],
)
def test_frame_count_covers_the_audio(seconds, fps, expected):
    n = frame_count(seconds, fps)
    assert n == expected
    assert (n - 1) / fps < seconds  # the last frame shows a moment of the audio
    assert n / fps >= seconds - 1e-9  # the video lasts as long as the audio


def test_identity_at_the_internal_rate():
    frames = np.random.default_rng(0).normal(size=(50, 68, 3))
    np.testing.assert_array_equal(resample(frames, INTERNAL_FPS, 50), frames)
    np.testing.assert_array_equal(resample(frames, INTERNAL_FPS, 52)[-3:], frames[[-1, -1, -1]])


@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 30.0, 60.0, 120.0])
def test_linear_motion_is_reproduced_exactly(fps):
    # Points moving linearly in time must land exactly where they are at time i/fps.
    t_src = np.arange(200) / INTERNAL_FPS
    velocity = np.random.default_rng(1).normal(size=(68, 3))
    start = np.random.default_rng(2).normal(size=(68, 3))
    frames = start + t_src[:, None, None] * velocity
    n = frame_count(t_src[-1], fps)
    out = resample(frames, fps, n)
    expected = start + frame_times(n, fps)[:, None, None] * velocity
    np.testing.assert_allclose(out, expected, atol=1e-9)


def test_times_past_the_last_frame_hold_it():
    frames = np.arange(10, dtype=np.float64).reshape(10, 1, 1) * np.ones((1, 68, 3))
    out = resample(frames, 25.0, frame_count(10 / INTERNAL_FPS, 25.0))
    assert out[-1, 0, 0] <= 9.0
    assert np.all(np.diff(out[:, 0, 0]) > 0)


def test_no_overshoot_between_frames():
    frames = np.zeros((30, 68, 3))
    frames[15] = 1.0  # a one-frame spike
    out = resample(frames, 60.0, frame_count(30 / INTERNAL_FPS, 60.0))
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        frame_count(1.0, 0)
    with pytest.raises(ValueError):
        resample(np.zeros((0, 68, 3)), 25, 1)
