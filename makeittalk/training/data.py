"""Read datasets written by `makeittalk data prepare` (format makeittalk-dataset v1).

Training data is small enough to hold in memory (the whole shipped corpus is a few hundred
MB of features), so clips are loaded once, on first use, and kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from makeittalk.errors import MakeItTalkError


class DatasetError(MakeItTalkError):
    """A training dataset folder is missing, malformed or has no usable clips."""


@dataclass
class Clip:
    id: str
    speaker: str
    kind: str  # speech | talking | lips
    split: str  # train | val
    seconds: float
    path: Path
    dataset: Path
    meta: dict[str, Any]
    _arrays: dict[str, np.ndarray] | None = field(default=None, repr=False)

    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self._arrays = {k: data[k] for k in data.files}
            except (OSError, ValueError) as exc:
                raise DatasetError(f"{self.path} cannot be read ({exc}); run 'makeittalk data prepare' again") from None
        return self._arrays

    @property
    def has_landmarks(self) -> bool:
        return self.kind in ("talking", "lips")


class PreparedDataset:
    """One or more prepared dataset folders seen as one list of clips."""

    def __init__(self, folders: str | Path | Sequence[str | Path]) -> None:
        if isinstance(folders, (str, Path)):
            folders = [folders]
        if not folders:
            raise DatasetError("no dataset folder given; pass --data DATASET_DIR (from 'makeittalk data prepare')")
        self.folders = [Path(f).resolve() for f in folders]
        self.clips: list[Clip] = []
        self.documents: list[dict[str, Any]] = []
        for folder in self.folders:
            self._read(folder)

    def _read(self, folder: Path) -> None:
        doc_path = folder / "dataset.json"
        index = folder / "clips.jsonl"
        if not doc_path.is_file() or not index.is_file():
            raise DatasetError(
                f"{folder} is not a prepared dataset (no dataset.json / clips.jsonl); "
                f"make one with 'makeittalk data prepare INPUT_DIR -o {folder}'"
            )
        try:
            document = json.loads(doc_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{doc_path} cannot be read ({exc})") from None
        if document.get("format") != "makeittalk-dataset" or int(document.get("version", 0)) != 1:
            raise DatasetError(f"{doc_path}: not a makeittalk-dataset v1 (found {document.get('format')!r} "
                               f"v{document.get('version')}); prepare it again with this makeittalk")
        self.documents.append(document)
        for number, line in enumerate(index.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                clip = Clip(
                    id=entry["id"], speaker=entry["speaker"], kind=entry["kind"], split=entry["split"],
                    seconds=float(entry["seconds"]), path=folder / entry["file"], dataset=folder, meta=entry,
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{index} line {number} is malformed ({exc})") from None
            if clip.path.is_file():
                self.clips.append(clip)

    def select(self, *, split: str | None = None, kinds: Iterable[str] | None = None,
               augmented: bool = False) -> list[Clip]:
        """Clips of `split` and `kinds`; augmented copies (data prepare --augment) only when asked."""
        wanted = set(kinds) if kinds is not None else None
        return [c for c in self.clips if (split is None or c.split == split) and (wanted is None or c.kind in wanted)
                and (augmented or not c.meta.get("augmented_from"))]

    def require(self, *, split: str, kinds: Iterable[str], purpose: str, augmented: bool = False) -> list[Clip]:
        kinds = list(kinds)
        clips = self.select(split=split, kinds=kinds, augmented=augmented)
        if not clips:
            found = sorted({(c.kind, c.split) for c in self.clips})
            raise DatasetError(
                f"{purpose} needs {'/'.join(kinds)} clips in the {split} split of "
                f"{', '.join(map(str, self.folders))}, found none (the data has: "
                f"{', '.join(f'{k}/{s}' for k, s in found) or 'no clips'})"
            )
        return clips

    def describe(self, clips: Sequence[Clip] | None = None) -> dict[str, Any]:
        """What a trained network was trained and validated on (embedded in its weights)."""
        clips = self.clips if clips is None else clips
        summary: dict[str, Any] = {"datasets": [], "splits": {}}
        for folder, document in zip(self.folders, self.documents):
            summary["datasets"].append(
                {"path": str(folder), "sources": document.get("sources", []), "split_rule": document.get("split")}
            )
        for split in ("train", "val"):
            part = [c for c in clips if c.split == split]
            summary["splits"][split] = {
                "clips": len(part),
                "speakers": len({c.speaker for c in part}),
                "seconds": round(sum(c.seconds for c in part), 1),
                "kinds": sorted({c.kind for c in part}),
            }
        summary["val_speakers"] = sorted({c.speaker for c in clips if c.split == "val"})
        return summary
