"""Detected points that do not fit a drawn face are reported with the way to fix them."""

from __future__ import annotations

import numpy as np
import pytest

from renderer.plausibility import cartoon_landmark_problems
from renderer.synthetic import draw_cartoon_face


def with_eyes_scaled(points: np.ndarray, sx: float, sy: float) -> np.ndarray:
    out = points.copy()
    for start in (36, 42):
        centre = out[start : start + 6, :2].mean(0)
        out[start : start + 6, :2] = centre + (out[start : start + 6, :2] - centre) * [sx, sy]
    return out


@pytest.mark.parametrize("size", [256, 512])
def test_true_and_detected_points_pass(size):
    from makeittalk.face import detect_landmarks

    toon = draw_cartoon_face(size, transparent=False)
    assert cartoon_landmark_problems(toon.image, toon.landmarks) == []
    detected = detect_landmarks(np.ascontiguousarray(toon.image[..., :3]), "dlib").landmarks
    assert cartoon_landmark_problems(toon.image, detected) == []


@pytest.mark.parametrize("sx, sy", [(0.45, 0.45), (0.45, 1.0)])  # a ring around the iris
def test_eye_points_on_the_iris_are_reported(sx, sy):
    toon = draw_cartoon_face(512, transparent=False)
    problems = cartoon_landmark_problems(toon.image, with_eyes_scaled(toon.landmarks, sx, sy))
    assert len(problems) == 2  # both eyes
    assert all("makeittalk app" in p and "--landmarks" in p for p in problems)


def test_a_mouth_out_of_proportion_is_reported():
    toon = draw_cartoon_face(512, transparent=False)
    points = toon.landmarks.copy()
    centre = points[48:68, :2].mean(0)
    points[48:68, :2] = centre + (points[48:68, :2] - centre) * 2.5
    problems = cartoon_landmark_problems(toon.image, points)
    assert len(problems) == 1 and "mouth" in problems[0]


def test_puppet_create_warns_about_implausible_detected_points(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from makeittalk.cli.main import main
    from makeittalk.face import detect as detect_module

    toon = draw_cartoon_face(512, transparent=True)
    image = tmp_path / "toon.png"
    Image.fromarray(toon.image, "RGBA").save(image)
    real = detect_module.detect_landmarks

    def on_the_iris(*args, **kwargs):
        detection = real(*args, **kwargs)
        detection.landmarks[:] = with_eyes_scaled(detection.landmarks, 0.45, 0.45)
        return detection

    monkeypatch.setattr(detect_module, "detect_landmarks", on_the_iris)
    monkeypatch.setattr("makeittalk.face.detect_landmarks", on_the_iris)
    assert main(["puppet", "create", str(image), "-o", str(tmp_path / "puppet")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: the ") >= 2 and "iris" in err and "makeittalk app" in err
