"""Image-translator trainer: landmark drawing + reference frame -> frame (spec §6.2-6.4).

As in the original, each example takes two frames of one talking video: the **target** and
an **appearance reference**. The input is [drawing of the target's landmarks ⊕ reference
frame] (B, 6, S, S), BGR in [0, 1]; the output, after tanh, must be the target frame.

Frames and crops match inference exactly (`makeittalk.pipelines.translator_render`): every
stored frame is cut out with `FaceCrop.from_landmarks` (the similarity alignment onto the
canonical S x S face, or the frame as it is when it is already S x S, as inference takes a
portrait of that size), its landmarks are mapped with `FaceCrop.to_crop`, drawn with
`draw_landmarks` and scaled with `translator_input`.

With `crop: clip` (the default) one crop per clip is aligned on the clip's median
landmarks, so the head moves inside the crop from frame to frame. That is what inference
asks of the network: the portrait's crop is fixed and the driving landmarks move (head pose)
within it, and the original trained on fixed 256x256 face-centred video crops. `crop:
frame` aligns every frame on its own landmarks instead (no in-plane head motion to learn).

Video frames are decoded once when the task starts (imageio-ffmpeg), at most
`max_frames_per_clip` evenly spaced frames with a face per clip, and held in memory as
uint8 crops (S*S*3 bytes each: 192 KiB at 256). Landmarks per video frame come from the
`<stem>.landmarks.npz` beside the video when it is there (as `makeittalk data prepare` uses
it), else from the prepared 62.5 fps landmarks interpolated at the frame times; frames with
no face are skipped. Under DDP each process decodes and samples its own share of the
training clips (when there are at least as many clips as processes).

Loss (spec §6.4): L1(tanh(G(x)), target) + VGG19 perceptual + style (the original's VGGLoss,
VGG fed [0, 1] BGR without ImageNet normalisation), all weights 1. The VGG19 weights are a
file the user provides (`vgg19_weights`); without it the loss is L1 + (1 - SSIM), and the
run says so at start and in the exported weights' training record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from makeittalk.errors import MakeItTalkError, WeightsError
from makeittalk.models import ImageTranslator, ImageTranslatorConfig
from makeittalk.pipelines.video import read_video_header
from makeittalk.training.config import ConfigError, TrainConfig
from makeittalk.training.data import Clip, DatasetError
from makeittalk.training.loop import TrainingTask
from makeittalk.training.losses import ssim

CROP_MODES = ("clip", "frame")
GRAM_MODES = ("batch", "image")
KINDS = ("talking",)


@dataclasses.dataclass
class TranslatorTrainConfig(TrainConfig):
    """image_size: crop side S (a multiple of 2**model.num_downs; the original: 256).
    max_frames_per_clip: frames with a face kept per clip, evenly spaced (memory: S*S*3 bytes
        each). crop: "clip" (one crop per clip, head motion inside it, as at inference) or
        "frame" (every frame aligned on its own landmarks).
    vgg19_weights: a torchvision VGG19 state dict (vgg19-dcbb9e9d.pth) for the perceptual and
        style terms; None trains with L1 + SSIM instead.
    lambda_l1 / lambda_perceptual / lambda_style: loss weights with VGG (original: 1, 1, 1).
    lambda_ssim: weight of (1 - SSIM) without VGG.
    style_gram: "batch" = the original's Gram matrix over batch x channels (cross-image terms
        included), "image" = one Gram matrix per image.
    val_pairs: fixed (target, reference) pairs per val clip.
    val_fallback_clips: training clips validated on when the data has no val clips."""

    epochs: int = 150
    steps_per_epoch: int | None = None
    batch_size: int = 8
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    image_size: int = 256
    max_frames_per_clip: int = 64
    crop: str = "clip"
    vgg19_weights: str | None = None
    lambda_l1: float = 1.0
    lambda_perceptual: float = 1.0
    lambda_style: float = 1.0
    lambda_ssim: float = 1.0
    style_gram: str = "batch"
    val_pairs: int = 4
    val_fallback_clips: int = 4

    def __post_init__(self) -> None:
        if self.crop not in CROP_MODES:
            raise ValueError(f"crop must be one of {', '.join(CROP_MODES)}, got {self.crop!r}")
        if self.style_gram not in GRAM_MODES:
            raise ValueError(f"style_gram must be one of {', '.join(GRAM_MODES)}, got {self.style_gram!r}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {self.image_size}")
        if self.max_frames_per_clip < 2:
            raise ValueError(f"max_frames_per_clip must be at least 2 (a target and a reference), got {self.max_frames_per_clip}")
        if self.batch_size < 1 or self.val_pairs < 1:
            raise ValueError("batch_size and val_pairs must be at least 1")


# ----------------------------------------------------------------------------------------------
# frames


@dataclass
class ClipFrames:
    """The stored frames of one clip: crops (N, S, S, 3) uint8 BGR, landmarks (N, 68, 2) in
    crop pixels, and the video frame number of each."""

    clip: Clip
    crops: np.ndarray
    points: np.ndarray
    frame_numbers: np.ndarray

    def __len__(self) -> int:
        return len(self.crops)


def _video_path(clip: Clip) -> Path:
    source = clip.meta.get("source")
    if not source:
        raise DatasetError(f"clip {clip.id} has no 'source' video in {clip.dataset / 'clips.jsonl'}")
    return Path(source)


def _sidecar(clip: Clip, video: Path) -> Path | None:
    named = clip.meta.get("landmarks_file")
    for candidate in ([Path(named)] if named else []) + [video.with_name(f"{video.stem}.landmarks.npz")]:
        if candidate.is_file():
            return candidate
    return None


def frame_landmarks(clip: Clip) -> tuple[np.ndarray, str]:
    """(F, 68, 2) float64 pixel landmarks per video frame (NaN: no face) and where they came from."""
    video = _video_path(clip)
    sidecar = _sidecar(clip, video)
    if sidecar is not None:
        try:
            with np.load(sidecar, allow_pickle=False) as data:
                points = np.asarray(data["landmarks"], dtype=np.float64)[..., :2]
                detected = np.asarray(data["detected"], dtype=bool) if "detected" in data.files else None
                times = np.asarray(data["t"], dtype=np.float64) if "t" in data.files else None
                fps = float(data["fps"]) if "fps" in data.files else None
        except (OSError, ValueError, KeyError) as exc:
            raise DatasetError(f"{sidecar} cannot be read ({exc})") from None
        if points.ndim != 3 or points.shape[1:] != (68, 2):
            raise DatasetError(f"{sidecar}: landmarks must be (F, 68, 2|3), got {points.shape}")
        if detected is not None and len(detected) == len(points):
            points[~detected] = np.nan
        if times is not None and len(times) == len(points):
            fps = fps or read_video_header(video).fps
            numbers = np.rint(times * fps).astype(np.int64)
            keep = numbers >= 0
            out = np.full((int(numbers[keep].max(initial=-1)) + 1, 68, 2), np.nan)
            out[numbers[keep]] = points[keep]
            points = out
        return points, "file"
    arrays = clip.arrays()
    if "landmarks" not in arrays or str(arrays.get("landmark_space", "pixels")) != "pixels":
        raise DatasetError(f"clip {clip.id} has no pixel landmarks; prepare it again with 'makeittalk data prepare'")
    from makeittalk.datasets.prepare import interpolate_landmarks, mel_frame_times

    header = read_video_header(video)
    fps, duration = header.fps, header.duration
    prepared = np.asarray(arrays["landmarks"], dtype=np.float64)
    mask = np.asarray(arrays["landmark_mask"], dtype=bool) if "landmark_mask" in arrays else None
    count = int(round(duration * fps)) if duration > 0 else int(round(clip.seconds * fps))
    points, valid = interpolate_landmarks(prepared, mel_frame_times(len(prepared)), np.arange(count) / fps, mask, max_gap=0)
    points = points.astype(np.float64)
    points[~valid] = np.nan
    return points, "prepared (62.5 fps, interpolated at the frame times)"


def evenly_spaced(indices: np.ndarray, count: int) -> np.ndarray:
    if len(indices) <= count:
        return indices
    return indices[np.unique(np.round(np.linspace(0, len(indices) - 1, count)).astype(np.int64))]


def load_clip_frames(clip: Clip, size: int, max_frames: int, crop_mode: str = "clip") -> ClipFrames:
    """Decode `clip`'s video and keep up to `max_frames` evenly spaced face crops."""
    from makeittalk.pipelines.translator_render import FaceCrop
    from makeittalk.pipelines.video import read_frames_at

    points, _ = frame_landmarks(clip)
    faces = np.flatnonzero(np.isfinite(points).all(axis=(1, 2)))
    chosen = evenly_spaced(faces, max_frames)
    if len(chosen) < 2:
        raise DatasetError(f"clip {clip.id}: {len(faces)} frame(s) with a face; a target and a reference need 2")
    wanted = {int(i): k for k, i in enumerate(chosen)}
    median = np.median(points[chosen], axis=0)
    video = _video_path(clip)
    if not video.is_file():
        raise DatasetError(f"clip {clip.id}: its video {video} does not exist (the dataset keeps the source path; "
                           f"prepare it again where the videos are)")
    crops = np.empty((len(chosen), size, size, 3), np.uint8)
    crop_points = np.empty((len(chosen), 68, 2), np.float64)
    got = np.zeros(len(chosen), bool)
    try:
        for number, rgb in read_frames_at(video, chosen):
            k = wanted[number]
            crop = FaceCrop.from_landmarks(rgb, median if crop_mode == "clip" else points[number], size=size)
            crops[k] = crop.crop_bgr
            crop_points[k] = crop.to_crop(points[number])
            got[k] = True
    except DatasetError:
        raise
    except MakeItTalkError as exc:
        raise DatasetError(f"clip {clip.id}: {exc}") from None
    if got.sum() < 2:
        raise DatasetError(f"clip {clip.id}: only {int(got.sum())} of its frames with landmarks could be decoded from {video}")
    return ClipFrames(clip, crops[got], crop_points[got], chosen[got])


