#!/usr/bin/env python3
"""Fit a weight set's lip gain on TRAINING clips, so that the predicted mouth opens as much as real
mouths do (issue 13: calibrated by a fitted gain in weightset.json, not --lip-scale).

    python3 scripts/fit_animation_gains.py --weights WORK/uncalibrated \
        --data shared/data/talking_ar --split-from WORK/datasets/talking_ar --every 20 \
        --data shared/data/talking_grid_s1 --split-from WORK/datasets/talking_grid_s1 --every 10 \
        --json WORK/gains.json

For each (--data, --split-from, --every) group it evaluates every N-th clip of the dataset's train
split with the candidate (held-out clips are never used), then sets

    amp_lip_new = amp_lip / centre(amp)            amp = std(pred opening) / std(real)

where centre() is the geometric mean of the groups' medians (--pool groups, the default): each group
counts once, as the bars are per group, however many clips it has. (--pool clips takes the median
over all the clips of all groups, which lets the largest group decide; the set of the first v2 round
was fitted so.) The opening is close to linear in amp_lip (the lips are scaled offsets from the rest
pose), so one step lands within a few per cent; --rounds 2 refits with the new gain to check. The
head motion's size is fitted separately, by scripts/fit_head_motion.py. Prints the build-script
argument (--amp-lip X) on the last line. A lip_gain_model already in the set is left out of the
measurement.

`--gain-model` also fits the set's lip_gain_model (makeittalk.animation.spectrum_gains): a ridge
regression from each training clip's speech spectrum to the log gain, relative to the fitted
amp_lip, that would make its own amp 1 (see makeittalk/training/spectrum_gains_fit.py). One gain
cannot fit every group: the one GRID speaker opens less than the others for the same speech.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(weights: str, groups: list[tuple[Path, Path, int]], tuning: dict | None, with_clips: bool = False) -> dict:
    from makeittalk.animation import LandmarkAnimator
    from makeittalk.evaluation.runner import discover_clips, run_evaluation, train_stems

    from makeittalk.animation.spectrum_gains import spectrum_features
    from makeittalk.audio.frontend import extract_features
    from makeittalk.evaluation.runner import _load_clip_audio

    animator = LandmarkAnimator.from_pretrained(weights, "cpu")
    animator.tuning.pop("lip_gain_model", None)
    if tuning:
        animator.tuning.update(tuning)
    amps, per_group, per_clip = [], {}, []
    for data, dataset, every in groups:
        clips = discover_clips(data, stems=train_stems(dataset, every))
        report = run_evaluation(clips, weights=weights, animator=animator)
        label = next(m for m in report["methods"] if m.startswith("model:"))
        group_amp = [c["methods"][label]["amp"] for c in report["clips"] if c["methods"][label]["amp"] is not None]
        amps += group_amp
        if with_clips:
            speakers = {json.loads(line)["id"]: json.loads(line)["speaker"]
                        for line in (dataset / "clips.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()}
            by_stem = {c.stem: c for c in clips}
            for entry in report["clips"]:
                amp = entry["methods"][label]["amp"]
                if amp is None or amp <= 0:
                    continue
                clip = by_stem[entry["clip"]]
                mel = extract_features(_load_clip_audio(clip, None), voice=False).mel
                per_clip.append({"group": data.name, "speaker": speakers.get(clip.stem, clip.stem), "amp": amp,
                                 "spectrum": spectrum_features(mel)})
        per_group[data.name] = {"clips": len(clips), "median_amp": float(np.median(group_amp))}
        print(f"{data.name}: {len(clips)} training clips, median amp {per_group[data.name]['median_amp']:.3f}",
              file=sys.stderr)
    return {"median_amp": float(np.median(amps)),
            "groups_amp": float(np.exp(np.mean([np.log(g["median_amp"]) for g in per_group.values()]))),
            "groups": per_group, "clips": per_clip}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="candidate weight-set folder or name")
    parser.add_argument("--data", type=Path, action="append", required=True, help="raw clip folder (repeat per group)")
    parser.add_argument("--split-from", type=Path, action="append", required=True, help="its prepared dataset")
    parser.add_argument("--every", type=int, action="append", required=True, help="use every N-th training clip")
    parser.add_argument("--rounds", type=int, default=1, help="fit, then refit with the new gain (default 1)")
    parser.add_argument("--pool", choices=["groups", "clips"], default="groups",
                        help="centre of the ratios: geometric mean of the group medians (default), or the "
                             "median over all clips")
    parser.add_argument("--json", type=Path, help="write the measurements and the gain here")
    parser.add_argument("--gain-model", action="store_true",
                        help="also fit the per-recording lip gain from the speech spectrum (lip_gain_model)")
    args = parser.parse_args()
    if not len(args.data) == len(args.split_from) == len(args.every):
        parser.error("give --data, --split-from and --every once per group")
    from makeittalk.animation import postprocess as pp
    from makeittalk.animation.tuning import weight_set_tuning

    amp_lip = float(weight_set_tuning(args.weights).get("amp_lip", pp.DEFAULT_AMP_LIP))
    groups = list(zip(args.data, args.split_from, args.every))
    centre = "groups_amp" if args.pool == "groups" else "median_amp"
    history = []
    tuning: dict | None = None
    rounds = max(args.rounds, 1)
    for round_number in range(rounds):
        measured = measure(args.weights, groups, tuning, with_clips=args.gain_model and round_number == rounds - 1)
        clips = measured.pop("clips")
        history.append({"amp_lip": amp_lip, **measured})
        measured_at, amp_lip = amp_lip, round(amp_lip / measured[centre], 3)
        tuning = {"amp_lip": amp_lip}
    result = {"fitted": {"amp_lip": amp_lip}, "rounds": history,
              "rule": ("gain / geometric mean of the group medians" if args.pool == "groups"
                       else "gain / median ratio") + " over every N-th training clip of each group"}
    if args.gain_model:
        from makeittalk.animation.spectrum_gains import LIP_GAIN
        from makeittalk.training.spectrum_gains_fit import fit_gain_model

        usable = [c for c in clips if c["spectrum"] is not None]
        # The opening is linear in the gain: at the new amp_lip each clip's amp is amp * new / measured_at.
        targets = np.array([[-np.log(c["amp"] * amp_lip / measured_at)] for c in usable])
        model, report = fit_gain_model(np.stack([c["spectrum"] for c in usable]), targets,
                                       [c["group"] for c in usable], [c["speaker"] for c in usable], LIP_GAIN[1])
        gains = model.gains(np.stack([c["spectrum"] for c in usable]))[:, 0]
        report["groups_median_amp"] = {
            name: float(np.median([c["amp"] * amp_lip / measured_at * g for c, g in zip(usable, gains)
                                   if c["group"] == name])) for name in {c["group"] for c in usable}}
        print("with the lip gain model, median amp per group: "
              + ", ".join(f"{k} {v:.2f}" for k, v in report["groups_median_amp"].items()), file=sys.stderr)
        result["lip_gain_model"] = model.to_settings()
        result["lip_gain_fit"] = report
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"--amp-lip {amp_lip}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
