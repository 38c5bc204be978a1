"""The evaluation metrics and baselines (makeittalk.evaluation) on sequences with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from makeittalk.evaluation import baselines
from makeittalk.evaluation import metrics as m
from makeittalk.resources import standard_face

FPS = 25.0
T = 120


def _face() -> np.ndarray:
    """The standard face in pixels: eye corners 100 px apart, upright."""
    return standard_face()[:, :2] * 100.0 + np.array([112.0, 80.0])


def _opening_signal(seed: int = 0) -> np.ndarray:
    """A smooth, aperiodic mouth-opening signal in [0, 1] (random walk, low-passed)."""
    rng = np.random.default_rng(seed)
    raw = np.convolve(rng.standard_normal(T + 20), np.hanning(9), mode="same")[10 : 10 + T]
    return (raw - raw.min()) / (raw.max() - raw.min())


def _talking(opening: np.ndarray) -> np.ndarray:
    """(T, 68, 2): the face whose lower lip and jaw drop by opening * 30 px, with a small sway."""
    seq = np.repeat(_face()[None], len(opening), axis=0)
    drop = opening * 30.0
    seq[:, np.r_[55:60, 65:68], 1] += drop[:, None]
    seq[:, np.r_[5:12], 1] += 0.5 * drop[:, None]
    seq[:, :, 0] += 3.0 * np.sin(np.arange(len(opening)) / 7.0)[:, None]
    return seq


def _rotate(seq: np.ndarray, degrees, center=(112.0, 120.0), shift=(0.0, 0.0), scale=1.0) -> np.ndarray:
    angles = np.broadcast_to(np.radians(np.asarray(degrees, dtype=float)), (len(seq),))
    c, s = np.cos(angles), np.sin(angles)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (T, 2, 2)
    centered = seq - np.asarray(center)
    return scale * np.einsum("tij,tpj->tpi", rot, centered) + np.asarray(center) + np.asarray(shift)


@pytest.fixture
def gt() -> np.ndarray:
    return _talking(_opening_signal())


@pytest.fixture
def valid() -> np.ndarray:
    return np.ones(T, dtype=bool)


DISTANCES = ("D-LL", "D-VL", "D-A", "D-L", "D-V", "D-Rot", "D-Pos")


def test_identical_sequences_score_perfectly(gt, valid):
    result = m.evaluate_sequence(gt, gt.copy(), valid, FPS)
    for name in DISTANCES:
        assert result[name] == pytest.approx(0.0, abs=1e-9), name
    assert result["mouth_r"] == pytest.approx(1.0)
    assert result["mouth_lag_ms"] == 0.0
    assert result["r_defined"] is True
    assert result["frames_compared"] == T
    assert result["eye_distance_px"] == pytest.approx(100.0, rel=1e-3)


def test_amp_is_the_ratio_of_opening_spreads(gt, valid):
    assert m.evaluate_sequence(gt, gt.copy(), valid, FPS)["amp"] == pytest.approx(1.0)
    half = _talking(0.5 * _opening_signal())  # the same mouth, opening half as far
    result = m.evaluate_sequence(half, gt, valid, FPS)
    assert result["amp"] == pytest.approx(0.5, rel=1e-6)
    assert result["mouth_r"] == pytest.approx(1.0) and result["mouth_r_lag0"] == pytest.approx(1.0)
    assert math.isnan(m.evaluate_sequence(gt, np.repeat(gt[:1], T, axis=0), valid, FPS)["amp"])


def test_head_motion_ratios_compare_size_and_speed(valid):
    face = np.repeat(_face()[None], T, axis=0)
    sway = 2.0 * np.sin(np.arange(T) / 5.0)
    real = _rotate(face, sway)
    real[:, :, 1] += 4.0 * np.sin(np.arange(T) / 9.0)[:, None]
    bigger = _rotate(face, 2 * sway)
    bigger[:, :, 1] += 8.0 * np.sin(np.arange(T) / 9.0)[:, None]
    result = m.evaluate_sequence(bigger, real, valid, FPS)
    assert result["head_rot_std_ratio"] == pytest.approx(2.0, rel=1e-3)
    assert result["head_rot_speed_ratio"] == pytest.approx(2.0, rel=1e-3)
    # Centroids: the roll about (112, 120) moves them by r*sin(angle), not r*angle: 2 up to ~1e-3.
    assert result["head_pos_std_ratio"] == pytest.approx(2.0, rel=2e-3)
    assert result["head_pos_speed_ratio"] == pytest.approx(2.0, rel=2e-3)
    still = m.evaluate_sequence(np.repeat(real[:1], T, axis=0), real, valid, FPS)
    assert still["head_rot_std_ratio"] == pytest.approx(0.0, abs=1e-9)
    assert still["head_pos_speed_ratio"] == pytest.approx(0.0, abs=1e-9)


def test_head_speed_correlates_with_loudness_when_it_follows_it(gt, valid):
    loud = np.abs(np.sin(np.arange(T) / 6.0))
    pred = np.repeat(_face()[None], T, axis=0)
    pred[:, :, 0] += np.cumsum(loud)[:, None]  # moves right at a speed that follows the loudness
    result = m.evaluate_sequence(pred, gt, valid, FPS, np.concatenate([[0.0], loud[1:]]))
    assert result["head_audio_r"] == pytest.approx(1.0, abs=1e-9)
    assert m.evaluate_sequence(pred, gt, valid, FPS)["head_audio_r"] == 0.0  # no loudness given


@pytest.mark.parametrize("k", [1, 3, 5])
def test_delayed_prediction_is_found_at_its_lag(gt, valid, k):
    late = np.concatenate([np.repeat(gt[:1], k, axis=0), gt[:-k]])  # pred[t] = gt[t - k]
    result = m.mouth_correlation(late, gt, valid, FPS)
    assert result.lag_frames == k
    assert result.lag_ms == pytest.approx(1000.0 * k / FPS)
    assert result.r == pytest.approx(1.0, abs=1e-9)
    assert result.r_lag0 < 0.99  # without the lag search the same prediction looks worse
    early = np.concatenate([gt[k:], np.repeat(gt[-1:], k, axis=0)])  # pred[t] = gt[t + k]
    assert m.mouth_correlation(early, gt, valid, FPS).lag_ms == pytest.approx(-1000.0 * k / FPS)


def test_lag_search_stays_within_200_ms(gt, valid):
    k = 8  # 320 ms at 25 fps: beyond the ±5-frame window
    late = np.concatenate([np.repeat(gt[:1], k, axis=0), gt[:-k]])
    result = m.mouth_correlation(late, gt, valid, FPS)
    assert abs(result.lag_frames) <= round(0.2 * FPS)
    assert result.r < 0.99


def test_pose_is_removed_from_the_aligned_metrics(gt, valid):
    angle = 12.0
    moved = _rotate(gt, angle, shift=(25.0, -14.0), scale=1.15)
    result = m.evaluate_sequence(moved, gt, valid, FPS)
    for name in ("D-LL", "D-VL", "D-A"):
        assert result[name] == pytest.approx(0.0, abs=1e-6), name
    assert result["D-L"] > 10.0
    assert result["D-Rot"] == pytest.approx(angle, abs=1e-6)
    assert result["mouth_r"] == pytest.approx(1.0)  # o(t) is a ratio of distances: pose-free
    assert m.d_ll(moved, gt, valid) == pytest.approx(result["D-LL"], abs=1e-12)
    assert m.d_rot(moved, gt, valid) == pytest.approx(angle, abs=1e-6)


def test_d_rot_follows_a_time_varying_roll(gt, valid):
    roll = 8.0 * np.sin(np.arange(T) / 9.0)
    moved = _rotate(gt, roll)
    assert m.d_rot(moved, gt, valid) == pytest.approx(np.abs(roll).mean(), abs=1e-6)
    assert m.d_ll(moved, gt, valid) == pytest.approx(0.0, abs=1e-6)
    # the ground truth's own roll: each frame against the first
    alignment = m.align_to_reference(_rotate(gt, roll), valid, gt[0])
    np.testing.assert_allclose(alignment.roll_deg, roll - roll[0], atol=1e-6)


def test_translation_gives_exact_d_pos_and_d_l_but_no_velocity_error(gt, valid):
    offset = np.array([6.0, -8.0])  # 10 px = 10 % of the 100 px eye distance
    moved = gt + offset
    eye = m.eye_distance(gt, valid)
    assert m.d_pos(moved, gt, valid) == pytest.approx(100.0 * 10.0 / eye)
    assert m.d_l(moved, gt, valid) == pytest.approx(100.0 * 10.0 / eye)
    assert m.d_v(moved, gt, valid) == pytest.approx(0.0, abs=1e-9)
    assert m.d_ll(moved, gt, valid) == pytest.approx(0.0, abs=1e-9)


def test_jaw_lip_distances_see_only_the_jaw_and_lips(gt, valid):
    pred = gt.copy()
    pred[:, 48:68, 1] += 4.0  # all lip points 4 px lower: 20 of the 37 jaw-lip points
    eye = m.eye_distance(gt, valid)
    # the stable points are untouched, so the alignment is the same for both sequences
    assert m.d_ll(pred, gt, valid) == pytest.approx(100.0 * 4.0 * 20 / 37 / eye, rel=1e-6)
    assert m.d_l(pred, gt, valid) == pytest.approx(100.0 * 4.0 * 20 / 68 / eye, rel=1e-6)
    assert m.d_rot(pred, gt, valid) == pytest.approx(0.0, abs=1e-9)
    assert m.d_pos(pred, gt, valid) == pytest.approx(0.0, abs=1e-9)


def test_velocities_skip_pairs_across_invalid_frames(gt):
    valid = np.ones(T, dtype=bool)
    valid[50] = False
    pred = gt.copy()
    pred[50] += 40.0  # only frame 50 differs: every velocity touching it is excluded
    assert m.d_v(pred, gt, valid) == pytest.approx(0.0, abs=1e-9)
    assert m.d_l(pred, gt, valid) == pytest.approx(0.0, abs=1e-9)
    valid[50] = True
    assert m.d_v(pred, gt, valid) > 0


def _rect_mouth(face: np.ndarray, inner_height: float) -> np.ndarray:
    """Outer lips 48-59: a 40 x 20 px rectangle (800 px²). Inner lips 60-67, in iBUG order (left
    corner, upper 61-63, right corner, lower 65-67): a hexagon with corners at (±10, 0) and
    flat lips 10 px wide at ±height/2, so its area is 10·height + 2·(½·height·5) = 15·height."""
    face = face.copy()
    cx, cy = 112.0, 160.0
    outer = [(-20, 0), (-20, -10), (-10, -10), (0, -10), (10, -10), (20, -10),
             (20, 0), (20, 10), (10, 10), (0, 10), (-10, 10), (-20, 10)]
    face[48:60] = np.array(outer, dtype=float) + (cx, cy)
    h = inner_height / 2
    inner = [(-10, 0), (-5, -h), (0, -h), (5, -h), (10, 0), (5, h), (0, h), (-5, h)]
    face[60:68] = np.array(inner, dtype=float) + (cx, cy)
    return face


def test_polygon_area_and_mouth_area_difference():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)  # clockwise on screen (y down)
    assert m.polygon_area(square) == pytest.approx(100.0)
    assert m.polygon_area(square[::-1]) == pytest.approx(-100.0)
    face = _face()
    gt_frame, pred_frame = _rect_mouth(face, 0.0), _rect_mouth(face, 10.0)
    assert m.polygon_area(gt_frame[48:60]) == pytest.approx(800.0)
    assert m.polygon_area(pred_frame[60:68]) == pytest.approx(150.0)  # 15 * 10 px
    assert m.polygon_area(gt_frame[60:68]) == pytest.approx(0.0)
    gt = np.repeat(gt_frame[None], 10, axis=0)
    pred = np.repeat(pred_frame[None], 10, axis=0)
    valid = np.ones(10, dtype=bool)
    assert m.d_a(pred, gt, valid) == pytest.approx(100.0 * 150.0 / 800.0)
    assert m.d_a(gt, pred, valid) == pytest.approx(100.0 * 150.0 / 800.0)  # |difference|, gt outer area 800 too
    # an inverted inner lip (lower above upper) counts as a closed mouth, not as an open one
    inverted = _rect_mouth(face, -10.0)
    assert m.polygon_area(inverted[60:68]) == pytest.approx(-150.0)
    assert m.d_a(np.repeat(inverted[None], 10, axis=0), gt, valid) == pytest.approx(0.0)


def test_constant_mouth_opening_has_undefined_r_reported_as_zero(gt, valid):
    still = np.repeat(gt[:1], T, axis=0)
    result = m.mouth_correlation(still, gt, valid, FPS)
    assert (result.r, result.lag_ms, result.r_defined) == (0.0, 0.0, False)
    report = m.evaluate_sequence(still, gt, valid, FPS)
    assert report["mouth_r"] == 0.0 and report["r_defined"] is False
    assert all(math.isfinite(report[name]) for name in DISTANCES)
    assert m.mouth_correlation(gt, still, valid, FPS).r_defined is False  # constant ground truth


def test_mouth_opening_is_normalised_by_the_eye_distance(gt):
    opening = m.mouth_opening(gt)
    expected = _opening_signal() * 30.0 / np.linalg.norm(gt[:, 36] - gt[:, 45], axis=-1)
    np.testing.assert_allclose(opening, expected, atol=1e-9)
    np.testing.assert_allclose(m.mouth_opening(gt * 2.5), opening, atol=1e-12)


def test_invalid_frames_are_ignored(gt):
    valid = np.ones(T, dtype=bool)
    valid[:10] = False  # the reference becomes frame 10
    pred = gt.copy()
    pred[:10] = np.nan
    result = m.evaluate_sequence(pred, gt, valid, FPS)
    assert result["frames_compared"] == T - 10
    assert result["D-L"] == pytest.approx(0.0, abs=1e-9) and result["mouth_r"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        m.evaluate_sequence(pred, gt, np.ones(T, dtype=bool), FPS)  # NaN in a frame called valid


def test_rms_baseline_opens_the_mouth_on_loud_frames():
    sr, seconds = 16000, 2.0
    t = np.arange(int(sr * seconds)) / sr
    # 1 s of silence, then 1 s of a 250 Hz tone (10 whole periods per 40 ms frame: equal RMS)
    audio = np.where(t >= 1.0, 0.5 * np.sin(2 * np.pi * 250 * t), 0.0)
    samples = np.round(audio * 32767).astype(np.int16)
    num_frames = int(seconds * FPS)
    face = _face()
    frames = baselines.rms_baseline(face, samples, FPS, num_frames)
    move = frames[:, 57] - face[57]  # lower-lip centre
    drop = np.linalg.norm(move, axis=-1)
    silent, loud = drop[: int(FPS)], drop[int(FPS) + 1 :]
    np.testing.assert_allclose(silent, 0.0, atol=1e-9)
    eye = np.linalg.norm(face[45] - face[36])
    np.testing.assert_allclose(loud, baselines.RMS_OPEN_GAIN * eye, rtol=1e-6)  # full opening
    down, _ = baselines.face_down_axis(face)
    assert down[1] > 0.99  # an upright face's down axis is +y in image space
    np.testing.assert_allclose(move[int(FPS) + 1 :], loud[:, None] * down, atol=1e-9)
    chin = np.linalg.norm(frames[:, 8] - face[8], axis=-1)
    np.testing.assert_allclose(chin, 0.5 * drop, atol=1e-9)  # the chin moves half as far
    np.testing.assert_allclose(frames[:, 51], np.repeat(face[None, 51], num_frames, 0))  # upper lip still
    assert (m.mouth_opening(frames)[int(FPS) + 1 :] > m.mouth_opening(frames)[: int(FPS)].max()).all()


def test_rms_baseline_moves_along_the_face_down_axis():
    face = _rotate(_face()[None], 30.0, center=(112.0, 80.0))[0]
    down, eye = baselines.face_down_axis(face)
    assert eye == pytest.approx(100.0, rel=1e-3)
    upright, _ = baselines.face_down_axis(_face())
    c, s = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
    np.testing.assert_allclose(down, np.array([[c, -s], [s, c]]) @ upright, atol=1e-12)  # turns with the face
    samples = (np.ones(16000) * 10000).astype(np.int16)
    frames = baselines.rms_baseline(face, samples, FPS, 25)
    move = frames[:, 66] - face[66]
    np.testing.assert_allclose(move @ (face[45] - face[36]), 0.0, atol=1e-9)  # perpendicular to the eyes


def test_frame_rms_spans_one_frame_each():
    samples = np.zeros(16000, dtype=np.int16)
    samples[640:1280] = 16384  # exactly frame 1 at 25 fps (640 samples per frame)
    rms = baselines.frame_rms(samples, FPS, 26)
    assert rms[1] == pytest.approx(0.5)
    assert rms[0] == 0.0 and rms[2] == 0.0 and rms[25] == 0.0  # frame 25 is past the audio
    np.testing.assert_allclose(baselines.rms_openness(np.zeros(5)), 0.0)


def test_static_baseline_repeats_the_face():
    face = _face()
    frames = baselines.static_baseline(np.c_[face, np.ones(68)], 7)
    assert frames.shape == (7, 68, 2)
    np.testing.assert_array_equal(frames, np.repeat(face[None], 7, axis=0))
