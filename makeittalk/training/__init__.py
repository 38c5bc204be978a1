"""Training pipelines: one TrainingTask per network, one shared loop (resume, DDP, logs).

    from makeittalk.training import load_config, run_training
    from makeittalk.training.tasks import get_task

    task = get_task("content")
    config = load_config(task.config_class, "content.yaml", ["epochs=2"], task="content")
    run_training(task, config, ["datasets/talking"], "runs/content")
"""

from makeittalk.training.config import ConfigError, TrainConfig, load_config
from makeittalk.training.data import Clip, DatasetError, PreparedDataset
from makeittalk.training.loop import RunSummary, TrainingError, TrainingTask, run_training

__all__ = [
    "ConfigError",
    "TrainConfig",
    "load_config",
    "Clip",
    "DatasetError",
    "PreparedDataset",
    "RunSummary",
    "TrainingError",
    "TrainingTask",
    "run_training",
]
