"""Run-time choice of the torch device: never hard-code cuda."""

from __future__ import annotations

import os

import torch

from makeittalk.errors import MakeItTalkError


def pick_device(requested: str | None = None) -> torch.device:
    """Return the device to run on.

    `requested` (or $MAKEITTALK_DEVICE) may be "auto", "cpu", "cuda", "cuda:N" or "mps".
    "auto" prefers CUDA, then Apple MPS, then the CPU.
    """
    choice = (requested or os.environ.get("MAKEITTALK_DEVICE") or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise MakeItTalkError(
            f"device {choice!r} was requested but this torch build has no CUDA "
            f"(torch {torch.__version__}); use --device cpu or install a CUDA build of torch"
        )
    if choice == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise MakeItTalkError("device 'mps' was requested but Apple MPS is not available here; use --device cpu")
    try:
        return torch.device(choice)
    except RuntimeError as exc:
        raise MakeItTalkError(f"unknown device {choice!r}: use auto, cpu, cuda, cuda:N or mps") from exc
