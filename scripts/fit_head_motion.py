#!/usr/bin/env python3
"""Fit the procedural head motion's style (weightset.json "animation": "procedural_style") on
TRAINING clips, so its size and speed are those of real heads in every group (issue 13 item 6).

    python3 scripts/fit_head_motion.py --weights WORK/candidate \
        --data shared/data/talking --split-from WORK/datasets/talking --every 1 \
        --data shared/data/talking_ar --split-from WORK/datasets/talking_ar --every 10 \
        --data shared/data/talking_grid_s1 --split-from WORK/datasets/talking_grid_s1 --every 5 \
        --json WORK/head_motion.json

The four statistics are those of `makeittalk eval`: the std and mean frame-to-frame speed of the
in-plane roll and of the stable points' centroid, each as predicted / real per clip. The head
motion is rigid, so it is measured without the networks: the clip's first face is moved by the
style's motion (the engine's rigid_delta, resampled to the clip's frame rate like the engine's
output, with the clip's own seed as `makeittalk eval` uses), and compared with the clip's real
landmarks; the lips do not move the roll or the centroid. The networks' own head motion is left
out: the default set's speaker branch moves the head by a few hundredths of a pixel.

For every spectral shape on a small grid (sway band, the roll's share that follows the loudness,
the size of the slow drift), the roll size and the position size (yaw, pitch and shifts together)
each get the one gain that puts the most of their six per-group median ratios (3 groups x std and
speed) within 0.5-2x, ties going to the smallest worst ratio; the shape with the fewest ratios
outside wins. The sizes are absolute: the set's procedural_pose gain (1 in the recipe) multiplies
them. Prints the chosen style as JSON on the last line.

`--size-model` also fits makeittalk.animation.spectrum_gains's head_size_model: a ridge regression from each training
clip's speech spectrum to the log gains (roll, position) that would centre its own std and speed
ratios at the chosen style. Clips are weighted so that every group, and every speaker within it,
counts the same; the ridge strength is the one with the least error over five folds that hold
out whole speakers (a one-speaker group's clips are spread over the folds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SWAY_HZ = (0.8, 1.2, 1.8)
ROLL_SPEECH_SHARE = (0.0, 0.3)
DRIFT_SIZE = (0.0, 1.0, 2.0, 4.0)


class ClipData:
    """What one clip needs for the head-motion statistics: its face, loudness and real motion."""

    def __init__(self, clip, face_tweaks: bool, speaker: str = "") -> None:
        from makeittalk.animation.spectrum_gains import spectrum_features
        from makeittalk.audio.features import mel_spectrogram
        from makeittalk.audio.frontend import extract_features
        from makeittalk.evaluation import runner
        from makeittalk.evaluation.metrics import eye_distance, head_motion
        from makeittalk.face import StaticFace, apply_original_tweaks

        waveform = runner._load_clip_audio(clip, None)
        gt = runner.load_ground_truth(clip)
        self.fps = float(gt.fps)
        self.seed = runner.clip_seed(clip.stem)
        points = gt.first_face
        self.face = StaticFace.from_landmarks(apply_original_tweaks(points) if face_tweaks else points)
        self.loudness = mel_spectrogram(np.asarray(waveform.samples, dtype=np.float64)).mean(axis=1)
        self.speaker = speaker
        # The spectrum as the engine sees it: the mel of the loudness-normalised audio.
        self.spectrum = spectrum_features(extract_features(waveform, voice=False).mel)
        self.seconds = waveform.num_samples / 16000
        from makeittalk.animation.resample import frame_count

        self.frames = frame_count(self.seconds, self.fps)
        index, usable = runner.match_frames(gt, self.frames, self.fps)
        self.truth = gt.landmarks[index]
        self.valid = usable & np.isfinite(self.truth).all(axis=(1, 2))
        self.eye = eye_distance(self.truth, self.valid) if self.valid.any() else float("nan")
        self.real = head_motion(self.truth, self.valid, self.eye) if self.valid.sum() >= 3 else None

    def predicted(self, style, gain: float) -> dict[str, float]:
        from makeittalk.animation import postprocess as pp
        from makeittalk.animation.head_motion import procedural_pose, rigid_delta
        from makeittalk.animation.resample import resample
        from makeittalk.evaluation.metrics import head_motion

        n = len(self.loudness)
        pose = procedural_pose(n, self.loudness, seed=self.seed, style=style) * gain
        moved = self.face.face_id.reshape(1, 204) + rigid_delta(self.face.face_id, pose)
        pixels = pp.denormalize(moved, self.face.scale, self.face.shift).reshape(n, 68, 3)
        frames = resample(pixels, self.fps, self.frames)[..., :2]
        return head_motion(frames, self.valid, self.eye)


def ratios(clips: list[ClipData], style, gain: float) -> dict[str, float]:
    """Median predicted / real ratio of each statistic over the clips."""
    out: dict[str, list[float]] = {"rot_std": [], "rot_speed": [], "pos_std": [], "pos_speed": []}
    for clip in clips:
        pred = clip.predicted(style, gain)
        for key in out:
            real = clip.real[key]
            if real > 1e-9 and np.isfinite(pred[key]):
                out[key].append(pred[key] / real)
    return {key: float(np.median(v)) for key, v in out.items()}


def scaled(style, roll: float, position: float):
    return replace(style, roll_deg=style.roll_deg * roll, yaw_deg=style.yaw_deg * position,
                   pitch_deg=style.pitch_deg * position, shift_x=style.shift_x * position,
                   shift_y=style.shift_y * position)


def fit(groups: dict[str, list[ClipData]], gain: float) -> dict:
    from makeittalk.animation.head_motion import HeadMotionStyle

    best = None
    for sway, roll_share, drift in itertools.product(SWAY_HZ, ROLL_SPEECH_SHARE, DRIFT_SIZE):
        shape = replace(HeadMotionStyle(), sway_hz=sway, roll_speech_share=roll_share, drift_size=drift)
        measured = {name: ratios(clips, shape, gain) for name, clips in groups.items()}
        roll_logs = np.log([m[k] for m in measured.values() for k in ("rot_std", "rot_speed")])
        pos_logs = np.log([m[k] for m in measured.values() for k in ("pos_std", "pos_speed")])
        (roll_gain, roll_out, roll_worst), (pos_gain, pos_out, pos_worst) = best_gain(roll_logs), best_gain(pos_logs)
        score = (roll_out + pos_out, max(roll_worst, pos_worst))
        if best is None or score < best["score"]:
            best = {"style": scaled(shape, roll_gain, pos_gain), "score": score}
        print(f"sway {sway} Hz, roll share {roll_share}, drift {drift}: {score[0]} of 12 ratios outside "
              f"0.5-2x after the gains, worst x{np.exp(score[1]):.2f}", file=sys.stderr)
    final = {name: ratios(clips, best["style"], gain) for name, clips in groups.items()}
    return {"style": best["style"], "outside": best["score"][0], "worst_factor": float(np.exp(best["score"][1])),
            "groups": final}


def size_targets(clip: ClipData, style, gain: float) -> np.ndarray | None:
    """Log (roll, position) gains that put this clip's std and speed ratios symmetrically about 1."""
    pred = clip.predicted(style, gain)
    out = []
    for std, speed in (("rot_std", "rot_speed"), ("pos_std", "pos_speed")):
        ratios_here = [pred[k] / clip.real[k] for k in (std, speed) if clip.real[k] > 1e-9]
        if len(ratios_here) < 2 or not all(np.isfinite(ratios_here)) or min(ratios_here) <= 0:
            return None
        out.append(-0.5 * float(np.log(ratios_here).sum()))
    return np.array(out)


