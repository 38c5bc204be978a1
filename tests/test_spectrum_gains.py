"""Gains from the speech spectrum: head-motion size and lip gain (makeittalk.animation.spectrum_gains)."""

from __future__ import annotations

import numpy as np
import pytest

from makeittalk.animation.spectrum_gains import (HEAD_SIZE, LIP_GAIN, MIN_SPEECH_FRAMES, NUM_FEATURES, SPEECH_LEVEL,
                                                 RunningSpectrum, SmoothGains, SpectrumGainModel, from_tuning,
                                                 pose_multipliers, spectrum_features)
from makeittalk.errors import MakeItTalkError


def _mel(frames=400, seed=0, level=0.5):
    rng = np.random.default_rng(seed)
    mel = level + 0.05 * rng.standard_normal((frames, 80))
    mel[::4] = 0.2  # silence between syllables: left out of the spectrum
    return mel


def _model(slope=1.0):
    """log roll gain = slope * (mean level of band 0 - 0.5); position gain the opposite."""
    coefficients = np.zeros((NUM_FEATURES, 2))
    coefficients[0] = [slope, -slope]
    return SpectrumGainModel(HEAD_SIZE[1], coefficients, np.array([-0.5 * slope, 0.5 * slope]), np.array([0.1, -0.1]))