def make_batch(items: list[tuple[ClipFrames, int, int]], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (B, 6, S, S), target (B, 3, S, S)) float32 CPU tensors for (frames, target, reference) items,
    built with the inference functions (`draw_landmarks`, `translator_input`)."""
    from makeittalk.pipelines.translator_render import draw_landmarks, translator_input

    drawing = np.empty((1, size, size, 3), np.uint8)
    xs, ys = [], []
    for frames, target, reference in items:
        draw_landmarks(frames.points[target], size, out=drawing[0])
        xs.append(translator_input(drawing, frames.crops[reference]).contiguous())
        ys.append(np.divide(frames.crops[target], np.float32(255.0), dtype=np.float32))
    y = torch.from_numpy(np.stack(ys)).permute(0, 3, 1, 2).contiguous()
    return torch.cat(xs), y


# ----------------------------------------------------------------------------------------------
# loss


class ImageLoss:
    """L1 + VGG19 perceptual + style when VGG19 weights are given, else L1 + (1 - SSIM)."""

    def __init__(self, config: TranslatorTrainConfig, device: torch.device) -> None:
        self.config = config
        self.vgg = None
        if config.vgg19_weights:
            from makeittalk.training.vgg import VGG19Features, VGGLoss

            self.vgg = VGGLoss(VGG19Features.from_file(config.vgg19_weights, device),
                               per_image_gram=config.style_gram == "image")
            self.kind = "l1+vgg19"
            self.description = (
                f"{config.lambda_l1:g}*L1 + {config.lambda_perceptual:g}*VGG19 perceptual (relu1_1..relu5_1, L1) + "
                f"{config.lambda_style:g}*style (Gram MSE x 3e7, {config.style_gram} Gram) "
                f"[VGG19 weights {Path(config.vgg19_weights).name}]"
            )
        else:
            self.kind = "l1+ssim"
            self.description = (f"{config.lambda_l1:g}*L1 + {config.lambda_ssim:g}*(1 - SSIM) "
                                f"(fallback: no vgg19_weights, so no VGG19 perceptual/style terms)")

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        l1 = F.l1_loss(output, target)
        if self.vgg is not None:
            perceptual, style = self.vgg(output, target)
            total = c.lambda_l1 * l1 + c.lambda_perceptual * perceptual + c.lambda_style * style
            return {"loss": total, "l1": l1, "perceptual": perceptual, "style": style}
        similarity = ssim(output, target)
        total = c.lambda_l1 * l1 + c.lambda_ssim * (1.0 - similarity)
        return {"loss": total, "l1": l1, "ssim": similarity}


# ----------------------------------------------------------------------------------------------
# the task


class TranslatorTask(TrainingTask):
    name = "translator"
    network = "translator"
    config_class = TranslatorTrainConfig

    def __init__(self, config: TranslatorTrainConfig, dataset, ctx) -> None:
        super().__init__(config, dataset, ctx)
        dist = ctx.dist
        try:
            self.model_config = ImageTranslatorConfig.from_dict(config.model, source="config 'model'")
        except (WeightsError, TypeError, ValueError) as exc:
            names = ", ".join(f.name for f in dataclasses.fields(ImageTranslatorConfig))
            raise ConfigError(f"config 'model': {exc} (ImageTranslatorConfig fields: {names})") from None
        step = 2**self.model_config.num_downs
        if config.image_size % step:
            raise ConfigError(f"image_size {config.image_size} must be a multiple of 2**num_downs = {step}")
        if config.image_size == step and config.batch_size < 2:
            raise ConfigError(f"image_size {config.image_size} leaves a 1x1 bottleneck: BatchNorm needs batch_size >= 2")
        self._notes: list[str] = []
        self._problems: list[str] = []
        self.loss = ImageLoss(config, ctx.device)  # before decoding: a bad vgg19_weights fails at once
        if self.loss.vgg is None:
            self._notes.append("no vgg19_weights given: training with L1 + SSIM instead of the original's "
                               "L1 + VGG19 perceptual + style loss (set vgg19_weights to a torchvision "
                               "vgg19-*.pth state dict for the original loss)")

        train_all = dataset.require(split="train", kinds=KINDS, purpose="translator training")
        val_all = dataset.select(split="val", kinds=KINDS)
        if not val_all:
            val_all = train_all[: config.val_fallback_clips]
            self._notes.append(f"the data has no val clips: validating on {len(val_all)} training clip(s) instead")
        self.train_clips, self.val_clips = train_all, val_all
        sharded = dist.enabled and len(train_all) >= dist.world_size
        train_share = train_all[dist.rank :: dist.world_size] if sharded else train_all
        val_share = val_all[dist.rank :: dist.world_size]

        self._cache: dict[str, ClipFrames | None] = {}
        self.train_frames = [f for f in (self._frames(c) for c in train_share) if f is not None]
        self.val_frames = [f for f in (self._frames(c) for c in val_share) if f is not None]
        stored = sum(len(f) for f in self.train_frames)
        totals = dist.mean({"frames": float(stored), "empty": float(not self.train_frames),
                            "val_frames": float(sum(len(f) for f in self.val_frames))})
        world = dist.world_size if dist.enabled else 1
        self.total_train_frames = int(round(totals["frames"] * (world if sharded else 1)))
        self.total_val_frames = int(round(totals["val_frames"] * world))
        if totals["empty"] > 0:
            raise DatasetError(
                "no usable training frames"
                + (f" on {round(totals['empty'] * world)} of {world} processes" if dist.enabled else "")
                + ": every talking clip lacked a decodable video or 2 frames with a face ("
                + "; ".join(self._problems[:3]) + ")"
            )
        if self.total_val_frames == 0:
            self._notes.append("no val clip could be decoded: val figures are 0 and the best epoch is the first")
        if self._problems:
            self._notes.append(f"{len(self._problems)} clip(s) skipped: " + "; ".join(self._problems[:3])
                               + (" ..." if len(self._problems) > 3 else ""))
        size = config.image_size
        self._notes.append(f"{stored} training frame(s) of {len(self.train_frames)} clip(s) held as {size}x{size} crops "
                           f"({stored * size * size * 3 / 2**20:.0f} MiB"
                           + (f" on rank {dist.rank}; each process holds its own share)" if dist.enabled else ")"))

        self.model = ImageTranslator(self.model_config).to(ctx.device)
        if dist.enabled and ctx.device.type == "cuda":
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.net = dist.wrap(self.model)
        self.opt = self.make_adam(self.model.parameters())
        self._val_batches = self._fixed_val_batches()

    def _frames(self, clip: Clip) -> ClipFrames | None:
        if clip.id not in self._cache:
            c = self.config
            try:
                self._cache[clip.id] = load_clip_frames(clip, c.image_size, c.max_frames_per_clip, c.crop)
            except MakeItTalkError as exc:
                self._problems.append(str(exc))
                self._cache[clip.id] = None
        return self._cache[clip.id]

    # -- what the loop needs -------------------------------------------------------------
    def notes(self) -> list[str]:
        return list(self._notes)

    def modules(self):
        return {"translator": self.model}

    def optimizers(self):
        return {"translator": self.opt}

    def exported(self):
        return self.model

    def used_clips(self) -> list[Clip]:
        return self.train_clips + [c for c in self.val_clips if c.split == "val"]

    def data_description(self) -> dict[str, Any]:
        c = self.config
        description = self.dataset.describe(self.used_clips())
        description["loss"] = self.loss.description
        description["loss_kind"] = self.loss.kind
        description["frames"] = {
            "train": self.total_train_frames,
            "val": self.total_val_frames,
            "max_per_clip": c.max_frames_per_clip,
            "image_size": c.image_size,
            "crop": c.crop,
            "val_clips_from": "val" if any(cl.split == "val" for cl in self.val_clips) else "train (fallback)",
        }
        return description

    def steps_in_epoch(self, epoch: int) -> int:
        if self.config.steps_per_epoch:
            return self.config.steps_per_epoch
        return max(1, self.total_train_frames // (self.config.batch_size * self.ctx.dist.world_size))

    def _forward(self, net, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        dev = self.ctx.device
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        output = torch.tanh(net(x))
        return output, self.loss(output, y)

    def train_epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[dict[str, float]]:
        c = self.config
        for _ in range(self.steps_in_epoch(epoch)):
            items = []
            for _ in range(c.batch_size):
                frames = self.train_frames[int(rng.integers(len(self.train_frames)))]
                target, reference = rng.choice(len(frames), size=2, replace=False)
                items.append((frames, int(target), int(reference)))
            _, losses = self._forward(self.net, *make_batch(items, c.image_size))
            self.optimizer_step(losses["loss"], self.model, self.opt)
            yield {k: float(v.detach()) for k, v in losses.items()}

    def _fixed_val_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per val clip: its first stored frame is the reference for `val_pairs` evenly spaced targets."""
        items = []
        for frames in self.val_frames:
            targets = evenly_spaced(np.arange(1, len(frames)), self.config.val_pairs)
            items.extend((frames, int(t), 0) for t in targets)
        step = self.config.batch_size
        return [make_batch(items[i : i + step], self.config.image_size) for i in range(0, len(items), step)]

    def validate(self) -> tuple[dict[str, float], float]:
        # The unwrapped network: ranks may hold different numbers of val batches, and eval-mode
        # forward passes need no communication.
        keys = ["val_loss", "val_l1", "val_ssim"] + (["val_perceptual", "val_style"] if self.loss.vgg is not None else [])
        sums = dict.fromkeys(keys, 0.0)
        n = 0
        for x, y in self._val_batches:
            output, losses = self._forward(self.model, x, y)
            b = x.shape[0]
            for k, v in losses.items():
                if f"val_{k}" in sums and k != "ssim":
                    sums[f"val_{k}"] += float(v) * b
            # What the user sees: negatives clipped to 0 (translator_output_to_rgb).
            sums["val_ssim"] += float(ssim(output.clamp(min=0.0), y.to(output.device))) * b
            n += b
        if n == 0:
            return sums, 0.0
        return {k: v / n for k, v in sums.items()}, float(n)


TASK = TranslatorTask
