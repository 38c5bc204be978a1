"""`makeittalk data features|face`: the front end and the detector on the user's own files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tolerances import EMBEDDING, MEL, assert_close, assert_f0_bins_match_reference

from makeittalk.cli.main import main


def test_features_of_a_user_file_match_the_original_front_end(reference_dir, tmp_path, capsys):
    out = tmp_path / "speech.npz"
    assert main(["data", "features", str(reference_dir / "speech_16k.wav"), "-o", str(out)]) == 0
    expected = np.load(reference_dir / "audio_frontend.npz")
    with np.load(out) as saved:
        reference = {k: expected[k] for k in expected.files}
        assert_close(saved["mel"], reference["mel"], MEL, "data features mel")
        assert_f0_bins_match_reference(np.argmax(saved["f0_onehot"], axis=1), reference, "data features F0 bins")
        np.testing.assert_array_equal(saved["normalized_samples"], reference["wav_norm_int16"])  # integer arithmetic
        assert_close(saved["speaker_embedding"], reference["emb_speaker_branch"], EMBEDDING, "data features embedding")
        assert_close(saved["autovc_source_embedding"], reference["emb_autovc_source"], EMBEDDING, "data features AutoVC embedding")
    assert "287 frames" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*partial*"))


def test_face_of_a_user_file_matches_the_reference_detection(reference_dir, tmp_path):
    out = tmp_path / "face.json"
    assert main(["data", "face", str(reference_dir / "portrait.png"), "-o", str(out), "--detector", "dlib"]) == 0
    document = json.loads(out.read_text())
    expected = np.load(reference_dir / "e2e.npz")
    assert document["detector"] == "dlib" and document["image_size"] == [256, 256]
    np.testing.assert_array_equal(np.array(document["landmarks"])[:, :2], expected["dlib_landmarks"])
    assert document["normalized"]["scale"] == pytest.approx(float(expected["scale"]), abs=1e-15)


def test_outputs_are_never_overwritten_and_bad_inputs_fail_cleanly(reference_dir, tmp_path, capsys):
    out = tmp_path / "face.json"
    out.write_text("mine")
    assert main(["data", "face", str(reference_dir / "portrait.png"), "-o", str(out)]) == 2
    assert out.read_text() == "mine"
    assert "already exists" in capsys.readouterr().err

    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("hello")
    assert main(["data", "features", str(not_audio), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert str(not_audio) in err and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()
