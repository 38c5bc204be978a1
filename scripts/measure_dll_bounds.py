#!/usr/bin/env python3
"""How far below the static face can D-LL go? Oracle bounds from the real landmarks alone.

    python3 scripts/measure_dll_bounds.py \
        --data shared/data/talking --split-from WORK/datasets/talking --every 1 \
        --data shared/data/talking_ar --split-from WORK/datasets/talking_ar --every 10 \
        --data shared/data/talking_grid_s1 --split-from WORK/datasets/talking_grid_s1 --every 10

`makeittalk eval` starts every method from the clip's first face, and D-LL compares pose-aligned
jaw-lip points (makeittalk/evaluation/metrics.py). Much of a frame's D-LL is then not lip motion
at all: the first face's own jaw-contour noise and the yaw and pitch that a 2-D similarity cannot
remove. This script measures, on each group's held-out clips and without any network:

* ``static``: the first face repeated (the eval's static baseline);
* ``opening_oracle``: the first face moved by the REAL mouth opening, o(t) - o(0), through the
  best linear map from opening to every jaw-lip point (fitted on training clips of all groups):
  what a model that knew the true opening at every frame could reach from the first face;
* ``opening_width_oracle``: the same with the real opening and the real mouth width (outer lip
  corners 48-54, in eye distances) through one linear map: rounding and spreading as well;
* ``mean_shape_oracle``: the clip's real mean aligned shape repeated (needs the whole clip);
* ``mean_shape_opening_oracle``: that mean shape moved by the real opening around its mean.

Each is reported with its change against ``static``. The training clips of a group are every
`--every`-th clip of its train split, as scripts/fit_animation_gains.py picks them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

METHODS = ("static", "opening_oracle", "opening_width_oracle", "mean_shape_oracle", "mean_shape_opening_oracle")


def aligned_clip(clip):
    """(aligned landmarks / eye distance (T, 68, 2), mouth (opening, width) (T, 2)) over the frames with a face."""
    from makeittalk.evaluation import metrics, runner

    gt = runner.load_ground_truth(clip)
    points = gt.landmarks
    valid = gt.detected & np.isfinite(points).all(axis=(1, 2))
    reference = points[np.flatnonzero(valid)[0]]
    aligned = metrics.align_to_reference(points, valid, reference).aligned[valid]
    aligned = aligned / metrics.eye_distance(points, valid)
    width = np.linalg.norm(aligned[:, 48] - aligned[:, 54], axis=-1)
    return aligned, np.stack([metrics.mouth_opening(points)[valid], width], axis=1)


def fit_mouth_maps(clips) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (68, 2) displacement per unit of opening, and (2, 68, 2) per unit of
    (opening, width), around each clip's means."""
    features, shapes = [], []
    for clip in clips:
        aligned, mouth = aligned_clip(clip)
        features.append(mouth - mouth.mean(axis=0))
        shapes.append((aligned - aligned.mean(axis=0)).reshape(len(aligned), -1))
    x, y = np.concatenate(features), np.concatenate(shapes)
    opening = x[:, :1]
    by_opening = np.linalg.lstsq(opening, y, rcond=None)[0].reshape(68, 2)
    by_both = np.linalg.lstsq(x, y, rcond=None)[0].reshape(2, 68, 2)
    return by_opening, by_both


def clip_bounds(clip, opening_map: np.ndarray, mouth_map: np.ndarray) -> dict[str, float]:
    from makeittalk.evaluation.metrics import JAW_LIP_POINTS

    aligned, mouth = aligned_clip(clip)
    opening = mouth[:, 0]
    frames = len(aligned)
    mean_shape = aligned.mean(axis=0)
    predictions = {
        "static": np.repeat(aligned[:1], frames, axis=0),
        "opening_oracle": aligned[:1] + (opening - opening[0])[:, None, None] * opening_map,
        "opening_width_oracle": aligned[:1] + np.einsum("tk,kpc->tpc", mouth - mouth[:1], mouth_map),
        "mean_shape_oracle": np.repeat(mean_shape[None], frames, axis=0),
        "mean_shape_opening_oracle": mean_shape + (opening - opening.mean())[:, None, None] * opening_map,
    }
    return {name: float(100.0 * np.linalg.norm(p[:, JAW_LIP_POINTS] - aligned[:, JAW_LIP_POINTS], axis=-1).mean())
            for name, p in predictions.items()}


def main(argv: list[str] | None = None) -> int:
    from makeittalk.evaluation import runner

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data", action="append", required=True, type=Path, help="a clips folder (repeatable)")
    parser.add_argument("--split-from", action="append", required=True, type=Path,
                        help="its prepared dataset (clips.jsonl gives the train/val split), one per --data")
    parser.add_argument("--every", action="append", type=int, help="training clips: every N-th, one per --data")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if len(args.split_from) != len(args.data) or (args.every and len(args.every) != len(args.data)):
        parser.error("give one --split-from (and one --every, if any) per --data")
    everies = args.every or [1] * len(args.data)

    training, held_out = [], {}
    for data, split, every in zip(args.data, args.split_from, everies):
        clips = runner.discover_clips(data)
        train = set(runner.train_stems(split, every=every))
        val = runner.val_stems(split)
        training += [c for c in clips if c.stem in train]
        held_out[data.name] = [c for c in clips if c.stem in val]
    opening_map, mouth_map = fit_mouth_maps(training)

    report = {"training_clips": len(training), "groups": {}}
    for group, clips in held_out.items():
        rows = [clip_bounds(c, opening_map, mouth_map) for c in clips]
        means = {m: float(np.mean([r[m] for r in rows])) for m in METHODS}
        report["groups"][group] = {"clips": len(rows), "D-LL": means,
                                   "change_vs_static_pct": {m: 100.0 * (means[m] / means["static"] - 1.0) for m in METHODS}}
        print(f"{group} ({len(rows)} held-out clips): " + ", ".join(
            f"{m} {means[m]:.2f} ({report['groups'][group]['change_vs_static_pct'][m]:+.1f} %)" for m in METHODS))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
