"""`makeittalk eval`: score landmark predictions against real talking-face videos.

For every clip (a video under the clips folder):

1. **Audio**: ``<stem>.wav`` beside the video, else the video's own audio track.
2. **Ground truth**: ``<stem>.landmarks.npz`` beside the video (``landmarks`` (F, 68, 2) pixels,
   NaN where no face, ``detected`` (F,), ``fps``, ``t`` (F,) frame times on the audio's axis,
   ``width``/``height``), else every frame through `makeittalk.face.detect_landmarks` (as
   `makeittalk data prepare` does).
3. **Predictions** at the video's frame rate, frame i at i/fps: the model
   (`LandmarkAnimator.animate(audio, first_face, fps, blink=False, seed=clip_seed(stem))`, the
   animator loaded once for all clips; a seed per clip, so the head-motion ratios' medians are
   over independent draws of the seeded head motion, not one draw repeated on every clip) and
   the baselines of `makeittalk.evaluation.baselines`. The first ground-truth frame with a face
   is the static face every method starts from.
4. **Matching**: prediction frame i is compared with the ground-truth frame nearest in time
   to i/fps (within half a ground-truth frame), where that frame has a detected face. All
   methods are scored on the same frames with `makeittalk.evaluation.metrics.evaluate_sequence`.

The report has one row per (clip, method) and a mean row per method (clips weighted equally).
A clip's speaker comes from ``--split-from``'s clips.jsonl, else is assigned as
`makeittalk data prepare` assigns it (an index.tsv / utterances.tsv, else the folder name).
``max_seconds`` shortens the audio (and so the compared span); detection, when there is no
landmarks file, still runs on every video frame.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from makeittalk.errors import MakeItTalkError
from makeittalk.evaluation import baselines
from makeittalk.evaluation.metrics import DEFINITIONS, MEDIAN_METRICS, METRIC_NAMES, evaluate_sequence
from makeittalk.pipelines.video import read_video_header

__all__ = [
    "VIDEO_SUFFIXES",
    "EvalClip",
    "GroundTruth",
    "discover_clips",
    "val_stems",
    "load_ground_truth",
    "match_frames",
    "evaluate_clip",
    "run_evaluation",
    "format_table",
    "report_json",
]

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class EvalClip:
    stem: str
    video: Path
    audio: Path | None  # None: the video's own audio track
    landmarks_file: Path | None  # None: detect every frame
    speaker: str | None = None


@dataclass
class GroundTruth:
    landmarks: np.ndarray  # (F, 68, 2) float64 pixels, NaN where no face
    detected: np.ndarray  # (F,) bool
    times: np.ndarray  # (F,) seconds on the audio's axis
    fps: float
    size: tuple[int, int]  # width, height
    source: str  # "file" or "detected:<detector>"

    @property
    def first_face(self) -> np.ndarray:
        return self.landmarks[int(np.flatnonzero(self.detected)[0])]


# ----------------------------------------------------------------------------------------------
# discovery


def val_stems(dataset_dir: Path) -> dict[str, str | None]:
    """Stems of the clips whose split is "val" in DATASET_DIR/clips.jsonl -> their speaker."""
    index = Path(dataset_dir) / "clips.jsonl"
    if not index.is_file():
        raise MakeItTalkError(f"--split-from {dataset_dir}: no clips.jsonl there "
                              f"(give a folder written by 'makeittalk data prepare')")
    stems: dict[str, str | None] = {}
    try:
        lines = index.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MakeItTalkError(f"cannot read {index}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            source, split = entry["source"], entry["split"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise MakeItTalkError(f"{index}, line {number}: not a clip entry with 'source' and 'split' ({exc})") from exc
        if split == "val":
            stems[Path(source).stem] = str(entry.get("speaker", "")) or None
    return stems


def train_stems(dataset_dir: Path, every: int = 1) -> list[str]:
    """Every `every`-th stem (sorted) of the talking clips in the train split of DATASET_DIR/clips.jsonl,
    augmented copies left out: the clips gains and styles are fitted on (never the held-out ones)."""
    index = Path(dataset_dir) / "clips.jsonl"
    entries = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = sorted(Path(e["source"]).stem for e in entries
                   if e["split"] == "train" and e["kind"] == "talking" and not e.get("augmented_from"))
    return train[::every]


def discover_clips(clips_dir: Path, *, stems: list[str] | None = None,
                   split_from: Path | None = None) -> list[EvalClip]:
    """The videos under `clips_dir` (recursively, sorted), restricted to `stems` and/or to the
    val split of the dataset `split_from`. Raises MakeItTalkError when nothing is left."""
    from makeittalk.datasets.prepare import SpeakerTable

    clips_dir = Path(clips_dir)
    if not clips_dir.is_dir():
        raise MakeItTalkError(f"{clips_dir} is not a folder; give the folder holding the videos to evaluate")
    videos = sorted(p for p in clips_dir.rglob("*")
                    if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise MakeItTalkError(f"no videos ({' '.join(VIDEO_SUFFIXES)}) found under {clips_dir}")
    by_stem: dict[str, list[Path]] = {}
    for video in videos:
        by_stem.setdefault(video.stem, []).append(video)
    if stems:
        unknown = [s for s in stems if s not in by_stem]
        if unknown:
            known = ", ".join(sorted(by_stem)[:8]) + (" ..." if len(by_stem) > 8 else "")
            raise MakeItTalkError(f"--clips: no video named {', '.join(unknown)} under {clips_dir} (found: {known})")
        videos = [v for v in videos if v.stem in set(stems)]
    split_speakers: dict[str, str | None] = {}
    if split_from is not None:
        split_speakers = val_stems(split_from)
        videos = [v for v in videos if v.stem in split_speakers]
        if not videos:
            raise MakeItTalkError(f"none of the videos under {clips_dir} is in the val split of "
                                  f"{Path(split_from) / 'clips.jsonl'}")
    table = SpeakerTable(clips_dir, None)
    clips = []
    for video in videos:
        wav = video.with_suffix(".wav")
        sidecar = video.parent / f"{video.stem}.landmarks.npz"
        speaker = split_speakers.get(video.stem) or table.speaker(video, video.stem)
        clips.append(EvalClip(video.stem, video, wav if wav.is_file() else None,
                              sidecar if sidecar.is_file() else None, speaker))
    return clips


# ----------------------------------------------------------------------------------------------
# ground truth


def load_ground_truth(clip: EvalClip, *, detector: str = "auto") -> GroundTruth:
    """The clip's ground-truth landmarks: its .landmarks.npz, else detection on every frame."""
    if clip.landmarks_file is None:
        from makeittalk.datasets.prepare import _video_landmarks

        points, times, fps, size, source = _video_landmarks(str(clip.video), detector)
        points = np.asarray(points, dtype=np.float64)
        detected = np.isfinite(points).all(axis=(1, 2))
        return GroundTruth(points, detected, np.asarray(times, dtype=np.float64), fps, tuple(size), source)
    path = clip.landmarks_file
    try:
        with np.load(path) as data:
            points = np.asarray(data["landmarks"], dtype=np.float64)[..., :2]
            fps = float(data["fps"]) if "fps" in data.files else None
            times = np.asarray(data["t"], dtype=np.float64) if "t" in data.files else None
            detected = np.asarray(data["detected"], dtype=bool) if "detected" in data.files else None
            size = (int(data["width"]), int(data["height"])) if {"width", "height"} <= set(data.files) else None
    except (OSError, ValueError, KeyError) as exc:
        raise MakeItTalkError(f"{path}: not a landmarks file with a 'landmarks' (F, 68, 2) array ({exc})") from exc
    if points.ndim != 3 or points.shape[1:] != (68, 2) or len(points) == 0:
        raise MakeItTalkError(f"{path}: landmarks must be (F, 68, 2), got {points.shape}")
    if fps is None or size is None:
        header = read_video_header(clip.video)
        video_fps, video_size = header.fps, header.size
        fps = fps or video_fps
        size = size or video_size
    if times is None:
        times = np.arange(len(points)) / fps
    if len(times) != len(points) or (detected is not None and len(detected) != len(points)):
        raise MakeItTalkError(f"{path}: 't' and 'detected' must have one entry per landmark frame")
    finite = np.isfinite(points).all(axis=(1, 2))
    detected = finite if detected is None else detected & finite
    return GroundTruth(points, detected, times, fps, size, "file")


