"""`makeittalk demo` runs every stage it can and names the ones whose weights are missing."""

from __future__ import annotations

from makeittalk.cli.main import main
from makeittalk.pipelines.demo import demo_portrait, demo_speech_path


def test_demo_assets_are_generated_or_bundled():
    portrait = demo_portrait()
    assert portrait.shape == (400, 400, 3) and portrait.dtype.name == "uint8"
    assert demo_speech_path().is_file()


def test_demo_without_default_weights_reports_the_missing_stage(no_shipped_weights, tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert main(["demo", "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "[     ok] audio front end" in err
    assert "[     ok] face landmarks" in err
    assert "[MISSING] landmark animation" in err and "import-original" in err
    assert "No video was written" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_the_demo_mouth_opens_with_the_sound_at_lag_0():
    """The first video every user sees: the mouth opening follows the loudness without a lead.

    The earlier espeak-ng clip made the default networks open the mouth 270 ms before the sound
    (r = -0.07 at lag 0), and wider in pauses than in speech; flite's kal16 voice does not.
    """
    import numpy as np

    from makeittalk.animation import LandmarkAnimator
    from makeittalk.audio import load_audio
    from makeittalk.evaluation.metrics import mouth_opening
    from makeittalk.face import detect_landmarks

    animator = LandmarkAnimator.from_pretrained("default", device="cpu")
    wave = load_audio(demo_speech_path())
    face = animator.static_face(detect_landmarks(demo_portrait()).landmarks)
    sequence = animator.animate(animator.features(wave), face, fps=62.5, still=True, blink=False,
                                image_size=(400, 400))
    opening = mouth_opening(sequence.landmarks)
    samples = wave.samples.astype(np.float64) / 32768
    hop = 256  # one landmark frame per 256 samples at 62.5 fps
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(samples, (0, 512)), 512)[::hop][: len(opening)]
    loudness_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    r = np.corrcoef(opening, loudness_db)[0, 1]
    assert r > 0.2, r
    speaking = loudness_db > loudness_db.max() - 30
    assert opening[speaking].mean() > opening[~speaking].mean()
