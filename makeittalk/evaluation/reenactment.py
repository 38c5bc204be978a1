"""Self-reenactment: how close the photo renderers come to a clip's own frames.

For every clip, the first frame with a face is the portrait (its landmarks the rest pose). Up to
`frames_per_clip` evenly spaced later frames with a face are re-drawn from that portrait, driven
by the frame's REAL landmarks, with

* ``warp``: the warp renderer alone (`renderer.warp.WarpRenderer`, photo style), and
* ``translator``: the warp + the mouth translator (`MouthTranslatorRenderer`),

so the only thing a method can get wrong is the appearance, not the motion. Each render is
compared with the real frame:

* in the mouth region: the real frame and both renders are cut through the SAME crop, the one
  the real frame's landmarks give (`crop_matrix(real_t, region)`, the translator's region), and
  scored by PSNR (RGB, peak 255), SSIM (11x11 Gaussian window, sigma 1.5, RGB in [0, 1], mean
  over channels) and the sharpness ratio (variance of the 3x3 Laplacian of the grey crop,
  render / real: below 1 is blurrier than the real mouth);
* on the whole frame: the identity distance, the Euclidean distance between dlib's 128-D face
  descriptors of the render and of the real frame, both taken with the real frame's 68
  landmarks as the face shape (dlib calls 0.6 "a different person").

Clip figures are means over its frames; method figures are means of the clip means (clips
weighted equally), plus the median sharpness ratio over every compared frame.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from makeittalk.errors import MakeItTalkError
from makeittalk.evaluation.runner import EvalClip, _clean, load_ground_truth
from makeittalk.face.mouth_region import MouthRegion, crop_matrix, warp_into_crop

__all__ = [
    "DEFAULT_FRAMES_PER_CLIP", "METRICS", "ClipReenactment", "ReenactmentReport",
    "psnr", "ssim", "sharpness", "sharpness_ratio", "face_descriptor", "identity_distance",
    "translator_region", "pick_frames", "read_video_frames", "render_frames",
    "evaluate_clip", "run_reenactment", "format_table",
]

DEFAULT_FRAMES_PER_CLIP = 24
METRICS = ("psnr", "ssim", "sharpness", "identity")
DEFINITIONS = {
    "psnr": "mouth crop, RGB, peak 255, dB",
    "ssim": "mouth crop, 11x11 Gaussian window (sigma 1.5), RGB in [0, 1], mean over channels",
    "sharpness": "variance of the 3x3 Laplacian of the grey mouth crop, render / real",
    "sharpness_median": "median sharpness ratio over every compared frame",
    "identity": "Euclidean distance of dlib 128-D descriptors, render vs real full frame, shape = real landmarks",
    "crop": "the real frame's mouth crop (crop_matrix of its landmarks) for the real frame and both renders",
}


# ----------------------------------------------------------------------------------------------
# metrics


def psnr(rendered: np.ndarray, real: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of the same shape (peak 255); inf when identical."""
    a, b = _same_shape(rendered, real)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(rendered: np.ndarray, real: np.ndarray) -> float:
    """Gaussian-window SSIM (11x11, sigma 1.5) of two (H, W, 3) uint8 RGB images, mean over
    channels and positions; the training loss's own definition, in float64."""
    import torch

    from makeittalk.training.losses import ssim as ssim_loss

    a, b = _same_shape(rendered, real)
    if min(a.shape[:2]) < 11:
        raise MakeItTalkError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")

    def tensor(image: np.ndarray) -> torch.Tensor:
        image = image[:, :, None] if image.ndim == 2 else image
        return torch.from_numpy(image.astype(np.float64) / 255.0).permute(2, 0, 1).unsqueeze(0)

    with torch.no_grad():
        return float(ssim_loss(tensor(a), tensor(b)))


