"""Discriminators of the speaker-aware branch, for adversarial training (never shipped by the original).

- `TemporalDiscriminator` is the original's `Transformer_DT`: landmarks + speaker code per frame,
  cut into overlapping windows, each window a transformer sequence, max-pooled over time, MLP to
  one score per window. No sigmoid: the original trains it LSGAN-style with MSE targets 1 / 0.
- `FrameDiscriminator` is `TalkingToon_spk2res_lstmgan_DL`: one score per landmark frame.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from makeittalk.models.pretrained import NetworkConfig, PretrainedMixin
from makeittalk.models.speaker_branch import TransformerEncoder, mlp


@dataclasses.dataclass(frozen=True)
class TemporalDiscriminatorConfig(NetworkConfig):
    landmark_dim: int = 204
    speaker_code: int = 128
    d_model: int = 64
    heads: int = 2
    layers: int = 2
    ff_hidden: int = 2048
    dropout: float = 0.1
    max_len: int = 512
    head_hidden: tuple[int, ...] = (512, 256)
    negative_slope: float = 0.02
    window: int = 64
    step: int = 1  # 1 in model_audio2landmark.py; its _speaker_aware.py copy uses 16

    @classmethod
    def tiny(cls) -> "TemporalDiscriminatorConfig":
        return cls(speaker_code=8, d_model=8, ff_hidden=16, head_hidden=(16, 8), window=8, step=2)


class TemporalDiscriminator(PretrainedMixin, nn.Module):
    """forward(landmarks (T,204), speaker_code (T or 1, 128)) -> scores (num_windows, 1)."""

    network_name = "temporal_discriminator"
    config_class = TemporalDiscriminatorConfig

    def __init__(self, config: TemporalDiscriminatorConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or TemporalDiscriminatorConfig()
        self.transformer = TransformerEncoder(
            c.landmark_dim + c.speaker_code, c.d_model, c.layers, c.heads, c.ff_hidden, c.dropout, c.max_len
        )
        self.head = mlp([c.d_model, *c.head_hidden, 1], c.negative_slope)

    def windows(self, t: int) -> tuple[int, list[int]]:
        """Window length and start frames for a T-frame sequence, as the original.

        Quirk kept from the original: starts are range(0, T - window, step), so the last full
        window is not used, and sequences of <= window frames use one window of T - 1 frames.
        """
        c = self.config
        size = t - 1 if t <= c.window else c.window
        if size < 1:
            raise ValueError(f"TemporalDiscriminator needs at least 2 frames, got {t}")
        return size, list(range(0, t - size, c.step))

    def forward(self, landmarks: torch.Tensor, speaker_code: torch.Tensor) -> torch.Tensor:
        c = self.config
        if landmarks.dim() != 2 or landmarks.shape[1] != c.landmark_dim:
            raise ValueError(f"TemporalDiscriminator expects landmarks of shape (T, {c.landmark_dim}), got {tuple(landmarks.shape)}")
        t = landmarks.shape[0]
        if speaker_code.dim() == 1:
            speaker_code = speaker_code.unsqueeze(0)
        if speaker_code.shape[0] not in (1, t) or speaker_code.shape[1] != c.speaker_code:
            raise ValueError(f"TemporalDiscriminator expects speaker_code of shape (T or 1, {c.speaker_code}), got {tuple(speaker_code.shape)}")
        feat = torch.cat((landmarks, speaker_code.expand(t, -1)), dim=1)
        size, starts = self.windows(t)
        batch = feat.unfold(0, size, 1)[starts].transpose(1, 2)  # (num_windows, size, features)
        encoded = self.transformer(batch)
        return self.head(encoded.max(dim=1).values)


@dataclasses.dataclass(frozen=True)
class FrameDiscriminatorConfig(NetworkConfig):
    landmark_dim: int = 204
    hidden: tuple[int, ...] = (512, 256)
    negative_slope: float = 0.02

    @classmethod
    def tiny(cls) -> "FrameDiscriminatorConfig":
        return cls(hidden=(16, 8))


class FrameDiscriminator(PretrainedMixin, nn.Module):
    """forward(landmarks (..., 204)) -> scores (..., 1)."""

    network_name = "frame_discriminator"
    config_class = FrameDiscriminatorConfig

    def __init__(self, config: FrameDiscriminatorConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or FrameDiscriminatorConfig()
        self.net = mlp([c.landmark_dim, *c.hidden, 1], c.negative_slope)

    def forward(self, landmarks: torch.Tensor) -> torch.Tensor:
        if landmarks.shape[-1] != self.config.landmark_dim:
            raise ValueError(f"FrameDiscriminator expects (..., {self.config.landmark_dim}) landmarks, got {tuple(landmarks.shape)}")
        return self.net(landmarks)
