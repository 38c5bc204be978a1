"""Landmark detection on real images: the reference portrait, astronaut() in every mode and size,
several faces, no face, and the face-alignment "weights absent" logic. No mocks, no fake weights."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from makeittalk.errors import FaceNotFoundError, MakeItTalkError, WeightsError
from makeittalk.face import (
    FaceDetectionWarning,
    detect_landmarks,
    dlib_predictor_path,
    face_alignment_weight_names,
    find_face_alignment_weights,
    resolve_detector,
)
from makeittalk.face import detect as detect_module
from makeittalk.resources import standard_face

RIGHT_EYE = list(range(36, 42))
LEFT_EYE = list(range(42, 48))
MOUTH = list(range(48, 68))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()


@pytest.fixture(scope="module")
def baseline(astronaut):
    """dlib on the plain 512x512 RGB astronaut: what every variant is compared with."""
    return detect_landmarks(astronaut)


@pytest.fixture(autouse=True)
def _no_face_alignment_weights(tmp_path_factory, monkeypatch):
    # An empty torch hub so "auto" always means dlib here, whatever the machine has cached.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))


def _assert_plausible(points: np.ndarray, box: tuple[float, float, float, float]) -> None:
    left, top, right, bottom = box
    margin_x, margin_y = 0.2 * (right - left), 0.2 * (bottom - top)
    assert np.all(points[:, 0] >= left - margin_x) and np.all(points[:, 0] <= right + margin_x)
    assert np.all(points[:, 1] >= top - margin_y) and np.all(points[:, 1] <= bottom + margin_y)
    eyes_y = points[RIGHT_EYE + LEFT_EYE, 1].mean()
    assert eyes_y < points[33, 1] < points[MOUTH, 1].mean() < points[8, 1]  # eyes, nose tip, mouth, chin
    assert points[RIGHT_EYE, 0].mean() < points[30, 0] < points[LEFT_EYE, 0].mean()  # subject's right eye on image left
    assert points[16, 0] - points[0, 0] > 0.8 * (right - left)  # the jaw spans the face
    assert points[0, 0] < points[48, 0] < points[54, 0] < points[16, 0]


# ----------------------------------------------------------------------------- reference


def test_reference_portrait_reproduces_fixture_exactly(reference_dir):
    fixture = np.load(reference_dir / "e2e.npz")
    found = detect_landmarks(reference_dir / "portrait.png", detector="dlib")
    assert found.detector == "dlib" and found.num_faces == 1 and found.method == "hog"
    assert found.landmarks.shape == (68, 3) and found.landmarks.dtype == np.float64
    assert np.array_equal(found.landmarks[:, :2], fixture["dlib_landmarks"])
    assert np.array_equal(found.landmarks, fixture["shape_in"])  # z = standard-face z, unscaled
    assert found.z_source == "standard_face"
    assert found.image_size == (256, 256)
    assert found.warnings == []


def test_auto_uses_dlib_without_face_alignment_weights(reference_dir):
    fixture = np.load(reference_dir / "e2e.npz")
    found = detect_landmarks(reference_dir / "portrait.png")
    assert found.detector == "dlib"
    assert np.array_equal(found.landmarks[:, :2], fixture["dlib_landmarks"])


# ----------------------------------------------------------------------------- astronaut


def test_full_size_astronaut(baseline):
    assert baseline.detector == "dlib" and baseline.num_faces == 1 and baseline.warnings == []
    assert baseline.image_size == (512, 512)
    _assert_plausible(baseline.landmarks, baseline.box)
    assert np.array_equal(baseline.landmarks[:, 2], standard_face()[:, 2])


def test_detector_models_are_cached(astronaut, baseline):
    first = detect_module._dlib_models()
    detect_landmarks(astronaut)
    assert detect_module._dlib_models() is first


def _save_mode(astronaut: np.ndarray, kind: str, folder) -> str:
    image = Image.fromarray(astronaut)
    if kind == "rgba":
        alpha = np.full(astronaut.shape[:2], 255, dtype=np.uint8)
        alpha[:, :120] = 0  # transparent background strip beside the face
        alpha[380:, :] = 100
        path = folder / "rgba.png"
        Image.fromarray(np.dstack([astronaut, alpha]), "RGBA").save(path)
    elif kind == "L":
        path = folder / "gray.png"
        image.convert("L").save(path)
    elif kind == "P":
        path = folder / "palette.png"
        image.quantize(colors=256).save(path, transparency=0)
    elif kind == "I;16":
        path = folder / "gray16.png"
        Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257).save(path)
    elif kind == "CMYK":
        path = folder / "cmyk.jpg"
        image.convert("CMYK").save(path, quality=95)
    elif kind == "exif":
        path = folder / "sideways.jpg"
        exif = Image.Exif()
        exif[0x0112] = 8  # stored rotated 90 degrees clockwise; view by rotating it back
        image.transpose(Image.Transpose.ROTATE_270).save(path, quality=95, exif=exif)
    else:
        raise AssertionError(kind)
    return str(path)


@pytest.mark.parametrize("kind", ["rgba", "L", "P", "I;16", "CMYK", "exif"])
def test_every_image_mode_gives_the_same_face(astronaut, baseline, tmp_path, kind):
    path = _save_mode(astronaut, kind, tmp_path)
    if kind == "exif":
        assert Image.open(path).size == (512, 512)
        assert not np.array_equal(np.asarray(Image.open(path).convert("RGB")), astronaut)
    found = detect_landmarks(path)
    assert found.num_faces == 1
    _assert_plausible(found.landmarks, found.box)
    error = np.linalg.norm(found.landmarks[:, :2] - baseline.landmarks[:, :2], axis=1)
    assert error.mean() < 1.5 and error.max() < 5.0, (kind, error.mean(), error.max())


def test_large_image(astronaut, baseline):
    big = np.asarray(Image.fromarray(astronaut).resize((2000, 2000), Image.Resampling.BICUBIC))[:1500]
    found = detect_landmarks(big)
    assert found.image_size == (2000, 1500) and found.num_faces == 1
    _assert_plausible(found.landmarks, found.box)
    scaled = found.landmarks[:, :2] * (512 / 2000)
    error = np.linalg.norm(scaled - baseline.landmarks[:, :2], axis=1)
    assert error.mean() < 2.0 and error.max() < 6.0, (error.mean(), error.max())


def test_small_image(astronaut, baseline):
    top, left, side = 20, 110, 220
    crop = astronaut[top : top + side, left : left + side]
    small = np.asarray(Image.fromarray(crop).resize((100, 100), Image.Resampling.LANCZOS))
    found = detect_landmarks(small)
    assert found.image_size == (100, 100) and found.num_faces == 1
    _assert_plausible(found.landmarks, found.box)
    back = found.landmarks[:, :2] * (side / 100) + [left, top]
    error = np.linalg.norm(back - baseline.landmarks[:, :2], axis=1)
    assert error.mean() < 5.0, error.mean()


def test_tiny_face_found_by_extra_upsampling(astronaut):
    crop = astronaut[20:240, 110:330]
    tiny = np.asarray(Image.fromarray(crop).resize((64, 64), Image.Resampling.LANCZOS))
    found = detect_landmarks(tiny)
    assert found.method == "hog-upsampled"
    _assert_plausible(found.landmarks, found.box)


# ----------------------------------------------------------------------------- several faces / none


def test_two_faces_picks_the_largest_and_warns(astronaut):
    face = Image.fromarray(astronaut[30:222, 129:321])
    canvas = Image.new("RGB", (900, 500), (200, 200, 200))
    canvas.paste(face.resize((150, 150)), (50, 100))
    canvas.paste(face.resize((300, 300)), (450, 100))
    with pytest.warns(FaceDetectionWarning, match="2 faces"):
        found = detect_landmarks(np.asarray(canvas), name="two.png")
    assert found.num_faces == 2
    assert len(found.warnings) == 1 and "largest" in found.warnings[0] and "two.png" in found.warnings[0]
    assert np.all(found.landmarks[:, 0] > 450) and np.all(found.landmarks[:, 0] < 750)
    _assert_plausible(found.landmarks, found.box)


@pytest.mark.parametrize(
    "image", [skdata.coffee(), np.full((300, 400, 3), (90, 160, 200), dtype=np.uint8)], ids=["coffee", "flat"]
)
def test_no_face(image):
    with pytest.raises(FaceNotFoundError) as excinfo:
        detect_landmarks(image, name="nothing.png")
    message = str(excinfo.value)
    assert "nothing.png" in message and "no face" in message
    assert "--face-landmarks FILE" in message and "makeittalk puppet create IMAGE --landmarks FILE" in message


def test_no_face_path_names_the_file(tmp_path):
    path = tmp_path / "coffee.png"
    Image.fromarray(skdata.coffee()).save(path)
    with pytest.raises(FaceNotFoundError, match="coffee.png"):
        detect_landmarks(path)


def test_unknown_detector_is_rejected(astronaut):
    with pytest.raises(MakeItTalkError, match="unknown face detector"):
        detect_landmarks(astronaut, detector="mediapipe")


# ----------------------------------------------------------------------------- dlib model file


def test_dlib_predictor_found_without_importing_face_recognition_models():
    was_imported = "face_recognition_models" in sys.modules
    path = dlib_predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.stat().st_size > 1_000_000
    if not was_imported:
        assert "face_recognition_models" not in sys.modules


def test_dlib_predictor_override_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv(detect_module.DLIB_PREDICTOR_ENV, str(tmp_path / "missing.dat"))
    with pytest.raises(WeightsError, match="missing.dat"):
        dlib_predictor_path()


# ----------------------------------------------------------------------------- face-alignment absent


def test_face_alignment_weight_names_come_from_the_installed_package():
    from face_alignment import api
    from face_alignment.detection.sfd import sfd_detector

    names = face_alignment_weight_names()
    assert names["detector"] == sfd_detector.models_urls["s3fd"].rsplit("/", 1)[1]
    assert names["landmarks"] == api.models_urls["3DFAN-4"].rsplit("/", 1)[1]
    assert names["depth"] == api.models_urls["depth"].rsplit("/", 1)[1]
    assert names["detector"].startswith("s3fd")


def test_auto_falls_back_to_dlib_when_weights_are_absent():
    assert find_face_alignment_weights() is None
    assert resolve_detector("auto") == "dlib"
    assert resolve_detector("dlib") == "dlib"


def test_explicit_face_alignment_without_weights_names_files_and_folder(astronaut):
    from makeittalk.face import face_alignment_cache_dir

    with pytest.raises(WeightsError) as excinfo:
        detect_landmarks(astronaut, detector="face-alignment")
    message = str(excinfo.value)
    for name in face_alignment_weight_names().values():
        assert name in message
    assert str(face_alignment_cache_dir()) in message
    assert "dlib" in message and "never downloads" in message


def test_weights_dir_without_weights_is_an_error_even_for_auto(astronaut, tmp_path):
    for detector in ("auto", "face-alignment"):
        with pytest.raises(WeightsError) as excinfo:
            detect_landmarks(astronaut, detector=detector, weights_dir=tmp_path)
        assert str(tmp_path) in str(excinfo.value)


def test_zero_byte_weight_files_count_as_absent(astronaut, tmp_path):
    # What an interrupted copy leaves behind: present by name, unusable.
    for name in face_alignment_weight_names().values():
        (tmp_path / name).write_bytes(b"")
    assert find_face_alignment_weights(tmp_path) is None
    with pytest.raises(WeightsError, match="MISSING"):
        resolve_detector("face-alignment", weights_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the dlib fallback must be silent
        assert detect_landmarks(astronaut).detector == "dlib"
