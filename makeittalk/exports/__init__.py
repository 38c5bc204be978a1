"""Exports for animators' tools: Rhubarb mouth cues, Moho switch data, ARKit curves, landmarks.

    from makeittalk.exports import write_export, read_export
    write_export("rhubarb-tsv", sequence, "cues.tsv", rest=face_points, waveform=speech)
    read_export("rhubarb-tsv", "cues.tsv")        # parses the file back, checking its layout

Every file is written atomically (a temporary file renamed into place when complete) and an
existing file is replaced only with `overwrite=True`. `mouth_cues` documents the shape rule,
`arkit` the blendshape calibration, `rhubarb` the layouts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from makeittalk.errors import MakeItTalkError
from makeittalk.fileio import atomic_output, check_output_path

FORMATS = ("rhubarb-tsv", "rhubarb-json", "rhubarb-xml", "moho-dat", "arkit-csv", "landmarks-json", "landmarks-npy")
CUE_FORMATS = ("rhubarb-tsv", "rhubarb-json", "rhubarb-xml", "moho-dat")
# Landmark rates the formats are best made from: cues on Rhubarb's centisecond grid, ARKit at
# Live Link Face's default 60 fps; the landmark exports use the rate asked for.
NATIVE_FPS = {"rhubarb-tsv": 100.0, "rhubarb-json": 100.0, "rhubarb-xml": 100.0, "moho-dat": 100.0,
              "arkit-csv": 60.0}
_REQUIRED_SUFFIX = {"landmarks-json": (".json",), "landmarks-npy": (".npy",)}


class ExportFormatError(MakeItTalkError):
    """An export that cannot be made as asked (unknown format, bad option)."""


@dataclass(frozen=True)
class ExportSpec:
    format: str
    path: Path


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportFormatError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def parse_export_spec(text: str) -> ExportSpec:
    """`FORMAT:OUT` as given to `render --export`."""
    fmt, sep, path = text.partition(":")
    if not sep or not path:
        raise ExportFormatError(f"--export {text!r}: give FORMAT:OUT, e.g. rhubarb-tsv:cues.tsv or arkit-csv:face.csv")
    return ExportSpec(check_format(fmt), Path(path))


def check_export_output(fmt: str, path: Path, *, overwrite: bool) -> None:
    """Fail early, before any work, for an output that exists or has the wrong suffix."""
    check_output_path(Path(path), overwrite=overwrite, suffixes=_REQUIRED_SUFFIX.get(check_format(fmt)))


def standard_portrait_points(size: int = 256) -> np.ndarray:
    """The standard face (the networks' mean face) as (68, 3) pixel points in a size x size image.

    `makeittalk export` without --image animates this face: the cues and curves describe the
    motion, and the standard face's proportions make the thresholds read as for a typical adult.
    """
    from makeittalk.resources import standard_face

    face = standard_face()
    scale = size * 80.0 / 256.0
    points = np.empty((68, 3))
    points[:, 0] = size / 2 + scale * face[:, 0]
    points[:, 1] = size * 96.0 / 256.0 + scale * face[:, 1]
    points[:, 2] = face[:, 2]
    return points


def _samples(waveform: Any) -> tuple[np.ndarray | None, int]:
    if waveform is None:
        return None, 16000
    return np.asarray(waveform.samples), int(waveform.sample_rate)


def write_export(fmt: str, sequence: Any, path: str | os.PathLike[str], *, rest: np.ndarray, waveform: Any = None,
                 sound_file: str = "", extended_shapes: str | None = None, dat_frame_rate: float = 24.0,
                 dat_preston_blair: bool = False, overwrite: bool = False) -> Path:
    """Write `sequence` (a LandmarkSequence) as `fmt` to `path`; see the module docstring.

    `rest` is the portrait's rest face (68, 2|3) in the sequence's pixels; `waveform` the speech
    (its pauses become Rhubarb's X, and the face it shows in them is the neutral the weights
    and shapes are measured against); `sound_file` what Rhubarb's json/xml name as the sound.
    """
    from makeittalk.exports import arkit, mouth_cues, rhubarb
    from makeittalk.exports.measures import neutral_face

    check_format(fmt)
    target = Path(path)
    if fmt in ("landmarks-json", "landmarks-npy"):
        check_output_path(target, overwrite=overwrite, suffixes=_REQUIRED_SUFFIX[fmt])
        return sequence.save(target, overwrite=overwrite)
    try:
        extended = mouth_cues.parse_extended_shapes(extended_shapes)
        if fmt == "moho-dat":
            rhubarb.check_dat_frame_rate(dat_frame_rate)
    except ValueError as exc:
        raise ExportFormatError(str(exc)) from None
    samples, rate = _samples(waveform)
    neutral = rest
    if samples is not None:
        silent = ~mouth_cues.speech_activity(samples, rate, sequence.num_frames, sequence.fps)
        neutral = neutral_face(sequence.landmarks, rest, silent)
    if fmt == "arkit-csv":
        text = arkit.csv_text(sequence.landmarks, neutral, sequence.fps)
    else:
        cues = mouth_cues.mouth_cues(sequence.landmarks, neutral, sequence.fps, samples=samples, sample_rate=rate,
                                     duration=sequence.audio_seconds, extended=extended)
        if fmt == "rhubarb-tsv":
            text = rhubarb.tsv_text(cues, extended=extended)
        elif fmt == "rhubarb-json":
            text = rhubarb.json_text(cues, sound_file=sound_file, extended=extended)
        elif fmt == "rhubarb-xml":
            text = rhubarb.xml_text(cues, sound_file=sound_file, extended=extended)
        else:
            text = rhubarb.dat_text(cues, frame_rate=dat_frame_rate, preston_blair=dat_preston_blair,
                                    extended=extended)
    with atomic_output(target, overwrite=overwrite) as partial:
        # newline="" keeps "\n" on every platform: Rhubarb and Live Link Face write LF.
        with open(partial, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
    return target


def read_export(fmt: str, path: str | os.PathLike[str], *, fps: float | None = None) -> Any:
    """Parse an export back, raising ValueError (or ExportError) when its layout is wrong.

    Returns a rhubarb.CueFile for the Rhubarb formats, the (frame, mouth) rows for moho-dat,
    an arkit.ArkitCsv for arkit-csv and a LandmarkSequence for the landmark formats.
    """
    from makeittalk.animation.export import load_landmarks
    from makeittalk.exports import arkit, rhubarb

    check_format(fmt)
    source = Path(path)
    if fmt in ("landmarks-json", "landmarks-npy"):
        return load_landmarks(source, fps=fps)
    text = source.read_text(encoding="utf-8")
    if fmt == "moho-dat":
        return rhubarb.parse_dat(text, str(source))
    if fmt == "arkit-csv":
        return arkit.parse_csv(text, str(source))
    return rhubarb.PARSERS[fmt](text, str(source))
