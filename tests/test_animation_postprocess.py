"""Post-processing steps 10-21 on the original release's stored intermediates (README §4.3-4.4, §7).

Each step takes the fixture's input of that step, so a failure points at one step. The
original's arithmetic is plain NumPy, reproduced operation by operation. Steps made of
elementwise IEEE operations are correctly rounded on every CPU and must match bit for bit;
steps with filters or reductions (Savitzky-Golay smoothing, means) sum in an order that depends
on the CPU's kernels, and match within the tolerance named for them (tests/tolerances.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from tolerances import FLOAT32, FLOAT64, PIXELS, TEXT6, Tolerance, assert_close

from makeittalk.animation import postprocess as pp
from makeittalk.animation.blinks import original_blink_frames


@pytest.fixture(scope="module")
def e2e(reference_dir):
    with np.load(reference_dir / "e2e.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def inverse_lip(reference_dir):
    with np.load(reference_dir / "postproc_inverse_lip.npz") as data:
        return {k: data[k] for k in data.files}


def assert_exact(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_array_equal(actual, expected)


EXACT = None  # elementwise IEEE arithmetic: the same bits on every CPU

STEPS: list[tuple[str, object, str, Tolerance | None]] = [
    # (step, function applied to the fixture input, output name, tolerance)
    ("step 10 speaker smoothing", lambda d: pp.smooth_speaker_delta(d["delta_speaker_raw"]), "delta_speaker_smoothed", FLOAT32),
    ("step 11 speaker mouth closing", lambda d: pp.close_speaker_mouth(d["delta_speaker_smoothed"]), "delta_speaker_mouth_closed", EXACT),
    ("step 12 amp_pos", lambda d: pp.scale_pose(d["delta_speaker_mouth_closed"], 0.5), "delta_speaker_post", EXACT),
    ("step 14 calibration", lambda d: pp.calibrate_content(d["delta_content_raw"]), "delta_content_calibrated", FLOAT32),
    ("step 14 lip amplification", lambda d: pp.amplify_lips(d["delta_content_calibrated"], 2.0, 2.0), "delta_content_post", EXACT),
    ("step 15 sum", lambda d: pp.combine(d["delta_speaker_post"], d["delta_content_post"], d["face_id"]), "sum_before_lip_fix", EXACT),
    ("step 16 inverse-lip fix", lambda d: pp.fix_inverse_lips(d["sum_before_lip_fix"])[0], "after_lip_fix", EXACT),
    ("step 17 nose fix", lambda d: pp.fix_nose_top(d["after_lip_fix"]), "after_nose_fix", EXACT),
    ("step 18 smoothing", lambda d: pp.smooth_landmarks(d["after_nose_fix"], 5), "landmarks_final_unrounded", FLOAT32),
    ("step 18 text round trip", lambda d: pp.round_like_text(d["landmarks_final_unrounded"]), "landmarks_final", EXACT),
    ("step 19 denormalisation", lambda d: pp.denormalize(d["landmarks_final"], d["scale"], d["shift"]), "pix_denorm", EXACT),
    ("step 20 eyes, no blinks", lambda d: pp.add_eyes(d["pix_denorm"], []), "pix_eye_noblink", FLOAT64),
    ("step 21 final smoothing", lambda d: pp.final_smoothing(d["pix_eye_noblink"]), "pix_final_noblink", FLOAT64),
    ("step 20 eyes, seeded blinks", lambda d: pp.add_eyes(d["pix_denorm"], [30, 164]), "pix_eye_blink_seeded", FLOAT64),
    ("step 21 after blinks", lambda d: pp.final_smoothing(d["pix_eye_blink_seeded"]), "pix_final_blink_seeded", FLOAT64),
]


def assert_matches_original(actual: np.ndarray, expected: np.ndarray, tol: Tolerance | None, what: str) -> None:
    if tol is EXACT:
        assert_exact(actual, expected)
    else:
        assert_close(actual, expected, tol, what)


@pytest.mark.parametrize("step", STEPS, ids=[s[0] for s in STEPS])
def test_step_matches_original(e2e, step):
    what, fn, expected, tol = step
    assert_matches_original(fn(e2e), e2e[expected], tol, what)


def test_steps_chained_from_the_raw_branch_outputs(e2e):
    # The whole post-processing from Δs and Δc, without resetting to fixture inputs between steps.
    ds = pp.scale_pose(pp.close_speaker_mouth(pp.smooth_speaker_delta(e2e["delta_speaker_raw"])), 0.5)
    dc = pp.amplify_lips(pp.calibrate_content(e2e["delta_content_raw"]))
    combined = pp.combine(ds, dc, e2e["face_id"])
    fixed, frames = pp.fix_inverse_lips(combined)
    # The inverse-lip frame list is a discrete decision (signed area < 0): no frame of this clip
    # is near the edge, so the list must be the reference's on every CPU.
    assert pp.inner_lip_signed_area(combined).min() > 100 * FLOAT32.atol
    assert frames.tolist() == e2e["inverse_lip_frames"].tolist() == []
    final = pp.round_like_text(pp.smooth_landmarks(pp.fix_nose_top(fixed)))
    assert_close(final, e2e["landmarks_final"], TEXT6, "chained landmarks_final")
    pixels = pp.final_smoothing(pp.add_eyes(pp.denormalize(final, e2e["scale"], e2e["shift"]), [30, 164]))
    assert_close(pixels, e2e["pix_final_blink_seeded"], PIXELS, "chained pix_final_blink_seeded")


def test_seeded_blink_frames_follow_the_original_stream(e2e):
    frames = original_blink_frames(269, np.random.RandomState(0))
    assert frames == e2e["blink_frames_seeded"].tolist() == [30, 164]


def test_inverse_lip_fixture(inverse_lip):
    area = pp.inner_lip_signed_area(inverse_lip["input"])
    assert_exact(area, inverse_lip["signed_area_input"])  # elementwise: the same bits on every CPU
    # The frame list follows the sign of the area; no reference frame is near zero, so no flip is allowed.
    margin = np.abs(inverse_lip["signed_area_input"])
    assert margin.min() > 100 * FLOAT32.atol
    output, frames = pp.fix_inverse_lips(inverse_lip["input"])
    assert_exact(output, inverse_lip["output"])
    assert frames.tolist() == inverse_lip["inverted_frames"].tolist() == [5, 6, 7, 50, 120, 121, 200]


def test_inverse_lip_fix_repairs_crossed_lips(inverse_lip):
    output, _ = pp.fix_inverse_lips(inverse_lip["input"])
    # After the collapse the inner lips touch: upper and lower inner points coincide.
    p = output.reshape(-1, 68, 3)
    for j in inverse_lip["inverted_frames"]:
        np.testing.assert_array_equal(p[j, [61, 62, 63]], p[j, [67, 66, 65]])
    untouched = np.setdiff1d(np.arange(len(output)), inverse_lip["inverted_frames"])
    np.testing.assert_array_equal(output[untouched], inverse_lip["input"][untouched])


def test_inputs_are_not_modified(e2e):
    before = e2e["sum_before_lip_fix"].copy()
    pp.fix_inverse_lips(before)
    pp.fix_nose_top(before)
    np.testing.assert_array_equal(before, e2e["sum_before_lip_fix"])


def test_round_like_text_equals_printf_round_trip(e2e):
    values = e2e["landmarks_final_unrounded"][:20]
    via_text = np.array([[float("%.6f" % v) for v in row] for row in values.astype(np.float64)])
    np.testing.assert_array_equal(pp.round_like_text(values), via_text)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 14])
def test_short_sequences_do_not_crash(n):
    # The original crashed on clips this short; the default mode must handle them.
    rng = np.random.default_rng(n)
    delta = rng.normal(size=(n, 204)).astype(np.float32)
    out = pp.smooth_speaker_delta(delta)
    assert out.shape == (n, 204) and out.dtype == np.float32
    assert pp.calibrate_content(delta).shape == (n, 204)
    pixels = pp.final_smoothing(pp.add_eyes(rng.normal(size=(n, 68, 3)), [30]))
    assert pixels.shape == (n, 68, 3) and np.all(np.isfinite(pixels))


def test_savgol_is_scipy_when_long_enough():
    from scipy.signal import savgol_filter

    x = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    np.testing.assert_array_equal(pp.savgol(x, 15, 3), savgol_filter(x, 15, 3, axis=0))
    # Shorter than the window: the largest odd window that fits.
    np.testing.assert_array_equal(pp.savgol(x[:10], 15, 3), savgol_filter(x[:10], 9, 3, axis=0))


def test_amplify_and_scale_are_linear():
    delta = np.random.default_rng(1).normal(size=(8, 204)).astype(np.float32)
    np.testing.assert_array_equal(pp.scale_pose(delta, 0.0), np.zeros_like(delta))
    amplified = pp.amplify_lips(delta, 3.0, 0.0)
    np.testing.assert_array_equal(amplified[:, pp.LIP_Y_COLUMNS], 0)
    np.testing.assert_allclose(amplified[:, pp.LIP_X_COLUMNS], 3 * delta[:, pp.LIP_X_COLUMNS], rtol=1e-7)
    other = np.setdiff1d(np.arange(204), np.concatenate([pp.LIP_X_COLUMNS, pp.LIP_Y_COLUMNS]))
    np.testing.assert_array_equal(amplified[:, other], delta[:, other])