def match_frames(gt: GroundTruth, num_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """For prediction frames i = 0..num_frames-1 (time i/fps): the nearest ground-truth frame
    and whether it is usable (within half a ground-truth frame, face detected)."""
    pred_times = np.arange(num_frames) / fps
    order = np.argsort(gt.times, kind="stable")
    times = gt.times[order]
    right = np.clip(np.searchsorted(times, pred_times), 0, len(times) - 1)
    left = np.clip(right - 1, 0, len(times) - 1)
    nearer_left = np.abs(times[left] - pred_times) <= np.abs(times[right] - pred_times)
    nearest = np.where(nearer_left, left, right)
    index = order[nearest]
    close = np.abs(times[nearest] - pred_times) <= 0.5 / gt.fps + 1e-6
    return index, close & gt.detected[index]


# ----------------------------------------------------------------------------------------------
# evaluation


@dataclass
class ClipResult:
    clip: EvalClip
    frames: int
    fps: float
    frames_compared: int
    landmarks_source: str
    audio_seconds: float
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)


def clip_seed(stem: str) -> int:
    """A stable seed per clip (CRC-32 of its stem)."""
    return zlib.crc32(stem.encode("utf-8"))


def _load_clip_audio(clip: EvalClip, max_seconds: float | None):
    from makeittalk.audio import Waveform, load_audio
    from makeittalk.errors import AudioError

    source = clip.audio or clip.video
    try:
        waveform = load_audio(source)
    except AudioError as exc:
        if clip.audio is None:
            raise MakeItTalkError(f"clip {clip.stem}: no audio: there is no {clip.stem}.wav beside {clip.video} "
                                  f"and its own audio track cannot be read ({exc})") from exc
        raise
    if waveform.num_samples == 0:
        raise MakeItTalkError(f"clip {clip.stem}: the audio {source} has no samples")
    if max_seconds is not None and waveform.num_samples > max_seconds * SAMPLE_RATE:
        waveform = Waveform(waveform.samples[: int(round(max_seconds * SAMPLE_RATE))], source=waveform.source)
    return waveform


