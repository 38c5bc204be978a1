"""VGG19 features for the translator's perceptual and style losses (spec §6.4).

The original trains the image translator with torchvision's ImageNet VGG19, cut into five
slices ending at relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 (`features[0:2]`, `[2:7]`,
`[7:12]`, `[12:21]`, `[21:30]`). torchvision is not a dependency here, so the same layers are
built from plain torch modules with torchvision's indices, and the weights come from a file
the user provides: a torchvision-layout VGG19 state dict (e.g. `vgg19-dcbb9e9d.pth`, keys
`features.N.weight` / `features.N.bias`; the classifier and the layers after relu5_1 are
ignored). It is read with `torch.load(weights_only=True)`, which runs no code from the file.

Images are fed as they are, [0, 1] BGR without ImageNet normalisation, as the original does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from makeittalk.errors import WeightsError

# torchvision's vgg19().features: (index, in, out) of every 3x3 convolution; a ReLU follows
# each one and 2x2 max pools sit at 4, 9, 18, 27 and 36.
VGG19_CONVS: tuple[tuple[int, int, int], ...] = (
    (0, 3, 64), (2, 64, 64),
    (5, 64, 128), (7, 128, 128),
    (10, 128, 256), (12, 256, 256), (14, 256, 256), (16, 256, 256),
    (19, 256, 512), (21, 512, 512), (23, 512, 512), (25, 512, 512),
    (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512),
)
VGG19_POOLS = (4, 9, 18, 27, 36)
VGG19_LAYERS = 37
# Ends of the five slices: outputs relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
SLICE_ENDS = (2, 7, 12, 21, 30)
STYLE_SCALE = 3e7  # the original StyleLoss: mse(Gram(x), Gram(y)) * 30000000


class VGGWeightsError(WeightsError):
    """The VGG19 weights file for the perceptual loss is missing or is not a VGG19 state dict."""


def _layers(count: int) -> nn.Sequential:
    convs = {index: (cin, cout) for index, cin, cout in VGG19_CONVS}
    modules: list[nn.Module] = []
    for index in range(count):
        if index in convs:
            modules.append(nn.Conv2d(*convs[index], kernel_size=3, padding=1))
        elif index in VGG19_POOLS:
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            modules.append(nn.ReLU(inplace=False))
    return nn.Sequential(*modules)


class VGG19(nn.Module):
    """torchvision's VGG19 convolutional part (`features`, 37 layers, same indices), randomly
    initialised. `state_dict()` has torchvision's `features.N.*` keys, so a saved one is a
    file `VGG19Features.from_file` accepts (the tests use this to make weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _layers(VGG19_LAYERS)


class VGG19Features(nn.Module):
    """Frozen VGG19 up to relu5_1: forward(x (B,3,H,W)) -> [relu1_1, relu2_1, ..., relu5_1]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _layers(SLICE_ENDS[-1])
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGG19Features":  # always frozen, always eval
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        start = 0
        h = x
        for end in SLICE_ENDS:
            for index in range(start, end):
                h = self.features[index](h)
            out.append(h)
            start = end
        return out

    @classmethod
    def from_file(cls, path: str | Path, device: torch.device | str = "cpu") -> "VGG19Features":
        """Load a torchvision-layout VGG19 state dict (the `vgg19-*.pth` file)."""
        path = Path(path).expanduser()
        hint = ("give a torchvision VGG19 state dict (vgg19-dcbb9e9d.pth from download.pytorch.org/models/) "
                "or drop 'vgg19_weights' to train with L1 + SSIM")
        if not path.is_file():
            raise VGGWeightsError(f"vgg19_weights {path} does not exist; {hint}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
            raise VGGWeightsError(f"vgg19_weights {path} cannot be read as a PyTorch state dict ({exc}); {hint}") from None
        model = cls()
        model.features.load_state_dict(_features_state(state, model, path, hint))
        return model.to(device)


def _features_state(state: Any, model: VGG19Features, path: Path, hint: str) -> dict[str, torch.Tensor]:
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise VGGWeightsError(f"vgg19_weights {path} holds a {type(state).__name__}, not a state dict; {hint}")
    out: dict[str, torch.Tensor] = {}
    for key, expected in model.features.state_dict().items():
        name = f"features.{key}"
        tensor = state.get(name)
        if tensor is None:
            raise VGGWeightsError(f"vgg19_weights {path} has no tensor {name!r} (not a torchvision VGG19 state dict); {hint}")
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != tuple(expected.shape):
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise VGGWeightsError(
                f"vgg19_weights {path}: {name} has shape {shape}, VGG19 needs {tuple(expected.shape)} "
                f"(is it another network, e.g. VGG16 or a batch-norm VGG?); {hint}"
            )
        out[key] = tensor.float()
    return out


def gram_matrix(features: torch.Tensor, *, per_image: bool = False) -> torch.Tensor:
    """Gram matrix normalised by a*b*c*d for (a, b, c, d) features.

    The original flattens batch and channels together ((a*b) x (a*b), so with a > 1 it also
    compares channels of different images); `per_image` takes one (b x b) matrix per image.
    """
    a, b, c, d = features.shape
    if per_image:
        flat = features.reshape(a, b, c * d)
        return torch.bmm(flat, flat.transpose(1, 2)) / (a * b * c * d)
    flat = features.reshape(a * b, c * d)
    return (flat @ flat.t()) / (a * b * c * d)


class VGGLoss(nn.Module):
    """Perceptual (sum of L1 between the five feature maps, weights 1) and style (sum of MSE
    between their Gram matrices, x 3e7) losses of the original's VGGLoss, target detached."""

    def __init__(self, vgg: VGG19Features, *, per_image_gram: bool = False) -> None:
        super().__init__()
        self.vgg = vgg
        self.per_image_gram = per_image_gram

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.float()
        with torch.no_grad():
            target_features = self.vgg(target.float())
        perceptual = x.new_zeros(())
        style = x.new_zeros(())
        for fx, fy in zip(self.vgg(x), target_features):
            perceptual = perceptual + F.l1_loss(fx, fy)
            gx = gram_matrix(fx, per_image=self.per_image_gram)
            gy = gram_matrix(fy, per_image=self.per_image_gram)
            style = style + F.mse_loss(gx, gy) * STYLE_SCALE
        return perceptual, style
