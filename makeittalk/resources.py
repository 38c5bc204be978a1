"""Constant tables the original checkpoints need at run time, shipped as package data.

The numbers are MakeItTalk's STD_FACE_LANDMARKS, MEAN_STD_AUTOVC_RETRAIN_MEL_AU and the fixed
AutoVC target speaker embedding, stored in shortest round-trip decimal form.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np


def _load_table(filename: str) -> np.ndarray:
    with resources.files("makeittalk.data").joinpath(filename).open("r") as handle:
        table = np.loadtxt(handle, dtype=np.float64, comments="#")
    table.setflags(write=False)
    return table


@lru_cache(maxsize=None)
def standard_face() -> np.ndarray:
    """The standard face in normalised landmark space, (68, 3) float64."""
    return _load_table("standard_face_68x3.txt")


@lru_cache(maxsize=None)
def autovc_mel_mean_std() -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std (each (80,) float64) used to normalise AutoVC output mels."""
    table = _load_table("autovc_mel_mean_std.txt")
    return table[:, 0].copy(), table[:, 1].copy()


@lru_cache(maxsize=None)
def autovc_target_speaker_embedding() -> np.ndarray:
    """The fixed AutoVC target speaker embedding (256,) float64."""
    return _load_table("autovc_target_speaker_embedding.txt")
