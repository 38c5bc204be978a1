"""Mouth translator: re-synthesises the lower face of a frame inside a landmark-shaped hole.

Input (B, 10, S, S), all in [0, 1], in the aligned mouth crop (`makeittalk.face.mouth_region`):
- the frame with the hole blanked (3, RGB): at inference the warp renderer's frame, so head
  pose, skin and background outside the hole come from the warp;
- the hole itself (1);
- the guides of the target mouth (3): jaw and nose lines, outer-lip outline, inner-lip fill;
- the reference mouth (3, RGB): the portrait's own mouth, for lip colour, teeth and identity.

Output (B, 3, S, S) RGB in [0, 1]; the caller blends it back with the feathered weight.

A small U-Net (Wav2Lip and MuseTalk fill the mouth the same way): a 3x3 stem, then
`len(channels) - 1` stride-2 levels of conv + residual block, and nearest-upsampling levels
with skip connections back up. BatchNorm everywhere but the output.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from makeittalk.models.pretrained import NetworkConfig, PretrainedMixin

INPUT_CHANNELS = 10


@dataclasses.dataclass(frozen=True)
class MouthTranslatorConfig(NetworkConfig):
    image_size: int = 96  # crop side; a multiple of 2 ** (len(channels) - 1)
    channels: tuple[int, ...] = (24, 48, 96, 192)
    region: dict = dataclasses.field(default_factory=dict)  # MouthRegion.to_dict() it was trained on

    @classmethod
    def tiny(cls) -> "MouthTranslatorConfig":
        return cls(image_size=32, channels=(4, 8, 8))

    def __post_init__(self) -> None:
        # YAML gives lists and saved configs give tuples; one form keeps the two comparable (init_from)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        step = 2 ** (len(self.channels) - 1)
        if len(self.channels) < 2 or self.image_size % step:
            raise ValueError(f"image_size {self.image_size} must be a multiple of {step} with {len(self.channels)} levels")


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.norm2(self.conv2(self.conv1(x))))


class MouthTranslator(PretrainedMixin, nn.Module):
    """forward(x (B,10,S,S)) -> RGB (B,3,S,S) in [0, 1]."""

    network_name = "mouth_translator"
    config_class = MouthTranslatorConfig

    def __init__(self, config: MouthTranslatorConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or MouthTranslatorConfig()
        ch = c.channels
        self.stem = nn.Sequential(_conv(INPUT_CHANNELS, ch[0]), _conv(ch[0], ch[0]))
        self.down = nn.ModuleList(nn.Sequential(_conv(ch[i], ch[i + 1], 2), _Residual(ch[i + 1]))
                                  for i in range(len(ch) - 1))
        # Up level i takes level i+1's output (upsampled) and level i's skip.
        self.up = nn.ModuleList(nn.Sequential(_conv(ch[i + 1] + ch[i], ch[i]), _Residual(ch[i]))
                                for i in range(len(ch) - 1))
        self.head = nn.Conv2d(ch[0], 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.dim() != 4 or x.shape[1] != INPUT_CHANNELS or x.shape[2] != c.image_size or x.shape[3] != c.image_size:
            raise ValueError(f"MouthTranslator expects (B, {INPUT_CHANNELS}, {c.image_size}, {c.image_size}), "
                             f"got {tuple(x.shape)}")
        skips = [self.stem(x)]
        for level in self.down:
            skips.append(level(skips[-1]))
        h = skips.pop()
        for i in range(len(self.up) - 1, -1, -1):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = self.up[i](torch.cat((h, skips[i]), dim=1))
        return torch.sigmoid(self.head(h))