def evaluate_clip(clip: EvalClip, animator: Any, *, max_seconds: float | None = None,
                  detector: str = "auto", model_label: str = "model") -> ClipResult:
    """Ground truth, the model's and the baselines' predictions and their metrics for one clip."""
    waveform = _load_clip_audio(clip, max_seconds)
    gt = load_ground_truth(clip, detector=detector)
    if not gt.detected.any():
        raise MakeItTalkError(f"clip {clip.stem}: no face in any frame of {clip.landmarks_file or clip.video}")
    fps = float(gt.fps)
    face = gt.first_face
    seconds = waveform.num_samples / SAMPLE_RATE
    sequence = animator.animate(waveform, face, fps=fps, blink=False, seed=clip_seed(clip.stem), image_size=gt.size)
    predictions = {model_label: np.asarray(sequence.landmarks, dtype=np.float64)[..., :2]}
    num_frames = len(predictions[model_label])
    predictions = {
        "static": baselines.static_baseline(face, num_frames),
        "rms": baselines.rms_baseline(face, waveform.samples, fps, num_frames),
        **predictions,
    }
    index, usable = match_frames(gt, num_frames, fps)
    truth = gt.landmarks[index]
    valid = usable & np.isfinite(truth).all(axis=(1, 2))
    for frames in predictions.values():
        valid &= np.isfinite(frames).all(axis=(1, 2))
    if not valid.any():
        raise MakeItTalkError(f"clip {clip.stem}: no prediction frame falls on a ground-truth frame with a face")
    result = ClipResult(clip, num_frames, fps, int(valid.sum()), gt.source, seconds)
    loudness = baselines.frame_rms(waveform.samples, fps, num_frames)
    for name, frames in predictions.items():
        result.methods[name] = evaluate_sequence(frames, truth, valid, fps, loudness)
    return result


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else round(float(value), 6)
    return value


def _means(results: list[ClipResult]) -> dict[str, dict[str, Any]]:
    means: dict[str, dict[str, Any]] = {}
    for name in results[0].methods:
        rows = [r.methods[name] for r in results]
        entry: dict[str, Any] = {}
        for key in (*METRIC_NAMES, "mouth_r_lag0", *MEDIAN_METRICS, "head_audio_r"):
            values = np.array([row[key] for row in rows], dtype=np.float64)
            values = values[np.isfinite(values)]
            summary = np.median if key in MEDIAN_METRICS else np.mean
            entry[key] = float(summary(values)) if len(values) else float("nan")
        lags = np.array([row["mouth_lag_ms"] for row in rows if row["r_defined"]], dtype=np.float64)
        entry["mouth_abs_lag_ms"] = float(np.abs(lags).mean()) if len(lags) else float("nan")
        entry["r_defined_clips"] = sum(bool(row["r_defined"]) for row in rows)
        entry["clips"] = len(rows)
        means[name] = entry
    return means


