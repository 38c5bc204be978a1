"""Content-branch trainer: lip-weighted L1 plus graph-Laplacian L1 (spec §4.2).

Examples are single windows: the 18-frame window of AutoVC-converted mel starting at frame k
and the clip's static face q predict the landmarks of frame k in a still head (see
makeittalk.training.targets). Talking clips train all 68 points; mouth-only tracks train the
20 mouth points through the point mask.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import numpy as np
import torch

from makeittalk.models import ContentBranch, ContentBranchConfig
from makeittalk.training.config import TrainConfig, network_config
from makeittalk.training.losses import landmark_l1, laplacian_l1
from makeittalk.training.loop import TrainingTask
from makeittalk.training.tasks.landmark_data import (
    FRAME_RATE,
    MIRROR_INDEX,
    ConvertedAudio,
    LandmarkClip,
    load_landmark_clips,
    mirror_rows,
    mouth_opening_rows,
    pearson,
)


@dataclasses.dataclass
class ContentTrainConfig(TrainConfig):
    """autovc_weights: the AutoVC whose converted mel the branch learns from (name or folder).
    kinds: prepared clip kinds to train on; lips_share: fraction of each batch drawn from
    mouth-only tracks when there are any (the rest from talking clips).
    lips_offset_seconds: delay applied to mouth-track motion against its audio.
    lip_weighted / lambda_laplacian: the loss terms of spec §4.2.
    mirror: probability of mirroring an example's landmarks (left/right).
    feature_noise: std of Gaussian noise added to the normalised mel windows (training only).
    freq_mask: each training window gets one band of up to this many mel bins set to the
        training mean (0 in normalised units), SpecAugment-style, against speaker over-fitting.
    val_stride: validate on every val_stride-th frame of the val clips."""

    epochs: int = 20
    steps_per_epoch: int | None = 200
    batch_size: int = 256
    lr: float = 3e-4
    autovc_weights: str = ""
    kinds: tuple[str, ...] = ("talking", "lips")
    lips_share: float = 0.25
    lips_offset_seconds: float = 0.11
    lip_weighted: bool = True
    lambda_laplacian: float = 1.0
    mirror: float = 0.5
    val_stride: int = 2
    feature_noise: float = 0.0
    freq_mask: int = 0


class ContentTask(TrainingTask):
    name = "content"
    network = "content_branch"
    config_class = ContentTrainConfig

    def __init__(self, config: ContentTrainConfig, dataset, ctx) -> None:
        super().__init__(config, dataset, ctx)
        self.model_config = network_config(ContentBranchConfig, config.model)
        audio = ConvertedAudio(config.autovc_weights, ctx.run_dir / "cache", ctx.device)
        offset = int(round(config.lips_offset_seconds * FRAME_RATE))
        train = dataset.require(split="train", kinds=config.kinds, purpose="content-branch training")
        train = [c for c in train if c.has_landmarks]
        self.train_clips = load_landmark_clips(train, audio, offset)
        val = [c for c in dataset.select(split="val", kinds=config.kinds) if c.has_landmarks]
        self._val_fallback = not val
        self.val_clips = load_landmark_clips(val, audio, offset) if val else self.train_clips[:4]
        self.autovc_source = audio.source
        self.autovc_digest = audio.digest
        del audio
        self.model = ContentBranch(self.model_config).to(ctx.device)
        self.net = ctx.dist.wrap(self.model)
        self.opt = self.make_adam(self.model.parameters())
        self._groups = self._sampling_groups()

    def notes(self) -> list[str]:
        notes = [f"content features: AutoVC {self.autovc_source} (sha {self.autovc_digest})"]
        if self._val_fallback:
            notes.append("the data has no val clips with landmarks: validating on training clips instead")
        return notes

    def used_clips(self):
        return [c.clip for c in self.train_clips] + ([] if self._val_fallback else [c.clip for c in self.val_clips])

    def data_description(self) -> dict[str, Any]:
        d = self.dataset.describe(self.used_clips())
        d["autovc"] = {"source": self.autovc_source, "sha256_16": self.autovc_digest}
        return d

    def modules(self):
        return {"content_branch": self.model}

    def optimizers(self):
        return {"content_branch": self.opt}

    def exported(self):
        return self.model

    def steps_in_epoch(self, epoch: int) -> int:
        if self.config.steps_per_epoch:
            return self.config.steps_per_epoch
        frames = sum(int(c.targets.frame_mask.sum()) for c in self.train_clips)
        return max(1, frames // (self.config.batch_size * self.ctx.dist.world_size))

    def _sampling_groups(self) -> list[tuple[float, list[LandmarkClip], np.ndarray]]:
        """(share of the batch, clips, clip probabilities) per group: talking, then lips."""
        talking = [c for c in self.train_clips if c.clip.kind == "talking"]
        lips = [c for c in self.train_clips if c.clip.kind == "lips"]
        groups = []
        lips_share = self.config.lips_share if lips and talking else (1.0 if lips else 0.0)
        for share, clips in ((1.0 - lips_share, talking), (lips_share, lips)):
            if clips and share > 0:
                w = np.array([c.targets.frame_mask.sum() for c in clips], dtype=np.float64)
                groups.append((share, clips, w / w.sum()))
        return groups

    def _draw(self, rng: np.random.Generator) -> list[tuple[LandmarkClip, np.ndarray]]:
        picks = []
        remaining = self.config.batch_size
        for g, (share, clips, p) in enumerate(self._groups):
            n = remaining if g == len(self._groups) - 1 else int(round(share * self.config.batch_size))
            remaining -= n
            counts = np.bincount(rng.choice(len(clips), size=n, p=p), minlength=len(clips))
            for clip, k in zip(clips, counts):
                if k:
                    valid = np.flatnonzero(clip.targets.frame_mask)
                    picks.append((clip, rng.choice(valid, size=k)))
        return picks

    def _tensors(self, picks, rng: np.random.Generator | None) -> tuple[torch.Tensor, ...]:
        windows, faces, targets, masks = [], [], [], []
        for clip, frames in picks:
            t = clip.targets
            face = np.broadcast_to(t.face_id, (len(frames), 204))
            target = t.content[frames]
            point_mask = np.broadcast_to(t.point_mask, (len(frames), 68))
            if rng is not None and self.config.mirror > 0:
                flip = rng.random(len(frames)) < self.config.mirror
                face = np.where(flip[:, None], mirror_rows(face), face)
                target = np.where(flip[:, None], mirror_rows(target), target)
                point_mask = np.where(flip[:, None], point_mask[:, MIRROR_INDEX], point_mask)
            w = clip.windows(frames)
            if rng is not None:
                w = self._augment(w, rng)
            windows.append(w)
            faces.append(face)
            targets.append(target)
            masks.append(point_mask)
        dev = self.ctx.device

        def cat(parts, dtype=np.float32):
            return torch.from_numpy(np.ascontiguousarray(np.concatenate(parts), dtype=dtype)).to(dev)

        return cat(windows), cat(faces), cat(targets), cat(masks)

    def _augment(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        if c.feature_noise <= 0 and c.freq_mask <= 0:
            return windows
        windows = windows.copy()
        if c.feature_noise > 0:
            windows += rng.normal(0.0, c.feature_noise, windows.shape).astype(np.float32)
        if c.freq_mask > 0:
            bins = windows.shape[-1]
            widths = rng.integers(0, c.freq_mask + 1, size=len(windows))
            starts = rng.integers(0, bins, size=len(windows))
            band = np.arange(bins)[None, :]
            masked = (band >= starts[:, None]) & (band < (starts + widths)[:, None])
            windows[np.broadcast_to(masked[:, None, :], windows.shape)] = 0.0
        return windows

    def _losses(self, windows, faces, targets, masks) -> dict[str, torch.Tensor]:
        return self._loss_terms(faces + self.net(windows, faces), targets, masks)

    def _loss_terms(self, pred, targets, masks) -> dict[str, torch.Tensor]:
        l1 = landmark_l1(pred, targets, masks, lip_weighted=self.config.lip_weighted)
        lap = laplacian_l1(pred, targets, masks)
        return {"loss": l1 + self.config.lambda_laplacian * lap, "l1": l1, "laplacian": lap}

    def train_epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[dict[str, float]]:
        for _ in range(self.steps_in_epoch(epoch)):
            losses = self._losses(*self._tensors(self._draw(rng), rng))
            self.optimizer_step(losses["loss"], self.model, self.opt)
            yield {k: float(v.detach()) for k, v in losses.items()}

    def validate(self) -> tuple[dict[str, float], float]:
        # The bare model, not the DDP wrapper: ranks hold different numbers of val clips.
        dist = self.ctx.dist
        sums: dict[str, float] = {}
        n = 0
        correlations = []
        for clip in self.val_clips[dist.rank :: dist.world_size]:
            frames = np.flatnonzero(clip.targets.frame_mask)[:: self.config.val_stride]
            preds = []
            for start in range(0, len(frames), 1024):
                part = frames[start : start + 1024]
                w, f, t, m = self._tensors([(clip, part)], None)
                pred = f + self.model(w, f)
                losses = self._loss_terms(pred, t, m)
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * len(part)
                preds.append(pred.cpu().numpy())
                n += len(part)
            if clip.targets.point_mask[62] and len(frames) > 2:
                pred = np.concatenate(preds)
                correlations.append(pearson(mouth_opening_rows(pred), mouth_opening_rows(clip.targets.content[frames])))
        out = {f"val_{k}": sums.get(k, 0.0) / max(n, 1) for k in ("loss", "l1", "laplacian")}
        # Every rank reports every key (weight 0 when it had no clip) so the all-reduce lines up.
        out["val_mouth_r"] = float(np.mean(correlations)) if correlations else 0.0
        return out, float(n)


TASK = ContentTask
