"""What live mode costs in lip sync: mouth-opening r of streamed vs offline landmarks on held-out speakers.

Each held-out clip (the speakers `scripts/train_default_weights.sh` never trains on) is driven
from its first frame's real landmarks with its own audio, once offline
(`LandmarkAnimator.animate`) and once streamed in 20 ms chunks (`StreamingAnimator`), with the
shipped default weights; both are scored against the clip's real landmarks with `makeittalk
eval`'s mouth correlation (best lag within +-200 ms, and lag 0).

    python benchmarks/bench_live_quality.py                    # all three groups
    python benchmarks/bench_live_quality.py --groups talking --max-clips 10
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
HELD_OUT = {
    "talking": {"styletalk_KristiNoem", "styletalk_reagan", "vretalking_2", "pcavs_00098", "pcavs_00373",
                "pcavs_796100172"},
    "talking_ar": {"ar_spk003", "ar_spk010", "ar_spk017", "ar_spk024", "ar_spk031"},
}


def held_out_clips(group: str, limit: int | None) -> list[Path]:
    folder = DATA / group
    if group == "talking_grid_s1":
        videos = sorted(folder.glob("*.mp4"))[-50:]
    else:
        with open(folder / "index.tsv", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream, delimiter="\t"))
        videos = [folder / f"{row['clip']}.mp4" for row in rows if row["speaker"] in HELD_OUT[group]]
        videos = sorted(v for v in videos if v.is_file())
    if limit:
        step = max(1, len(videos) // limit)
        videos = videos[::step][:limit]
    return videos


def streamed(animator, waveform, face, fps: float, chunk: int = 320) -> np.ndarray:
    from makeittalk.animation.streaming import StreamConfig, StreamingAnimator

    stream = StreamingAnimator(animator, face, StreamConfig(fps=fps))
    frames = []
    for start in range(0, waveform.num_samples, chunk):
        frames += stream.push(waveform.samples[start:start + chunk])
    frames += stream.finish()
    return np.stack([f[2] for f in frames])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", default="talking,talking_ar,talking_grid_s1")
    parser.add_argument("--max-clips", type=int, default=None, help="at most this many clips per group (evenly spread)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    from makeittalk.animation.engine import LandmarkAnimator
    from makeittalk.audio import load_audio
    from makeittalk.evaluation.metrics import mouth_correlation
    from makeittalk.evaluation.runner import EvalClip, load_ground_truth, match_frames

    animator = LandmarkAnimator.from_pretrained("default")
    report = {}
    for group in args.groups.split(","):
        rows = []
        for video in held_out_clips(group, args.max_clips):
            sidecar = video.parent / f"{video.stem}.landmarks.npz"
            gt = load_ground_truth(EvalClip(video.stem, video, None, sidecar if sidecar.is_file() else None))
            wav = video.with_suffix(".wav")  # talking/ keeps the audio beside the video
            waveform = load_audio(wav if wav.is_file() else video)
            face = animator.static_face(np.concatenate([gt.first_face, np.zeros((68, 1))], axis=1))
            offline = animator.animate(waveform, face, fps=gt.fps).landmarks
            live = streamed(animator, waveform, face, gt.fps)
            n = min(len(offline), len(live))
            index, valid = match_frames(gt, n, gt.fps)
            truth = gt.landmarks[index]
            a = mouth_correlation(offline[:n, :, :2], truth, valid, gt.fps)
            b = mouth_correlation(live[:n, :, :2], truth, valid, gt.fps)
            rows.append((a.r, a.r_lag0, b.r, b.r_lag0))
        figures = np.asarray(rows)
        mean = figures.mean(axis=0)
        report[group] = {"clips": len(rows), "offline_r": round(float(mean[0]), 3), "offline_r_lag0": round(float(mean[1]), 3),
                         "live_r": round(float(mean[2]), 3), "live_r_lag0": round(float(mean[3]), 3),
                         "live_minus_offline_r": round(float(mean[2] - mean[0]), 3),
                         "live_minus_offline_r_lag0": round(float(mean[3] - mean[1]), 3)}
        print(json.dumps({group: report[group]}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
