"""Blink schedules: the original's (seeded) and the default one (seeded, configurable rate)."""

from __future__ import annotations

import numpy as np
import pytest

from makeittalk.animation.blinks import (
    BLINK_POINTS,
    INTERNAL_FPS,
    ORIGINAL_BLINK_RATE,
    RAMP_AFTER,
    RAMP_BEFORE,
    apply_blinks,
    blend_eyelids,
    blink_schedule,
    original_blink_frames,
)


def test_original_schedule_seed_zero():
    assert original_blink_frames(269, np.random.RandomState(0)) == [30, 164]


def test_original_schedule_consumes_the_rejected_draw_like_the_original():
    # For a 269-frame clip the loop draws twice (164 is kept, the second draw lands past the
    # end and is rejected); the stream must be left where the original leaves NumPy's RNG.
    rng = np.random.RandomState(0)
    original_blink_frames(269, rng)
    reference = np.random.RandomState(0)
    for _ in range(2):
        reference.randint(30, 90)
    assert rng.randint(0, 1 << 30) == reference.randint(0, 1 << 30)


def test_original_mean_rate():
    assert ORIGINAL_BLINK_RATE == pytest.approx(31.38, abs=0.01)


def test_default_schedule_is_seeded():
    n = int(120 * INTERNAL_FPS)
    a = blink_schedule(n, rate_per_minute=20, seed=3)
    assert a == blink_schedule(n, rate_per_minute=20, seed=3)
    assert a != blink_schedule(n, rate_per_minute=20, seed=4)


@pytest.mark.parametrize("rate", [6.0, 15.0, 30.0, 60.0])
def test_default_schedule_rate(rate):
    minutes = 10
    frames = blink_schedule(int(minutes * 60 * INTERNAL_FPS), rate_per_minute=rate, seed=0)
    assert len(frames) == pytest.approx(rate * minutes, rel=0.08)
    gaps = np.diff(frames) / INTERNAL_FPS
    assert gaps.min() >= 0.75 * 60 / rate - 0.02 and gaps.max() <= 1.25 * 60 / rate + 0.02


def test_default_schedule_edges_and_off():
    assert blink_schedule(5000, rate_per_minute=0, seed=0) == []
    assert blink_schedule(20, rate_per_minute=600, seed=0) == []  # no room for the ramps
    frames = blink_schedule(3000, rate_per_minute=100, seed=1)
    assert all(RAMP_BEFORE <= t < 3000 - RAMP_AFTER for t in frames)
    assert np.all(np.diff(frames) >= RAMP_BEFORE + RAMP_AFTER)
    with pytest.raises(ValueError):
        blink_schedule(100, rate_per_minute=-1)


def test_longer_clip_only_adds_blinks_at_the_end():
    short = blink_schedule(3000, rate_per_minute=30, seed=9)
    long = blink_schedule(6000, rate_per_minute=30, seed=9)
    assert long[: len(short)] == short


def test_blink_closes_the_eyes():
    rng = np.random.default_rng(0)
    base = np.tile(rng.normal(size=(1, 68, 3)) * 20 + 100, (80, 1, 1))
    base[:, [37, 38, 43, 44], 1] -= 6  # open eyes: upper lids above the lower ones
    blended = blend_eyelids(base)
    blinked = apply_blinks(blended, [40])
    gap = lambda p: p[:, 41, 1] - p[:, 37, 1]  # noqa: E731 - lower minus upper lid y
    assert gap(blinked)[40] == pytest.approx(0.0, abs=1e-12)
    assert gap(blinked)[0] == pytest.approx(gap(blended)[0])
    # Ramps: monotonic closing over 10 frames, opening over 15.
    assert np.all(np.diff(gap(blinked)[30:41]) <= 1e-12)
    assert np.all(np.diff(gap(blinked)[40:56]) >= -1e-12)
    untouched = [i for i in range(68) if i not in BLINK_POINTS]
    np.testing.assert_array_equal(blinked[:, untouched], blended[:, untouched])
    # A blink whose ramps leave the clip is skipped rather than crashing.
    np.testing.assert_array_equal(apply_blinks(blended, [75]), blended)
