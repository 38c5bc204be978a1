"""The CLI's face prefetch: a child process finds the same face the render would, or nothing is used."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from makeittalk.face import detect_landmarks
from makeittalk.face.prefetch import (
    _pending,
    cancel_prefetches,
    detection_input,
    start_face_prefetch,
    take_prefetched,
)


@pytest.fixture
def astronaut_file(tmp_path):
    from skimage import data

    path = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def test_the_child_finds_exactly_the_face_the_render_would(astronaut_file):
    assert start_face_prefetch(astronaut_file, "auto")
    rgb = detection_input(astronaut_file)
    found = take_prefetched(rgb, "auto", str(astronaut_file))
    assert found is not None
    expected = detect_landmarks(rgb, "auto", name=str(astronaut_file))
    np.testing.assert_array_equal(found.landmarks, expected.landmarks)  # json floats read back bit for bit
    assert found.landmarks.dtype == np.float64 and found.landmarks.shape == (68, 3)
    assert (found.detector, found.num_faces, found.box, found.method, found.z_source, found.image_size) == (
        expected.detector, expected.num_faces, expected.box, expected.method, expected.z_source, expected.image_size)
    assert take_prefetched(rgb, "auto", str(astronaut_file)) is None  # used once


def test_other_pixels_or_a_failed_child_are_not_used(astronaut_file, tmp_path):
    assert start_face_prefetch(astronaut_file, "auto")
    changed = detection_input(astronaut_file).copy()
    changed[0, 0] ^= 1  # the file was replaced between the prefetch and the render
    assert take_prefetched(changed, "auto", str(astronaut_file)) is None

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 127, np.uint8)).save(blank)
    assert start_face_prefetch(blank, "auto")
    assert take_prefetched(detection_input(blank), "auto", str(blank)) is None  # no face: the render says so itself


def test_only_image_files_are_prefetched_and_leftovers_are_stopped(astronaut_file, tmp_path):
    assert not start_face_prefetch(tmp_path, "auto")  # a puppet folder: nothing to detect
    assert not start_face_prefetch(tmp_path / "missing.png", "auto")
    assert not start_face_prefetch(np.zeros((8, 8, 3), np.uint8), "auto")
    assert start_face_prefetch(astronaut_file, "dlib")
    processes = list(_pending.values())
    cancel_prefetches()
    assert not _pending and all(p.returncode is not None for p in processes)
