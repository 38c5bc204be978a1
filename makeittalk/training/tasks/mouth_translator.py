"""Mouth-translator trainer: fill the mouth hole of a frame from its landmarks and a reference.

Each example is made exactly as inference makes it. A **reference** frame of a clip plays the
portrait: the warp renderer (`renderer.warp`, photo style) draws it at the landmarks of a
**target** frame of the same clip, and that warped frame is cut out as the target's aligned
mouth crop (`makeittalk.face.mouth_region`). The input is that warp crop, the hole, the
target's mouth guides and the reference's own mouth crop; the output, blended into the warp
crop with the feathered weight, must be the real target crop. So the network learns to turn the
warp's stretched lips and painted mouth into the real mouth, and to leave what the warp got
right alone.

Loss: L1 inside the hole (weighted by the blend weight) + `lambda_ssim` (1 - SSIM) of the
blended crop, with an optional PatchGAN term (`lambda_gan`, the discriminator trained from
scratch on the blended crops). Augmentation: horizontal flips of whole examples.

Frames are decoded and warped once (imageio-ffmpeg, headless GL), at most
`max_frames_per_clip` evenly spaced frames with a face per clip and `references_per_clip`
references (the first such frame, then evenly spread ones), and kept in
`<run>/mouth_frames-<key>.npz` so a resumed run starts at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from makeittalk.errors import MakeItTalkError
from makeittalk.face.mouth_region import MouthRegion, crop_matrix, map_points, mouth_guides, mouth_masks, warp_into_crop
from makeittalk.models.mouth_translator import MouthTranslator, MouthTranslatorConfig
from makeittalk.training.config import ConfigError, TrainConfig
from makeittalk.training.data import Clip, DatasetError
from makeittalk.training.loop import TrainingTask
from makeittalk.training.losses import ssim
from makeittalk.training.tasks.translator import _video_path, evenly_spaced, frame_landmarks

KINDS = ("talking",)


@dataclasses.dataclass
class MouthTranslatorTrainConfig(TrainConfig):
    """image_size: crop side (MouthRegion.size). region_side / region_centre_y / region_hole /
        region_feather: the crop's geometry in eye distances (see MouthRegion).
    max_frames_per_clip: frames with a face kept per clip, evenly spaced.
    references_per_clip: frames of each clip that play the portrait (the first one, then evenly
        spread ones); each target is warped from each of them.
    lambda_l1 / lambda_ssim: loss weights. lambda_gan: PatchGAN weight (0 = no discriminator).
    flip: flip half the examples left-right.
    val_pairs: fixed (target, first-frame reference) pairs per val clip.
    val_clips_per_group: at most this many val clips of each dataset are validated on.
    frames_cache: folder for the decoded crops (default: the run folder); another run of the
        same data and crop settings, e.g. a fine-tune, can reuse the first run's."""

    epochs: int = 30
    steps_per_epoch: int | None = 400
    batch_size: int = 16
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    image_size: int = 96
    region_side: float = 1.0
    region_centre_y: float = 0.80
    region_hole: float = 0.12
    region_feather: float = 0.06
    max_frames_per_clip: int = 40
    references_per_clip: int = 2
    lambda_l1: float = 1.0
    lambda_ssim: float = 1.0
    lambda_gan: float = 0.0
    flip: bool = True
    val_pairs: int = 4
    val_clips_per_group: int = 40
    frames_cache: str | None = None

    def __post_init__(self) -> None:
        if self.max_frames_per_clip < 2:
            raise ValueError(f"max_frames_per_clip must be at least 2, got {self.max_frames_per_clip}")
        if self.references_per_clip < 1:
            raise ValueError(f"references_per_clip must be at least 1, got {self.references_per_clip}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (BatchNorm)")

    def region(self) -> MouthRegion:
        return MouthRegion(size=self.image_size, side=self.region_side, centre_y=self.region_centre_y,
                           hole=self.region_hole, feather=self.region_feather)


@dataclasses.dataclass
class MouthFrames:
    """Stored crops of one clip: the real crops (N, S, S, 3) uint8 RGB and their (N, 68, 2)
    crop-pixel landmarks; `warps` (R, N, S, S, 3), each target warped from reference frame
    `references[r]` (an index into the N frames)."""

    clip_id: str
    crops: np.ndarray
    points: np.ndarray
    warps: np.ndarray
    references: np.ndarray

    def __len__(self) -> int:
        return len(self.crops)


