"""`makeittalk data prepare`: raw recordings and videos -> a training dataset.

Inputs (found recursively under the input folder, in sorted order; nothing is ever written
there):

* **talking** clips: a video (.mp4 .mov .mkv .avi .webm). Its audio is the ``<clip>.wav`` beside
  it when there is one, else the video's own audio track. Landmarks come from the
  ``<clip>.landmarks.npz`` beside it when there is one (``landmarks`` (F, 68, 2) pixels with NaN
  for missing faces, ``t`` (F,) frame times in seconds, as in shared/data/talking); otherwise
  every frame is run through `makeittalk.face.detect_landmarks` (the inference detector).
  Which one was used is recorded in ``landmark_source`` ("file" or "detected:<detector>").
* **lips** segments: an audio file with a ``<stem>.npz`` beside it holding ``keypoints``
  (T, 20, 2) = iBUG mouth points 48-67 in normalised units and ``fps`` (the Obama set).
  They are stored at their iBUG indices in a (T, 68, 2) array with ``point_mask`` True only
  for 48-67 and ``landmark_space`` "normalized-mouth". No audio/motion offset is applied
  (the Obama keypoints lead their audio by about 0.1 s: estimate or learn it in training).
* **speech**: any other audio file (.wav .flac .ogg .mp3 .m4a).

Output layout (format ``makeittalk-dataset``, version 1)::

    DATASET_DIR/dataset.json   format, version, frame_rate 62.5, hop/sample rate, sources,
                               counts per kind/split, options, failures of the last run
    DATASET_DIR/clips.jsonl    one JSON object per clip, sorted by id: id, speaker, source
                               (input path), kind (speech|talking|lips), seconds, num_frames,
                               split (train|val), file (relative path of the clip .npz),
                               landmark_space, landmark_source, and the input's own metadata
    DATASET_DIR/clips/<id>.npz one file per clip (written atomically):
        mel                     (T, 80) float32  AutoVC mel (inference front end, -20 dBFS)
        f0_bins                 (T,) int16       0 = unvoiced, 1..256; the one-hot AutoVC input is
                                                 np.eye(257, dtype=np.float32)[f0_bins]
        speaker_embedding       (256,) float32   Resemblyzer, before loudness normalisation
        autovc_source_embedding (256,) float32   Resemblyzer, after it (AutoVC's c_org)
        seconds, frame_rate     float64          audio length; 62.5 (= 16000 / 256)
        meta                    str              the clip's clips.jsonl line (JSON)
      and for talking / lips clips:
        landmarks               (T, 68, 2) float32  mel frame t is at time t * 256 / 16000 s;
                                                    linear interpolation in landmark space;
                                                    NaN where landmark_mask is False
        landmark_mask           (T,) bool        False: no face, a gap of more than
                                                 MAX_GAP_FRAMES source frames, or outside the video
        point_mask              (68,) bool       which of the 68 points exist (all, or 48-67)
        landmark_space          str              "pixels" (x right, y down) or "normalized-mouth"
        source_fps              float64          landmark rate before resampling
        image_size              (2,) int32       width, height (talking clips; 0, 0 for lips)

T is the mel frame count, ⌊L/256⌋ + 1 for L samples at 16 kHz.

Speaker ids, first match wins: the ``--speakers`` CSV (``clip,speaker``; clip = file stem or id),
an ``utterances.tsv`` (``utterance``/``speaker`` columns) or ``index.tsv`` (``clip``/``speaker``)
in the clip's folder or an ancestor up to the input folder, else the name of the folder the
file is in. The split is ``val`` when sha1(speaker) mod 1000 < 1000 * val_fraction (default
10 %), so it is deterministic and no speaker is in both splits; ``--val-speakers`` names the
held-out speakers explicitly instead, and ``--val-last N`` holds out the last N clips in sorted id
order (a same-speaker check for single-speaker sets). ``--merge-speakers OLD=NEW`` relabels
speaker ids before splitting (clusters that are the same person stay on one side).

Clips whose .npz exists are skipped unless ``overwrite`` (resume); inputs that fail are
reported and skipped. ``workers`` > 1 prepares files in a multiprocessing pool, one
SpeakerEncoder per worker; torch runs single-threaded in every worker so that results do not
depend on the number of workers.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from makeittalk.errors import MakeItTalkError

DATASET_FORMAT = "makeittalk-dataset"
DATASET_VERSION = 1
SAMPLE_RATE = 16000
HOP_LENGTH = 256
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH  # 62.5
MAX_GAP_FRAMES = 3  # missing source frames bridged by interpolation
DEFAULT_VAL_FRACTION = 0.1
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
MOUTH_POINTS = np.arange(48, 68)


@dataclass(frozen=True)
class Job:
    """One clip to prepare (picklable: it travels to the worker processes)."""

    id: str
    kind: str  # speech | talking | lips
    source: str  # the main input file
    audio: str  # where the audio is read from
    speaker: str
    split: str
    landmarks_file: str | None = None  # talking: <clip>.landmarks.npz; lips: the keypoint npz
    extra: dict = field(default_factory=dict)


@dataclass
class PrepareReport:
    prepared: list[str] = field(default_factory=list)
    skipped_existing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input path, reason)
    notes: list[str] = field(default_factory=list)
    total_clips: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.prepared or self.skipped_existing)


# ----------------------------------------------------------------------------------------------
# split and speakers


def split_for_speaker(speaker: str, val_fraction: float = DEFAULT_VAL_FRACTION,
                      val_speakers: frozenset[str] | None = None) -> str:
    """'val' or 'train', a fixed function of the speaker id (so speakers never leak).

    An explicit `val_speakers` set, when given, decides alone.
    """
    if val_speakers is not None:
        return "val" if speaker in val_speakers else "train"
    bucket = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest()[:8], 16) % 1000
    return "val" if bucket < round(1000 * val_fraction) else "train"


@dataclass(frozen=True)
class SplitRule:
    """Which clips are held out: named speakers and/or the last `val_last` clips (sorted ids);
    with neither, speakers by hash (`split_for_speaker`)."""

    val_fraction: float = DEFAULT_VAL_FRACTION
    val_speakers: frozenset[str] | None = None
    val_clips: frozenset[str] = frozenset()
    val_last: int = 0

    @property
    def explicit(self) -> bool:
        return self.val_speakers is not None or self.val_last > 0

    def split(self, speaker: str, clip_id: str) -> str:
        if clip_id in self.val_clips:
            return "val"
        if self.explicit:
            return "val" if self.val_speakers is not None and speaker in self.val_speakers else "train"
        return split_for_speaker(speaker, self.val_fraction)

    def describe(self) -> dict:
        if not self.explicit:
            return {"rule": "val if int(sha1(speaker)[:8], 16) % 1000 < 1000 * val_fraction",
                    "val_fraction": self.val_fraction}
        out: dict = {"rule": " or ".join(
            part for part, used in (("val if speaker in val_speakers", self.val_speakers is not None),
                                    ("the last val_last clips in sorted id order", self.val_last > 0)) if used)}
        if self.val_speakers is not None:
            out["val_speakers"] = sorted(self.val_speakers)
        if self.val_last:
            out["val_last"] = self.val_last
            out["val_clips"] = sorted(self.val_clips)
        return out


def _read_table(path: Path) -> list[dict[str, str]]:
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with open(path, newline="", encoding="utf-8") as stream:
        return [dict(row) for row in csv.DictReader(stream, delimiter=delimiter)]


class SpeakerTable:
    def __init__(self, root: Path, speakers_csv: Path | None, merges: dict[str, str] | None = None) -> None:
        self.root = root
        self.merges = dict(merges or {})
        self.explicit: dict[str, str] = {}
        if speakers_csv is not None:
            try:
                rows = _read_table(speakers_csv)
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise MakeItTalkError(f"cannot read the speakers file {speakers_csv}: {exc}") from exc
            if rows and not {"clip", "speaker"} <= set(rows[0]):
                raise MakeItTalkError(f"{speakers_csv}: expected a header with 'clip' and 'speaker' columns")
            self.explicit = {row["clip"]: row["speaker"] for row in rows}
        self._folder_tables: dict[Path, dict[str, str]] = {}

    def _table(self, folder: Path) -> dict[str, str]:
        if folder not in self._folder_tables:
            table: dict[str, str] = {}
            for name, key in (("utterances.tsv", "utterance"), ("index.tsv", "clip")):
                path = folder / name
                if path.is_file():
                    try:
                        rows = _read_table(path)
                    except (OSError, UnicodeDecodeError, csv.Error):
                        continue
                    for row in rows:
                        if row.get(key) and row.get("speaker"):
                            table.setdefault(row[key], row["speaker"])
            self._folder_tables[folder] = table
        return self._folder_tables[folder]

    def speaker(self, path: Path, clip_id: str) -> str:
        found = self._speaker(path, clip_id)
        return self.merges.get(found, found)

    def _speaker(self, path: Path, clip_id: str) -> str:
        for key in (clip_id, path.stem.removesuffix(".landmarks")):
            if key in self.explicit:
                return self.explicit[key]
        folder = path.parent
        while True:
            table = self._table(folder)
            if path.stem in table:
                return table[path.stem]
            if folder == self.root or self.root not in folder.parents:
                break
            folder = folder.parent
        return path.parent.name or "unknown"


# ----------------------------------------------------------------------------------------------
# discovery


def _clip_id(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    return "--".join(rel.parts)


def discover(root: Path, speakers: SpeakerTable, rule: SplitRule) -> list[Job]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    by_stem: dict[Path, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.with_suffix(""), []).append(path)
    jobs: list[Job] = []
    for path in files:
        suffix = path.suffix.lower()
        stem = path.with_suffix("")
        siblings = by_stem.get(stem, [])
        if suffix in VIDEO_SUFFIXES:
            audio = next((p for p in siblings if p.suffix.lower() in AUDIO_SUFFIXES), path)
            sidecar = path.parent / f"{path.stem}.landmarks.npz"
            kind, landmarks_file = "talking", (str(sidecar) if sidecar.is_file() else None)
        elif suffix in AUDIO_SUFFIXES:
            if any(p.suffix.lower() in VIDEO_SUFFIXES for p in siblings):
                continue  # the audio of a talking clip
            keypoints = next((p for p in siblings if p.suffix.lower() == ".npz"), None)
            audio = path
            kind, landmarks_file = ("lips", str(keypoints)) if keypoints is not None else ("speech", None)
        else:
            continue
        clip_id = _clip_id(root, path)
        speaker = speakers.speaker(path, clip_id)
        jobs.append(Job(id=clip_id, kind=kind, source=str(path), audio=str(audio), speaker=speaker,
                        split=rule.split(speaker, clip_id), landmarks_file=landmarks_file))
    return jobs


# ----------------------------------------------------------------------------------------------
# landmark resampling


def mel_frame_times(num_frames: int) -> np.ndarray:
    """Time in seconds of each mel frame: t * 256 / 16000."""
    return np.arange(num_frames, dtype=np.float64) * HOP_LENGTH / SAMPLE_RATE


def interpolate_landmarks(points: np.ndarray, times: np.ndarray, target_times: np.ndarray,
                          valid: np.ndarray | None = None, *, max_gap: int = MAX_GAP_FRAMES,
                          frame_period: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of (F, P, D) landmark frames at `times` to `target_times`.

    Frames that are not `valid` (default: any NaN) are missing. A target time between two valid
    frames is interpolated when at most `max_gap` missing frames lie between them; before the
    first / after the last valid frame the edge frame is held for up to (max_gap + 1) frame
    periods, and only when at most `max_gap` missing frames precede / follow it (so a face that
    is missing at the start is not filled in). Everything else is NaN with mask False.
    Returns (landmarks float32, mask bool).
    """
    points = np.asarray(points, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if valid is None:
        valid = ~np.isnan(points).reshape(len(points), -1).any(axis=1)
    valid = np.asarray(valid, dtype=bool) & ~np.isnan(points).reshape(len(points), -1).any(axis=1)
    out = np.full((len(target_times),) + points.shape[1:], np.nan, dtype=np.float64)
    mask = np.zeros(len(target_times), dtype=bool)
    index = np.flatnonzero(valid)
    if len(index) == 0:
        return out.astype(np.float32), mask
    if frame_period is None:
        frame_period = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    vt = times[index]
    right = np.searchsorted(vt, target_times, side="left")  # first valid frame at or after t
    for m, t in enumerate(target_times):
        r = right[m]
        if r < len(vt) and vt[r] == t:
            out[m], mask[m] = points[index[r]], True
        elif r == 0:  # before the first valid frame: hold it over at most max_gap missing frames
            if index[0] <= max_gap and vt[0] - t <= (max_gap + 1) * frame_period:
                out[m], mask[m] = points[index[0]], True
        elif r == len(vt):
            if len(times) - 1 - index[-1] <= max_gap and t - vt[-1] <= (max_gap + 1) * frame_period:
                out[m], mask[m] = points[index[-1]], True
        else:
            i0, i1 = index[r - 1], index[r]
            if i1 - i0 - 1 <= max_gap:
                w = (t - times[i0]) / (times[i1] - times[i0])
                out[m], mask[m] = (1 - w) * points[i0] + w * points[i1], True
    return out.astype(np.float32), mask


# ----------------------------------------------------------------------------------------------
# per-clip work (runs in the workers)

_ENCODER = None


def _init_worker(device: str | None) -> None:
    global _ENCODER
    import torch

    torch.set_num_threads(1)  # results independent of --workers (and no oversubscription)
    from makeittalk.audio import SpeakerEncoder

    _ENCODER = SpeakerEncoder(device=device)


def _video_landmarks(path: str, detector: str) -> tuple[np.ndarray, np.ndarray, float, tuple[int, int], str]:
    import imageio_ffmpeg

    from makeittalk.errors import FaceNotFoundError
    from makeittalk.face import detect_landmarks

    reader = imageio_ffmpeg.read_frames(path)
    meta = next(reader)
    width, height = meta["size"]
    fps = float(meta["fps"])
    frames, used = [], "none"
    for raw in reader:
        rgb = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
        try:
            detection = detect_landmarks(rgb, detector=detector, name=path)
            frames.append(detection.landmarks[:, :2])
            used = detection.detector
        except FaceNotFoundError:
            frames.append(np.full((68, 2), np.nan))
    if not frames:
        raise MakeItTalkError(f"{path}: no video frames could be decoded")
    points = np.stack(frames)
    return points, np.arange(len(points)) / fps, fps, (width, height), f"detected:{used}"


def _landmark_arrays(job: Job, num_frames: int, detector: str, time_scale: float = 1.0) -> dict:
    """Landmarks at the mel frames; `time_scale` stretches the source times (audio played at
    tempo f puts an event at t / f, so time_scale = 1 / f)."""
    target = mel_frame_times(num_frames) / time_scale
    if job.kind == "lips":
        with np.load(job.landmarks_file) as data:
            keypoints = np.asarray(data["keypoints"], dtype=np.float64)
            fps = float(data["fps"])
            ibug = np.asarray(data["ibug_index"]) if "ibug_index" in data else MOUTH_POINTS
        if keypoints.ndim != 3 or keypoints.shape[1:] != (len(ibug), 2):
            raise MakeItTalkError(f"{job.landmarks_file}: keypoints must be (T, {len(ibug)}, 2), got {keypoints.shape}")
        times = np.arange(len(keypoints)) / fps
        mouth, mask = interpolate_landmarks(keypoints, times, target, frame_period=1 / fps)
        landmarks = np.full((num_frames, 68, 2), np.nan, dtype=np.float32)
        landmarks[:, ibug] = mouth
        point_mask = np.zeros(68, dtype=bool)
        point_mask[ibug] = True
        return dict(landmarks=landmarks, landmark_mask=mask, point_mask=point_mask,
                    landmark_space="normalized-mouth", landmark_source="file", source_fps=fps,
                    image_size=np.zeros(2, dtype=np.int32))
    if job.landmarks_file is not None:
        with np.load(job.landmarks_file) as data:
            points = np.asarray(data["landmarks"], dtype=np.float64)[..., :2]
            fps = float(data["fps"])
            times = np.asarray(data["t"], dtype=np.float64) if "t" in data else np.arange(len(points)) / fps
            valid = np.asarray(data["detected"], dtype=bool) if "detected" in data else None
            size = (int(data["width"]), int(data["height"])) if "width" in data else (0, 0)
        if points.ndim != 3 or points.shape[1:] != (68, 2) or len(times) != len(points):
            raise MakeItTalkError(f"{job.landmarks_file}: landmarks must be (F, 68, 2) with F times in 't'")
        source = "file"
    else:
        points, times, fps, size, source = _video_landmarks(job.source, detector)
        valid = None
    landmarks, mask = interpolate_landmarks(points, times, target, valid, frame_period=1 / fps)
    return dict(landmarks=landmarks, landmark_mask=mask, point_mask=np.ones(68, dtype=bool),
                landmark_space="pixels", landmark_source=source, source_fps=fps,
                image_size=np.array(size, dtype=np.int32))


def prepare_clip(job: Job, output: str, overwrite: bool, detector: str = "auto") -> dict:
    """Prepare one clip and write clips/<id>.npz; returns its index entry."""
    from makeittalk.audio import extract_features, load_audio
    from makeittalk.fileio import atomic_output

    waveform = load_audio(job.audio)
    time_scale, augmentation = 1.0, None
    if job.extra.get("augment"):
        from makeittalk.audio import Waveform
        from makeittalk.datasets.augment import augment_waveform, copy_seed

        augmented = augment_waveform(waveform.samples, copy_seed(job.extra["of"], job.extra["augment"]))
        waveform = Waveform(augmented.samples, source=waveform.source)
        time_scale, augmentation = 1.0 / augmented.tempo, augmented.steps
    features = extract_features(waveform, _ENCODER)
    num_frames = features.num_frames
    arrays: dict = {}
    meta = {"id": job.id, "speaker": job.speaker, "source": job.source, "kind": job.kind,
            "seconds": round(float(features.seconds), 6), "num_frames": num_frames, "split": job.split,
            "file": f"clips/{job.id}.npz", "speech_detected": bool(features.speech_detected)}
    if augmentation is not None:
        meta.update(augmented_from=job.extra["of"], augmentation=augmentation)
    if job.kind in ("talking", "lips"):
        arrays = _landmark_arrays(job, num_frames, detector, time_scale)
        meta.update(landmark_space=arrays["landmark_space"], landmark_source=arrays["landmark_source"],
                    landmark_coverage=round(float(arrays["landmark_mask"].mean()), 4),
                    audio=job.audio, landmarks_file=job.landmarks_file)
    target = Path(output) / meta["file"]
    with atomic_output(target, overwrite=overwrite, suffixes=(".npz",)) as partial:
        with open(partial, "wb") as stream:
            np.savez_compressed(
                stream,
                mel=features.mel.astype(np.float32),
                f0_bins=features.f0_bins.astype(np.int16),
                speaker_embedding=features.speaker_embedding.astype(np.float32),
                autovc_source_embedding=features.autovc_source_embedding.astype(np.float32),
                seconds=np.float64(features.seconds), frame_rate=np.float64(FRAME_RATE),
                meta=np.array(json.dumps(meta, sort_keys=True)),
                **arrays,
            )
    return meta


def _run_job(args: tuple[Job, str, bool, str]) -> tuple[str, dict | None, str | None]:
    job, output, overwrite, detector = args
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return job.source, prepare_clip(job, output, overwrite, detector), None
    except MakeItTalkError as exc:
        return job.source, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad input must not stop the dataset
        return job.source, None, f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------------------------
# the whole run


def _read_existing_meta(path: Path) -> dict | None:
    try:
        with np.load(path) as data:
            return json.loads(str(data["meta"]))
    except Exception:  # noqa: BLE001 - an unreadable old file is prepared again
        return None


def _write_text_atomic(path: Path, text: str) -> None:
    from makeittalk.fileio import atomic_output

    with atomic_output(path, overwrite=True) as partial:
        partial.write_text(text, encoding="utf-8")


def prepare_dataset(inputs: Path, output: Path, *, workers: int = 1, overwrite: bool = False,
                    speakers_csv: Path | None = None, val_fraction: float = DEFAULT_VAL_FRACTION,
                    val_speakers: Iterable[str] | None = None, val_last: int = 0, augment: int = 0,
                    merge_speakers: dict[str, str] | None = None, device: str | None = "cpu", detector: str = "auto",
                    log: Callable[[str], None] | None = None) -> PrepareReport:
    """Prepare every clip under `inputs` into the dataset folder `output` (see the module doc)."""
    started = time.monotonic()
    log = log or (lambda message: None)
    inputs, output = Path(inputs).resolve(), Path(output).resolve()
    if not inputs.is_dir():
        raise MakeItTalkError(f"{inputs} is not a folder; give the folder of videos or recordings")
    if output == inputs or inputs in output.parents:
        raise MakeItTalkError(f"the dataset folder {output} is inside the input folder {inputs}; "
                              "choose an output outside it (inputs are never written to)")
    if output.exists() and not output.is_dir():
        raise MakeItTalkError(f"{output} exists and is not a folder")
    if workers < 1:
        raise MakeItTalkError("--workers must be at least 1")
    if val_last < 0:
        raise MakeItTalkError("--val-last must be 0 or more")
    held_out = frozenset(val_speakers) if val_speakers is not None else None
    merges = dict(merge_speakers or {})
    speakers = SpeakerTable(inputs, speakers_csv, merges)
    jobs = discover(inputs, speakers, SplitRule(val_fraction, held_out))
    last_ids = frozenset(sorted(job.id for job in jobs)[-val_last:]) if val_last else frozenset()
    rule = SplitRule(val_fraction, held_out, last_ids, val_last)
    jobs = [dataclasses.replace(job, split=rule.split(job.speaker, job.id)) for job in jobs]
    if augment < 0:
        raise MakeItTalkError("--augment must be 0 or more")
    # Augmented copies of training clips only: held-out clips stay as recorded.
    jobs += [dataclasses.replace(job, id=f"{job.id}~aug{k}", extra={"augment": k, "of": job.id})
             for job in list(jobs) if job.split == "train" and job.kind in ("talking", "lips")
             for k in range(1, augment + 1)]
    if held_out is not None:
        unknown = sorted(held_out - {job.speaker for job in jobs})
        if unknown:
            raise MakeItTalkError(f"--val-speakers names speaker(s) not in {inputs}: {', '.join(unknown)}; "
                                  "speaker ids come from --speakers, utterances.tsv/index.tsv or folder names")
    report = PrepareReport()
    (output / "clips").mkdir(parents=True, exist_ok=True)

    entries: dict[str, dict] = {}
    index_path = output / "clips.jsonl"
    if index_path.is_file():  # keep clips from earlier runs whose files are still there
        for line in index_path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (output / entry.get("file", "")).is_file():
                entries[entry["id"]] = entry

    todo: list[Job] = []
    for job in jobs:
        target = output / "clips" / f"{job.id}.npz"
        if target.is_file() and not overwrite:
            meta = _read_existing_meta(target)
            if meta is not None:
                entries[job.id] = meta
                report.skipped_existing.append(job.id)
                continue
            target.unlink()  # an unreadable leftover: prepare it again
        todo.append(job)
    talking_files = sum(1 for job in todo if job.kind == "talking" and job.landmarks_file)
    talking_detect = sum(1 for job in todo if job.kind == "talking" and not job.landmarks_file)
    if talking_files:
        report.notes.append(f"{talking_files} video(s): using the <clip>.landmarks.npz beside them "
                            "instead of detecting faces again")
    if talking_detect:
        report.notes.append(f"{talking_detect} video(s): detecting landmarks in every frame ({detector})")
    for note in report.notes:
        log(note)
    log(f"{len(jobs)} input clip(s): {len(report.skipped_existing)} already prepared, {len(todo)} to prepare")

    tasks = [(job, str(output), overwrite, detector) for job in todo]
    if tasks:
        results: Iterable
        if workers == 1 or len(tasks) == 1:
            import torch

            threads = torch.get_num_threads()
            _init_worker(device)
            try:
                results = [_run_job(task) for task in tasks]
            finally:
                torch.set_num_threads(threads)
        else:
            import multiprocessing

            method = "fork" if "torch" not in sys.modules and sys.platform.startswith("linux") else "spawn"
            context = multiprocessing.get_context(method)
            with context.Pool(min(workers, len(tasks)), initializer=_init_worker, initargs=(device,)) as pool:
                results = pool.map(_run_job, tasks, chunksize=1)
        for source, meta, error in results:
            if meta is None:
                report.failed.append((source, error or "unknown error"))
            else:
                entries[meta["id"]] = meta
                report.prepared.append(meta["id"])

    ordered = [entries[key] for key in sorted(entries)]
    for entry in ordered:  # the split is a label: a re-run with other split settings relabels kept clips
        entry["speaker"] = merges.get(entry["speaker"], entry["speaker"])
        entry["split"] = "train" if entry.get("augmented_from") else rule.split(entry["speaker"], entry["id"])
    _write_text_atomic(index_path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in ordered))
    counts: dict[str, dict[str, int]] = {}
    for entry in ordered:
        counts.setdefault(entry["kind"], {"train": 0, "val": 0})[entry["split"]] += 1
    document = {
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "frame_rate": FRAME_RATE,
        "sample_rate": SAMPLE_RATE,
        "hop_length": HOP_LENGTH,
        "f0_onehot": "np.eye(257, dtype=np.float32)[f0_bins]",
        "mel_frame_time": "t * 256 / 16000 s",
        "sources": [str(inputs)],
        "num_clips": len(ordered),
        "num_speakers": len({e["speaker"] for e in ordered}),
        "counts": counts,
        "split": rule.describe(),
        "merged_speakers": dict(sorted(merges.items())),
        "max_gap_frames": MAX_GAP_FRAMES,
        "last_run": {"prepared": len(report.prepared), "skipped_existing": len(report.skipped_existing),
                     "failed": [{"source": s, "reason": r} for s, r in report.failed]},
    }
    previous = output / "dataset.json"
    if previous.is_file():
        try:
            old_sources = json.loads(previous.read_text(encoding="utf-8")).get("sources", [])
            document["sources"] = sorted(set(document["sources"]) | set(old_sources))
        except (json.JSONDecodeError, OSError):
            pass
    _write_text_atomic(previous, json.dumps(document, indent=1) + "\n")
    report.total_clips = len(ordered)
    report.seconds = time.monotonic() - started
    return report