def run_evaluation(clips: list[EvalClip], *, weights: str = "default", device: str | None = None,
                   max_seconds: float | None = None, detector: str = "auto",
                   log: Callable[[str], None] | None = None, animator: Any = None) -> dict[str, Any]:
    """Evaluate every clip (the animator loaded once) and return the JSON report."""
    if animator is None:
        from makeittalk.animation import LandmarkAnimator

        animator = LandmarkAnimator.from_pretrained(weights, device)
    label = f"model:{weights}"
    results: list[ClipResult] = []
    for number, clip in enumerate(clips, 1):
        started = time.perf_counter()
        result = evaluate_clip(clip, animator, max_seconds=max_seconds, detector=detector, model_label=label)
        results.append(result)
        if log is not None:
            model = result.methods[label]
            log(f"[{number}/{len(clips)}] {clip.stem}: {result.frames} frames at {result.fps:g} fps, "
                f"{result.frames_compared} compared, ground truth {result.landmarks_source}; "
                f"model D-LL {model['D-LL']:.2f} ({time.perf_counter() - started:.1f} s)")
    report = {
        "weights": weights,
        "methods": list(results[0].methods),
        "clips": [],
        "mean": _means(results),
        "definitions": {**DEFINITIONS, "rms_baseline": f"static face, lower lip and chin moved down by "
                        f"open*K*eye distance, open = frame RMS / P95 clipped to [0,1], K = {baselines.RMS_OPEN_GAIN} "
                        f"(fixed, not tuned)", "static_baseline": "the first ground-truth face repeated"},
    }
    for result in results:
        entry: dict[str, Any] = {"clip": result.clip.stem}
        if result.clip.speaker:
            entry["speaker"] = result.clip.speaker
        entry.update(frames=result.frames, fps=result.fps, frames_compared=result.frames_compared,
                     audio_seconds=result.audio_seconds, landmarks_source=result.landmarks_source,
                     video=str(result.clip.video), methods=result.methods)
        report["clips"].append(entry)
    return _clean(report)


# ----------------------------------------------------------------------------------------------
# output

_COLUMNS = (("D-LL", "D-LL", 2), ("D-VL", "D-VL", 2), ("D-A", "D-A", 2), ("D-L", "D-L", 2), ("D-V", "D-V", 2),
            ("D-Rot", "D-Rot", 2), ("D-Pos", "D-Pos", 2), ("mouth r", "mouth_r", 3), ("lag ms", "mouth_lag_ms", 0),
            ("r-lag0", "mouth_r_lag0", 3), ("amp", "amp", 2), ("rot-sd", "head_rot_std_ratio", 2),
            ("rot-v", "head_rot_speed_ratio", 2), ("pos-sd", "head_pos_std_ratio", 2),
            ("pos-v", "head_pos_speed_ratio", 2))
_MOUTH_R_COLUMN = 7


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def format_table(report: dict[str, Any], *, means_only: bool = False) -> str:
    """The report as a plain-text table: a row per (clip, method), then a MEAN row per method
    (only the MEAN rows with `means_only`)."""
    rows: list[list[str]] = []
    undefined = False
    for clip in [] if means_only else report["clips"]:
        for name, metrics in clip["methods"].items():
            cells = [_cell(metrics.get(key), digits) for _, key, digits in _COLUMNS]
            if not metrics["r_defined"]:
                cells[_MOUTH_R_COLUMN] += "*"
                undefined = True
            rows.append([clip["clip"], name, *cells])
    for name, metrics in report["mean"].items():
        cells = [_cell(metrics.get(key), digits) for _, key, digits in _COLUMNS]
        if metrics["r_defined_clips"] < metrics["clips"]:
            cells[_MOUTH_R_COLUMN] += "*"
            undefined = True
        rows.append(["MEAN", name, *cells])
    header = ["clip", "method", *(title for title, _, _ in _COLUMNS)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous and row[0] == "MEAN":
            out.append(line(["-" * w for w in widths]))
        out.append(line(row))
        previous = row[0]
    out.append("distances in % of the mean eye-corner distance |p36-p45|, D-Rot in degrees, "
               "velocities per frame; lag > 0: prediction later")
    out.append("amp: std of the predicted mouth opening / the real one; rot-sd, rot-v, pos-sd, pos-v: head roll "
               "and position spread and speed, predicted / real; MEAN rows give the median of these ratios")
    if undefined:
        out.append("* mouth r undefined for a constant mouth opening (counted as 0)")
    return "\n".join(out)


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=1, allow_nan=False) + "\n"
