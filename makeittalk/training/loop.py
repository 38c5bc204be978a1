"""The training loop every trainer shares: run folder, resume, seeding, logs, validation, export.

A run folder holds everything about one training run:

    RUN_DIR/config.yaml        the resolved config (what --config and --set gave)
    RUN_DIR/checkpoint.pt      last finished epoch: networks, optimizers, counters (resume point)
    RUN_DIR/train_log.csv      one row every `log_every` steps: epoch, step, seconds, losses
    RUN_DIR/val_log.csv        one row per epoch: the held-out figures
    RUN_DIR/weights/<network>/ the latest weights in the project format (save_pretrained), with
                               the config, data description, steps and val figures embedded
    RUN_DIR/best/<network>/    the same for the epoch with the lowest val_loss (or best best_metric)
    RUN_DIR/summary.json       progress and best figures so far
    RUN_DIR/tensorboard/       event files when `tensorboard: true`

Running the same command again resumes after the last finished epoch. Epoch e draws its
batches from generators seeded with (seed, e, rank), so a resumed run sees the same batches
as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from makeittalk.errors import MakeItTalkError
from makeittalk.training.averaging import WeightAverage
from makeittalk.training.config import ConfigError, TrainConfig, config_to_yaml
from makeittalk.training.data import PreparedDataset
from makeittalk.training.distributed import DistributedContext, unwrap

CHECKPOINT = "checkpoint.pt"
CONFIG_COPY = "config.yaml"
RESUMABLE_CHANGES = {"epochs"}  # a run may be extended; any other change needs a new run folder


class TrainingError(MakeItTalkError):
    """A training run cannot start or continue."""


@dataclasses.dataclass
class RunContext:
    config: TrainConfig
    dist: DistributedContext
    run_dir: Path
    log: Callable[[str], None]

    @property
    def device(self) -> torch.device:
        return self.dist.device


class TrainingTask:
    """One trainer. Subclasses set the class attributes and implement the methods below."""

    name: ClassVar[str]  # the CLI name: autovc, content, speaker, translator
    network: ClassVar[str]  # the network its weights are for (a makeittalk.models name)
    config_class: ClassVar[type[TrainConfig]]

    def __init__(self, config: TrainConfig, dataset: PreparedDataset, ctx: RunContext) -> None:
        self.config = config
        self.dataset = dataset
        self.ctx = ctx

    # -- what the loop needs -------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """Every trained module (unwrapped), by name: saved in checkpoints."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def steps_in_epoch(self, epoch: int) -> int:
        """Optimizer steps in `epoch`; must be the same on every rank."""
        raise NotImplementedError

    def train_epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[dict[str, float]]:
        """Run the epoch's steps, yielding each step's losses (python floats)."""
        raise NotImplementedError

    def validate(self) -> tuple[dict[str, float], float]:
        """Held-out figures on this rank's share of the val split, and that share's weight.

        Must include 'val_loss' (lower is better; it picks the best epoch).
        """
        raise NotImplementedError

    def exported(self) -> nn.Module:
        """The network whose weights the run produces (a PretrainedMixin)."""
        raise NotImplementedError

    def data_description(self) -> dict[str, Any]:
        return self.dataset.describe(self.used_clips())

    def training_description(self) -> dict[str, Any]:
        """Extra facts about how the network was trained (e.g. which loss), embedded in its weights."""
        return {}

    def used_clips(self) -> list:
        return self.dataset.clips

    def notes(self) -> list[str]:
        """Anything the user should know about how this run trains (printed at start)."""
        return []

    # -- helpers for subclasses ----------------------------------------------------------
    def make_adam(self, params, lr: float | None = None) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.Adam(params, lr=c.lr if lr is None else lr, betas=tuple(c.betas), weight_decay=c.weight_decay)

    def clip_gradients(self, module: nn.Module) -> None:
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip)

    def optimizer_step(self, loss: torch.Tensor, module: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """One update of `module`: fresh gradients of `loss`, optional clipping, the step."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.clip_gradients(module)
        optimizer.step()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


class CsvLog:
    """Appends rows to a CSV file; the header is fixed by the first row ever written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.is_file() and path.stat().st_size:
            with path.open(newline="", encoding="utf-8") as f:
                self.columns = next(csv.reader(f), None)

    def write(self, row: dict[str, Any]) -> None:
        if self.columns is None:
            self.columns = list(row)
            with self.path.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(self.columns)
        extra = [k for k in row if k not in self.columns]
        if extra:
            raise TrainingError(f"{self.path}: new column(s) {extra}; the run changed its logged values")
        with self.path.open("a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow([_fmt(row.get(k, "")) for k in self.columns])

    def rows(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with self.path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _export(module: nn.Module, folder: Path, training: dict[str, Any]) -> None:
    """Write the network into `folder` atomically (a staging folder renamed into place)."""
    from makeittalk.fileio import normal_permissions, replace_folder

    staging = folder.with_name(f".{folder.name}.partial")
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    module.save_pretrained(staging, training=training)  # type: ignore[attr-defined]
    normal_permissions(staging, recursive=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    replace_folder(staging, folder)


@dataclasses.dataclass
class RunSummary:
    run_dir: Path
    epochs_done: int
    steps: int
    best_epoch: int | None
    best_val: dict[str, float]
    last_val: dict[str, float]
    weights_dir: Path
    best_dir: Path
    seconds: float


def _config_defaults(config_class: type[TrainConfig]) -> dict[str, Any]:
    """Every setting of `config_class` with a default, in TrainConfig.to_dict's plain types."""
    defaults = {}
    for field in dataclasses.fields(config_class):
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            defaults[field.name] = field.default_factory()  # type: ignore[misc]
    return json.loads(json.dumps(defaults))


def _check_run_dir(run_dir: Path, config_text: str, defaults: dict[str, Any] | None = None) -> bool:
    """True to resume; raises if RUN_DIR holds something else. A setting missing from the saved
    config (a run from before that setting existed) counts as its default from `defaults`."""
    import yaml

    if (run_dir / CHECKPOINT).is_file():
        saved_path = run_dir / CONFIG_COPY
        if saved_path.is_file():
            saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
            new = yaml.safe_load(config_text) or {}
            saved = {**{k: v for k, v in (defaults or {}).items() if k in new}, **saved}
            changed = sorted(k for k in set(saved) | set(new) if saved.get(k) != new.get(k) and k not in RESUMABLE_CHANGES)
            if changed:
                raise TrainingError(
                    f"{run_dir} holds a run with a different config ({', '.join(changed)} changed); "
                    f"resume it with its own config ({saved_path}) or train into a new --out folder"
                )
        return True
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainingError(f"--out {run_dir} is a file; give a folder for the run")
    if (run_dir / CONFIG_COPY).is_file() and "task" in (yaml.safe_load((run_dir / CONFIG_COPY).read_text(encoding="utf-8")) or {}):
        return False  # a run of ours that stopped before its first checkpoint: start it again in place
    if run_dir.is_dir() and any(p for p in run_dir.iterdir() if not p.name.startswith(".")):
        raise TrainingError(
            f"--out {run_dir} is not empty and holds no training run ({CHECKPOINT} is missing); "
            f"choose a new folder so nothing there is overwritten"
        )
    return False


def run_training(
    task_class: type[TrainingTask],
    config: TrainConfig,
    data: str | Path | Sequence[str | Path],
    run_dir: str | Path,
    *,
    log: Callable[[str], None] | None = None,
) -> RunSummary:
    """Train `task_class` with `config` on the prepared dataset(s) `data` into `run_dir`.

    Works the same in one process and under torchrun (see makeittalk.training.distributed).
    """
    started = time.monotonic()
    run_dir = Path(run_dir).resolve()
    dist = DistributedContext.from_environment(config.device)
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    main_log = say if dist.is_main else (lambda message: None)
    config_text = config_to_yaml(config, task_class.name)
    if not 0.0 <= config.ema_decay < 1.0:
        raise ConfigError(f"ema_decay {config.ema_decay} must be 0 (off) or below 1, e.g. 0.99")
    try:
        resume = _check_run_dir(run_dir, config_text, _config_defaults(type(config)))
        dist.barrier()
        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / CONFIG_COPY).write_text(config_text, encoding="utf-8")
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        dataset = PreparedDataset(data)
        ctx = RunContext(config=config, dist=dist, run_dir=run_dir, log=main_log)
        task = task_class(config, dataset, ctx)
        for note in task.notes():
            main_log(f"note: {note}")
        if config.init_from and not resume:
            _init_from(task, config.init_from, main_log)

        networks = task.exported()
        average = WeightAverage(unwrap(networks), config.ema_decay) if config.ema_decay else None
        state = {"epoch": 0, "step": 0, "best_val": math.inf, "best_epoch": None, "best": {}, "last": {}, "seconds": 0.0}
        if resume:
            state = _load_checkpoint(task, run_dir / CHECKPOINT, dist.device, average)
            main_log(f"resuming {run_dir} after epoch {state['epoch']} (step {state['step']})")
        if state["epoch"] >= config.epochs:
            main_log(f"{run_dir} already finished its {config.epochs} epoch(s); raise 'epochs' to train further")

        train_log = CsvLog(run_dir / "train_log.csv") if dist.is_main else None
        val_log = CsvLog(run_dir / "val_log.csv") if dist.is_main else None
        board = _tensorboard(run_dir, config) if dist.is_main else None
        main_log(
            f"training {task_class.name} ({type(unwrap(networks)).__name__}, "
            f"{sum(p.numel() for p in networks.parameters()):,} parameters) on {dist.device}"
            f"{f' x {dist.world_size} processes' if dist.enabled else ''}: "
            f"{len(task.used_clips())} clips, epochs {state['epoch'] + 1}..{config.epochs}"
        )
        elapsed_before = float(state.get("seconds", 0.0))
        for epoch in range(state["epoch"] + 1, config.epochs + 1):
            epoch_start = time.monotonic()
            rng = np.random.default_rng(_epoch_seed(config.seed, epoch, dist.rank))
            torch.manual_seed(_epoch_seed(config.seed + 1, epoch, dist.rank))
            for module in task.modules().values():
                module.train()
            total = task.steps_in_epoch(epoch)
            sums: dict[str, float] = {}
            count = 0
            for losses in task.train_epoch(epoch, rng):
                state["step"] += 1
                count += 1
                if average is not None:
                    average.update(unwrap(networks))
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                if not all(math.isfinite(float(v)) for v in losses.values()):
                    raise TrainingError(
                        f"a loss became {losses} at epoch {epoch}, step {state['step']}: lower 'lr' or set "
                        f"'grad_clip' in the config; the last good weights are in {run_dir / 'weights'}"
                    )
                if count % config.log_every == 0 or count == total:
                    means = dist.mean({k: v / count for k, v in sums.items()})
                    if dist.is_main:
                        row = {"epoch": epoch, "step": state["step"], "seconds": round(time.monotonic() - epoch_start, 2), **means}
                        train_log.write(row)
                        if board is not None:
                            for k, v in means.items():
                                board.add_scalar(f"train/{k}", v, state["step"])
                        main_log(f"epoch {epoch}/{config.epochs} step {count}/{total} "
                                 + " ".join(f"{k} {v:.4g}" for k, v in means.items()))
            for module in task.modules().values():
                module.eval()
            averaged = average.swapped_in(unwrap(networks)) if average is not None else contextlib.nullcontext()
            with averaged:
                with torch.no_grad():
                    figures, weight = task.validate()
                val = dist.mean(figures, weight)
                state["epoch"] = epoch
                state["last"] = val
                # best_val is stored so that lower is better ("-name": the figure's negative).
                metric = config.best_metric.lstrip("-")
                sign = -1.0 if config.best_metric.startswith("-") else 1.0
                score = sign * val.get(metric, sign * math.inf)
                improved = score < state["best_val"]
                if improved:
                    state["best_val"] = score
                    state["best_epoch"] = epoch
                    state["best"] = val
                state["seconds"] = elapsed_before + time.monotonic() - started
                if dist.is_main:
                    training = _training_info(task, config, state, dist)
                    _export(unwrap(networks), run_dir / "weights" / task_class.network, training)
                    if improved:
                        _export(unwrap(networks), run_dir / "best" / task_class.network, training)
            if dist.is_main:
                val_log.write({"epoch": epoch, "step": state["step"], **val})
                if board is not None:
                    for k, v in val.items():
                        board.add_scalar(f"val/{k}", v, state["step"])
                _save_checkpoint(task, state, run_dir / CHECKPOINT, average)
                _atomic_json({"task": task_class.name, **_jsonable(state), "run_dir": str(run_dir)}, run_dir / "summary.json")
                main_log(
                    f"epoch {epoch}/{config.epochs} done in {time.monotonic() - epoch_start:.1f} s: "
                    + " ".join(f"{k} {v:.4g}" for k, v in val.items())
                    + (" (best so far)" if improved else "")
                )
            dist.barrier()
        if board is not None:
            board.close()
        return RunSummary(
            run_dir=run_dir,
            epochs_done=state["epoch"],
            steps=state["step"],
            best_epoch=state["best_epoch"],
            best_val=dict(state["best"]),
            last_val=dict(state["last"]),
            weights_dir=run_dir / "weights" / task_class.network,
            best_dir=run_dir / "best" / task_class.network,
            seconds=time.monotonic() - started,
        )
    finally:
        dist.close()


def _jsonable(state: dict[str, Any]) -> dict[str, Any]:
    out = dict(state)
    if not math.isfinite(out.get("best_val", 0.0)):
        out["best_val"] = None
    return out


def _training_info(task: TrainingTask, config: TrainConfig, state: dict[str, Any], dist: DistributedContext) -> dict[str, Any]:
    from makeittalk import __version__

    return {
        "trainer": task.name,
        "makeittalk_version": __version__,
        "config": config.to_dict(),
        "data": task.data_description(),
        "epochs": state["epoch"],
        "steps": state["step"],
        "batch_size_total": config.batch_size * dist.world_size,
        "processes": dist.world_size,
        "device": str(dist.device),
        "val": state["last"],
        **task.training_description(),
        "best_epoch": state["best_epoch"],
        "train_seconds": round(float(state.get("seconds", 0.0)), 1),
    }


def _save_checkpoint(task: TrainingTask, state: dict[str, Any], path: Path, average: WeightAverage | None = None) -> None:
    payload = {
        "format": "makeittalk-training-checkpoint",
        "version": 1,
        "trainer": task.name,
        "state": _jsonable(state),
        "modules": {k: unwrap(m).state_dict() for k, m in task.modules().items()},
        "optimizers": {k: o.state_dict() for k, o in task.optimizers().items()},
        "weight_average": average.state_dict() if average is not None else None,
    }
    _atomic_torch_save(payload, path)


def _load_checkpoint(task: TrainingTask, path: Path, device: torch.device,
                     average: WeightAverage | None = None) -> dict[str, Any]:
    try:
        # Tensors and plain containers only: weights_only refuses anything that would run code.
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise TrainingError(f"{path} cannot be read ({exc}); delete it to start the run over") from None
    if payload.get("trainer") != task.name:
        raise TrainingError(f"{path} is a '{payload.get('trainer')}' run, not '{task.name}'; use another --out folder")
    modules, optimizers = task.modules(), task.optimizers()
    for name, module in modules.items():
        unwrap(module).load_state_dict(payload["modules"][name])
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(payload["optimizers"][name])
    if average is not None:  # the config check ensures a run with ema_decay saved its average
        average.load_state_dict(payload["weight_average"])
    state = dict(payload["state"])
    if state.get("best_val") is None:
        state["best_val"] = math.inf
    return state


def _init_from(task: TrainingTask, source: str, log: Callable[[str], None]) -> None:
    from makeittalk.weights.store import load_network

    network = unwrap(task.exported())
    loaded = load_network(task.network, source, device="cpu")
    if loaded.config != network.config:  # type: ignore[attr-defined]
        raise TrainingError(
            f"init_from {source}: its {task.network} config differs from this run's 'model' settings; "
            f"make them equal or drop init_from"
        )
    network.load_state_dict(loaded.state_dict())
    log(f"initialised {task.network} from {source}")


def _tensorboard(run_dir: Path, config: TrainConfig):
    if not config.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise TrainingError(
            f"'tensorboard: true' needs the tensorboard package ({exc}); pip install tensorboard, "
            f"or set it false (log.csv files are always written)"
        ) from None
    return SummaryWriter(str(run_dir / "tensorboard"))
