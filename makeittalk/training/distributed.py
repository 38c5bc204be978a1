"""Plain PyTorch DDP, launched by torchrun (or not at all).

One code path from a laptop to a cluster: without torchrun's environment the world has one
process and nothing is wrapped; under `torchrun --nproc_per_node N` each process joins the
group (NCCL on CUDA, gloo otherwise), takes cuda:LOCAL_RANK when it uses CUDA, wraps its
trainable modules in DistributedDataParallel and averages its logged numbers over ranks.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from makeittalk.errors import MakeItTalkError


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls, requested_device: str | None = None) -> "DistributedContext":
        from makeittalk.device import pick_device

        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = pick_device(requested_device)
        if device.type == "cuda":
            if world > 1 and local >= torch.cuda.device_count():
                raise MakeItTalkError(
                    f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s): "
                    f"start at most that many processes per node (torchrun --nproc_per_node)"
                )
            device = torch.device("cuda", local if world > 1 else (device.index or 0))
            torch.cuda.set_device(device)
        ctx = cls(rank=rank, world_size=world, local_rank=local, device=device)
        if world > 1 and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
            ctx.initialized_here = True
        return ctx

    @property
    def _comm_device(self) -> torch.device:
        # NCCL reduces CUDA tensors only; gloo reduces CPU tensors.
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP-wrap a trainable module when there are several processes."""
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # Buffers are not broadcast: the constant positional encodings would be sent on every
        # forward, and ranks that make different numbers of calls would block each other.
        import inspect

        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:
            return DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def mean(self, values: dict[str, float], weight: float = 1.0) -> dict[str, float]:
        """Weighted mean of each value over ranks (weight = this rank's example count)."""
        if not self.enabled or not values:
            return dict(values)
        keys = list(values)  # every rank builds its dict in the same order
        t = torch.tensor([values[k] * weight for k in keys] + [weight], dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t)
        total = t[-1].item()
        return {k: (t[i].item() / total if total else 0.0) for i, k in enumerate(keys)}

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast_flag(self, flag: bool) -> bool:
        if not self.enabled:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=self._comm_device)
        dist.broadcast(t, 0)
        return bool(t.item())

    def close(self) -> None:
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()
            self.initialized_here = False


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") and isinstance(getattr(module, "module"), nn.Module) else module