def sharpness(image: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian of the image's grey levels (float64, BT.601 weights)."""
    import cv2

    pixels = np.asarray(image, dtype=np.float64)
    grey = pixels if pixels.ndim == 2 else pixels[:, :, :3] @ np.array([0.299, 0.587, 0.114])
    return float(cv2.Laplacian(np.ascontiguousarray(grey), cv2.CV_64F, ksize=3).var())


def sharpness_ratio(rendered: np.ndarray, real: np.ndarray) -> float:
    """sharpness(rendered) / sharpness(real); NaN when the real image is flat."""
    reference = sharpness(real)
    return sharpness(rendered) / reference if reference > 0 else math.nan


@lru_cache(maxsize=1)
def _face_encoder():
    try:
        import dlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its __init__ warns that pkg_resources is deprecated
            import face_recognition_models
    except ImportError as exc:
        raise MakeItTalkError(f"the identity distance needs dlib's face descriptor ({exc}); "
                              f"install it with `pip install dlib-bin face-recognition-models`") from None
    return dlib, dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())


def face_descriptor(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """dlib's (128,) face descriptor of `image` (H, W, 3) uint8 RGB, the face given by its 68
    landmarks (pixels); the box is the landmarks' bounding box."""
    dlib, encoder = _face_encoder()
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise MakeItTalkError(f"face_descriptor needs (68, 2) finite landmarks, got shape {points.shape}")
    left, top = np.floor(points.min(axis=0)).astype(int)
    right, bottom = np.ceil(points.max(axis=0)).astype(int)
    shape = dlib.full_object_detection(dlib.rectangle(int(left), int(top), int(right), int(bottom)),
                                       [dlib.point(int(round(x)), int(round(y))) for x, y in points])
    rgb = np.ascontiguousarray(np.asarray(image)[:, :, :3], dtype=np.uint8)
    return np.asarray(encoder.compute_face_descriptor(rgb, shape), dtype=np.float64)


def identity_distance(rendered: np.ndarray, real: np.ndarray, landmarks: np.ndarray,
                      real_descriptor: np.ndarray | None = None) -> float:
    """Distance between the descriptors of `rendered` and `real`, both with `landmarks` as the
    shape; pass `real_descriptor` to reuse the real frame's."""
    reference = face_descriptor(real, landmarks) if real_descriptor is None else real_descriptor
    return float(np.linalg.norm(face_descriptor(rendered, landmarks) - reference))


def _same_shape(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise MakeItTalkError(f"images to compare must have the same shape, got {a.shape} and {b.shape}")
    return a, b


# ----------------------------------------------------------------------------------------------
# frames and renders


def translator_region(translator: Any | None) -> MouthRegion:
    """The crop the translator was trained on (as MouthTranslatorRenderer builds it), else the default."""
    if translator is None:
        return MouthRegion()
    config = translator.config
    return MouthRegion.from_dict({**config.region, "size": config.image_size})


def pick_frames(detected: np.ndarray, count: int, *, last: int | None = None) -> tuple[int, list[int]]:
    """(portrait frame, up to `count` evenly spaced later frames with a face, at most `last`)."""
    faces = np.flatnonzero(np.asarray(detected, dtype=bool))
    if len(faces) == 0:
        raise MakeItTalkError("no frame with a face")
    later = faces[1:] if last is None else faces[1:][faces[1:] <= last]
    if len(later) == 0 or count < 1:
        return int(faces[0]), []
    steps = np.unique(np.round(np.linspace(0, len(later) - 1, min(count, len(later)))).astype(int))
    return int(faces[0]), [int(later[k]) for k in steps]


def read_video_frames(video: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """The decoded (H, W, 3) uint8 RGB frames `indices` of `video` (those the video has)."""
    from makeittalk.pipelines.video import read_frames_at

    return {number: frame.copy() for number, frame in read_frames_at(video, indices)}


def render_frames(portrait: np.ndarray, rest: np.ndarray, landmarks: list[np.ndarray], translator: Any | None,
                  *, batch_size: int | None = None) -> dict[str, list[np.ndarray]]:
    """The portrait drawn at each landmark frame: {"warp": [...], "translator": [...]} (the
    latter only with a translator), (H, W, 3) uint8 RGB each."""
    from makeittalk.pipelines.mouth_render import MouthTranslatorRenderer
    from renderer.warp import RenderConfig, WarpRenderer

    with WarpRenderer(portrait, rest, config=RenderConfig(style="photo")) as warp:
        renders = {"warp": [warp.render(lm, channels=3) for lm in landmarks]}
        if translator is None:
            return renders
        # On copies of the warp's frames, so that the warp renders each frame once.
        mouth = MouthTranslatorRenderer(translator, warp, portrait, rest, batch_size=batch_size, channels=3)
    renders["translator"] = []
    for start in range(0, len(landmarks), mouth.batch_size):
        chunk = range(start, min(start + mouth.batch_size, len(landmarks)))
        renders["translator"] += mouth.redraw([renders["warp"][k].copy() for k in chunk],
                                              [mouth.output_points(landmarks[k]) for k in chunk])
    return renders


# ----------------------------------------------------------------------------------------------
# evaluation


@dataclass
class ClipReenactment:
    clip: str
    video: str
    size: tuple[int, int]  # width, height
    portrait_frame: int
    frames: list[int]  # the compared frames' indices
    per_frame: dict[str, dict[str, list[float]]]  # method -> metric -> one value per frame
    means: dict[str, dict[str, float]]  # method -> metric -> mean over the frames
    speaker: str | None = None


@dataclass
class ReenactmentReport:
    methods: list[str]
    region: dict
    frames_per_clip: int
    translator_source: str | None
    clips: list[ClipReenactment]
    means: dict[str, dict[str, float]]  # method -> metric -> mean of clip means (+ medians, counts)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["definitions"] = DEFINITIONS
        return _clean(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def evaluate_clip(clip: EvalClip, translator: Any | None, *, frames_per_clip: int = DEFAULT_FRAMES_PER_CLIP,
                  region: MouthRegion | None = None, max_seconds: float | None = None, detector: str = "auto",
                  batch_size: int | None = None) -> ClipReenactment:
    """Render and score one clip (see the module docstring)."""
    region = region or translator_region(translator)
    gt = load_ground_truth(clip, detector=detector)
    last = None
    if max_seconds is not None:
        inside = np.flatnonzero(gt.times <= max_seconds)
        last = int(inside[-1]) if len(inside) else -1
    try:
        first, chosen = pick_frames(gt.detected, frames_per_clip, last=last)
    except MakeItTalkError:
        source = clip.landmarks_file or clip.video
        raise MakeItTalkError(f"clip {clip.stem}: no face in any frame of {source}") from None
    if not chosen:
        raise MakeItTalkError(f"clip {clip.stem}: no frame with a face after the portrait frame {first}")
    decoded = read_video_frames(clip.video, [first, *chosen])
    if first not in decoded:
        raise MakeItTalkError(f"clip {clip.stem}: {clip.video} has no frame {first} "
                              f"(its landmarks have {len(gt.landmarks)})")
    portrait = decoded[first]
    if (portrait.shape[1], portrait.shape[0]) != tuple(gt.size):
        raise MakeItTalkError(f"clip {clip.stem}: the video is {portrait.shape[1]}x{portrait.shape[0]} but its "
                              f"landmarks are for {gt.size[0]}x{gt.size[1]}; re-extract the landmarks")
    chosen = [i for i in chosen if i in decoded]
    if not chosen:
        raise MakeItTalkError(f"clip {clip.stem}: {clip.video} ends before its landmark frames do")
    targets = [gt.landmarks[i] for i in chosen]
    renders = render_frames(portrait, gt.landmarks[first], targets, translator, batch_size=batch_size)
    per_frame = {name: {key: [] for key in METRICS} for name in renders}
    for k, (index, points) in enumerate(zip(chosen, targets)):
        real = decoded[index]
        matrix = crop_matrix(points, region)
        real_crop = warp_into_crop(real, matrix, region.size)
        real_descriptor = face_descriptor(real, points)
        for name, frames in renders.items():
            crop = warp_into_crop(frames[k], matrix, region.size)
            scores = per_frame[name]
            scores["psnr"].append(psnr(crop, real_crop))
            scores["ssim"].append(ssim(crop, real_crop))
            scores["sharpness"].append(sharpness_ratio(crop, real_crop))
            scores["identity"].append(identity_distance(frames[k], real, points, real_descriptor))
    means = {name: {key: _finite_mean(values) for key, values in scores.items()} for name, scores in per_frame.items()}
    return ClipReenactment(clip.stem, str(clip.video), tuple(gt.size), first, chosen, per_frame, means, clip.speaker)


def _summary(results: list[ClipReenactment]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for name in results[0].means:
        entry = {key: _finite_mean([r.means[name][key] for r in results]) for key in METRICS}
        ratios = np.array([v for r in results for v in r.per_frame[name]["sharpness"]], dtype=np.float64)
        ratios = ratios[np.isfinite(ratios)]
        entry["sharpness_median"] = float(np.median(ratios)) if len(ratios) else math.nan
        entry["frames"] = sum(len(r.frames) for r in results)
        entry["clips"] = len(results)
        summary[name] = entry
    return summary


def run_reenactment(clips: list[EvalClip], translator: Any | None = None, *, translator_source: str | None = None,
                    frames_per_clip: int = DEFAULT_FRAMES_PER_CLIP, max_seconds: float | None = None,
                    detector: str = "auto", batch_size: int | None = None,
                    log: Callable[[str], None] | None = None) -> ReenactmentReport:
    """Evaluate every clip; a clip that cannot be scored (no face, too short) is skipped and
    listed in the report. Raises MakeItTalkError when no clip could be scored."""
    if frames_per_clip < 1:
        raise MakeItTalkError(f"frames per clip must be at least 1, got {frames_per_clip}")
    _face_encoder()  # a missing dlib fails once, here, not once per clip
    region = translator_region(translator)
    results: list[ClipReenactment] = []
    skipped: list[dict[str, str]] = []
    for number, clip in enumerate(clips, 1):
        started = time.perf_counter()
        try:
            result = evaluate_clip(clip, translator, frames_per_clip=frames_per_clip, region=region,
                                   max_seconds=max_seconds, detector=detector, batch_size=batch_size)
        except MakeItTalkError as exc:
            skipped.append({"clip": clip.stem, "reason": str(exc)})
            if log is not None:
                log(f"[{number}/{len(clips)}] {clip.stem}: skipped: {exc}")
            continue
        results.append(result)
        if log is not None:
            parts = [f"{name} PSNR {m['psnr']:.2f} SSIM {m['ssim']:.3f} sharp {m['sharpness']:.2f} "
                     f"id {m['identity']:.3f}" for name, m in result.means.items()]
            log(f"[{number}/{len(clips)}] {clip.stem}: {len(result.frames)} frames; " + "; ".join(parts)
                + f" ({time.perf_counter() - started:.1f} s)")
    if not results:
        reasons = "; ".join(f"{s['clip']}: {s['reason']}" for s in skipped[:3])
        raise MakeItTalkError(f"no clip could be evaluated ({reasons})")
    return ReenactmentReport(list(results[0].means), region.to_dict(), frames_per_clip, translator_source,
                             results, _summary(results), skipped)


# ----------------------------------------------------------------------------------------------
# output

_COLUMNS = (("PSNR dB", "psnr", 2), ("SSIM", "ssim", 4), ("sharp mean", "sharpness", 3),
            ("sharp median", "sharpness_median", 3), ("identity", "identity", 4), ("frames", "frames", 0),
            ("clips", "clips", 0))


def format_table(report: ReenactmentReport) -> str:
    """One row per method (means over clips), with a line saying what the columns are."""
    def cell(value: Any, digits: int) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "-"
        return f"{value:.{digits}f}"

    header = ["method", *(title for title, _, _ in _COLUMNS)]
    rows = [[name, *(cell(report.means[name][key], digits) for _, key, digits in _COLUMNS)] for name in report.methods]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]
    out.append(f"self-reenactment in the real frame's {report.region['size']} px mouth crop: PSNR / SSIM vs the real "
               f"crop (higher is better); sharp: Laplacian variance render / real (1 = as sharp); identity: dlib "
               f"descriptor distance to the real frame (lower is better, 0.6 = another person)")
    if report.skipped:
        out.append(f"skipped {len(report.skipped)} clip(s): " + ", ".join(s["clip"] for s in report.skipped))
    return "\n".join(out)
