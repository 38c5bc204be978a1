"""The animation engine on tiny random networks and synthetic features (fast, no weights needed).

The full-size, original-layout proof lives in test_animation_original_e2e.py; these tests
cover what the default mode changes: whole-audio coverage, long-audio blocks without seams,
seeded blinks, the motion controls and the frame rate.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import convolve1d

from makeittalk.animation.blinks import INTERNAL_FPS
from makeittalk.animation.engine import (
    AnimationConfig,
    LandmarkAnimator,
    crossfade,
    even_starts,
    run_speaker_branch,
    speaker_blocks,
)
from makeittalk.animation.resample import frame_count
from makeittalk.audio import AudioFeatures
from makeittalk.errors import MakeItTalkError, MissingStageError
from makeittalk.face import StaticFace
from makeittalk.models import (
    AutoVC,
    AutoVCConfig,
    ContentBranch,
    ContentBranchConfig,
    SpeakerBranch,
    SpeakerBranchConfig,
)
from makeittalk.resources import standard_face

SAMPLE_RATE = 16000


def synthetic_features(seconds: float, seed: int = 0) -> AudioFeatures:
    """Smooth random 'speech' features of the right shapes and ranges (no audio needed)."""
    samples = int(round(seconds * SAMPLE_RATE))
    frames = samples // 256 + 1
    rng = np.random.default_rng(seed)
    kernel = np.hanning(15) / np.hanning(15).sum()
    mel = convolve1d(rng.normal(size=(frames, 80)), kernel, axis=0, mode="nearest") * 0.8 + 0.45
    bins = np.clip(np.round(convolve1d(rng.normal(size=frames), kernel, mode="nearest") * 200 + 128), 1, 256).astype(np.int64)
    bins[rng.random(frames) < 0.3] = 0
    onehot = np.zeros((frames, 257), dtype=np.float32)
    onehot[np.arange(frames), bins] = 1
    emb = np.abs(rng.normal(size=256)).astype(np.float32)
    emb /= np.linalg.norm(emb)
    return AudioFeatures(
        mel=mel, f0_onehot=onehot, speaker_embedding=emb, autovc_source_embedding=emb,
        normalized_samples=np.zeros(samples, np.int16), seconds=samples / SAMPLE_RATE, f0_bins=bins,
        loudness_gain_db=0.0, speech_detected=True,
    )


@pytest.fixture(scope="module")
def animator() -> LandmarkAnimator:
    torch.manual_seed(0)
    return LandmarkAnimator(
        AutoVC(AutoVCConfig.tiny()),
        ContentBranch(ContentBranchConfig.tiny()),
        SpeakerBranch(SpeakerBranchConfig.tiny()),
        weights_name="tiny-random",
    )


@pytest.fixture(scope="module")
def face() -> StaticFace:
    # The standard face drawn ~160 px wide in a 256x256 portrait.
    pixels = standard_face() * np.array([-100.0, -100.0, 1.0]) + np.array([128.0, 110.0, 0.0])
    return StaticFace.from_landmarks(pixels)


def eyelid_gap(pixels: np.ndarray) -> np.ndarray:
    """Mean lower-minus-upper eyelid distance per frame (pixels)."""
    return np.mean([pixels[:, low, 1] - pixels[:, up, 1] for up, low in ((37, 41), (38, 40), (43, 47), (44, 46))], axis=0)


# ---------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("seconds", [0.1, 0.15, 0.3, 0.45, 1.0, 2.7])
@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0, 62.5])
def test_default_mode_covers_the_whole_audio(animator, face, seconds, fps):
    feats = synthetic_features(seconds)
    result = animator.run(feats, face, AnimationConfig(fps=fps))
    seq = result.sequence
    # One internal frame per mel frame: the last one is at most 16 ms before the audio ends.
    assert result.pixels.shape[0] == feats.num_frames
    assert (feats.num_frames - 1) / INTERNAL_FPS <= feats.seconds < feats.num_frames / INTERNAL_FPS
    assert seq.num_frames == frame_count(feats.seconds, fps)
    assert seq.times[-1] < feats.seconds <= seq.num_frames / fps + 1e-9
    assert seq.landmarks.shape == (seq.num_frames, 68, 3) and np.all(np.isfinite(seq.landmarks))
    assert seq.fps == fps and seq.audio_seconds == feats.seconds and seq.weights == "tiny-random"


def test_original_mode_keeps_the_original_frames(animator, face):
    # T - 18 frames; a tail segment of fewer than 10 windows is dropped, as the original does.
    for windows, expected in [(10, 10), (300, 300), (512, 512), (512 + 9, 512), (512 + 10, 522), (1030, 1024)]:
        samples = (windows + 18 - 1) * 256  # T = samples // 256 + 1 = windows + 18
        feats = synthetic_features(samples / SAMPLE_RATE)
        assert feats.num_frames == windows + 18
        result = animator.run(feats, face, AnimationConfig(compat="original", fps=62.5, blink=False))
        assert result.sequence.num_frames == expected == result.pixels.shape[0]
        np.testing.assert_array_equal(result.sequence.landmarks, result.pixels)


def test_original_mode_rejects_what_the_original_cannot_do(animator, face):
    with pytest.raises(MakeItTalkError, match="too short for compat"):
        animator.run(synthetic_features(0.3), face, AnimationConfig(compat="original"))


def test_original_mode_other_rates_sample_the_same_span(animator, face):
    feats = synthetic_features(3.0)
    native = animator.run(feats, face, AnimationConfig(compat="original", fps=62.5, blink=False)).sequence
    at25 = animator.run(feats, face, AnimationConfig(compat="original", fps=25.0, blink=False)).sequence
    assert at25.times[-1] <= native.times[-1] < at25.times[-1] + 1 / 25
    # Every second 25 fps frame falls exactly on a 62.5 fps frame (0.08 s = 5 internal frames).
    np.testing.assert_allclose(at25.landmarks[::2], native.landmarks[::5][: len(at25.landmarks[::2])], atol=1e-9)


# ---------------------------------------------------------------------------- long audio


def test_speaker_blocks_cover_and_overlap():
    assert speaker_blocks(100) == [(0, 100)]
    assert speaker_blocks(512) == [(0, 512)]
    for n in (513, 900, 1300, 5000, 37501):
        blocks = speaker_blocks(n, 512, 128)
        assert blocks[0][0] == 0 and blocks[-1][1] == n
        assert all(e - s == 512 for s, e in blocks)
        overlaps = [blocks[i][1] - blocks[i + 1][0] for i in range(len(blocks) - 1)]
        assert min(overlaps) >= 128
        assert max(overlaps) - min(overlaps) <= 1  # evenly spread
    assert even_starts(4096, 4096, 256) == [0]


def test_crossfade_is_a_partition_of_unity():
    starts = [s for s, _ in speaker_blocks(1500)]
    pieces = [np.full((512, 3), 7.0) for _ in starts]
    np.testing.assert_allclose(crossfade(pieces, starts, 1500), 7.0)
    # Pieces that are windows of one signal blend back into that signal.
    signal = np.sin(np.arange(1500) / 30.0)[:, None]
    np.testing.assert_allclose(crossfade([signal[s : s + 512] for s in starts], starts, 1500), signal, atol=1e-12)


def test_shared_audio_encoding_matches_the_network_forward(animator):
    mel = torch.from_numpy(np.random.default_rng(0).normal(size=(1317, 80)).astype(np.float32))
    blocks = speaker_blocks(1300)
    emb = np.abs(np.random.default_rng(1).normal(size=256)).astype(np.float32)
    plain = run_speaker_branch(animator.speaker_branch, mel, emb, blocks)
    shared = run_speaker_branch(animator.speaker_branch, mel, emb, blocks, share_audio_encoding=True, window_batch=100)
    for a, b in zip(plain, shared):
        np.testing.assert_allclose(a, b, atol=1e-6)


def seam_velocity_ratio(pixels: np.ndarray, seams: np.ndarray) -> tuple[float, float]:
    """(mean velocity at the seams / mean elsewhere, max at seams / 99th percentile elsewhere)."""
    velocity = np.abs(np.diff(pixels[:, :, :2], axis=0)).mean(axis=(1, 2))  # px per internal frame
    seams = seams[(seams >= 0) & (seams < len(velocity))]
    elsewhere = np.ones(len(velocity), bool)
    for s in seams:
        elsewhere[max(0, s - 3) : s + 4] = False
    return (
        float(velocity[seams].mean() / velocity[elsewhere].mean()),
        float(velocity[seams].max() / np.percentile(velocity[elsewhere], 99)),
    )


def test_ten_minutes_without_seams(animator, face):
    """10 minutes: no periodic jumps at block borders (the original jumps every 512 frames)."""
    feats = synthetic_features(600.0, seed=5)
    default = animator.run(feats, face, AnimationConfig(fps=62.5, blink=False))
    n = default.pixels.shape[0]
    assert n == feats.num_frames == 37501
    blocks = speaker_blocks(n)
    # Every place a block starts or ends (the crossfade hides them), plus the AutoVC chunk borders.
    borders = {s for s, _ in blocks[1:]} | {e - 1 for _, e in blocks[:-1]} | set(range(4096 - 1, n, 4096 - 256))
    mean_ratio, max_ratio = seam_velocity_ratio(default.pixels, np.array(sorted(borders)))
    assert mean_ratio < 1.2 and max_ratio < 1.5, (mean_ratio, max_ratio)

    # The same measure sees the original's seams, so it is sensitive enough.
    original = animator.run(feats, face, AnimationConfig(fps=62.5, blink=False, compat="original"))
    o_mean, o_max = seam_velocity_ratio(original.pixels, np.arange(512, original.pixels.shape[0], 512) - 1)
    assert o_mean > 1.5 and o_max > 1.5, (o_mean, o_max)


# ---------------------------------------------------------------------------- blinks


def test_same_seed_same_output(animator, face):
    feats = synthetic_features(9.0)
    a = animator.run(feats, face, AnimationConfig(seed=11)).sequence.landmarks
    b = animator.run(feats, face, AnimationConfig(seed=11)).sequence.landmarks
    np.testing.assert_array_equal(a, b)


def test_seed_changes_only_the_blinks(animator, face):
    feats = synthetic_features(9.0)
    a = animator.run(feats, face, AnimationConfig(seed=1, fps=62.5))
    b = animator.run(feats, face, AnimationConfig(seed=2, fps=62.5))
    assert a.blink_frames and b.blink_frames and a.blink_frames != b.blink_frames
    non_eye = [i for i in range(68) if i not in (37, 38, 40, 41, 43, 44, 46, 47)]
    np.testing.assert_array_equal(a.pixels[:, non_eye], b.pixels[:, non_eye])
    assert not np.array_equal(a.pixels, b.pixels)


def test_blinks_off_and_rate(animator, face):
    feats = synthetic_features(30.0)
    off = animator.run(feats, face, AnimationConfig(blink=False, fps=62.5))
    assert off.blink_frames == []
    # Without blinks the eyelid gap only carries the (small) network motion; blinks close it.
    on = animator.run(feats, face, AnimationConfig(blink_rate=20.0, fps=62.5))
    assert 8 <= len(on.blink_frames) <= 12
    gap_on, gap_off = eyelid_gap(on.pixels), eyelid_gap(off.pixels)
    for t in on.blink_frames:
        assert gap_on[t] < 0.5 * gap_off[t]
    more = animator.run(feats, face, AnimationConfig(blink_rate=40.0, fps=62.5))
    assert len(more.blink_frames) > len(on.blink_frames)
    assert animator.run(feats, face, AnimationConfig(blink_rate=0.0)).blink_frames == []


def test_original_mode_blinks_follow_the_seeded_original_stream(animator, face):
    feats = synthetic_features((269 + 17) * 256 / SAMPLE_RATE)  # T = 287, as the fixture clip
    result = animator.run(feats, face, AnimationConfig(compat="original", seed=0))
    assert result.blink_frames == [30, 164]


# ---------------------------------------------------------------------------- motion controls


def test_still_removes_head_motion_but_keeps_lips_and_blinks(animator, face, monkeypatch):
    feats = synthetic_features(6.0)
    moving = animator.run(feats, face, AnimationConfig(fps=62.5))
    reference = animator.run(feats, face, AnimationConfig(fps=62.5, pose_scale=0.0))

    def refuse(*args, **kwargs):
        raise AssertionError("the speaker branch must not run when still=True")

    monkeypatch.setattr(animator.speaker_branch, "forward", refuse)
    still = animator.run(feats, face, AnimationConfig(fps=62.5, still=True))
    monkeypatch.undo()
    np.testing.assert_array_equal(still.pixels, reference.pixels)
    np.testing.assert_array_equal(still.delta_speaker_raw, 0)
    # Head motion: how much the rigid outline (jaw, brows, nose) moves.
    outline = list(range(0, 36))
    head_still = still.pixels[:, outline, :2].std(axis=0).mean()
    head_moving = moving.pixels[:, outline, :2].std(axis=0).mean()
    assert head_still < 0.5 * head_moving
    # The lips still move and the eyes still blink.
    mouth_open = still.pixels[:, 66, 1] - still.pixels[:, 62, 1]
    assert mouth_open.std() > 0.05
    assert still.blink_frames == moving.blink_frames and still.blink_frames


def test_pose_scale_scales_the_speaker_branch(animator, face):
    feats = synthetic_features(4.0)
    runs = {s: animator.run(feats, face, AnimationConfig(pose_scale=s, blink=False)).landmarks_normalized for s in (0.0, 1.0, 2.0)}
    # Outside the mouth the chain is linear in Δs (the lip fix only touches the mouth).
    cols = slice(0, 48 * 3)
    np.testing.assert_allclose(runs[2.0][:, cols] - runs[0.0][:, cols], 2 * (runs[1.0][:, cols] - runs[0.0][:, cols]), atol=2e-6)
    assert np.abs(runs[1.0][:, cols] - runs[0.0][:, cols]).max() > 1e-3


def test_lip_scale_scales_the_mouth(animator, face):
    feats = synthetic_features(4.0)
    q_mouth = face.q[48:, :2]
    closed = animator.run(feats, face, AnimationConfig(still=True, lip_scale=0.0, blink=False))
    mouth = closed.landmarks_normalized.reshape(-1, 68, 3)[:, 48:, :2]
    np.testing.assert_allclose(mouth, np.broadcast_to(q_mouth, mouth.shape), atol=1e-6)
    spread = {}
    for s in (1.0, 2.0):
        run = animator.run(feats, face, AnimationConfig(still=True, lip_scale=s, blink=False))
        spread[s] = run.landmarks_normalized.reshape(-1, 68, 3)[:, 48:, :2].std(axis=0).mean()
    assert spread[1.0] > 1e-4 and spread[2.0] > 1.5 * spread[1.0]


def test_config_validation():
    with pytest.raises(MakeItTalkError):
        AnimationConfig(compat="2020")
    with pytest.raises(MakeItTalkError):
        AnimationConfig(fps=0)
    with pytest.raises(MakeItTalkError):
        AnimationConfig(pose_scale=-1)
    assert AnimationConfig(still=True, pose_scale=3).amp_pos == 0.0
    assert AnimationConfig(pose_scale=0.7).amp_pos == pytest.approx(0.35)
    assert AnimationConfig(lip_scale=0.5).amp_lip == 1.0


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5])
def test_seeds_numpy_refuses_are_a_clear_error(seed):
    with pytest.raises(MakeItTalkError, match="seed must be a whole number from 0 to 4294967295"):
        AnimationConfig(seed=seed)


def test_largest_seed_works_in_both_modes(animator, face):
    feats = synthetic_features(2.0)
    for compat in (None, "original"):
        animator.run(feats, face, AnimationConfig(seed=2**32 - 1, compat=compat))


def test_pixel_face_gets_the_original_tweaks(animator, face):
    feats = synthetic_features(1.0)
    pixels = face.denormalize(face.q)
    from makeittalk.face import apply_original_tweaks

    a = animator.run(feats, pixels, AnimationConfig(blink=False)).sequence.landmarks
    b = animator.run(feats, StaticFace.from_landmarks(apply_original_tweaks(pixels)), AnimationConfig(blink=False)).sequence.landmarks
    np.testing.assert_array_equal(a, b)


def test_animate_keywords(animator, face):
    seq = animator.animate(synthetic_features(2.0), face, fps=30.0, seed=4, image_size=(256, 256))
    assert seq.fps == 30.0 and seq.seed == 4 and seq.image_size == (256, 256) and seq.compat is None
    assert seq.num_frames == frame_count(2.0, 30.0)


# ---------------------------------------------------------------------------- weights


def test_missing_default_weights_name_the_fix(no_shipped_weights):
    with pytest.raises(MissingStageError) as info:
        LandmarkAnimator.from_pretrained("default", device="cpu")
    message = str(info.value)
    assert "import-original" in message and "reinstalling makeittalk" in message
    assert "autovc" in message and "content_branch" in message and "speaker_branch" in message


def test_partial_weight_set_names_the_missing_networks():
    from makeittalk.weights.store import write_weight_set

    torch.manual_seed(0)
    write_weight_set("partial", {"content_branch": ContentBranch(ContentBranchConfig.tiny())}, source="test", licence="none")
    with pytest.raises(MissingStageError) as info:
        LandmarkAnimator.from_pretrained("partial", device="cpu")
    message = str(info.value)
    assert "autovc" in message and "speaker_branch" in message and "content_branch," not in message
    assert "import-original" in message


@pytest.mark.parametrize("fps", [0, -25, float("nan"), 1e308, 241])
def test_unusable_frame_rates_are_refused(fps):
    from makeittalk.animation.engine import AnimationConfig
    from makeittalk.errors import MakeItTalkError

    with pytest.raises(MakeItTalkError, match="fps must be"):
        AnimationConfig(fps=fps)
