"""StaticFace: bit-exact against the original's fixtures, exact inverse, tweaks and mouth closing."""

from __future__ import annotations

import numpy as np
import pytest

from makeittalk.face import (
    CARTOON_Z_SCALE,
    LandmarksError,
    StaticFace,
    apply_original_tweaks,
    close_mouth,
)
from makeittalk.resources import standard_face


@pytest.fixture(scope="module")
def e2e(reference_dir):
    with np.load(reference_dir / "e2e.npz") as data:
        return {key: data[key] for key in ("dlib_landmarks", "shape_in", "shape_tweaked", "q", "scale", "shift", "face_id")}


def _random_face(rng: np.random.Generator, batch: tuple[int, ...] = ()) -> np.ndarray:
    face = standard_face() * [80.0, 80.0, 1.0] + [128.0, 120.0, 0.0]  # a pixel-sized upright face
    return face + rng.normal(scale=3.0, size=batch + (68, 3))


# ----------------------------------------------------------------------------- fixtures


def test_tweaks_reproduce_shape_tweaked(e2e):
    tweaked = apply_original_tweaks(e2e["shape_in"])
    assert tweaked.dtype == np.float64
    assert np.array_equal(tweaked, e2e["shape_tweaked"])


def test_normalisation_reproduces_q_scale_shift_face_id_bit_exactly(e2e):
    face = StaticFace.from_landmarks(e2e["shape_tweaked"])
    assert np.array_equal(face.q, e2e["q"])
    assert face.scale == e2e["scale"] == -0.013008130081300813
    assert isinstance(face.scale, float)
    assert np.array_equal(face.shift, e2e["shift"]) and face.shift.dtype == np.float64
    assert np.array_equal(face.shift, [-128.5, -100.5])
    assert face.face_id.dtype == np.float32 and face.face_id.shape == (1, 204)
    assert np.array_equal(face.face_id, e2e["face_id"])


def test_detector_z_is_ignored(e2e):
    noisy = e2e["shape_tweaked"].copy()
    noisy[:, 2] = np.arange(68) * 17.0
    assert np.array_equal(StaticFace.from_landmarks(noisy).q, e2e["q"])
    assert np.array_equal(StaticFace.from_landmarks(noisy[:, :2]).q, e2e["q"])  # (68, 2) works too


def test_denormalize_q_gives_back_the_tweaked_pixels(e2e):
    face = StaticFace.from_landmarks(e2e["shape_tweaked"])
    back = face.denormalize(face.q)
    assert np.abs(back[:, :2] - e2e["shape_tweaked"][:, :2]).max() < 1e-12
    assert np.array_equal(back[:, 2], face.q[:, 2])  # z passes through unchanged


# ----------------------------------------------------------------------------- properties


def test_normalised_frame_definition():
    face = StaticFace.from_landmarks(_random_face(np.random.default_rng(1)))
    assert face.q[0, 0] == pytest.approx(-0.8, abs=1e-15)
    assert face.q[16, 0] == pytest.approx(0.8, abs=1e-15)
    assert np.allclose(0.5 * (face.q[0, :2] + face.q[16, :2]), 0.0, atol=1e-15)
    assert face.scale < 0  # x0 < x16 for an upright face
    assert np.array_equal(face.q[:, 2], standard_face()[:, 2] * 0.1)


def test_cartoon_z_scale():
    face = StaticFace.from_landmarks(_random_face(np.random.default_rng(2)), z_scale=CARTOON_Z_SCALE)
    assert np.array_equal(face.q[:, 2], standard_face()[:, 2])


def test_round_trip_within_1e_12():
    rng = np.random.default_rng(3)
    face = StaticFace.from_landmarks(_random_face(rng))
    pixels = _random_face(rng, batch=(7, 5))
    normalized = face.normalize(pixels)
    assert normalized.shape == (7, 5, 68, 3)
    back = face.denormalize(normalized)
    assert np.abs(back - pixels).max() < 1e-12
    assert np.abs(face.normalize(face.denormalize(normalized)) - normalized).max() < 1e-12
    assert np.array_equal(back[..., 2], pixels[..., 2])


def test_normalize_matches_from_landmarks_xy():
    pixels = _random_face(np.random.default_rng(4))
    face = StaticFace.from_landmarks(pixels)
    assert np.array_equal(face.normalize(pixels)[:, :2], face.q[:, :2])


def test_denormalize_follows_the_original_operation_order(e2e):
    face = StaticFace.from_landmarks(e2e["shape_tweaked"])
    frames = np.random.default_rng(5).normal(scale=0.5, size=(4, 68, 3))
    expected = frames.copy()
    expected[:, :, 0:2] = -expected[:, :, 0:2]
    expected[:, :, 0:2] = expected[:, :, 0:2] / face.scale
    expected[:, :, 0:2] -= face.shift
    assert np.array_equal(face.denormalize(frames), expected)
    assert not np.shares_memory(face.denormalize(frames), frames)


