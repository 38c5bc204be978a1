"""Typed training configs and their YAML files.

Every trainer has one dataclass config (a subclass of `TrainConfig`) next to its task. A YAML
file sets any of its fields; `model:` holds overrides of the network's own config dataclass
(e.g. `ContentBranchConfig`). Unknown keys are errors that name the key and the valid ones, so
a typo never silently trains with a default.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

from makeittalk.errors import MakeItTalkError


class ConfigError(MakeItTalkError):
    """A training config file or override is invalid."""


@dataclasses.dataclass
class TrainConfig:
    """Fields every trainer has.

    epochs: passes over the training split (each pass is `steps_per_epoch` optimizer steps when
        that is set, which suits random-crop sampling).
    batch_size: examples per optimizer step on each process (DDP multiplies it by the world size).
    lr, weight_decay, betas: Adam settings.
    seed: seeds Python, NumPy and torch on every process (rank r uses seed + r for sampling).
    device: None picks CUDA, then MPS, then CPU; under torchrun each rank takes cuda:LOCAL_RANK.
    grad_clip: clip the global gradient norm to this (0 = off).
    log_every: write a training row to log.csv every this many steps.
    tensorboard: also write TensorBoard event files (needs the `tensorboard` package).
    model: overrides of the network's config dataclass, e.g. {lstm_hidden: 128}.
    init_from: optional saved network folder or weight-set name whose weights start the run.
    threads: torch CPU threads per process (None: torch's default; under torchrun on one
        machine, cores / processes avoids oversubscription).
    best_metric: the validation figure that picks best/ ("val_loss", lower is better; a name
        starting with "-" means higher is better, e.g. "-val_mouth_r").
    ema_decay: 0 trains as usual; between 0 and 1, validation, weights/ and best/ use an
        exponential moving average of the weights with this decay per step (0.99: about the
        last 100 steps); training itself goes on from the raw weights.
    """

    epochs: int = 10
    steps_per_epoch: int | None = None
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    device: str | None = None
    grad_clip: float = 0.0
    log_every: int = 10
    tensorboard: bool = False
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_from: str | None = None
    threads: int | None = None
    best_metric: str = "val_loss"
    ema_decay: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


C = TypeVar("C", bound=TrainConfig)


def _coerce(name: str, value: Any, hint: Any, source: str) -> Any:
    """Turn YAML scalars into the field's type (ints for floats, lists for tuples)."""
    text = str(hint)
    if value is None:
        if "None" in text or "Optional" in text:
            return None
        raise ConfigError(f"{source}: {name} cannot be empty")
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        return _coerce(name, value, args[0], source)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {name} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            try:  # YAML 1.1 reads 1e-3 (no dot) as a string
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {name} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {name} must be a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {name} must be a list, got {value!r}")
        inner = typing.get_args(hint)
        if len(inner) == 2 and inner[1] is Ellipsis:
            return tuple(_coerce(name, v, inner[0], source) for v in value)
        if len(inner) != len(value):
            raise ConfigError(f"{source}: {name} must have {len(inner)} values, got {len(value)}")
        return tuple(_coerce(name, v, h, source) for v, h in zip(value, inner))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {name} must be a list, got {value!r}")
        inner = typing.get_args(hint)
        return [_coerce(name, v, inner[0], source) for v in value] if inner else list(value)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {name} must be a mapping, got {value!r}")
        return dict(value)
    return value


def _reject_unknown(cls: type, keys: Any, where: str) -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(keys) - fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
            f"valid settings: {', '.join(sorted(fields))}"
        )


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, source: str = "config") -> C:
    _reject_unknown(cls, data, source)
    hints = typing.get_type_hints(cls)
    values = {k: _coerce(k, v, hints[k], source) for k, v in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` from the command line; the value is read as YAML (numbers, true, [1, 2])."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set epochs=2")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: the key is empty")
    return key, yaml.safe_load(raw) if raw.strip() else None


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a mapping")
    node[parts[-1]] = value


def load_config(
    cls: type[C], path: str | Path | None, overrides: Sequence[str] = (), *, task: str | None = None
) -> C:
    """Read a YAML config (or none: all defaults) and apply `--set key=value` overrides.

    A top-level `task:` key, when present, must match `task` (a content config cannot be
    given to the speaker trainer by mistake).
    """
    import yaml

    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist; see makeittalk/training/configs/ for examples")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p} must hold a mapping of settings, got {type(loaded).__name__}")
        data = dict(loaded)
    file_task = data.pop("task", None)
    if task is not None and file_task is not None and file_task != task:
        raise ConfigError(f"{source} is a config for '{file_task}', not '{task}'; pass the {task} config")
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
    return config_from_dict(cls, data, source=source)


def config_to_yaml(config: TrainConfig, task: str) -> str:
    import yaml

    return yaml.safe_dump({"task": task, **config.to_dict()}, sort_keys=False)


def network_config(cls: type, overrides: Mapping[str, Any], setting: str = "model",
                   defaults: Mapping[str, Any] | None = None):
    """A network's config dataclass from the run's `setting:` overrides (over `defaults`);
    unknown keys are ConfigErrors that name the valid ones."""
    _reject_unknown(cls, overrides, f"config '{setting}'")
    try:
        return cls.from_dict({**(defaults or {}), **overrides}, source=f"config '{setting}'")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config '{setting}': {exc}") from None
