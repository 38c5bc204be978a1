"""How far a correct result may sit from an oracle that was computed on another machine.

The arrays in ../shared/reference came from the original code on one CPU. NumPy's FFT and
ufuncs, SciPy's filters (through OpenBLAS) and torch choose SIMD kernels per CPU at run time
(AVX-512, AVX2, SSE), and each kernel sums in its own order, so the last bits of every sum
depend on the processor. Bit equality with a stored oracle therefore holds only on the machine
that made it. Each tolerance below says how far two correct implementations may drift apart,
and why; a real fault (a wrong weight mapping, a transposed kernel, a frame off by one) moves
results by orders of magnitude more (tests/test_tolerances.py proves that for each one).

Comparisons of two runs on the same machine (determinism, caching, batching) still ask for
equality: only a stored oracle from elsewhere gets a tolerance.

`assert_close` records the largest difference each comparison sees; conftest.py writes them to
test-artifacts/reference_differences.json at the end of a run, so a report can quote them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    name: str
    atol: float
    rtol: float
    why: str

    def bound(self, expected: np.ndarray) -> np.ndarray:
        return self.atol + self.rtol * np.abs(expected)


FLOAT32 = Tolerance(
    "float32", atol=1e-6, rtol=1e-5,
    why="float32 sums of order-1 values, reordered by the CPU's kernels: a few ulp (ulp(1) = 1.2e-7), "
    "times the gain of the smoothing filters",
)
FLOAT64 = Tolerance(
    "float64", atol=1e-10, rtol=1e-10,
    why="float64 arithmetic from identical inputs: reordered sums of ~10^3 terms stay within ~1e-13 relative",
)
TEXT6 = Tolerance(
    "text6", atol=2e-6, rtol=0.0,
    why="values printed with 6 decimals (the original's text round trip): a float32 difference upstream "
    "(FLOAT32) can move the printed last digit by one step of 1e-6",
)
PIXELS = Tolerance(
    "pixels", atol=1e-3, rtol=0.0,
    why="pixel landmarks are normalised ones times 1/|scale| (77 px per unit for the reference face, "
    "up to a few hundred for large portraits) on top of TEXT6 differences: < 1e-3 px",
)
NETWORK_PIXELS = Tolerance(
    "network_pixels", atol=2e-3, rtol=0.0,
    why="landmarks from the whole network pipeline: branch outputs within NETWORK (2e-5 normalised units) "
    "times 77 px per unit for the reference face, through averaging filters that do not amplify: "
    "< 1.6e-3 px, plus 6 decimals in a file",
)
MEL_NORM = Tolerance(
    "mel_norm", atol=5e-4, rtol=0.0,
    why="AutoVC's output divided by per-bin stds of about 0.1: NETWORK's 4e-6 on the mel grows tenfold "
    "(reference README §8.2)",
)
NORMALIZED_LANDMARKS = Tolerance(
    "normalized_landmarks", atol=2e-5, rtol=0.0,
    why="the two branches' float32 outputs summed and smoothed, in normalised face units (README §8.2)",
)
MEL = Tolerance(
    "mel", atol=1e-5, rtol=0.0,
    why="normalised log-mel in [0, 1] (dB/100): the FFT and the filter-bank product are reordered per "
    "CPU; 1e-5 is 0.001 dB",
)
LOG_F0 = Tolerance(
    "log_f0", atol=1e-5, rtol=0.0,
    why="RAPT runs in float32 on a high-passed signal whose filtering is reordered per CPU; "
    "1e-5 in log-Hz is 0.001% of the frequency, ~20 float32 ulp at log(250 Hz)",
)
NETWORK = Tolerance(
    "network", atol=2e-5, rtol=1e-5,
    why="float32 network outputs through up to ~10 layers of reordered matmuls and convolutions "
    "(reference README §8.2)",
)
TRANSLATOR = Tolerance(
    "translator", atol=5e-5, rtol=0.0,
    why="the 256x256 UNet: ~20 float32 conv layers with 3x3x512 sums before the output (README §8.2)",
)
EMBEDDING = Tolerance(
    "embedding", atol=1e-6, rtol=0.0,
    why="unit-norm float32 Resemblyzer embeddings after a 3-layer LSTM: a few ulp of values below 0.3",
)


def f0_normalized_tolerance(std_log_f0: float) -> Tolerance:
    """The tolerance LOG_F0 implies for the normalised F0, (log f0 - mu) / (8 sigma) + 1/2.

    A log-F0 error of d moves each value by d / (8 sigma), and mu and sigma by at most d each,
    which can add as much again: 2 d / (8 sigma) in all.
    """
    return Tolerance(
        "f0_normalized", atol=2 * LOG_F0.atol / (8 * std_log_f0), rtol=0.0,
        why=f"LOG_F0 through the per-utterance normalisation (sigma = {std_log_f0:.4f} log-Hz)",
    )


_largest_seen: dict[str, dict] = {}


def largest_differences() -> dict[str, dict]:
    """{comparison: {tolerance, atol, rtol, max_abs, share_of_tolerance}} seen in this process."""
    return dict(_largest_seen)


def _record(what: str, tol: Tolerance, max_abs: float, share: float) -> None:
    entry = _largest_seen.setdefault(
        what, {"tolerance": tol.name, "atol": tol.atol, "rtol": tol.rtol, "max_abs": 0.0, "share_of_tolerance": 0.0}
    )
    entry["max_abs"] = max(entry["max_abs"], max_abs)
    entry["share_of_tolerance"] = max(entry["share_of_tolerance"], share)


def assert_close(actual, expected, tol: Tolerance, what: str) -> None:
    """Shape, dtype and values of `actual` against the oracle `expected`, within `tol`."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    assert np.array_equal(np.isfinite(a), np.isfinite(e)), f"{what}: non-finite values differ"
    finite = np.isfinite(e)
    diff = np.abs(a[finite] - e[finite])
    max_abs = float(diff.max()) if diff.size else 0.0
    share = float((diff / tol.bound(e[finite])).max()) if diff.size else 0.0
    _record(what, tol, max_abs, share)
    np.testing.assert_allclose(a, e, atol=tol.atol, rtol=tol.rtol, err_msg=f"{what} ({tol.name}: {tol.why})")


