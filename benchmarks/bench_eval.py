"""Time of the evaluation metrics and baselines per clip: `python benchmarks/bench_eval.py [--repeat N]`.

Scores a noisy, swaying copy of a real ground-truth track (shared/data/talking, else the
standard face) against the track itself, at 10 s, 1 min and 10 min of 25 fps video. The model
is not run: its time is `makeittalk landmarks`' (benchmarks/bench_landmarks.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from common import SHARED
from makeittalk.evaluation import baselines
from makeittalk.evaluation.metrics import evaluate_sequence

FPS = 25.0


def _track(frames: int) -> np.ndarray:
    path = SHARED / "data" / "talking" / "pcavs_AudioSource_00373.landmarks.npz"
    if path.is_file():
        with np.load(path) as data:
            base = data["landmarks"].astype(np.float64)
    else:
        from makeittalk.resources import standard_face

        base = standard_face()[None, :, :2] * 100.0 + 112.0
    reps = -(-frames // len(base))
    return np.concatenate([base, base[::-1]] * reps)[:frames]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'clip':>8}  {'frames':>6}  {'metrics ms':>10}  {'rms baseline ms':>15}")
    for seconds in (10, 60, 600):
        frames = int(seconds * FPS)
        gt = _track(frames)
        pred = gt + rng.normal(0, 1.5, gt.shape) + 4.0 * np.sin(np.arange(frames) / 11.0)[:, None, None]
        valid = np.ones(frames, dtype=bool)
        audio = (rng.normal(0, 3000, int(seconds * 16000))).astype(np.int16)
        metric_times, baseline_times = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            evaluate_sequence(pred, gt, valid, FPS)
            metric_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            baselines.rms_baseline(gt[0], audio, FPS, frames)
            baseline_times.append(time.perf_counter() - start)
        print(f"{seconds:>6} s  {frames:>6}  {1000 * statistics.median(metric_times):>10.1f}  "
              f"{1000 * statistics.median(baseline_times):>15.1f}")


if __name__ == "__main__":
    main()
