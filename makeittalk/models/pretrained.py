"""Our own weights format for one network: `config.json` + `model.safetensors` in a folder.

`save_pretrained(dir)` writes both files; `from_pretrained(name_or_path)` accepts that folder,
a weight-set folder holding it, or the name of a weight set in the store (see
`makeittalk.weights.store`). safetensors holds tensors only, so loading a file can never run code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from makeittalk.errors import WeightsError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1

C = TypeVar("C", bound="NetworkConfig")
M = TypeVar("M", bound="PretrainedMixin")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Base of the per-network configs: JSON round trip with tuples restored."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], *, source: str = "config") -> C:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise WeightsError(
                f"{source}: unknown {cls.__name__} field(s) {', '.join(unknown)}; "
                f"the weights were written by a newer makeittalk, upgrade it"
            )
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, value in data.items():
            # JSON has no tuples; the dataclasses use tuples so configs stay hashable.
            if isinstance(value, list) and "tuple" in str(hints.get(name, "")):
                value = tuple(value)
            values[name] = value
        return cls(**values)

    @classmethod
    def tiny(cls: type[C]) -> C:  # pragma: no cover - each config overrides it
        raise NotImplementedError


def _check_state(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise a WeightsError naming the first keys or shapes that do not fit `module`."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) (first: {', '.join(unexpected[:3])})")
        raise WeightsError(
            f"{source} does not fit {type(module).__name__} with its config: {'; '.join(parts)}; "
            f"re-create the weight set (e.g. 'makeittalk weights import-original DIR --overwrite')"
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{source}: tensor {key!r} has shape {tuple(state[key].shape)}, "
                f"{type(module).__name__} expects {tuple(tensor.shape)}; the file is corrupt or from another version"
            )


def build_for_loading(cls: type[M], config: NetworkConfig) -> M:
    """An instance whose weights are about to be replaced, built without the cost of random init.

    Parameters go on the meta device and `load_state_dict(..., assign=True)` fills them. Computed
    (non-persistent) buffers are not in the file: a network that builds one on the meta device is
    built normally instead (the PE table is computed on the CPU explicitly, so it is not).
    """
    with torch.device("meta"):
        model = cls(config)  # type: ignore[call-arg]
    assert isinstance(model, nn.Module)
    persistent = set(model.state_dict())
    if any(name not in persistent and buffer.is_meta for name, buffer in model.named_buffers()):
        return cls(config)  # type: ignore[call-arg]
    return model


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strict load with WeightsError messages; assigns when the model was built on the meta device."""
    _check_state(model, state, source)
    on_meta = any(t.is_meta for t in model.state_dict().values())
    if on_meta:
        for key, tensor in model.state_dict().items():
            if state[key].dtype != tensor.dtype:
                state[key] = state[key].to(tensor.dtype)
    model.load_state_dict(state, strict=True, assign=on_meta)


class PretrainedMixin:
    """save_pretrained / from_pretrained for an nn.Module with a dataclass `config`."""

    network_name: ClassVar[str]
    config_class: ClassVar[type[NetworkConfig]]
    config: NetworkConfig

    def save_pretrained(self, path: str | os.PathLike[str], *, training: dict[str, Any] | None = None) -> Path:
        """Write `config.json` and `model.safetensors` into folder `path` (created if needed).

        `training` (what the trainer used: its config, data description, steps, validation
        figures) is embedded in config.json under "training".
        """
        from safetensors.torch import save_file

        assert isinstance(self, nn.Module)
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": "makeittalk-network",
            "format_version": FORMAT_VERSION,
            "network": self.network_name,
            "class": type(self).__name__,
            "config": self.config.to_dict(),
        }
        if training is not None:
            meta["training"] = training
        (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"network": self.network_name})
        return folder

    @classmethod
    def read_config(cls, folder: Path) -> NetworkConfig:
        path = folder / CONFIG_FILE
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WeightsError(f"{path} is missing: {folder} is not a saved {cls.network_name} network") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise WeightsError(f"{path} cannot be read ({exc}); re-create the weight set") from None
        if meta.get("network") != cls.network_name:
            raise WeightsError(
                f"{path} describes network {meta.get('network')!r}, not {cls.network_name!r}; "
                f"point at the {cls.network_name} folder of the weight set"
            )
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise WeightsError(f"{path} was written by a newer makeittalk (format {meta['format_version']}); upgrade it")
        return cls.config_class.from_dict(meta.get("config", {}), source=str(path))

    @classmethod
    def from_directory(cls: type[M], folder: str | os.PathLike[str], device: str | torch.device | None = None) -> M:
        """Build the network from a folder written by `save_pretrained`, in eval mode on `device`."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from makeittalk.device import pick_device

        folder = Path(folder)
        config = cls.read_config(folder)
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise WeightsError(f"{weights} is missing; re-create the weight set")
        try:
            state = load_file(str(weights), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise WeightsError(f"{weights} cannot be read ({exc}); the file is corrupt, re-create the weight set") from None
        model = build_for_loading(cls, config)
        assert isinstance(model, nn.Module)
        load_weights(model, state, str(weights))
        target = device if isinstance(device, torch.device) else pick_device(device)
        return model.to(target).eval()  # type: ignore[return-value]

    @classmethod
    def from_pretrained(cls: type[M], name_or_path: str | os.PathLike[str], device: str | torch.device | None = None) -> M:
        """Load from a saved folder, a weight-set folder or a weight-set name; eval mode.

        `device=None` lets `makeittalk.device.pick_device` choose (CUDA, MPS, then CPU).
        """
        from makeittalk.weights.store import load_network

        return load_network(cls.network_name, name_or_path, device=device)  # type: ignore[return-value]

    def num_parameters(self) -> int:
        assert isinstance(self, nn.Module)
        return sum(p.numel() for p in self.parameters())