def reference_indices(count: int, references: int) -> np.ndarray:
    """The first frame, then evenly spread ones (distinct), at most `count`."""
    return np.unique(np.round(np.linspace(0, count - 1, references + 1)[:-1]).astype(np.int64)) if references > 1 \
        else np.zeros(1, np.int64)


def load_mouth_frames(clip: Clip, region: MouthRegion, max_frames: int, references: int = 1, gl_context=None
                      ) -> MouthFrames:
    """Decode `clip`'s video, keep up to `max_frames` evenly spaced aligned mouth crops, and warp
    every kept frame from each of `references` reference frames (as the photo path renders)."""
    from makeittalk.pipelines.video import read_frames_at
    from renderer.warp import RenderConfig, WarpRenderer

    points, _ = frame_landmarks(clip)
    faces = np.flatnonzero(np.isfinite(points).all(axis=(1, 2)))
    chosen = evenly_spaced(faces, max_frames)
    if len(chosen) < 2:
        raise DatasetError(f"clip {clip.id}: {len(faces)} frame(s) with a face; a target and a reference need 2")
    wanted = {int(i): k for k, i in enumerate(chosen)}
    video = _video_path(clip)
    if not video.is_file():
        raise DatasetError(f"clip {clip.id}: its video {video} does not exist (prepare the dataset again where the videos are)")
    size = region.size
    images: list[np.ndarray | None] = [None] * len(chosen)
    try:
        for number, rgb in read_frames_at(video, chosen):
            images[wanted[number]] = rgb
    except MakeItTalkError as exc:
        raise DatasetError(f"clip {clip.id}: {exc}") from None
    got = [k for k, image in enumerate(images) if image is not None]
    if len(got) < 2:
        raise DatasetError(f"clip {clip.id}: only {len(got)} decodable frames with landmarks in {video}")
    frame_points = [points[int(chosen[k])] for k in got]
    matrices = [crop_matrix(p, region) for p in frame_points]
    crops = np.stack([warp_into_crop(images[k], m, size) for k, m in zip(got, matrices)])
    crop_points = np.stack([map_points(p, m) for p, m in zip(frame_points, matrices)]).astype(np.float32)
    refs = reference_indices(len(got), references)
    warps = np.empty((len(refs), len(got), size, size, 3), np.uint8)
    for r, ref in enumerate(refs):
        with WarpRenderer(images[got[ref]], frame_points[ref], config=RenderConfig(style="photo"), ctx=gl_context) as warp:
            for t, (p, m) in enumerate(zip(frame_points, matrices)):
                warps[r, t] = warp_into_crop(warp.render(p)[:, :, :3], m, size)
    return MouthFrames(clip.id, crops, crop_points, warps, refs)


def translator_inputs(frame_crop: np.ndarray, crop_points: np.ndarray, reference_crop: np.ndarray,
                      region: MouthRegion) -> tuple[np.ndarray, np.ndarray]:
    """(x (10, S, S) float32, blend weight (S, S) float32) for one frame.

    frame_crop: the warp renderer's frame cut out as this frame's crop, (S, S, 3) uint8 RGB;
    crop_points its (68, 2) landmarks in crop pixels; reference_crop the reference mouth.
    """
    hole, weight = mouth_masks(crop_points, region)
    guides = mouth_guides(crop_points, region.size)
    scale = np.float32(1.0 / 255.0)
    x = np.empty((10, region.size, region.size), np.float32)
    x[0:3] = frame_crop.transpose(2, 0, 1) * scale
    x[3] = hole
    x[4:7] = guides.transpose(2, 0, 1) * scale
    x[7:10] = reference_crop.transpose(2, 0, 1) * scale
    return x, weight


