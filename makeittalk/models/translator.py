"""Image-to-image translator (`ResUnetGenerator(6, 3, num_downs=6, ngf=64, BatchNorm2d)`).

Input: the landmark drawing and the portrait stacked on channels, (B,6,256,256), BGR in [0,1].
Output: the raw 3-channel image before tanh (the original applies tanh outside the network).

A U-Net whose levels each have a stride-2 conv, two residual blocks on the way down, and nearest
upsampling, a 3x3 conv and two residual blocks on the way up; every level but the outermost
passes its input through as a skip connection. The original nests one block inside the next;
here the levels are a flat list, and the import maps the nested keys onto it.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from makeittalk.models.pretrained import NetworkConfig, PretrainedMixin


@dataclasses.dataclass(frozen=True)
class ImageTranslatorConfig(NetworkConfig):
    input_channels: int = 6
    output_channels: int = 3
    num_downs: int = 6  # input sides must be multiples of 2**num_downs
    base_channels: int = 64  # ngf
    max_channels: int = 512  # ngf * 8

    @classmethod
    def tiny(cls) -> "ImageTranslatorConfig":
        return cls(base_channels=4, max_channels=8)

    def level_channels(self) -> list[tuple[int, int, int]]:
        """(input, outer, inner) channels per level, outermost first."""
        if self.num_downs < 2:
            raise ValueError(f"num_downs must be at least 2, got {self.num_downs}")
        inner = [min(self.base_channels * 2**i, self.max_channels) for i in range(self.num_downs)]
        levels = []
        for i in range(self.num_downs):
            outer = self.output_channels if i == 0 else inner[i - 1]
            cin = self.input_channels if i == 0 else outer
            levels.append((cin, outer, inner[i]))
        return levels


class ResidualBlock(nn.Module):
    """relu(x + bn(conv(relu(bn(conv(x)))))), convs without bias (BatchNorm follows)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(out)) + x)


class UNetLevel(nn.Module):
    """One U-Net level. The outermost has no norms and no up-path ReLU or residual blocks;
    the innermost has no down-path norm (as the original's innermost/outermost blocks)."""

    def __init__(self, cin: int, outer: int, inner: int, outermost: bool, innermost: bool) -> None:
        super().__init__()
        self.outermost = outermost
        self.down_conv = nn.Conv2d(cin, inner, 3, 2, 1, bias=False)
        self.down_norm = nn.BatchNorm2d(inner) if not (outermost or innermost) else None
        self.down_res = nn.Sequential(ResidualBlock(inner), ResidualBlock(inner))
        # The innermost level has no skip connection below it, so its up path sees half the channels.
        self.up_conv = nn.Conv2d(inner if innermost else 2 * inner, outer, 3, 1, 1, bias=False)
        if not outermost:
            self.up_norm = nn.BatchNorm2d(outer)
            self.up_res = nn.Sequential(ResidualBlock(outer), ResidualBlock(outer))

    def down(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down_conv(x)
        if self.down_norm is not None:
            x = self.down_norm(x)
        return self.down_res(F.relu(x))

    def up(self, x: torch.Tensor) -> torch.Tensor:
        x = self.up_conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        if self.outermost:
            return x
        return self.up_res(F.relu(self.up_norm(x)))


class ImageTranslator(PretrainedMixin, nn.Module):
    """forward(x (B,6,H,W)) -> raw output (B,3,H,W) before tanh; H, W multiples of 2**num_downs."""

    network_name = "translator"
    config_class = ImageTranslatorConfig

    def __init__(self, config: ImageTranslatorConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or ImageTranslatorConfig()
        n = c.num_downs
        self.levels = nn.ModuleList(
            UNetLevel(cin, outer, inner, outermost=i == 0, innermost=i == n - 1)
            for i, (cin, outer, inner) in enumerate(c.level_channels())
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        step = 2**c.num_downs
        if x.dim() != 4 or x.shape[1] != c.input_channels or x.shape[2] % step or x.shape[3] % step:
            raise ValueError(
                f"ImageTranslator expects (B, {c.input_channels}, H, W) with H and W multiples of {step} "
                f"(256x256 for the original weights), got {tuple(x.shape)}"
            )
        skips = []
        h = x
        for level in self.levels:
            skips.append(h)
            h = level.down(h)
        for i in range(len(self.levels) - 1, -1, -1):
            h = self.levels[i].up(h)
            if i > 0:
                h = torch.cat((skips[i], h), dim=1)
        return h

    @torch.inference_mode()
    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Inference: tanh of the output, (B,3,H,W) in [-1, 1]; call `.eval()` first."""
        return torch.tanh(self.forward(x))
