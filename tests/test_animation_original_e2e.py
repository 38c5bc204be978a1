"""The proof: the whole chain in compat="original" mode against the original release's run.

Original-layout checkpoints are rebuilt from the reference manifests (rule-filled weights),
imported through the user's path (`makeittalk weights import-original DIR --name NAME`) and
the chain runs on speech_16k.wav + portrait.png. Every stored intermediate must match within
the tolerances of reference README §8.2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from makeittalk.animation.engine import AnimationConfig, LandmarkAnimator
from makeittalk.cli.main import main as cli_main
from original_checkpoints import write_original_checkpoint
from tolerances import MEL_NORM, NETWORK, NETWORK_PIXELS, NORMALIZED_LANDMARKS, assert_close

SET_NAME = "original-rulefilled"
CHECKPOINTS = ("ckpt_autovc", "ckpt_content_branch", "ckpt_speaker_branch")


@pytest.fixture(scope="module")
def weights_home(reference_dir, tmp_path_factory) -> Path:
    """A MAKEITTALK_HOME holding the rule-filled original checkpoints, imported as the user would."""
    home = tmp_path_factory.mktemp("home_original")
    ckpts = tmp_path_factory.mktemp("original_ckpts")
    for name in CHECKPOINTS:
        write_original_checkpoint(reference_dir / f"{name}.manifest.json", ckpts / f"{name}.pth")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAKEITTALK_HOME", str(home))
        assert cli_main(["weights", "import-original", str(ckpts), "--name", SET_NAME]) == 0
    return home


@pytest.fixture(scope="module")
def e2e(reference_dir):
    with np.load(reference_dir / "e2e.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def runs(weights_home, reference_dir, e2e):
    """Both compat runs (blinks off, seeded blinks) from the audio file and the portrait."""
    from makeittalk.face import detect_landmarks

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAKEITTALK_HOME", str(weights_home))
        animator = LandmarkAnimator.from_pretrained(SET_NAME, device="cpu")
    # The original's detector was replaced by dlib for the reference run (README §4.1).
    detection = detect_landmarks(reference_dir / "portrait.png", "dlib")
    features = animator.features(reference_dir / "speech_16k.wav")
    out = {"animator": animator, "points": detection.landmarks}
    for blink in (False, True):
        config = AnimationConfig(compat="original", fps=62.5, blink=blink, seed=0)
        out[blink] = animator.run(features, detection.landmarks, config, image_size=(256, 256))
    return out


def test_detected_face_is_the_reference_face(runs, e2e):
    np.testing.assert_array_equal(runs["points"][:, :2], e2e["dlib_landmarks"])


def test_weight_set_name_is_recorded(runs):
    assert runs[False].sequence.weights == SET_NAME


def test_mel_norm(runs, e2e):
    assert runs[False].mel_norm.shape == e2e["mel_norm"].shape == (287, 80)
    assert_close(runs[False].mel_norm, e2e["mel_norm"].astype(runs[False].mel_norm.dtype), MEL_NORM, "e2e mel_norm")


def test_branch_outputs(runs, e2e):
    result = runs[False]
    assert result.delta_speaker_raw.shape == result.delta_content_raw.shape == (269, 204)
    assert_close(result.delta_speaker_raw, e2e["delta_speaker_raw"], NETWORK, "e2e delta_speaker_raw")
    assert_close(result.delta_content_raw, e2e["delta_content_raw"], NETWORK, "e2e delta_content_raw")


def test_final_normalised_landmarks(runs, e2e):
    normalized = runs[False].landmarks_normalized
    assert_close(normalized, e2e["landmarks_final"].astype(normalized.dtype), NORMALIZED_LANDMARKS, "e2e landmarks_final")


def test_pixel_landmarks_without_blinks(runs, e2e):
    result = runs[False]
    assert result.blink_frames == []
    assert_close(result.pixels, e2e["pix_final_noblink"], NETWORK_PIXELS, "e2e pix_final_noblink")
    # At 62.5 fps the exported frames are exactly the original's frames: same count, same times.
    seq = result.sequence
    assert seq.num_frames == 269 and seq.fps == 62.5 and seq.compat == "original"
    np.testing.assert_array_equal(seq.landmarks, result.pixels)
    np.testing.assert_allclose(seq.times, np.arange(269) * 0.016)


def test_pixel_landmarks_with_seeded_blinks(runs, e2e):
    result = runs[True]
    assert result.blink_frames == e2e["blink_frames_seeded"].tolist() == [30, 164]
    assert_close(result.pixels, e2e["pix_final_blink_seeded"], NETWORK_PIXELS, "e2e pix_final_blink_seeded")
    # The first blink's ramp starts at frame 21; the 15-frame smoothing reaches 7 frames back.
    np.testing.assert_array_equal(result.pixels[:14], runs[False].pixels[:14])
    assert not np.array_equal(result.pixels[14:21], runs[False].pixels[14:21])


def test_default_mode_on_the_same_input(runs, reference_dir):
    """The default mode covers all 4.58 s and differs from compat only where it should."""
    animator = runs["animator"]
    features = animator.features(reference_dir / "speech_16k.wav")
    result = animator.run(features, runs["points"], AnimationConfig(fps=62.5, blink=False))
    assert result.pixels.shape[0] == 287  # one frame per mel frame, T = 287
    assert result.sequence.num_frames == 287 and result.sequence.times[-1] < features.seconds
    # The first 269 windows are the same windows as compat's (the padding only adds windows).
    np.testing.assert_allclose(result.delta_content_raw[:269], runs[False].delta_content_raw, atol=1e-6)


@pytest.mark.slow
def test_ten_minutes_full_size_without_seams(weights_home, monkeypatch):
    """The seam measure of test_animation_engine on the full-size rule-filled networks (~1 min)."""
    from test_animation_engine import seam_velocity_ratio, synthetic_features

    from makeittalk.animation.engine import speaker_blocks
    from makeittalk.face import StaticFace
    from makeittalk.resources import standard_face

    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))
    animator = LandmarkAnimator.from_pretrained(SET_NAME, device="cpu")
    face = StaticFace.from_landmarks(standard_face() * np.array([-100.0, -100.0, 1.0]) + np.array([128.0, 110.0, 0.0]))
    feats = synthetic_features(600.0, seed=5)
    default = animator.run(feats, face, AnimationConfig(fps=62.5, blink=False))
    n = default.pixels.shape[0]
    blocks = speaker_blocks(n)
    borders = {s for s, _ in blocks[1:]} | {e - 1 for _, e in blocks[:-1]} | set(range(4096 - 1, n, 4096 - 256))
    mean_ratio, max_ratio = seam_velocity_ratio(default.pixels, np.array(sorted(borders)))
    assert mean_ratio < 1.2 and max_ratio < 1.5, (mean_ratio, max_ratio)
    original = animator.run(feats, face, AnimationConfig(fps=62.5, blink=False, compat="original"))
    o_mean, o_max = seam_velocity_ratio(original.pixels, np.arange(512, original.pixels.shape[0], 512) - 1)
    assert o_mean > 1.5 and o_max > 1.5, (o_mean, o_max)