def fit_size_model(groups: dict[str, list[ClipData]], style, gain: float) -> tuple[dict, dict]:
    from makeittalk.animation.spectrum_gains import HEAD_SIZE
    from makeittalk.training.spectrum_gains_fit import fit_gain_model

    rows = [(name, c, size_targets(c, style, gain)) for name, clips in groups.items() for c in clips]
    rows = [(name, c, t) for name, c, t in rows if t is not None and c.spectrum is not None]
    model, report = fit_gain_model(np.stack([c.spectrum for _, c, _ in rows]), np.stack([t for _, _, t in rows]),
                                   [name for name, _, _ in rows], [c.speaker for _, c, _ in rows], HEAD_SIZE[1])
    return model.to_settings(), report


def ratios_with_sizes(clips: list[ClipData], style, gain: float, model) -> dict[str, float]:
    """`ratios` with each clip's motion scaled by the size model's gains for its spectrum."""
    out: dict[str, list[float]] = {"rot_std": [], "rot_speed": [], "pos_std": [], "pos_speed": []}
    for clip in clips:
        roll, position = model.gains(clip.spectrum)
        pred = clip.predicted(scaled(style, roll, position), gain)
        for key in out:
            real = clip.real[key]
            if real > 1e-9 and np.isfinite(pred[key]):
                out[key].append(pred[key] / real)
    return {key: float(np.median(v)) for key, v in out.items()}


