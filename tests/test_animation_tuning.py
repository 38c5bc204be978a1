"""Weight-set tuning of the post-processing (weightset.json "animation")."""

from __future__ import annotations

import numpy as np
import pytest

from makeittalk.animation import postprocess as pp
from makeittalk.animation.engine import _as_static_face
from makeittalk.animation.tuning import check_tuning as _check_tuning
from makeittalk.errors import MakeItTalkError
from makeittalk.resources import standard_face


def _similarity_motion(q: np.ndarray, angle: float, scale: float, shift) -> np.ndarray:
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    xy = q[:, :2]
    delta = np.zeros((68, 3))
    delta[:, :2] = scale * xy @ rot.T + shift - xy
    return delta.reshape(204)


def test_rigid_speaker_delta_keeps_head_motion_and_drops_distortion():
    q = standard_face()
    face_id = q.reshape(1, 204).astype(np.float32)
    motion = _similarity_motion(q, 0.08, 1.05, [0.03, -0.02])
    distorted = motion.copy().reshape(68, 3)
    distorted[48:68, 1] += 0.05  # a mouth opened by the speaker branch
    out = pp.rigid_speaker_delta(np.stack([motion, distorted.reshape(204)]), face_id)
    np.testing.assert_allclose(out[0], motion, atol=1e-6)
    # the distortion is gone: the mouth points move with the head, not on their own
    fitted = out[1].reshape(68, 3)
    gap = lambda d: (q[66, 1] + d[66, 1]) - (q[62, 1] + d[62, 1])  # noqa: E731
    assert abs(gap(fitted) - gap(motion.reshape(68, 3))) < 1e-3
    assert np.allclose(out[:, 2::3], 0.0)


def test_unknown_or_mistyped_tuning_is_refused():
    assert _check_tuning({"amp_lip": 1, "rigid_pose": True}) == {"amp_lip": 1, "rigid_pose": True}
    with pytest.raises(MakeItTalkError, match="amp_lips"):
        _check_tuning({"amp_lips": 1.0})
    with pytest.raises(MakeItTalkError, match="face_tweaks"):
        _check_tuning({"face_tweaks": "no"})


def test_face_tweaks_off_keeps_the_portrait_rest_pose():
    pixels = standard_face()[:, :2] * 100 + 200
    tweaked = _as_static_face(pixels, True)
    plain = _as_static_face(pixels, False)
    assert not np.allclose(tweaked.q, plain.q)
    np.testing.assert_allclose(plain.denormalize(plain.q)[:, :2], pixels, atol=1e-9)


def test_content_delay_gives_each_frame_the_window_d_frames_earlier():
    """With content_delay_frames d, landmark frame k is predicted from the window that starts at
    mel frame k - d (frames before 0 repeat the first): the content branch then hears d frames
    of audio before the frame it predicts."""
    import torch

    from makeittalk.animation.engine import delay_content_windows, mel_windows, pad_for_windows

    mel = np.random.default_rng(0).standard_normal((40, 80))
    padded = torch.from_numpy(pad_for_windows(mel).astype(np.float32))
    delayed = delay_content_windows(padded, 8)
    plain_windows, delayed_windows = mel_windows(padded, 0, 40), mel_windows(delayed, 0, 40)
    assert torch.equal(delayed_windows[8:], plain_windows[:32])
    assert torch.equal(delayed_windows[0, :8], padded[:1].expand(8, -1))  # the start repeats frame 0
    assert torch.equal(delayed_windows[0, 8:], padded[:10])
    assert delay_content_windows(padded, 0) is padded


def test_content_delay_is_checked():
    assert _check_tuning({"content_delay_frames": 8}) == {"content_delay_frames": 8}
    for bad in (8.0, True, 18, -1):
        with pytest.raises(MakeItTalkError, match="content_delay_frames"):
            _check_tuning({"content_delay_frames": bad})


def test_content_features_choice_is_checked():
    assert _check_tuning({"content_features": "source"}) == {"content_features": "source"}
    for bad in ("mel", 1, True):
        with pytest.raises(MakeItTalkError, match="content_features"):
            _check_tuning({"content_features": bad})


@pytest.fixture(scope="module")
def default_animator():
    from makeittalk.animation.engine import LandmarkAnimator

    return LandmarkAnimator.from_pretrained("default")


def _forward_counts(animator):
    """How often AutoVC's encoder and the speaker branch run (their chains call submodules, not the forward)."""
    counts = {"autovc": 0, "speaker_branch": 0}
    modules = {"autovc": animator.autovc.encoder, "speaker_branch": animator.speaker_branch.head}
    hooks = [module.register_forward_hook(lambda *_, name=name: counts.__setitem__(name, counts[name] + 1))
             for name, module in modules.items()]
    return counts, hooks


def test_the_default_set_runs_only_the_content_branch(default_animator):
    """amp_pos 0 with content_features source: no AutoVC, no speaker branch, no voice features."""
    from makeittalk.animation.engine import AnimationConfig
    from makeittalk.pipelines.demo import demo_speech_path

    assert not default_animator.uses_voice
    feats = default_animator.features(demo_speech_path())
    assert not feats.has_voice and feats.speaker_embedding is None and feats.f0_onehot is None
    counts, hooks = _forward_counts(default_animator)
    try:
        result = default_animator.run(feats, default_animator.static_face(standard_face()[:, :2] * 100 + 200),
                                      AnimationConfig())
    finally:
        for hook in hooks:
            hook.remove()
    assert counts == {"autovc": 0, "speaker_branch": 0}
    assert not result.delta_speaker_raw.any()
    # The head still moves: the procedural motion does not need the speaker branch.
    nose = result.pixels[:, 30, :2]
    assert nose.std(axis=0).max() > 0.5


def test_a_set_with_speaker_motion_runs_both_and_needs_the_voice_features(default_animator):
    from makeittalk.animation.engine import AnimationConfig, LandmarkAnimator
    from makeittalk.pipelines.demo import demo_speech_path

    tuning = dict(default_animator.tuning, amp_pos=0.5)
    animator = LandmarkAnimator(default_animator.autovc, default_animator.content_branch,
                                default_animator.speaker_branch, tuning=tuning,
                                speaker_encoder=default_animator.speaker_encoder)
    assert animator.uses_voice
    face = animator.static_face(standard_face()[:, :2] * 100 + 200)
    voiceless = default_animator.features(demo_speech_path())
    with pytest.raises(MakeItTalkError, match="voice=True"):
        animator.run(voiceless, face, AnimationConfig())
    counts, hooks = _forward_counts(animator)
    try:
        result = animator.run(demo_speech_path(), face, AnimationConfig())
    finally:
        for hook in hooks:
            hook.remove()
    assert counts["autovc"] >= 1 and counts["speaker_branch"] >= 1 and result.delta_speaker_raw.any()


def test_live_mode_refuses_a_set_it_would_not_match(default_animator):
    from makeittalk.animation.engine import LandmarkAnimator
    from makeittalk.animation.streaming import StreamConfig, StreamingAnimator

    animator = LandmarkAnimator(default_animator.autovc, default_animator.content_branch,
                                default_animator.speaker_branch, tuning=dict(default_animator.tuning, amp_pos=0.5))
    with pytest.raises(MakeItTalkError, match="amp_pos: 0"):
        StreamingAnimator(animator, standard_face()[:, :2] * 100 + 200, StreamConfig())
