"""Speaker-aware branch (`Audio2landmark_pos`) and the transformer blocks it shares with Transformer_DT.

Per window: an LSTM encodes the 18x80 mel window, an MLP encodes the speaker embedding, and the
two with the noise z (zeros at inference) form a 512-d token. All windows of a segment form ONE
self-attention sequence, so the output of a window depends on its neighbours. The encoder output
joined with z goes through an MLP to the 204-d displacement Δs.

The blocks reproduce the original's quirks exactly because the released weights were trained with
them: a non-standard positional-encoding formula, a LayerNorm with unbiased std and eps added to
the std, and pre-norm layers with dropout on the attention weights. The original also builds a
transformer decoder that its forward never calls; it is not built here (its checkpoint weights are
ignored on import).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from makeittalk.models.pretrained import NetworkConfig, PretrainedMixin


def positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """The original's PE buffer, (1, max_len, d_model) float32.

    Quirk kept for checkpoint compatibility: for even i the exponents are 2*i/d and 2*(i+1)/d
    (i already even), not Vaswani's i/d; computed in double precision like the original's math.sin.
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    # Always on the CPU, also inside `torch.device("meta")` (build_for_loading): the table is
    # computed, not loaded, and meta tensors would go through slow Python decompositions.
    pos = torch.arange(max_len, dtype=torch.float64, device="cpu").unsqueeze(1)
    i = torch.arange(0, d_model, 2, dtype=torch.float64, device="cpu")
    pe = torch.empty(max_len, d_model, dtype=torch.float64, device="cpu")
    pe[:, 0::2] = torch.sin(pos / torch.pow(10000.0, 2 * i / d_model))
    pe[:, 1::2] = torch.cos(pos / torch.pow(10000.0, 2 * (i + 1) / d_model))
    return pe.to(torch.float32).unsqueeze(0)


class Norm(nn.Module):
    """The original's LayerNorm: alpha * (x - mean) / (std + eps) + bias.

    Quirk kept for checkpoint compatibility: unbiased (N-1) std, eps added to the std, not the variance.
    """

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.alpha = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha * (x - x.mean(dim=-1, keepdim=True)) / (x.std(dim=-1, keepdim=True) + self.eps) + self.bias


class MultiHeadAttention(nn.Module):
    """Unmasked self-attention with dropout on the attention weights (as the original)."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by heads {heads}")
        self.heads = heads
        self.d_k = d_model // heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, s, self.heads, self.d_k).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)
        weights = self.dropout(F.softmax(scores, dim=-1))
        return self.out(torch.matmul(weights, v).transpose(1, 2).reshape(b, s, d))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, hidden)
        self.fc2 = nn.Linear(hidden, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class EncoderLayer(nn.Module):
    """Pre-norm layer: x + drop(attn(norm1(x))), then x + drop(ff(norm2(x)))."""

    def __init__(self, d_model: int, heads: int, ff_hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = Norm(d_model)
        self.norm2 = Norm(d_model)
        self.attn = MultiHeadAttention(d_model, heads, dropout)
        self.ff = FeedForward(d_model, ff_hidden, dropout)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop1(self.attn(self.norm1(x)))
        return x + self.drop2(self.ff(self.norm2(x)))


class TransformerEncoder(nn.Module):
    """Linear embedding, x*sqrt(d) + PE, N pre-norm layers, final Norm. (B,S,in) -> (B,S,d)."""

    def __init__(self, input_dim: int, d_model: int, layers: int, heads: int, ff_hidden: int, dropout: float, max_len: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.embed = nn.Linear(input_dim, d_model)
        # Computed from the formula, not stored: the import checks the file's buffer against it.
        self.register_buffer("pe", positional_encoding(max_len, d_model), persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, ff_hidden, dropout) for _ in range(layers))
        self.norm = Norm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.shape[1]
        if s > self.max_len:
            raise ValueError(
                f"the transformer attends over at most {self.max_len} steps at once (its positional-encoding "
                f"capacity), got {s}; split the sequence into segments of at most {self.max_len} (the original uses 512)"
            )
        x = self.embed(x) * math.sqrt(self.d_model) + self.pe[:, :s]
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def mlp(sizes: list[int], negative_slope: float) -> nn.Sequential:
    """Linear layers with LeakyReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        if i:
            layers.append(nn.LeakyReLU(negative_slope))
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
    return nn.Sequential(*layers)


# Inference input: the Resemblyzer mean embedding times this, one row per window (as the original).
SPEAKER_EMBEDDING_SCALE = 3.0