def test_the_spectrum_uses_speech_frames_only_and_needs_half_a_second():
    mel = _mel()
    speech = mel[mel.mean(axis=1) > SPEECH_LEVEL]
    features = spectrum_features(mel)
    np.testing.assert_allclose(features[:80], speech.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(features[80:], speech.std(axis=0), atol=1e-12)
    assert spectrum_features(mel[:MIN_SPEECH_FRAMES]) is None  # 3/4 of 31 frames are speech
    assert spectrum_features(np.full((1000, 80), 0.1)) is None  # silence


def test_the_running_spectrum_equals_the_whole_clip_one():
    """Live mode's running sums give offline's figure for the same frames (float64 sums of
    ~300 values near 0.5: differences of order 1e-15, checked at 1e-9)."""
    mel = _mel(frames=900)
    running = RunningSpectrum()
    for start in range(0, len(mel), 7):
        running.push(mel[start:start + 7])
    np.testing.assert_allclose(running.features(), spectrum_features(mel), atol=1e-9)


def test_gains_follow_the_model_within_its_limits_and_the_prior_without_speech():
    model = _model(slope=1.0)
    loud = spectrum_features(_mel(level=0.9))
    roll, position = model.gains(loud)
    band0 = loud[0]
    assert roll == pytest.approx(np.exp(band0 - 0.5), rel=1e-12) and position == pytest.approx(1 / roll, rel=1e-12)
    np.testing.assert_allclose(model.gains(None), np.exp([0.1, -0.1]))
    steep = _model(slope=100.0)
    np.testing.assert_allclose(steep.gains(loud), [3.0, 0.33])  # clipped to the limits
    np.testing.assert_allclose(pose_multipliers(np.array([2.0, 0.5])), [0.5, 0.5, 2.0, 0.5, 0.5])


def test_settings_round_trip_and_bad_settings_are_refused():
    model = _model(slope=0.7)
    again = from_tuning({"head_size_model": model.to_settings()}, HEAD_SIZE)
    features = spectrum_features(_mel(level=0.8))
    np.testing.assert_allclose(again.gains(features), model.gains(features), rtol=1e-5)  # 6 decimals stored
    assert from_tuning({}, HEAD_SIZE) is None
    broken = model.to_settings()
    broken["roll"]["coefficients"] = broken["roll"]["coefficients"][:10]
    with pytest.raises(MakeItTalkError, match="head_size_model"):
        from_tuning({"head_size_model": broken}, HEAD_SIZE)
    with pytest.raises(MakeItTalkError, match="features"):
        from_tuning({"head_size_model": dict(model.to_settings(), features="mfcc")}, HEAD_SIZE)
    with pytest.raises(MakeItTalkError, match="lip_gain_model.*--gain-model"):
        from_tuning({"lip_gain_model": model.to_settings()}, LIP_GAIN)  # it has no 'lips' channel


def test_live_gains_move_smoothly_from_the_prior_to_the_clip_value():
    model = _model(slope=1.0)
    mel = _mel(frames=62 * 20, level=0.9)  # 20 s of loud speech
    smooth = SmoothGains(model, fps=62.5, time_constant_s=2.0)
    gains = np.concatenate([smooth.step(mel[k:k + 5]) for k in range(0, len(mel), 5)])
    log = np.log(gains)
    assert np.abs(log[0] - [0.1, -0.1]).max() < 0.02  # starts at the prior
    np.testing.assert_allclose(gains[-1], model.gains(spectrum_features(mel)), rtol=0.01)  # ends at the clip's
    # No jumps: a frame moves the log gain by at most 1/(2 s x 62.5) of the distance left (<= 1%).
    assert np.abs(np.diff(log, axis=0)).max() <= 0.01 * np.abs(log[-1] - log[0]).max() + 1e-12


def test_the_engine_scales_the_procedural_motion_by_the_model_gains():
    """Constant gains of 2 (coefficients 0): the head's displacement from its rest doubles. The
    motion is a few degrees, so rotation is linear in the angle to well under 1 %; 3 % allowed."""
    from makeittalk.animation.engine import AnimationConfig, LandmarkAnimator
    from makeittalk.pipelines.demo import demo_speech_path
    from makeittalk.resources import standard_face

    base = LandmarkAnimator.from_pretrained("default")
    doubled = SpectrumGainModel(HEAD_SIZE[1], np.zeros((NUM_FEATURES, 2)), np.log([2.0, 2.0]), np.log([2.0, 2.0]))

    def animator(tuning):
        return LandmarkAnimator(base.autovc, base.content_branch, base.speaker_branch, tuning=tuning)

    plain = {k: v for k, v in base.tuning.items() if k not in ("head_size_model", "lip_gain_model")}
    face = standard_face()[:, :2] * 100 + 200
    feats = base.features(demo_speech_path())
    runs = {name: animator(tuning).run(feats, animator(tuning).static_face(face), AnimationConfig()).pixels
            for name, tuning in (("still", dict(plain, procedural_pose=0.0)), ("plain", plain),
                                 ("doubled", dict(plain, head_size_model=doubled.to_settings())))}
    stable = [27, 28, 29, 30, 0, 16, 36, 45]  # nose bridge, jaw ends, eye corners: no lip motion
    moved = {name: (runs[name] - runs["still"])[:, stable, :2] for name in ("plain", "doubled")}
    ratio = np.linalg.norm(moved["doubled"]) / np.linalg.norm(moved["plain"])
    assert ratio == pytest.approx(2.0, rel=0.03)


def test_the_lip_gain_model_scales_the_lips_offline_and_live():
    """A constant lip gain of 1.5: the offline lip offsets grow 1.5x, and live ones too once the
    gain has moved there from its prior (1.0 here; 2 s time constant, so after 10 s it is within 1 %)."""
    from makeittalk.animation.engine import AnimationConfig, LandmarkAnimator
    from makeittalk.animation.streaming import StreamConfig, StreamingAnimator
    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path
    from makeittalk.resources import standard_face

    base = LandmarkAnimator.from_pretrained("default")
    gain = SpectrumGainModel(LIP_GAIN[1], np.zeros((NUM_FEATURES, 1)), np.log([1.5]), np.log([1.0]))
    plain = {k: v for k, v in base.tuning.items() if k not in ("head_size_model", "lip_gain_model")}
    plain["procedural_pose"] = 0.0  # a still head: the lips alone differ

    def animator(tuning):
        return LandmarkAnimator(base.autovc, base.content_branch, base.speaker_branch, tuning=tuning)

    face = standard_face()[:, :2] * 100 + 200
    speech = load_audio(demo_speech_path())
    with_gain = dict(plain, lip_gain_model=gain.to_settings())
    gap = {}
    for name, tuning in (("plain", plain), ("gain", with_gain)):
        a = animator(tuning)
        offline = a.run(speech, a.static_face(face), AnimationConfig(blink=False)).pixels
        stream = StreamingAnimator(a, face, StreamConfig(blink=False))
        samples = np.asarray(speech.samples)
        frames = []
        for start in range(0, len(samples), 320):
            frames += stream.push(samples[start:start + 320])
        frames += stream.finish()
        live = np.stack([f.landmarks if hasattr(f, "landmarks") else f[2] for f in frames])
        gap[name] = (np.abs(offline[:, 66, 1] - offline[:, 62, 1]), np.abs(live[:, 66, 1] - live[:, 62, 1]))
    off_plain, off_gain = gap["plain"][0], gap["gain"][0]
    # The lip repair and smoothing are (nearly) linear here; the gap's spread scales with the gain.
    assert off_gain.std() / off_plain.std() == pytest.approx(1.5, rel=0.05)
    live_plain, live_gain = gap["plain"][1], gap["gain"][1]
    late = slice(len(live_plain) // 2, None)  # after the first ~5 s
    assert live_gain[late].std() / live_plain[late].std() == pytest.approx(1.5, rel=0.05)
