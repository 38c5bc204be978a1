"""AutoVC trainer: self-reconstruction plus content-code consistency (spec §2, AutoVC paper).

Each example is a random crop of one utterance's mel with its own speaker embedding as both
source and target and its own F0: the decoder must rebuild the mel from the narrow content
code, the embedding and the F0, so the code learns what was said and not who said it. The
code of the rebuilt mel must match the code of the input (the consistency term).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from makeittalk.models import AutoVC, AutoVCConfig
from makeittalk.training.config import TrainConfig, network_config
from makeittalk.training.data import Clip
from makeittalk.training.loop import TrainingTask

F0_BINS = 257


@dataclasses.dataclass
class AutoVCTrainConfig(TrainConfig):
    """crop_frames: mel frames per example (a multiple of the model's freq).
    lambda_postnet / lambda_code: weights of the post-net reconstruction and code terms
    (AutoVC: 1 and 1). gain_db: random gain augmentation, ± this many dB (a shift of the
    dB-scaled mel). kinds: which prepared clip kinds to learn from. val_crops: fixed crops
    per val clip."""

    epochs: int = 20
    steps_per_epoch: int | None = 200
    batch_size: int = 8
    lr: float = 1e-4
    crop_frames: int = 128
    lambda_postnet: float = 1.0
    lambda_code: float = 1.0
    gain_db: float = 0.0
    kinds: tuple[str, ...] = ("speech", "talking", "lips")
    val_crops: int = 4


class AutoVCTask(TrainingTask):
    name = "autovc"
    network = "autovc"
    config_class = AutoVCTrainConfig

    def __init__(self, config: AutoVCTrainConfig, dataset, ctx) -> None:
        super().__init__(config, dataset, ctx)
        self.model_config = network_config(AutoVCConfig, config.model)
        if config.crop_frames % self.model_config.freq:
            raise ValueError(f"crop_frames {config.crop_frames} must be a multiple of the model's freq {self.model_config.freq}")
        self.train_clips = self._usable(dataset.require(split="train", kinds=config.kinds, purpose="AutoVC training"))
        self.val_clips = self._usable(dataset.select(split="val", kinds=config.kinds)) or self.train_clips[:8]
        self.model = AutoVC(self.model_config).to(ctx.device)
        self.net = ctx.dist.wrap(self.model)
        self.opt = self.make_adam(self.model.parameters())
        self._val_batches = self._fixed_val_batches()

    def _usable(self, clips: list[Clip]) -> list[Clip]:
        return [c for c in clips if c.arrays()["mel"].shape[0] >= self.config.crop_frames]

    def used_clips(self) -> list[Clip]:
        return self.train_clips + [c for c in self.val_clips if c.split == "val"]

    def notes(self) -> list[str]:
        if not self.dataset.select(split="val", kinds=self.config.kinds):
            return ["the data has no val clips: validating on 8 training clips instead"]
        return []

    def modules(self):
        return {"autovc": self.model}

    def optimizers(self):
        return {"autovc": self.opt}

    def exported(self):
        return self.model

    def steps_in_epoch(self, epoch: int) -> int:
        if self.config.steps_per_epoch:
            return self.config.steps_per_epoch
        frames = sum(c.arrays()["mel"].shape[0] for c in self.train_clips)
        return max(1, frames // (self.config.crop_frames * self.config.batch_size * self.ctx.dist.world_size))

    def _crop(self, clip: Clip, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = clip.arrays()
        n = self.config.crop_frames
        mel = a["mel"][start : start + n].astype(np.float32)
        f0 = np.eye(F0_BINS, dtype=np.float32)[a["f0_bins"][start : start + n].astype(np.int64)]
        return mel, f0, a["autovc_source_embedding"].astype(np.float32)

    def _batch(self, items: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, ...]:
        dev = self.ctx.device
        mel = torch.from_numpy(np.stack([i[0] for i in items])).to(dev)
        f0 = torch.from_numpy(np.stack([i[1] for i in items])).to(dev)
        emb = torch.from_numpy(np.stack([i[2] for i in items])).to(dev)
        return mel, f0, emb

    def _fixed_val_batches(self) -> list[tuple[torch.Tensor, ...]]:
        items = []
        for clip in self.val_clips[self.ctx.dist.rank :: self.ctx.dist.world_size]:
            t = clip.arrays()["mel"].shape[0]
            for start in np.linspace(0, t - self.config.crop_frames, self.config.val_crops).astype(int):
                items.append(self._crop(clip, int(start)))
        return [self._batch(items[i : i + 16]) for i in range(0, len(items), 16)]

    def _losses(self, mel: torch.Tensor, f0: torch.Tensor, emb: torch.Tensor, *, training: bool = True) -> dict[str, torch.Tensor]:
        c = self.config
        # Validation runs on the bare model: ranks hold different numbers of val batches, and a
        # DDP forward on one rank alone would wait for the others.
        net = self.net if training else self.model
        mel_out, mel_post, codes = net(mel, emb, None, emb, f0)
        recon = F.mse_loss(mel_out, mel)
        recon_post = F.mse_loss(mel_post, mel)
        codes_again = self.model.encode(mel_post, emb)
        code = F.l1_loss(codes_again, codes)
        total = recon + c.lambda_postnet * recon_post + c.lambda_code * code
        return {"loss": total, "recon": recon, "recon_postnet": recon_post, "code": code}

    def train_epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[dict[str, float]]:
        c = self.config
        # Longer utterances are drawn more often, so every second of speech counts the same.
        lengths = np.array([cl.arrays()["mel"].shape[0] - c.crop_frames + 1 for cl in self.train_clips], dtype=np.float64)
        p = lengths / lengths.sum()
        for _ in range(self.steps_in_epoch(epoch)):
            items = []
            for index in rng.choice(len(self.train_clips), size=c.batch_size, p=p):
                clip = self.train_clips[index]
                start = int(rng.integers(0, clip.arrays()["mel"].shape[0] - c.crop_frames + 1))
                mel, f0, emb = self._crop(clip, start)
                if c.gain_db:
                    mel = mel + np.float32(rng.uniform(-c.gain_db, c.gain_db) / 100.0)  # dB/100 per unit of the mel scale
                items.append((mel, f0, emb))
            losses = self._losses(*self._batch(items))
            self.optimizer_step(losses["loss"], self.model, self.opt)
            yield {k: float(v.detach()) for k, v in losses.items()}

    def validate(self) -> tuple[dict[str, float], float]:
        sums: dict[str, float] = {}
        n = 0
        for mel, f0, emb in self._val_batches:
            losses = self._losses(mel, f0, emb, training=False)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v) * mel.shape[0]
            n += mel.shape[0]
        keys = ("loss", "recon", "recon_postnet", "code")
        return {f"val_{k}": sums.get(k, 0.0) / max(n, 1) for k in keys}, float(n)

    def data_description(self) -> dict[str, Any]:
        return self.dataset.describe(self.used_clips())


TASK = AutoVCTask