def assert_rounding_matches(
    actual_bins: np.ndarray, expected_bins: np.ndarray, expected_scaled: np.ndarray, margin: float, what: str
) -> None:
    """Integer bins made by rounding `expected_scaled` may differ only where it sat within `margin` of a half.

    A discrete step (rounding to a bin) flips on a difference far below any tolerance when the
    value lies on the edge; such flips are correct behaviour, anywhere else a flip is a fault.
    """
    actual_bins = np.asarray(actual_bins)
    expected_bins = np.asarray(expected_bins)
    assert actual_bins.shape == expected_bins.shape, what
    flipped = np.flatnonzero(actual_bins != expected_bins)
    distance_to_half = np.abs(np.abs(expected_scaled - np.floor(expected_scaled)) - 0.5)
    on_edge = distance_to_half[flipped] < margin
    _record(what + " (bin flips)", Tolerance("rounding-margin", margin, 0.0, "rounding edge"), float(len(flipped)), 0.0)
    assert on_edge.all(), (
        f"{what}: bins differ at {flipped[~on_edge].tolist()}, where the reference is "
        f"{distance_to_half[flipped[~on_edge]].tolist()} from a rounding edge (allowed: < {margin:.2e})"
    )
    assert np.all(np.abs(actual_bins[flipped].astype(np.int64) - expected_bins[flipped]) <= 1), what


def assert_f0_bins_match_reference(bins: np.ndarray, ref: dict[str, np.ndarray], what: str) -> None:
    """Quantised F0 bins against audio_frontend.npz: flips only where LOG_F0 could move the rounding."""
    log_f0 = ref["f0_rapt"]
    voiced = ref["f0_norm"] >= 0
    np.testing.assert_array_equal(np.asarray(bins)[~voiced], ref["f0_bin"][~voiced], err_msg=f"{what}: unvoiced bins")
    margin = 255 * f0_normalized_tolerance(float(np.std(log_f0[log_f0 > -1e9]))).atol
    assert_rounding_matches(np.asarray(bins)[voiced], ref["f0_bin"][voiced], ref["f0_norm"][voiced] * 255, margin, what)
