"""Hand-made landmark files: JSON and text, and every error a user can make."""

from __future__ import annotations

import json

import numpy as np
import pytest

from makeittalk.face import LandmarksError, StaticFace, add_standard_z, load_landmarks_file
from makeittalk.resources import standard_face


@pytest.fixture()
def points() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.round(rng.uniform(20, 230, size=(68, 2)), 3)


def test_text_file_two_columns(tmp_path, points):
    path = tmp_path / "face.txt"
    path.write_text("\n".join(f"{x} {y}" for x, y in points) + "\n")
    loaded = load_landmarks_file(path)
    assert loaded.shape == (68, 2) and loaded.dtype == np.float64
    assert np.array_equal(loaded, points)


def test_text_file_three_columns_commas_comments_blank_lines(tmp_path, points):
    path = tmp_path / "face.csv"
    lines = ["# my face", ""] + [f"{x}, {y}, 0.5  # point {i}" for i, (x, y) in enumerate(points)] + ["", ""]
    path.write_text("\n".join(lines))
    loaded = load_landmarks_file(path)
    assert loaded.shape == (68, 3)
    assert np.array_equal(loaded[:, :2], points) and np.all(loaded[:, 2] == 0.5)


def test_text_file_one_flat_row(tmp_path, points):
    path = tmp_path / "flat.txt"
    path.write_text(" ".join(str(v) for v in points.reshape(-1)))
    assert np.array_equal(load_landmarks_file(path), points)


def test_numpy_savetxt_output_loads(tmp_path, points):
    path = tmp_path / "saved.txt"
    np.savetxt(path, add_standard_z(points))
    loaded = load_landmarks_file(path)
    assert np.array_equal(loaded[:, :2], points) and np.array_equal(loaded[:, 2], standard_face()[:, 2])


@pytest.mark.parametrize("wrapped", [False, True])
def test_json_list_and_object(tmp_path, points, wrapped):
    payload = points.tolist()
    path = tmp_path / "face.json"
    path.write_text(json.dumps({"landmarks": payload, "image": "me.png"} if wrapped else payload))
    assert np.array_equal(load_landmarks_file(path), points)


def test_json_without_suffix_is_detected(tmp_path, points):
    path = tmp_path / "face.landmarks"
    path.write_text(json.dumps([[x, y, 1] for x, y in points.tolist()]))
    assert load_landmarks_file(path).shape == (68, 3)


@pytest.mark.parametrize("with_z", [False, True])
def test_npy_array_loads(tmp_path, points, with_z):
    path = tmp_path / "face.npy"
    array = add_standard_z(points) if with_z else points.astype(np.float32)
    np.save(path, array)
    loaded = load_landmarks_file(path)
    assert loaded.dtype == np.float64 and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array.astype(np.float64))


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((10, 68, 3)), "holds 10 frames of landmarks; save one face"),
        (np.zeros((67, 2)), r"shape \(67, 2\)"),
        (np.array(["a"] * 136).reshape(68, 2), "need 68 x 2"),
        (np.full((68, 2), np.nan), "NaN"),
    ],
)
def test_npy_errors(tmp_path, array, match):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(LandmarksError, match=match) as excinfo:
        load_landmarks_file(path)
    assert "bad.npy" in str(excinfo.value)
    path.write_bytes(b"not numpy")
    with pytest.raises(LandmarksError, match="not a readable .npy array"):
        load_landmarks_file(path)


def test_loaded_landmarks_normalise(tmp_path, points):
    path = tmp_path / "face.txt"
    path.write_text("\n".join(f"{x} {y}" for x, y in points))
    face = StaticFace.from_landmarks(load_landmarks_file(path))
    assert face.q.shape == (68, 3)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("\n".join("1 2" for _ in range(67)), "found 67 points, need exactly 68"),
        ("\n".join("1 2" for _ in range(69)), "found 69 points"),
        ("\n".join(["1 2"] * 30 + ["1 two"] + ["1 2"] * 37), "line 31"),
        ("\n".join(["1 2"] * 67 + ["nan 2"]), r"\[67\] are NaN"),
        ("\n".join(["1 2"] * 67 + ["inf 2"]), "NaN or infinite"),
        ("\n".join(["1 2"] * 67 + ["1 2 3"]), "all alike"),
        ("\n".join(["1"] * 68), "2 \\(x y\\) or 3"),
        ("   \n\n", "empty"),
    ],
)
def test_text_errors(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(LandmarksError, match=match) as excinfo:
        load_landmarks_file(path)
    assert "bad.txt" in str(excinfo.value)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("[[1, 2], [3, ", "invalid JSON at line 1"),
        (json.dumps({"points": []}), "no 'landmarks' key"),
        (json.dumps("hello"), "JSON list"),
        (json.dumps([[1, 2]] * 10), "found 10 points"),
        (json.dumps([[1, 2]] * 67 + [["a", 2]]), "point 67"),
        (json.dumps([[1, 2]] * 67 + [[True, 2]]), "point 67"),
        (json.dumps([[1, 2]] * 67 + [[float("nan"), 2]]).replace("NaN", "NaN"), "NaN"),
    ],
)
def test_json_errors(tmp_path, payload, match):
    path = tmp_path / "bad.json"
    path.write_text(payload)
    with pytest.raises(LandmarksError, match=match):
        load_landmarks_file(path)


def test_missing_folder_and_binary(tmp_path):
    with pytest.raises(LandmarksError, match="not found"):
        load_landmarks_file(tmp_path / "none.txt")
    with pytest.raises(LandmarksError, match="folder"):
        load_landmarks_file(tmp_path)
    binary = tmp_path / "face.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(LandmarksError, match="not a text file"):
        load_landmarks_file(binary)


def test_add_standard_z_shape_check():
    with pytest.raises(LandmarksError):
        add_standard_z(np.zeros((68, 3)))