def best_gain(logs: np.ndarray) -> tuple[float, int, float]:
    """The gain that puts the most of these log ratios within log(0.5)..log(2) (ties: the smallest
    worst |log ratio|), its count outside and that worst |log ratio|."""
    bound = np.log(2.0)
    choices = []
    for log_gain in np.linspace(-3.0, 3.0, 601):
        shifted = logs + log_gain
        choices.append((int((np.abs(shifted) > bound + 1e-9).sum()), float(np.abs(shifted).max()), log_gain))
    outside, worst, log_gain = min(choices)
    return float(np.exp(log_gain)), outside, worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="candidate weight-set folder or name")
    parser.add_argument("--data", type=Path, action="append", required=True, help="raw clip folder (repeat per group)")
    parser.add_argument("--split-from", type=Path, action="append", required=True, help="its prepared dataset")
    parser.add_argument("--every", type=int, action="append", required=True, help="use every N-th training clip")
    parser.add_argument("--json", type=Path, help="write the fitted style and the per-group ratios here")
    parser.add_argument("--size-model", action="store_true",
                        help="also fit the spectrum -> motion size model (head_size_model)")
    args = parser.parse_args()
    if not len(args.data) == len(args.split_from) == len(args.every):
        parser.error("give --data, --split-from and --every once per group")
    from makeittalk.animation.tuning import weight_set_tuning
    from makeittalk.evaluation.runner import discover_clips, train_stems

    tuning = weight_set_tuning(args.weights)
    gain = float(tuning.get("procedural_pose", 1.0))
    face_tweaks = bool(tuning.get("face_tweaks", True))
    groups: dict[str, list[ClipData]] = {}
    for data, dataset, every in zip(args.data, args.split_from, args.every):
        speakers = {json.loads(line)["id"]: json.loads(line)["speaker"]
                    for line in (dataset / "clips.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()}
        clips = [ClipData(c, face_tweaks, speakers.get(c.stem, c.stem))
                 for c in discover_clips(data, stems=train_stems(dataset, every))]
        groups[data.name] = [c for c in clips if c.real is not None]
        print(f"{data.name}: {len(groups[data.name])} training clips", file=sys.stderr)
    result = fit(groups, gain)
    style = {k: round(v, 4) for k, v in asdict(result["style"]).items() if k != "nod_band_hz"}
    report = {"procedural_style": style, "procedural_pose": gain, "outside_0.5_2": result["outside"],
              "worst_factor": result["worst_factor"], "groups": result["groups"],
              "rule": "per shape, one roll and one position gain put the most of the six per-group median "
                      "ratios within 0.5-2x (ties: the smallest worst ratio); the shape with the fewest outside wins"}
    for name, measured in result["groups"].items():
        print(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in measured.items()), file=sys.stderr)
    if args.size_model:
        from makeittalk.animation.head_motion import HeadMotionStyle
        from makeittalk.animation.spectrum_gains import HEAD_SIZE, from_tuning

        fitted_style = HeadMotionStyle.from_settings(style)
        settings, fitted = fit_size_model(groups, fitted_style, gain)
        model = from_tuning({HEAD_SIZE[0]: settings}, HEAD_SIZE)
        fitted["groups"] = {name: ratios_with_sizes(clips, fitted_style, gain, model) for name, clips in groups.items()}
        for name, measured in fitted["groups"].items():
            print(f"{name} with the size model: " + ", ".join(f"{k} {v:.2f}" for k, v in measured.items()),
                  file=sys.stderr)
        report["head_size_model"] = settings
        report["head_size_fit"] = fitted
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(style))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
