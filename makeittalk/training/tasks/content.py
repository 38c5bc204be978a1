"""Content-branch trainer: lip-weighted L1 plus graph-Laplacian L1 (spec §4.2).

Examples are single windows: the 18-frame window of AutoVC-converted mel starting at frame k
and the clip's static face q predict the landmarks of frame k in a still head (see
makeittalk.training.targets). Talking clips train all 68 points; mouth-only tracks train the
20 mouth points through the point mask.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from makeittalk.models import ContentBranch, ContentBranchConfig
from makeittalk.training.config import TrainConfig, network_config
from makeittalk.training.losses import (
    landmark_l1,
    laplacian_l1,
    lip_velocity_l1,
    opening_correlation_loss,
    opening_l1,
)
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
    val_stride: validate on every val_stride-th frame of the val clips.
    content_features: "converted" (AutoVC's conversion to the target voice, the original's input)
        or "source" (the clip's own normalised mel); stored in weightset.json as content_features.
    augmented: also train on the augmented copies of the training clips (data prepare --augment).
    feature_cache: folder for the AutoVC-converted mel of each clip (default RUN_DIR/cache);
        runs that share an AutoVC can share it.
    window_delay_frames: window k covers mel frames k-d..k-d+17 instead of k..k+17, so the frame
        it predicts has d frames of past audio as well as 17-d of future (the original's d is 0).
        Stored in the exported config and in weightset.json as `content_delay_frames`.
    run_frames: examples come as runs of this many consecutive frames of one clip (the motion
        terms need neighbours); batch_size must be a multiple of it.
    lambda_velocity / lambda_opening / lambda_correlation: weights of the motion terms: L1 on
        the mouth points' frame-to-frame velocity, L1 on the three inner-lip gaps, and
        1 - the within-run correlation of the mean gap (see training.losses)."""

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
    feature_cache: str | None = None
    content_features: str = "converted"
    augmented: bool = False
    window_delay_frames: int = 0
    run_frames: int = 1
    lambda_velocity: float = 0.0
    lambda_opening: float = 0.0
    lambda_correlation: float = 0.0

    def __post_init__(self) -> None:
        if self.run_frames < 1 or self.batch_size % self.run_frames:
            raise ValueError(f"run_frames ({self.run_frames}) must divide batch_size ({self.batch_size})")
        if not 0 <= self.window_delay_frames < 18:
            raise ValueError(f"window_delay_frames must lie in 0..17, got {self.window_delay_frames}")
        if self.run_frames == 1 and (self.lambda_velocity or self.lambda_correlation):
            raise ValueError("lambda_velocity and lambda_correlation need run_frames > 1")