def make_batch(items: list[tuple[MouthFrames, int, int, bool]], region: MouthRegion
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x (B,10,S,S), weight (B,1,S,S), warp (B,3,S,S), target (B,3,S,S)) for
    (frames, target, reference slot, flip) items."""
    xs, ws, warps, ys = [], [], [], []
    size = region.size
    for frames, target, slot, flip in items:
        crop, points = frames.crops[target], frames.points[target].astype(np.float64)
        warp, ref = frames.warps[slot, target], frames.crops[frames.references[slot]]
        if flip:
            crop, warp, ref = crop[:, ::-1], warp[:, ::-1], ref[:, ::-1]
            points = points.copy()
            points[:, 0] = size - points[:, 0]  # pixel centres at k + 0.5 mirror to size - (k + 0.5)
        warp = np.ascontiguousarray(warp)
        x, w = translator_inputs(warp, points, np.ascontiguousarray(ref), region)
        xs.append(x)
        ws.append(w)
        warps.append(warp.transpose(2, 0, 1))
        ys.append(crop.transpose(2, 0, 1))
    scale = np.float32(1.0 / 255.0)
    return (torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ws))[:, None],
            torch.from_numpy(np.stack(warps).astype(np.float32) * scale),
            torch.from_numpy(np.stack(ys).astype(np.float32) * scale))


def blend(output: torch.Tensor, weight: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    return weight * output + (1.0 - weight) * frame


class PatchDiscriminator(torch.nn.Module):
    """A 3-level PatchGAN (pix2pix) on mouth crops, with instance-free LeakyReLU convs."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, c, 4, 2, 1), torch.nn.LeakyReLU(0.2, inplace=True),
            torch.nn.Conv2d(c, 2 * c, 4, 2, 1), torch.nn.BatchNorm2d(2 * c), torch.nn.LeakyReLU(0.2, inplace=True),
            torch.nn.Conv2d(2 * c, 4 * c, 4, 2, 1), torch.nn.BatchNorm2d(4 * c), torch.nn.LeakyReLU(0.2, inplace=True),
            torch.nn.Conv2d(4 * c, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2.0 - 1.0)


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
_GREY = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def sharpness_ratio(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of var(Laplacian(grey x)) / var(Laplacian(grey y)): below 1 is blurrier.

    The same measure as `makeittalk eval --frames` (3x3 Laplacian of BT.601 grey), on whole crops.
    """
    lap = _LAPLACIAN.to(x.device, x.dtype)
    grey = _GREY.to(x.device, x.dtype)
    lx = torch.nn.functional.conv2d((x * grey).sum(1, keepdim=True), lap)
    ly = torch.nn.functional.conv2d((y * grey).sum(1, keepdim=True), lap)
    return (lx.var(dim=(1, 2, 3)) / ly.var(dim=(1, 2, 3)).clamp(min=1e-12)).mean()


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
    return (10.0 * torch.log10(1.0 / mse)).mean()


class MouthTranslatorTask(TrainingTask):
    name = "mouth-translator"
    network = "mouth_translator"
    config_class = MouthTranslatorTrainConfig

    def __init__(self, config: MouthTranslatorTrainConfig, dataset, ctx) -> None:
        super().__init__(config, dataset, ctx)
        self.region = config.region()
        try:
            self.model_config = MouthTranslatorConfig(**{**config.model, "image_size": config.image_size,
                                                         "region": self.region.to_dict()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model: {exc}") from None
        self._notes: list[str] = []
        self._problems: list[str] = []
        train_all = dataset.require(split="train", kinds=KINDS, purpose="mouth-translator training")
        val_all = dataset.select(split="val", kinds=KINDS)
        if not val_all:
            val_all = train_all[:4]
            self._notes.append(f"the data has no val clips: validating on {len(val_all)} training clip(s) instead")
        val_all = _per_group(val_all, config.val_clips_per_group)
        dist = ctx.dist
        sharded = dist.enabled and len(train_all) >= dist.world_size
        self.train_clips, self.val_clips = train_all, val_all
        train_share = train_all[dist.rank :: dist.world_size] if sharded else train_all
        started = time.perf_counter()
        self.train_frames = self._load(train_share, "train")
        self.val_frames = self._load(val_all[dist.rank :: dist.world_size], "val")
        if not self.train_frames:
            raise DatasetError("no usable training frames: " + "; ".join(self._problems[:3]))
        stored = sum(len(f) for f in self.train_frames)
        self._notes.append(f"{stored} training crops of {len(self.train_frames)} clips, "
                           f"{sum(len(f) for f in self.val_frames)} val crops of {len(self.val_frames)} clips "
                           f"({time.perf_counter() - started:.0f} s to load)")
        if self._problems:
            self._notes.append(f"{len(self._problems)} clip(s) skipped: " + "; ".join(self._problems[:3]))
        self.total_train_frames = stored * (dist.world_size if sharded else 1)

        self.model = MouthTranslator(self.model_config).to(ctx.device)
        # channels-last convolutions are about 25% faster on CPUs (oneDNN); no effect on the weights.
        self.memory_format = torch.channels_last if ctx.device.type == "cpu" else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        if dist.enabled and ctx.device.type == "cuda":
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.net = dist.wrap(self.model)
        self.opt = self.make_adam(self.model.parameters())
        self.discriminator = None
        if config.lambda_gan > 0:
            self.discriminator = PatchDiscriminator().to(ctx.device)
            self.disc_net = dist.wrap(self.discriminator)
            self.disc_opt = self.make_adam(self.discriminator.parameters())
        self._val_batches = self._fixed_val_batches()

    # -- frames --------------------------------------------------------------------------
    def _cache_path(self, clips: list[Clip], split: str) -> Path:
        c = self.config
        key = json.dumps(["warp-v1", self.region.to_dict(), c.max_frames_per_clip, c.references_per_clip,
                          sorted(cl.id for cl in clips)])
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        folder = Path(c.frames_cache).expanduser() if c.frames_cache else self.ctx.run_dir
        return folder / f"mouth_frames-{split}-{self.ctx.dist.rank}-{digest}.npz"

    def _load(self, clips: list[Clip], split: str) -> list[MouthFrames]:
        path = self._cache_path(clips, split)
        if path.is_file():
            return _read_cache(path)
        from renderer.context import create_context

        frames = []
        started = time.perf_counter()
        gl_context = create_context()  # one context for every clip's warp renderer
        try:
            for done, clip in enumerate(clips, 1):
                try:
                    frames.append(load_mouth_frames(clip, self.region, self.config.max_frames_per_clip,
                                                    self.config.references_per_clip, gl_context))
                except MakeItTalkError as exc:
                    self._problems.append(str(exc))
                if done % 250 == 0 or done == len(clips):
                    self.ctx.log(f"decoded and warped {done}/{len(clips)} {split} clips "
                                 f"({time.perf_counter() - started:.0f} s)")
        finally:
            gl_context.release()
        if frames:
            _write_cache(path, frames)
        return frames

    def _fixed_val_batches(self):
        items = []
        for frames in self.val_frames:
            targets = evenly_spaced(np.arange(1, len(frames)), self.config.val_pairs)  # reference: frame 0
            items.extend((frames, int(t), 0, False) for t in targets)
        step = self.config.batch_size
        return [make_batch(items[i : i + step], self.region) for i in range(0, len(items), step)]

    # -- what the loop needs -------------------------------------------------------------
    def notes(self) -> list[str]:
        return list(self._notes)

    def modules(self):
        modules = {"mouth_translator": self.model}
        if self.discriminator is not None:
            modules["discriminator"] = self.discriminator
        return modules

    def optimizers(self):
        optimizers = {"mouth_translator": self.opt}
        if self.discriminator is not None:
            optimizers["discriminator"] = self.disc_opt
        return optimizers

    def exported(self):
        return self.model

    def used_clips(self) -> list[Clip]:
        return self.train_clips + [c for c in self.val_clips if c.split == "val"]

    def training_description(self) -> dict[str, Any]:
        c = self.config
        loss = f"{c.lambda_l1:g} x L1 in the hole + {c.lambda_ssim:g} x (1 - SSIM) of the blended crop"
        if c.lambda_gan > 0:
            loss += f" + {c.lambda_gan:g} x PatchGAN (LSGAN)"
        return {"loss": loss, "region": self.region.to_dict(), "max_frames_per_clip": c.max_frames_per_clip,
                "flip": c.flip}

    def steps_in_epoch(self, epoch: int) -> int:
        if self.config.steps_per_epoch:
            return self.config.steps_per_epoch
        return max(1, self.total_train_frames // (self.config.batch_size * self.ctx.dist.world_size))

    def _losses(self, net, x, w, warp, y) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        output = blend(net(x), w, warp)
        l1 = ((output - y).abs() * w).sum() / (w.sum() * 3.0).clamp(min=1.0)
        similarity = ssim(output, y)
        loss = c.lambda_l1 * l1 + c.lambda_ssim * (1.0 - similarity)
        return output, {"loss": loss, "l1": l1, "ssim": similarity}

    def train_epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[dict[str, float]]:
        c = self.config
        dev = self.ctx.device
        for _ in range(self.steps_in_epoch(epoch)):
            items = []
            for _ in range(c.batch_size):
                frames = self.train_frames[int(rng.integers(len(self.train_frames)))]
                slot = int(rng.integers(len(frames.references)))
                # any frame but the reference itself (that one the warp already gets right)
                target = int(rng.integers(len(frames) - 1))
                target += target >= frames.references[slot]
                items.append((frames, target, slot, bool(c.flip and rng.random() < 0.5)))
            x, w, warp, y = (t.to(dev, non_blocking=True) for t in make_batch(items, self.region))
            x = x.contiguous(memory_format=self.memory_format)
            output, losses = self._losses(self.net, x, w, warp, y)
            loss = losses["loss"]
            if self.discriminator is not None:
                adversarial = ((self.disc_net(output) - 1.0) ** 2).mean()
                loss = loss + c.lambda_gan * adversarial
                losses["gan"] = adversarial
            self.optimizer_step(loss, self.model, self.opt)
            if self.discriminator is not None:
                real = self.disc_net(y)
                fake = self.disc_net(output.detach())
                disc_loss = 0.5 * (((real - 1.0) ** 2).mean() + (fake**2).mean())
                self.optimizer_step(disc_loss, self.discriminator, self.disc_opt)
                losses["disc"] = disc_loss
            yield {k: float(v.detach()) for k, v in losses.items()}

    def validate(self) -> tuple[dict[str, float], float]:
        # val_psnr_warp: the warp renderer alone on the same crops, the figure to beat.
        # val_sharpness: Laplacian-variance ratio against the real crops, so a blurry optimum shows.
        sums = {"val_loss": 0.0, "val_l1": 0.0, "val_ssim": 0.0, "val_psnr": 0.0, "val_psnr_warp": 0.0,
                "val_sharpness": 0.0, "val_sharpness_warp": 0.0}
        n = 0
        dev = self.ctx.device
        with torch.no_grad():
            for batch in self._val_batches:
                x, w, warp, y = (t.to(dev) for t in batch)
                output, losses = self._losses(self.model, x.contiguous(memory_format=self.memory_format), w, warp, y)
                b = x.shape[0]
                sums["val_loss"] += float(losses["loss"]) * b
                sums["val_l1"] += float(losses["l1"]) * b
                sums["val_ssim"] += float(losses["ssim"]) * b
                sums["val_psnr"] += float(psnr(output, y)) * b
                sums["val_psnr_warp"] += float(psnr(warp, y)) * b
                sums["val_sharpness"] += float(sharpness_ratio(output, y)) * b
                sums["val_sharpness_warp"] += float(sharpness_ratio(warp, y)) * b
                n += b
        if n == 0:
            return sums, 0.0
        return {k: v / n for k, v in sums.items()}, float(n)


def _write_cache(path: Path, frames: list[MouthFrames]) -> None:
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, ids=np.array([f.clip_id for f in frames]), counts=np.array([len(f) for f in frames]),
             crops=np.concatenate([f.crops for f in frames]), points=np.concatenate([f.points for f in frames]),
             ref_counts=np.array([len(f.references) for f in frames]),
             references=np.concatenate([f.references for f in frames]),
             warps=np.concatenate([f.warps.reshape(-1, *f.warps.shape[2:]) for f in frames]))
    partial.replace(path)


def _read_cache(path: Path) -> list[MouthFrames]:
    with np.load(path, allow_pickle=False) as data:
        ids, counts, ref_counts = list(data["ids"]), data["counts"], data["ref_counts"]
        crops, points, references, warps = data["crops"], data["points"], data["references"], data["warps"]
    frames = []
    start = ref_start = warp_start = 0
    for clip_id, n, r in zip(ids, counts, ref_counts):
        n, r = int(n), int(r)
        frames.append(MouthFrames(str(clip_id), crops[start:start + n], points[start:start + n],
                                  warps[warp_start:warp_start + r * n].reshape(r, n, *warps.shape[1:]),
                                  references[ref_start:ref_start + r]))
        start, ref_start, warp_start = start + n, ref_start + r, warp_start + r * n
    return frames


def _per_group(clips: list[Clip], limit: int) -> list[Clip]:
    """At most `limit` clips of each dataset folder, evenly spread over it."""
    groups: dict[str, list[Clip]] = {}
    for clip in clips:
        groups.setdefault(str(clip.dataset), []).append(clip)
    chosen = []
    for members in groups.values():
        index = evenly_spaced(np.arange(len(members)), limit)
        chosen.extend(members[int(i)] for i in index)
    return chosen


TASK = MouthTranslatorTask
