"""MakeItTalk's F0-conditioned AutoVC voice conversion (`model_vc_37_1.Generator(16, 256, 512, 16)`).

Not the published AutoVC: GroupNorm instead of BatchNorm, an F0 one-hot on the decoder input and
a single 3-layer LSTM decoder. MakeItTalk uses it to re-voice every utterance as one fixed target
speaker, so the content branch sees speech content without the speaker's timbre.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from makeittalk.models.pretrained import NetworkConfig, PretrainedMixin


@dataclasses.dataclass(frozen=True)
class AutoVCConfig(NetworkConfig):
    n_mels: int = 80
    speaker_dim: int = 256
    f0_bins: int = 257  # one-hot: bin 0 unvoiced, 1..256 quantised log-F0
    neck_dim: int = 16  # per direction: each code is 2 x 16 values
    freq: int = 16  # one code per `freq` frames
    encoder_channels: int = 512
    encoder_lstm_layers: int = 2
    decoder_hidden: int = 512
    decoder_layers: int = 3
    postnet_channels: int = 512
    postnet_convs: int = 5
    kernel_size: int = 5
    norm_groups: int = 32
    postnet_final_groups: int = 5  # the original's last post-net GroupNorm is GroupNorm(5, 80)

    @classmethod
    def tiny(cls) -> "AutoVCConfig":
        # Same inputs and outputs as the full network (80 mels, 257 F0 bins, 256-d embeddings,
        # freq 16), so pipeline code can run on it; only the hidden sizes shrink.
        return cls(neck_dim=2, encoder_channels=16, decoder_hidden=16, decoder_layers=2, postnet_channels=16, norm_groups=4)


class _ConvNorm(nn.Module):
    """Conv1d ('same' padding) followed by GroupNorm; Xavier init with the original's gains."""

    def __init__(self, cin: int, cout: int, kernel: int, groups: int, gain: str) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, padding=(kernel - 1) // 2)
        self.norm = nn.GroupNorm(groups, cout)
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class AutoVCEncoder(nn.Module):
    def __init__(self, c: AutoVCConfig) -> None:
        super().__init__()
        self.freq = c.freq
        self.neck_dim = c.neck_dim
        self.convs = nn.ModuleList(
            _ConvNorm(c.n_mels + c.speaker_dim if i == 0 else c.encoder_channels, c.encoder_channels, c.kernel_size, c.norm_groups, "relu")
            for i in range(3)
        )
        self.lstm = nn.LSTM(c.encoder_channels, c.neck_dim, c.encoder_lstm_layers, batch_first=True, bidirectional=True)

    def forward(self, mel: torch.Tensor, c_org: torch.Tensor) -> torch.Tensor:
        """(B,T,n_mels), (B,speaker_dim) -> codes (B, T/freq, 2*neck_dim)."""
        x = torch.cat((mel.transpose(1, 2), c_org.unsqueeze(-1).expand(-1, -1, mel.shape[1])), dim=1)
        for conv in self.convs:
            x = F.relu(conv(x))
        out, _ = self.lstm(x.transpose(1, 2))
        forward_out = out[:, self.freq - 1 :: self.freq, : self.neck_dim]  # last frame of each block
        backward_out = out[:, :: self.freq, self.neck_dim :]  # first frame of each block
        return torch.cat((forward_out, backward_out), dim=-1)