class ContentTask(TrainingTask):
    name = "content"
    network = "content_branch"
    config_class = ContentTrainConfig

    def __init__(self, config: ContentTrainConfig, dataset, ctx) -> None:
        super().__init__(config, dataset, ctx)
        self.model_config = network_config(ContentBranchConfig, config.model)
        cache = Path(config.feature_cache) if config.feature_cache else ctx.run_dir / "cache"
        audio = ConvertedAudio(config.autovc_weights, cache, ctx.device, config.content_features)
        offset = int(round(config.lips_offset_seconds * FRAME_RATE))
        train = dataset.require(split="train", kinds=config.kinds, purpose="content-branch training",
                                augmented=config.augmented)
        train = [c for c in train if c.has_landmarks]
        delay = config.window_delay_frames
        self.train_clips = load_landmark_clips(train, audio, offset, delay)
        val = [c for c in dataset.select(split="val", kinds=config.kinds) if c.has_landmarks]
        self._val_fallback = not val
        self.val_clips = load_landmark_clips(val, audio, offset, delay) if val else self.train_clips[:4]
        self._run_starts = {id(c): self._valid_run_starts(c) for c in self.train_clips}
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

    def _valid_run_starts(self, clip: LandmarkClip) -> np.ndarray:
        """Frames where a run of run_frames frames with landmarks starts."""
        mask = clip.targets.frame_mask.astype(np.int32)
        r = self.config.run_frames
        if len(mask) < r:
            return np.zeros(0, dtype=np.int64)
        ok = np.convolve(mask, np.ones(r, dtype=np.int32), mode="valid") == r
        return np.flatnonzero(ok)

    def _sampling_groups(self) -> list[tuple[float, list[LandmarkClip], np.ndarray]]:
        """(share of the batch, clips, clip probabilities) per group: talking, then lips."""
        talking = [c for c in self.train_clips if c.clip.kind == "talking"]
        lips = [c for c in self.train_clips if c.clip.kind == "lips"]
        groups = []
        lips_share = self.config.lips_share if lips and talking else (1.0 if lips else 0.0)
        for share, clips in ((1.0 - lips_share, talking), (lips_share, lips)):
            clips = [c for c in clips if len(self._run_starts[id(c)])]
            if clips and share > 0:
                w = np.array([len(self._run_starts[id(c)]) for c in clips], dtype=np.float64)
                groups.append((share, clips, w / w.sum()))
        if not groups:
            raise ValueError(f"no training clip has {self.config.run_frames} consecutive frames with landmarks")
        return groups

    def _draw(self, rng: np.random.Generator) -> list[tuple[LandmarkClip, np.ndarray]]:
        """Runs of run_frames consecutive frames (run-major), shared between the groups."""
        picks = []
        r = self.config.run_frames
        runs_total = self.config.batch_size // r
        remaining = runs_total
        for g, (share, clips, p) in enumerate(self._groups):
            n = remaining if g == len(self._groups) - 1 else int(round(share * runs_total))
            remaining -= n
            counts = np.bincount(rng.choice(len(clips), size=n, p=p), minlength=len(clips))
            for clip, k in zip(clips, counts):
                if k:
                    starts = rng.choice(self._run_starts[id(clip)], size=k)
                    picks.append((clip, (starts[:, None] + np.arange(r)[None, :]).reshape(-1)))
        return picks

    def _tensors(self, picks, rng: np.random.Generator | None) -> tuple[torch.Tensor, ...]:
        windows, faces, targets, masks = [], [], [], []
        for clip, frames in picks:
            t = clip.targets
            face = np.broadcast_to(t.face_id, (len(frames), 204))
            target = t.content[frames]
            point_mask = np.broadcast_to(t.point_mask, (len(frames), 68))
            if rng is not None and self.config.mirror > 0:
                # One decision per run, so that a run never flips halfway.
                r = self.config.run_frames
                flip = np.repeat(rng.random(len(frames) // r) < self.config.mirror, r)
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
        return self._loss_terms(faces + self.net(windows, faces), targets, masks, self.config.run_frames)

    def _loss_terms(self, pred, targets, masks, run_frames: int) -> dict[str, torch.Tensor]:
        c = self.config
        l1 = landmark_l1(pred, targets, masks, lip_weighted=c.lip_weighted)
        lap = laplacian_l1(pred, targets, masks)
        terms = {"l1": l1, "laplacian": lap}
        loss = l1 + c.lambda_laplacian * lap
        if c.lambda_opening:
            terms["opening"] = opening_l1(pred, targets, masks)
            loss = loss + c.lambda_opening * terms["opening"]
        if run_frames > 1 and c.lambda_velocity:
            terms["velocity"] = lip_velocity_l1(pred, targets, masks, run_frames)
            loss = loss + c.lambda_velocity * terms["velocity"]
        if run_frames > 1 and c.lambda_correlation:
            terms["correlation"] = opening_correlation_loss(pred, targets, masks, run_frames)
            loss = loss + c.lambda_correlation * terms["correlation"]
        return {"loss": loss, **terms}

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
        correlations, amplitudes = [], []
        for clip in self.val_clips[dist.rank :: dist.world_size]:
            frames = np.flatnonzero(clip.targets.frame_mask)[:: self.config.val_stride]
            preds = []
            for start in range(0, len(frames), 1024):
                part = frames[start : start + 1024]
                w, f, t, m = self._tensors([(clip, part)], None)
                pred = f + self.model(w, f)
                losses = self._loss_terms(pred, t, m, 1)  # strided frames: no run terms
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * len(part)
                preds.append(pred.cpu().numpy())
                n += len(part)
            if clip.targets.point_mask[62] and len(frames) > 2:
                pred = np.concatenate(preds)
                predicted, real = mouth_opening_rows(pred), mouth_opening_rows(clip.targets.content[frames])
                correlations.append(pearson(predicted, real))
                if real.std() > 0:
                    amplitudes.append(float(predicted.std() / real.std()))
        out = {f"val_{k}": sums.get(k, 0.0) / max(n, 1) for k in ("loss", "l1", "laplacian", "opening")}
        # Every rank reports every key (weight 0 when it had no clip) so the all-reduce lines up.
        out["val_mouth_r"] = float(np.mean(correlations)) if correlations else 0.0
        # amp: std of the predicted opening over the std of the real one (median over clips).
        out["val_amp"] = float(np.median(amplitudes)) if amplitudes else 0.0
        return out, float(n)


TASK = ContentTask
