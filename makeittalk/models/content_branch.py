"""Speech-content branch (`Audio2landmark_content`): audio windows -> landmark displacement Δc.

Each 18-frame window of normalised AutoVC mel goes through a per-frame prior MLP and a 3-layer
LSTM; the last step, joined with the static face q, feeds a residual MLP that predicts the
204-d displacement added to q. Windows are independent rows of a batch.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from makeittalk.models.pretrained import NetworkConfig, PretrainedMixin


@dataclasses.dataclass(frozen=True)
class ContentBranchConfig(NetworkConfig):
    n_mels: int = 80
    window_frames: int = 18
    prior_hidden: int = 256
    lstm_input: int = 161  # the original's AUDIO_FEAT_SIZE: width of the prior MLP's output
    lstm_hidden: int = 256
    lstm_layers: int = 3
    dropout: float = 0.5  # between LSTM layers, training only
    landmark_dim: int = 204
    head_hidden: tuple[int, ...] = (512, 256)
    negative_slope: float = 0.2

    @classmethod
    def tiny(cls) -> "ContentBranchConfig":
        return cls(prior_hidden=8, lstm_input=8, lstm_hidden=16, lstm_layers=2, head_hidden=(16, 8))


class ContentBranch(PretrainedMixin, nn.Module):
    """forward(windows (B,18,80), face_id (1 or B, 204)) -> delta (B,204)."""

    network_name = "content_branch"
    config_class = ContentBranchConfig

    def __init__(self, config: ContentBranchConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or ContentBranchConfig()
        slope = c.negative_slope
        # Sequential indices match the original's fc_prior/fc so keys map one to one.
        self.prior = nn.Sequential(
            nn.Linear(c.n_mels, c.prior_hidden),
            nn.BatchNorm1d(c.prior_hidden),
            nn.LeakyReLU(slope),
            nn.Linear(c.prior_hidden, c.lstm_input),
        )
        self.lstm = nn.LSTM(c.lstm_input, c.lstm_hidden, c.lstm_layers, batch_first=True, dropout=c.dropout)
        layers: list[nn.Module] = []
        width = c.lstm_hidden + c.landmark_dim
        for hidden in c.head_hidden:
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(slope)]
            width = hidden
        layers.append(nn.Linear(width, c.landmark_dim))
        self.head = nn.Sequential(*layers)

    def forward(self, windows: torch.Tensor, face_id: torch.Tensor) -> torch.Tensor:
        c = self.config
        if windows.dim() != 3 or windows.shape[1:] != (c.window_frames, c.n_mels):
            raise ValueError(f"ContentBranch expects windows of shape (B, {c.window_frames}, {c.n_mels}), got {tuple(windows.shape)}")
        b = windows.shape[0]
        if face_id.dim() == 1:
            face_id = face_id.unsqueeze(0)
        if face_id.shape[-1] != c.landmark_dim or face_id.shape[0] not in (1, b):
            raise ValueError(f"ContentBranch expects face_id of shape (1 or {b}, {c.landmark_dim}), got {tuple(face_id.shape)}")
        x = self.prior(windows.reshape(-1, c.n_mels)).reshape(b, c.window_frames, c.lstm_input)
        out, _ = self.lstm(x)
        h = torch.cat((out[:, -1], face_id.expand(b, -1)), dim=1)
        return self.head(h)