class AutoVCDecoder(nn.Module):
    def __init__(self, c: AutoVCConfig) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2 * c.neck_dim + c.speaker_dim + c.f0_bins, c.decoder_hidden, c.decoder_layers, batch_first=True)
        self.proj = nn.Linear(c.decoder_hidden, c.n_mels)
        nn.init.xavier_uniform_(self.proj.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.proj(out)


class AutoVCPostnet(nn.Module):
    def __init__(self, c: AutoVCConfig) -> None:
        super().__init__()
        n = c.postnet_convs
        layers = []
        for i in range(n):
            last = i == n - 1
            cin = c.n_mels if i == 0 else c.postnet_channels
            cout = c.n_mels if last else c.postnet_channels
            groups = c.postnet_final_groups if last else c.norm_groups
            layers.append(_ConvNorm(cin, cout, c.kernel_size, groups, "linear" if last else "tanh"))
        self.convs = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,n_mels,T) -> residual (B,n_mels,T)."""
        for conv in self.convs[:-1]:
            x = torch.tanh(conv(x))
        return self.convs[-1](x)


class AutoVC(PretrainedMixin, nn.Module):
    """Voice conversion: mel + source embedding -> codes -> mel of the target speaker.

    Shapes: mel (B,T,80), embeddings (B,256), F0 one-hot (B,T,257); T must be a multiple of
    `config.freq` (16). Returns float32 tensors on the input's device.
    """

    network_name = "autovc"
    config_class = AutoVCConfig

    def __init__(self, config: AutoVCConfig | None = None) -> None:
        super().__init__()
        self.config = config or AutoVCConfig()
        self.encoder = AutoVCEncoder(self.config)
        self.decoder = AutoVCDecoder(self.config)
        self.postnet = AutoVCPostnet(self.config)

    def _check(self, mel: torch.Tensor, c: torch.Tensor, name: str) -> None:
        cfg = self.config
        if mel.dim() != 3 or mel.shape[-1] != cfg.n_mels:
            raise ValueError(f"AutoVC expects mel of shape (B, T, {cfg.n_mels}), got {tuple(mel.shape)}")
        if mel.shape[1] == 0 or mel.shape[1] % cfg.freq:
            raise ValueError(
                f"AutoVC needs T to be a positive multiple of {cfg.freq} (one code per {cfg.freq} frames), "
                f"got T={mel.shape[1]}; zero-pad the mel and F0 one-hot at the end (the original pads to 32)"
            )
        if c.shape != (mel.shape[0], cfg.speaker_dim):
            raise ValueError(f"AutoVC expects {name} of shape ({mel.shape[0]}, {cfg.speaker_dim}), got {tuple(c.shape)}")

    def encode(self, mel: torch.Tensor, c_org: torch.Tensor) -> torch.Tensor:
        """Content codes, concatenated in time order: (B, 2*neck_dim*T/freq) like the original's."""
        self._check(mel, c_org, "c_org")
        codes = self.encoder(mel, c_org)
        return codes.reshape(codes.shape[0], -1)

    def _decode(self, codes: torch.Tensor, c_trg: torch.Tensor, f0_trg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = f0_trg.shape[1]
        expanded = codes.repeat_interleave(self.config.freq, dim=1)  # each code held for `freq` frames
        x = torch.cat((expanded, c_trg.unsqueeze(1).expand(-1, t, -1), f0_trg), dim=-1)
        mel_outputs = self.decoder(x)
        mel_postnet = mel_outputs + self.postnet(mel_outputs.transpose(1, 2)).transpose(1, 2)
        return mel_outputs, mel_postnet

    def forward(
        self,
        mel: torch.Tensor,
        c_org: torch.Tensor,
        f0_org: torch.Tensor | None,
        c_trg: torch.Tensor,
        f0_trg: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training forward, as the original: returns (mel_outputs, mel_postnet, codes).

        `f0_org` is accepted for the original's signature and unused, as there.
        """
        self._check(mel, c_org, "c_org")
        self._check_target(mel, c_trg, f0_trg)
        codes = self.encoder(mel, c_org)
        mel_outputs, mel_postnet = self._decode(codes, c_trg, f0_trg)
        return mel_outputs, mel_postnet, codes.reshape(codes.shape[0], -1)

    def _check_target(self, mel: torch.Tensor, c_trg: torch.Tensor, f0: torch.Tensor) -> None:
        cfg = self.config
        if c_trg.shape != (mel.shape[0], cfg.speaker_dim):
            raise ValueError(f"AutoVC expects c_trg of shape ({mel.shape[0]}, {cfg.speaker_dim}), got {tuple(c_trg.shape)}")
        if f0.shape != (mel.shape[0], mel.shape[1], cfg.f0_bins):
            raise ValueError(
                f"AutoVC expects the F0 one-hot of shape ({mel.shape[0]}, {mel.shape[1]}, {cfg.f0_bins}), got {tuple(f0.shape)}"
            )

    @torch.inference_mode()
    def convert(self, mel: torch.Tensor, c_org: torch.Tensor, c_trg: torch.Tensor, f0_onehot: torch.Tensor) -> torch.Tensor:
        """Inference: the post-net mel (B,T,80) of `mel` spoken by `c_trg` with the source F0.

        Runs under torch.inference_mode(); call `.eval()` first (load_network returns eval mode).
        """
        self._check(mel, c_org, "c_org")
        self._check_target(mel, c_trg, f0_onehot)
        return self._decode(self.encoder(mel, c_org), c_trg, f0_onehot)[1]
