"""An exponential moving average of a network's weights, validated and exported in their place.

The content branch's held-out mouth r swings by about 0.01-0.02 from epoch to epoch at a fixed
learning rate, so picking the best epoch partly picks noise; the average of the recent steps'
weights sits nearer the middle of those swings (TrainConfig.ema_decay).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class WeightAverage:
    """average <- decay * average + (1 - decay) * weights after every step, over float tensors of
    the state dict; integer buffers (counters) are copied as they are."""

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay  # run_training checks 0 < decay < 1 with a config error
        self.average = {k: v.detach().clone() for k, v in network.state_dict().items()}

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        for key, value in network.state_dict().items():
            kept = self.average[key]
            if kept.is_floating_point():
                kept.lerp_(value.detach(), 1.0 - self.decay)
            else:
                kept.copy_(value)

    @contextlib.contextmanager
    def swapped_in(self, network: nn.Module) -> Iterator[None]:
        """The network holds the averaged weights inside the block and its own ones after it."""
        own = {k: v.detach().clone() for k, v in network.state_dict().items()}
        network.load_state_dict(self.average)
        try:
            yield
        finally:
            network.load_state_dict(own)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.average)

    def load_state_dict(self, average: dict[str, torch.Tensor]) -> None:
        missing = set(self.average) ^ set(average)
        if missing:
            raise KeyError(f"the saved weight average does not match the network ({sorted(missing)[:3]} ...)")
        for key, value in average.items():
            self.average[key].copy_(value)
