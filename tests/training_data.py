"""Tiny real training datasets shared by the trainer tests (prepared from ../shared/data)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch


def prepare_talking_dataset(data_dir: Path, tmp_path_factory, clips: Sequence[str], val_speakers: Sequence[str]) -> Path:
    """Run `makeittalk data prepare` on links to `clips` of shared/data/talking."""
    from makeittalk.datasets import prepare_dataset

    raw = tmp_path_factory.mktemp("raw")
    for clip in clips:
        for suffix in (".mp4", ".wav", ".landmarks.npz"):
            (raw / f"{clip}{suffix}").symlink_to(data_dir / "talking" / f"{clip}{suffix}")
    (raw / "index.tsv").symlink_to(data_dir / "talking" / "index.tsv")
    out = tmp_path_factory.mktemp("prepared") / "talking"
    report = prepare_dataset(raw, out, val_speakers=list(val_speakers))
    assert not report.failed and len(report.prepared) == len(clips)
    return out


def one_torch_thread():
    """Generator body of an autouse fixture: the test machine's cores are shared, and OpenMP
    threads spinning against other processes make tiny networks 100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
