"""Inputs shared by the benchmark scripts: speech clips of a given length and rule-filled weights.

The scripts run as `python benchmarks/NAME.py`, so this module is importable as `common`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MAKEITTALK_SHARED", REPO_ROOT.parent / "shared"))
SPEECH_DIR = SHARED / "data" / "speech" / "librispeech" / "wav"
REFERENCE_DIR = SHARED / "reference" / "makeittalk"

LANDMARK_CHECKPOINTS = ("ckpt_autovc", "ckpt_content_branch", "ckpt_speaker_branch")
TRANSLATOR_CHECKPOINT = "ckpt_116_i2i_comb"


def build_clip(seconds: float, out_path: Path, speech_dir: Path = SPEECH_DIR) -> Path:
    """`seconds` of real speech as a 16 kHz wav: LibriSpeech utterances in name order, topped
    up with the bundled demo clip when the development data is missing or too short."""
    import soundfile as sf

    needed = int(seconds * 16000)
    parts, total = [], 0
    for path in sorted(speech_dir.glob("*.wav")) if speech_dir.is_dir() else []:
        data, rate = sf.read(str(path), dtype="int16")
        if rate != 16000 or data.ndim != 1:
            continue
        parts.append(data)
        total += len(data)
        if total >= needed:
            break
    if total < needed:
        from makeittalk.audio import load_audio
        from makeittalk.pipelines.demo import demo_speech_path

        demo = load_audio(demo_speech_path()).samples
        while total < needed:
            parts.append(demo)
            total += len(demo)
    sf.write(str(out_path), np.concatenate(parts)[:needed], 16000, subtype="PCM_16")
    return out_path


def install_rule_filled_weights(home: Path, set_name: str, *, translator: bool = False) -> None:
    """Import rule-filled ORIGINAL-layout checkpoints as `set_name` into the store at `home`
    and point $MAKEITTALK_HOME at it (timing needs full-size networks, not trained ones)."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from original_checkpoints import write_original_checkpoint

    from makeittalk.weights.original import import_original

    checkpoints = home / "ckpts"
    names = LANDMARK_CHECKPOINTS + ((TRANSLATOR_CHECKPOINT,) if translator else ())
    for name in names:
        variants = ["no_opt"] if name == TRANSLATOR_CHECKPOINT else []
        write_original_checkpoint(REFERENCE_DIR / f"{name}.manifest.json", checkpoints / f"{name}.pth", variants)
    os.environ["MAKEITTALK_HOME"] = str(home)
    import_original(checkpoints, set_name, overwrite=True)


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 1103515245 + 12345) % 2147483648


class BusyProcesses:
    """`with BusyProcesses(n):` runs n processes that each keep a core busy (the "loaded" figures)."""

    def __init__(self, count: int) -> None:
        import multiprocessing

        self._stop = multiprocessing.Event()
        self._processes = [multiprocessing.Process(target=_spin, args=(self._stop,), daemon=True)
                           for _ in range(count)]

    def __enter__(self) -> "BusyProcesses":
        for process in self._processes:
            process.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for process in self._processes:
            process.join()