def test_static_face_is_immutable_and_serialisable():
    face = StaticFace.from_landmarks(_random_face(np.random.default_rng(6)))
    with pytest.raises(ValueError):
        face.q[0, 0] = 1.0
    again = StaticFace.from_dict(face.to_dict())
    assert np.array_equal(again.q, face.q) and again.scale == face.scale and np.array_equal(again.shift, face.shift)
    assert again == face and again != StaticFace.from_landmarks(_random_face(np.random.default_rng(60)))


def test_degenerate_and_invalid_faces():
    flat = _random_face(np.random.default_rng(7))
    flat[16, 0] = flat[0, 0]
    with pytest.raises(LandmarksError, match="no width"):
        StaticFace.from_landmarks(flat)
    bad = _random_face(np.random.default_rng(8))
    bad[5, 1] = np.nan
    with pytest.raises(LandmarksError, match=r"\[5\]"):
        StaticFace.from_landmarks(bad)
    with pytest.raises(LandmarksError, match="68"):
        StaticFace.from_landmarks(np.zeros((67, 3)))
    with pytest.raises(LandmarksError):
        StaticFace(q=np.zeros((68, 3)), scale=0.0, shift=np.zeros(2))
    face = StaticFace.from_landmarks(_random_face(np.random.default_rng(9)))
    with pytest.raises(LandmarksError):
        face.denormalize(np.zeros((10, 204)))


# ----------------------------------------------------------------------------- tweaks and mouth


def test_tweaks_leave_input_alone_and_broadcast():
    frames = _random_face(np.random.default_rng(10), batch=(3,))
    before = frames.copy()
    out = apply_original_tweaks(frames)
    assert np.array_equal(frames, before)
    delta = out - frames
    assert np.array_equal(delta[..., [0, 2]], np.zeros_like(delta[..., [0, 2]]))
    expected_dy = np.zeros(68)
    expected_dy[49:54] = 1
    expected_dy[55:60] = -1
    expected_dy[[37, 38, 43, 44]] = -2
    expected_dy[[40, 41, 46, 47]] = 2
    assert np.allclose(delta[..., 1], expected_dy, atol=1e-12)


def _close_mouth_from_spec(points: np.ndarray, p1: float, p2: float) -> np.ndarray:
    # Spec §1.3 step 2, written out point by point.
    p = points.copy()
    upper, lower = [61, 62, 63], [67, 66, 65]
    m_in = 0.5 * (p[upper] + p[lower])
    offset_up = p[upper] - m_in
    offset_low = p[lower] - m_in
    for k, outer in enumerate([50, 51, 52]):
        p[outer] = p[outer] - offset_up[k] * p1
    for k, outer in enumerate([58, 57, 56]):
        p[outer] = p[outer] - offset_low[k] * p1
    p[49] = p[49] - (p[61] - m_in[0]) * p2
    p[53] = p[53] - (p[63] - m_in[2]) * p2
    p[59] = p[59] - (p[67] - m_in[0]) * p2
    p[55] = p[55] - (p[65] - m_in[2]) * p2
    for k in range(3):
        p[upper[k]] = p[upper[k]] - offset_up[k] * p1
        p[lower[k]] = p[lower[k]] - offset_low[k] * p1
    return p


@pytest.mark.parametrize(("p1", "p2"), [(0.7, 0.5), (1.0, 1.0), (0.3, 0.0)])
def test_close_mouth_matches_spec(p1, p2):
    face = _random_face(np.random.default_rng(11))
    face[[61, 62, 63], 1] -= 6.0  # open the mouth
    face[[65, 66, 67], 1] += 6.0
    closed = close_mouth(face, p1=p1, p2=p2)
    assert np.array_equal(closed, _close_mouth_from_spec(face, p1, p2))
    gap_before = face[[61, 62, 63]] - face[[67, 66, 65]]
    gap_after = closed[[61, 62, 63]] - closed[[67, 66, 65]]
    assert np.allclose(gap_after, (1 - p1) * gap_before, atol=1e-12)
    untouched = [i for i in range(68) if i not in {49, 50, 51, 52, 53, 55, 56, 57, 58, 59, 61, 62, 63, 65, 66, 67}]
    assert np.array_equal(closed[untouched], face[untouched])


def test_close_mouth_does_not_modify_input(e2e):
    shape = e2e["shape_in"].copy()
    close_mouth(shape)
    assert np.array_equal(shape, e2e["shape_in"])
