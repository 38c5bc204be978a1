"""The trainers, by CLI name. Each module holds a TrainingTask and its config dataclass."""

from __future__ import annotations

import importlib

from makeittalk.training.loop import TrainingTask

TASK_MODULES: dict[str, str] = {
    "autovc": "makeittalk.training.tasks.autovc",
    "content": "makeittalk.training.tasks.content",
    "speaker": "makeittalk.training.tasks.speaker",
    "translator": "makeittalk.training.tasks.translator",
    "mouth-translator": "makeittalk.training.tasks.mouth_translator",
}


def get_task(name: str) -> type[TrainingTask]:
    from makeittalk.errors import MakeItTalkError

    if name not in TASK_MODULES:
        raise MakeItTalkError(f"unknown trainer {name!r}: choose one of {', '.join(TASK_MODULES)}")
    module = importlib.import_module(TASK_MODULES[name])
    return module.TASK