@dataclasses.dataclass(frozen=True)
class SpeakerBranchConfig(NetworkConfig):
    n_mels: int = 80
    window_frames: int = 18
    audio_hidden: int = 256
    audio_layers: int = 3
    dropout: float = 0.5  # between the audio LSTM's layers, training only
    speaker_dim: int = 256
    speaker_hidden: int = 256
    speaker_code: int = 128
    z_size: int = 128
    d_model: int = 64  # the original's transformer_d_model (32) x heads (2)
    heads: int = 2
    layers: int = 2
    ff_hidden: int = 2048
    attn_dropout: float = 0.1
    max_len: int = 512
    head_hidden: tuple[int, ...] = (512, 256)
    landmark_dim: int = 204
    negative_slope: float = 0.02

    @classmethod
    def tiny(cls) -> "SpeakerBranchConfig":
        return cls(
            audio_hidden=16, audio_layers=2, speaker_hidden=16, speaker_code=8, z_size=8,
            d_model=8, heads=2, ff_hidden=16, head_hidden=(16, 8),
        )


class SpeakerBranch(PretrainedMixin, nn.Module):
    """forward(windows, speaker_embedding, z=None) -> (delta, spk_encode).

    windows (S,18,80) with speaker_embedding (S,256) form one attention sequence of S windows;
    with a leading batch dim, (B,S,18,80) and (B,S,256), each row is its own sequence.
    A (256,) embedding (or (B,256) when batched) is repeated for every window. The embedding is
    the original's `emb` input: SPEAKER_EMBEDDING_SCALE x the Resemblyzer mean embedding.
    z defaults to zeros (inference). S <= config.max_len (512).
    """

    network_name = "speaker_branch"
    config_class = SpeakerBranchConfig

    def __init__(self, config: SpeakerBranchConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or SpeakerBranchConfig()
        self.audio_encoder = nn.LSTM(c.n_mels, c.audio_hidden, c.audio_layers, batch_first=True, dropout=c.dropout)
        self.speaker_encoder = nn.Sequential(
            nn.Linear(c.speaker_dim, c.speaker_hidden),
            nn.LeakyReLU(c.negative_slope),
            nn.Linear(c.speaker_hidden, c.speaker_code),
            nn.LeakyReLU(c.negative_slope),
            nn.Linear(c.speaker_code, c.speaker_code),
        )
        self.transformer = TransformerEncoder(
            c.audio_hidden + c.speaker_code + c.z_size, c.d_model, c.layers, c.heads, c.ff_hidden, c.attn_dropout, c.max_len
        )
        self.head = mlp([c.d_model + c.z_size, *c.head_hidden, c.landmark_dim], c.negative_slope)

    def forward(
        self,
        windows: torch.Tensor,
        speaker_embedding: torch.Tensor,
        z: torch.Tensor | None = None,
        speaker_noise: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (delta (…,S,204), spk_encode (…,S,speaker_code)) with the input's batch dims.

        `speaker_noise` > 0 adds N(0, speaker_noise^2) to the speaker code (the original's
        add_z_spk uses 0.01 in training).
        """
        c = self.config
        batched = windows.dim() == 4
        if not batched:
            windows = windows.unsqueeze(0)
        if windows.dim() != 4 or windows.shape[2:] != (c.window_frames, c.n_mels):
            raise ValueError(
                f"SpeakerBranch expects windows of shape (S, {c.window_frames}, {c.n_mels}) or (B, S, {c.window_frames}, {c.n_mels}), "
                f"got {tuple(windows.shape) if batched else tuple(windows.shape[1:])}"
            )
        b, s = windows.shape[:2]
        if s > c.max_len:
            raise ValueError(
                f"SpeakerBranch attends over at most {c.max_len} windows at once, got {s}; "
                f"split the windows into segments of at most {c.max_len} (the original uses 512)"
            )
        emb = self._per_window(speaker_embedding, batched, b, s, c.speaker_dim, "speaker_embedding")
        if z is None:
            z = windows.new_zeros(b, s, c.z_size)
        else:
            z = self._per_window(z, batched, b, s, c.z_size, "z")

        audio, _ = self.audio_encoder(windows.reshape(b * s, c.window_frames, c.n_mels))
        audio = audio[:, -1].reshape(b, s, c.audio_hidden)
        spk_encode = self.speaker_encoder(emb)
        if speaker_noise > 0:
            spk_encode = spk_encode + torch.randn_like(spk_encode) * speaker_noise
        encoded = self.transformer(torch.cat((audio, spk_encode, z), dim=-1))
        delta = self.head(torch.cat((encoded, z), dim=-1))
        if not batched:
            return delta[0], spk_encode[0]
        return delta, spk_encode

    @staticmethod
    def _per_window(t: torch.Tensor, batched: bool, b: int, s: int, dim: int, name: str) -> torch.Tensor:
        """Bring an input to (B,S,dim), repeating a per-sequence vector over the windows."""
        if t.dim() == 1:
            t = t.view(1, 1, -1)
        elif t.dim() == 2:
            t = t.unsqueeze(1) if batched else t.unsqueeze(0)  # (B,dim) per sequence / (S,dim) per window
        if t.dim() != 3 or t.shape[0] not in (1, b) or t.shape[1] not in (1, s) or t.shape[2] != dim:
            want = f"(B={b}, S={s}, {dim})" if batched else f"(S={s}, {dim}) or ({dim},)"
            raise ValueError(f"SpeakerBranch expects {name} of shape {want}, got {tuple(t.shape)}")
        return t.expand(b, s, dim)
