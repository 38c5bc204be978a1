"""Speaker-aware-branch trainer: landmark L1 + graph-Laplacian L1, plus optional LSGAN terms.

Examples are SEQUENCES, as the branch runs at inference: `segment_windows` consecutive
18-frame windows k..k+S-1 of one clip (all with ground truth) form one attention sequence,
conditioned on the clip's Resemblyzer embedding x SPEAKER_EMBEDDING_SCALE. The target is the
head-motion displacement Δs* of every frame (see makeittalk.training.targets): the branch
predicts q + Δs against q + Δs*. Mouth-only tracks carry no pose and are not used.

Generator loss (spec §5.5's older design, adapted to the released Δs output):

    L1(q + Δs, q + Δs*) + lambda_laplacian · Laplacian-L1
      [+ lambda_gan_temporal · LSGAN_G(D_T(q + Δs, spk_code)) + lambda_gan_frame · LSGAN_G(D_L(q + Δs))]

with the two discriminators of spec §5.4 (Transformer_DT over windows of frames plus the
speaker code, and the per-frame MLP), each trained LSGAN-style every step (real q + Δs*,
fake the detached q + Δs). The speaker code is a condition: it is detached for both players.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from makeittalk.models import (
    SPEAKER_EMBEDDING_SCALE,
    FrameDiscriminator,
    FrameDiscriminatorConfig,
    SpeakerBranch,
    SpeakerBranchConfig,
    TemporalDiscriminator,
    TemporalDiscriminatorConfig,
)
from makeittalk.training.config import ConfigError, TrainConfig, network_config
from makeittalk.training.losses import landmark_l1, laplacian_l1, lsgan_discriminator, lsgan_generator
from makeittalk.training.loop import TrainingTask
from makeittalk.training.targets import STABLE_POINTS
from makeittalk.training.tasks.landmark_data import ConvertedAudio, LandmarkClip, load_landmark_clips, mirror_rows, pearson


@dataclasses.dataclass
class SpeakerTrainConfig(TrainConfig):
    """autovc_weights: the AutoVC whose converted mel the branch learns from (name or folder).
    segment_windows: windows per training sequence (S, at most the branch's max_len, 512);
    batch_size counts sequences. speaker_noise: std of the Gaussian noise added to the speaker
    code while training (the original's add_z_spk, 0.01). lambda_laplacian: weight of the
    Laplacian term. mirror: probability of mirroring a sequence (q and Δs* together).
    gan: train the two discriminators and add their generator terms (lambda_gan_temporal for
    D_T, lambda_gan_frame for D_L); lr_discriminator / betas_discriminator: their Adam;
    discriminator_real_weight: weight of the real term of their loss (the original's commented
    D step uses 2). temporal_discriminator / frame_discriminator: overrides of
    TemporalDiscriminatorConfig / FrameDiscriminatorConfig (D_T's speaker_code follows the
    branch's). val_segments: at most this many fixed, non-overlapping segments per val clip
    (0 = all)."""

    epochs: int = 30
    steps_per_epoch: int | None = 200
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 1e-6
    autovc_weights: str = ""
    segment_windows: int = 128
    speaker_noise: float = 0.01
    lambda_laplacian: float = 1.0
    mirror: float = 0.5
    gan: bool = True
    lambda_gan_temporal: float = 0.1
    lambda_gan_frame: float = 0.1
    lr_discriminator: float = 1e-4
    betas_discriminator: tuple[float, float] = (0.5, 0.999)
    discriminator_real_weight: float = 2.0
    temporal_discriminator: dict[str, Any] = dataclasses.field(default_factory=dict)
    frame_discriminator: dict[str, Any] = dataclasses.field(default_factory=dict)
    val_segments: int = 8


LOSS_KEYS = ("loss", "l1", "laplacian")
GAN_KEYS = ("g_adv_t", "g_adv_l", "d_t", "d_l")
VAL_KEYS = ("val_loss", "val_l1", "val_laplacian", "val_pose_r")


def valid_starts(frame_mask: np.ndarray, length: int) -> np.ndarray:
    """Start frames k whose frames k..k+length-1 all have ground truth."""
    mask = np.asarray(frame_mask, dtype=bool)
    if length < 1 or mask.size < length:
        return np.zeros(0, dtype=np.int64)
    c = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    return np.flatnonzero(c[length:] - c[:-length] == length)


def longest_run(frame_mask: np.ndarray) -> int:
    """Length of the longest run of consecutive True frames."""
    best = run = 0
    for v in np.asarray(frame_mask, dtype=bool):
        run = run + 1 if v else 0
        best = max(best, run)
    return best


def tile_segments(frame_mask: np.ndarray, length: int, limit: int = 0) -> list[int]:
    """Non-overlapping valid segment starts, first fit from the clip's start; at most `limit`
    of them, evenly spread (0 = all)."""
    starts: list[int] = []
    next_free = 0
    for s in valid_starts(frame_mask, length):
        if s >= next_free:
            starts.append(int(s))
            next_free = s + length
    if limit and len(starts) > limit:
        pick = np.unique(np.round(np.linspace(0, len(starts) - 1, limit)).astype(int))
        starts = [starts[i] for i in pick]
    return starts


@contextlib.contextmanager
def _frozen(*modules: nn.Module) -> Iterator[None]:
    """Parameters of `modules` need no gradient inside (the generator step through D)."""
    params = [p for m in modules for p in m.parameters()]
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, before):
            p.requires_grad_(flag)


def temporal_scores(d_t: nn.Module, sequences: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """D_T scores of (B, S, 204) sequences with their (B, S, code) speaker codes: each sequence
    is cut into D_T's own windows (never across sequences); scores of all, concatenated."""
    return torch.cat([d_t(sequences[b], codes[b]) for b in range(sequences.shape[0])])


def stable_centroid(rows: np.ndarray) -> np.ndarray:
    """(S, 2) x/y centroid of the stable points (nose, eye corners) of (S, 204) rows."""
    return rows.reshape(-1, 68, 3)[:, STABLE_POINTS, :2].mean(axis=1)


class SpeakerTask(TrainingTask):
    name = "speaker"
    network = "speaker_branch"
    config_class = SpeakerTrainConfig

    def __init__(self, config: SpeakerTrainConfig, dataset, ctx) -> None:
        super().__init__(config, dataset, ctx)
        c = config
        self.model_config = network_config(SpeakerBranchConfig, c.model, "model")
        if not 2 <= c.segment_windows <= self.model_config.max_len:
            raise ConfigError(
                f"segment_windows {c.segment_windows} must be between 2 and the speaker branch's "
                f"positional-encoding capacity max_len {self.model_config.max_len}"
            )
        if c.gan:
            fixed = {"landmark_dim": self.model_config.landmark_dim, "speaker_code": self.model_config.speaker_code}
            for key, value in fixed.items():
                if key in c.temporal_discriminator and c.temporal_discriminator[key] != value:
                    raise ConfigError(
                        f"temporal_discriminator.{key} {c.temporal_discriminator[key]} must equal the speaker "
                        f"branch's {key} {value} (it reads the branch's output); drop the setting"
                    )
            self.d_t_config = network_config(TemporalDiscriminatorConfig, c.temporal_discriminator,
                                              "temporal_discriminator", fixed)
            self.d_l_config = network_config(FrameDiscriminatorConfig, c.frame_discriminator, "frame_discriminator",
                                              {"landmark_dim": self.model_config.landmark_dim})

        audio = ConvertedAudio(c.autovc_weights, ctx.run_dir / "cache", ctx.device)
        talking = dataset.require(split="train", kinds=("talking",), purpose="speaker-branch training")
        self._lips_skipped = len(dataset.select(kinds=("lips",)))
        train = [lc for lc in load_landmark_clips(talking, audio, 0) if lc.targets.has_pose]
        val = [lc for lc in load_landmark_clips(dataset.select(split="val", kinds=("talking",)), audio, 0)
               if lc.targets.has_pose]
        self.autovc_source, self.autovc_digest = audio.source, audio.digest
        del audio

        # Training segments: S consecutive frames with ground truth; shorter when no clip has S.
        runs = [longest_run(lc.targets.frame_mask) for lc in train]
        self.seq_len = min(c.segment_windows, max(runs, default=0))
        if self.seq_len < 2:
            raise ConfigError("no training clip has 2 consecutive frames with landmarks; the speaker branch needs sequences")
        self.train_clips: list[LandmarkClip] = []
        self._starts: list[np.ndarray] = []
        for lc in train:
            starts = valid_starts(lc.targets.frame_mask, self.seq_len)
            if starts.size:
                self.train_clips.append(lc)
                self._starts.append(starts)
        self._skipped_short = len(train) - len(self.train_clips)
        counts = np.array([s.size for s in self._starts], dtype=np.float64)
        self._clip_p = counts / counts.sum()

        self._val_fallback = not val
        self.val_clips = val if val else self.train_clips[:4]
        self._val_plan: list[tuple[LandmarkClip, int, list[int]]] = []
        for lc in self.val_clips:
            length = min(self.seq_len, longest_run(lc.targets.frame_mask))
            if length >= 2:
                self._val_plan.append((lc, length, tile_segments(lc.targets.frame_mask, length, c.val_segments)))

        self.model = SpeakerBranch(self.model_config).to(ctx.device)
        self.net = ctx.dist.wrap(self.model)
        self.opt = self.make_adam(self.model.parameters())
        if c.gan:
            self.d_t = TemporalDiscriminator(self.d_t_config).to(ctx.device)
            self.d_l = FrameDiscriminator(self.d_l_config).to(ctx.device)
            self.d_t_net = ctx.dist.wrap(self.d_t)
            self.d_l_net = ctx.dist.wrap(self.d_l)
            self.opt_d_t = self._make_d_adam(self.d_t)
            self.opt_d_l = self._make_d_adam(self.d_l)

    def _make_d_adam(self, module: nn.Module) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.Adam(module.parameters(), lr=c.lr_discriminator, betas=tuple(c.betas_discriminator),
                                weight_decay=c.weight_decay)

    # -- description -----------------------------------------------------------------------
    def notes(self) -> list[str]:
        c = self.config
        notes = [f"speaker-branch features: AutoVC {self.autovc_source} (sha {self.autovc_digest})"]
        if self.seq_len < c.segment_windows:
            notes.append(f"no training clip has {c.segment_windows} consecutive frames with landmarks: "
                         f"training on segments of {self.seq_len}")
        if self._skipped_short:
            notes.append(f"{self._skipped_short} talking clip(s) have no {self.seq_len}-frame run with landmarks: not used")
        if self._lips_skipped:
            notes.append(f"{self._lips_skipped} mouth-only (lips) clip(s) carry no head pose: not used")
        if self._val_fallback:
            notes.append("the data has no val talking clips: validating on training clips instead")
        notes.append("adversarial training on (D_T + D_L, LSGAN)" if c.gan else "adversarial training off (gan: false)")
        return notes

    def used_clips(self):
        return [lc.clip for lc in self.train_clips] + ([] if self._val_fallback else [lc.clip for lc in self.val_clips])

    def data_description(self) -> dict[str, Any]:
        d = self.dataset.describe(self.used_clips())
        d["autovc"] = {"source": self.autovc_source, "sha256_16": self.autovc_digest}
        d["segments"] = {
            "windows": self.seq_len,
            "train_starts": int(sum(s.size for s in self._starts)),
            "val": sum(len(starts) for _, _, starts in self._val_plan),
            "val_clips_from": "train" if self._val_fallback else "val",
        }
        if self.config.gan:
            d["discriminators"] = {"temporal": self.d_t_config.to_dict(), "frame": self.d_l_config.to_dict()}
        return d

    def modules(self):
        out: dict[str, nn.Module] = {"speaker_branch": self.model}
        if self.config.gan:
            out.update(temporal_discriminator=self.d_t, frame_discriminator=self.d_l)
        return out

    def optimizers(self):
        out: dict[str, torch.optim.Optimizer] = {"speaker_branch": self.opt}
        if self.config.gan:
            out.update(temporal_discriminator=self.opt_d_t, frame_discriminator=self.opt_d_l)
        return out

    def exported(self):
        return self.model

    def steps_in_epoch(self, epoch: int) -> int:
        if self.config.steps_per_epoch:
            return self.config.steps_per_epoch
        frames = sum(int(lc.targets.frame_mask.sum()) for lc in self.train_clips)
        return max(1, frames // (self.config.batch_size * self.seq_len * self.ctx.dist.world_size))

    # -- examples --------------------------------------------------------------------------
    def _draw(self, rng: np.random.Generator) -> list[tuple[LandmarkClip, int]]:
        picks = []
        for i in rng.choice(len(self.train_clips), size=self.config.batch_size, p=self._clip_p):
            picks.append((self.train_clips[i], int(rng.choice(self._starts[i]))))
        return picks

    def _tensors(self, picks, length: int, rng: np.random.Generator | None) -> tuple[torch.Tensor, ...]:
        """(B,S,18,80) windows, (B,256) speaker inputs, (B,204) faces q, (B,S,204) targets Δs*."""
        windows, embeddings, faces, deltas = [], [], [], []
        for lc, start in picks:
            frames = np.arange(start, start + length)
            face, delta = lc.targets.face_id, lc.targets.speaker_delta[frames]
            if rng is not None and self.config.mirror > 0 and rng.random() < self.config.mirror:
                face, delta = mirror_rows(face), mirror_rows(delta)  # linear: mirror(q + Δ) = mirror(q) + mirror(Δ)
            windows.append(lc.windows(frames))
            embeddings.append(lc.speaker_embedding * np.float32(SPEAKER_EMBEDDING_SCALE))
            faces.append(face)
            deltas.append(delta)
        dev = self.ctx.device

        def stack(parts):
            return torch.from_numpy(np.ascontiguousarray(np.stack(parts), dtype=np.float32)).to(dev)

        return stack(windows), stack(embeddings), stack(faces), stack(deltas)

    def _landmark_losses(self, pred: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        flat_pred, flat_real = pred.reshape(-1, 204), real.reshape(-1, 204)
        ones = flat_pred.new_ones(flat_pred.shape[0], 68)
        l1 = landmark_l1(flat_pred, flat_real, ones, lip_weighted=False)
        lap = laplacian_l1(flat_pred, flat_real, ones)
        return {"loss": l1 + self.config.lambda_laplacian * lap, "l1": l1, "laplacian": lap}

    # -- training --------------------------------------------------------------------------
    def train_epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[dict[str, float]]:
        for _ in range(self.steps_in_epoch(epoch)):
            yield self._step(*self._tensors(self._draw(rng), self.seq_len, rng))

    def _step(self, windows, embeddings, faces, deltas) -> dict[str, float]:
        c = self.config
        delta, code = self.net(windows, embeddings, speaker_noise=c.speaker_noise)
        q = faces.unsqueeze(1)
        pred, real = q + delta, q + deltas
        losses = self._landmark_losses(pred, real)
        code = code.detach()  # the speaker code conditions D; neither player trains it through D
        if c.gan:
            # Through the unwrapped, frozen discriminators: no D gradients, no DDP reduction for them.
            with _frozen(self.d_t, self.d_l):
                losses["g_adv_t"] = lsgan_generator(temporal_scores(self.d_t, pred, code))
                losses["g_adv_l"] = lsgan_generator(self.d_l(pred.reshape(-1, 204)))
            losses["loss"] = losses["loss"] + c.lambda_gan_temporal * losses["g_adv_t"] + c.lambda_gan_frame * losses["g_adv_l"]
        self.optimizer_step(losses["loss"], self.model, self.opt)
        if c.gan:
            fake = pred.detach()
            w = c.discriminator_real_weight
            losses["d_t"] = lsgan_discriminator(
                temporal_scores(self.d_t_net, real, code), temporal_scores(self.d_t_net, fake, code), w
            )
            losses["d_l"] = lsgan_discriminator(self.d_l_net(real.reshape(-1, 204)), self.d_l_net(fake.reshape(-1, 204)), w)
            self.opt_d_t.zero_grad(set_to_none=True)
            self.opt_d_l.zero_grad(set_to_none=True)
            (losses["d_t"] + losses["d_l"]).backward()
            self.clip_gradients(self.d_t)
            self.clip_gradients(self.d_l)
            self.opt_d_t.step()
            self.opt_d_l.step()
        return {k: float(losses[k].detach()) for k in LOSS_KEYS + (GAN_KEYS if c.gan else ())}

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> tuple[dict[str, float], float]:
        """Fixed segments of this rank's val clips, through the unwrapped branch (no DDP
        collectives, so ranks may hold different numbers of segments)."""
        dist = self.ctx.dist
        model = self.model
        sums = {"val_loss": 0.0, "val_l1": 0.0, "val_laplacian": 0.0, "val_pose_r": 0.0}
        n = 0
        for lc, length, starts in self._val_plan[dist.rank :: dist.world_size]:
            per_call = max(1, 4096 // length)
            for i in range(0, len(starts), per_call):
                part = starts[i : i + per_call]
                windows, embeddings, faces, deltas = self._tensors([(lc, s) for s in part], length, None)
                delta, _ = model(windows, embeddings)
                q = faces.unsqueeze(1)
                pred, real = q + delta, q + deltas
                losses = self._landmark_losses(pred, real)
                frames = len(part) * length
                sums["val_loss"] += float(losses["loss"]) * frames
                sums["val_l1"] += float(losses["l1"]) * frames
                sums["val_laplacian"] += float(losses["laplacian"]) * frames
                pred_np, real_np = pred.cpu().numpy(), real.cpu().numpy()
                for b in range(len(part)):
                    cp, cr = stable_centroid(pred_np[b]), stable_centroid(real_np[b])
                    r = 0.5 * (pearson(cp[:, 0], cr[:, 0]) + pearson(cp[:, 1], cr[:, 1]))
                    sums["val_pose_r"] += r * length
                n += frames
        if n == 0:
            return {k: 0.0 for k in VAL_KEYS}, 0.0
        return {k: sums[k] / n for k in VAL_KEYS}, float(n)


TASK = SpeakerTask
